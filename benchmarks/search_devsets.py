"""Build search dev sets from ../shared at run time, then score Vigil's search against the HSV baseline.

    python benchmarks/search_devsets.py [--out vigil-data/devsets] [--json]

Nothing here is copied into the repository: the sets are written under ``--out``
(``vigil-data/`` is git-ignored). Each set is a folder ``gallery/<camera>_<name>.jpg``,
``queries/<id>.jpg`` and ``truth.json`` (per query: the boxes of the same person in the
gallery), read by `vigil.evaluation.search.evaluate_devset` and ``vigil eval search``.

Sets:
- ``mot17-02``: MOT17-02 (CC BY-NC-SA, evaluation only). Queries: every pedestrian of
  frame 1 with visibility >= 0.5 and height >= 60 px, cropped with a 15 % margin like a
  photo; gallery: frames 2-4; targets: the same ground-truth id.
- ``mot17-02-phone``: the same, but each query photo is re-rendered as if by another
  camera (warmer white balance, gamma 0.8, half resolution, JPEG quality 60).
- ``one-by-one``: the Intel one-by-one clip (CC-BY-4.0, 1394 frames): six people pass
  one at a time in front of one camera in an otherwise empty room. Truth is independent
  of the detector: the person's box is the largest moving blob against the median of
  the empty frames (start and end of the clip), and a pass is a run of such frames
  (gaps <= 20 frames, >= 40 frames long); each pass is one identity. Queries: 4 photos
  per pass from its first 40 % (different moments); gallery and targets: every 10th
  frame of each pass's last 40 %. Detector recall here is real (the blob boxes include
  the floor reflection, IoU ~0.75 with a detector box).
- ``gifs``: the Intel demo GIFs (480x270, CC-BY-4.0) but ``classroom`` (seated people,
  every moment a near-duplicate). Identities are tracks of detector boxes (score >= 0.3,
  height >= 40 px) linked by IoU >= 0.3 between frames, >= 6 frames long. Query: the
  largest box of a track's first 40 %; targets: the track's boxes in every 2nd frame of
  its last 40 %, which form the gallery (other people in them are distractors). Recall
  is ~1 by construction (labels come from the detector). Box-overlap linking mislabels
  people (checked by eye: worker-zone's one worker gets two boxes per frame, hence two
  "identities"; store-aisle's teal-jacket woman is three tracks; in
  face-demographics-walking-and-pause two tracks swap people), so `_relations` reads,
  from geometry alone, which tracks are one person (duplicates, fragments): their boxes
  are *ignored* for each other's queries (neither hit nor distractor, Market-1501's
  "junk"), and a track that overlapped another for a while is not used as a query. Before
  this, HSV and Vigil both scored ~0.70 mAP there, mostly on wrong labels.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import FOOTAGE, REPO, SHARED, require  # noqa: E402

MOT17 = SHARED / "data" / "mot17_frames" / "MOT17-02-FRCNN"
ONE_BY_ONE = FOOTAGE / "one-by-one-person-detection.mp4"
GIFS = FOOTAGE / "gifs"
Box = tuple[float, float, float, float]
_MARGIN = 0.15
_MIN_BLOB = 3000  # pixels at half resolution: a person standing in the room, not a shadow
_QUERIES_PER_PASS = 4
_LINK_IOU = 0.3
_GIF_MIN_HEIGHT = 40
_GIF_MIN_TRACK = 6
_CROSSING_FRAMES = 3  # overlapping this long, then apart: the two labels may have swapped
_FRAGMENT_GAP = 15  # frames: a track restarting this soon where another ended is the same person
_STATIC_GIFS = {"classroom"}  # seated people: every moment is a near-duplicate of every other


def _photo(image: np.ndarray, box: tuple[float, float, float, float]) -> np.ndarray:
    x1, y1, x2, y2 = box
    mx, my = _MARGIN * (x2 - x1), _MARGIN * (y2 - y1)
    h, w = image.shape[:2]
    left, top = int(max(0, x1 - mx)), int(max(0, y1 - my))
    right, bottom = int(min(w, x2 + mx)), int(min(h, y2 + my))
    return np.array(image[top:bottom, left:right])


def _other_camera(photo: np.ndarray) -> np.ndarray:
    balanced = photo.astype(np.float32) * np.array([0.85, 1.0, 1.12], np.float32)  # BGR: warmer
    gamma = 255.0 * (np.clip(balanced, 0, 255) / 255.0) ** 0.8
    small = cv2.resize(gamma.astype(np.uint8), None, fx=0.5, fy=0.5, interpolation=cv2.INTER_AREA)
    ok, jpeg = cv2.imencode(".jpg", small, [cv2.IMWRITE_JPEG_QUALITY, 60])
    return np.asarray(cv2.imdecode(jpeg, cv2.IMREAD_COLOR), np.uint8)


def _fresh(folder: Path) -> Path:
    if folder.exists():
        shutil.rmtree(folder)
    (folder / "gallery").mkdir(parents=True)
    (folder / "queries").mkdir()
    return folder


def build_mot17(out: Path, phone: bool) -> Path:
    folder = _fresh(out / ("mot17-02-phone" if phone else "mot17-02"))
    gt = np.loadtxt(require(MOT17 / "gt" / "gt.txt"), delimiter=",")
    people = gt[(gt[:, 7] == 1) & (gt[:, 6] == 1)]
    for frame in (2, 3, 4):
        shutil.copy(MOT17 / "img1" / f"{frame:06d}.jpg", folder / "gallery" / f"mot1702_{frame:06d}.jpg")
    first = np.asarray(cv2.imread(str(MOT17 / "img1" / "000001.jpg")), np.uint8)
    queries = []
    for row in people[(people[:, 0] == 1) & (people[:, 8] >= 0.5) & (people[:, 5] >= 60)]:
        pid = int(row[1])
        box = (row[2], row[3], row[2] + row[4], row[3] + row[5])
        photo = _photo(first, box)
        name = f"queries/id{pid:03d}.jpg"
        cv2.imwrite(str(folder / name), _other_camera(photo) if phone else photo)
        rows = people[(people[:, 1] == pid) & np.isin(people[:, 0], (2, 3, 4)) & (people[:, 8] >= 0.25)]
        targets = [
            {"frame": f"mot1702_{int(r[0]):06d}.jpg", "box": [r[2], r[3], r[2] + r[4], r[3] + r[5]]}
            for r in rows
        ]
        queries.append({"id": f"id{pid}", "photo": name, "targets": targets})
    (folder / "truth.json").write_text(json.dumps({"queries": queries}, indent=1))
    return folder


def _foreground_box(small: np.ndarray, background: np.ndarray, scale: float) -> Box | None:
    """Largest moving blob against the empty-room background, in full-frame pixels (or None)."""
    diff = cv2.absdiff(small, background).max(axis=2)
    mask = (diff > 45).astype(np.uint8)
    mask = cv2.morphologyEx(mask, cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
    mask = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, np.ones((9, 5), np.uint8))
    count, _, stats, _ = cv2.connectedComponentsWithStats(mask)
    if count < 2:
        return None
    x, y, w, h, area = stats[1 + int(np.argmax(stats[1:, 4]))]
    if area < _MIN_BLOB or h < 0.6 * small.shape[0]:
        return None  # a person entering or leaving through the frame edge, or a shadow
    return (x * scale, y * scale, (x + w) * scale, (y + h) * scale)


def _runs(frames: list[int], gap: int) -> list[list[int]]:
    runs: list[list[int]] = []
    for frame in frames:
        if runs and frame - runs[-1][-1] <= gap:
            runs[-1].append(frame)
        else:
            runs.append([frame])
    return runs


def build_one_by_one(out: Path) -> Path:
    folder = _fresh(out / "one-by-one")
    capture = cv2.VideoCapture(str(require(ONE_BY_ONE)))
    images: list[np.ndarray] = []
    while True:
        ok, image = capture.read()
        if not ok:
            break
        images.append(image)
    capture.release()
    scale = 2.0
    small = [cv2.resize(i, None, fx=1 / scale, fy=1 / scale, interpolation=cv2.INTER_AREA) for i in images]
    # The room is empty at the start and the end of the clip: its median is the background.
    empty = small[0:80:4] + small[-18::2]
    background = np.median(np.stack(empty), axis=0).astype(np.uint8)
    boxes = {i: b for i, s in enumerate(small) if (b := _foreground_box(s, background, scale)) is not None}
    passes = [run for run in _runs(sorted(boxes), gap=20) if len(run) >= 40]
    queries, gallery_names = [], set()
    for number, run in enumerate(passes):
        first, second = run[: int(0.4 * len(run))], run[int(0.6 * len(run)) :]
        targets = []
        for frame in second[::10]:
            name = f"obo_{frame:05d}.jpg"
            if name not in gallery_names:
                cv2.imwrite(str(folder / "gallery" / name), images[frame])
                gallery_names.add(name)
            targets.append({"frame": name, "box": [round(v, 1) for v in boxes[frame]]})
        for q, frame in enumerate(first[len(first) // 8 :: max(1, len(first) // 4)][:_QUERIES_PER_PASS]):
            photo = f"queries/pass{number:02d}_{q}.jpg"
            cv2.imwrite(str(folder / photo), _photo(images[frame], boxes[frame]))
            queries.append({"id": f"pass{number}_{q}", "photo": photo, "targets": targets})
    (folder / "truth.json").write_text(
        json.dumps({"queries": queries, "passes": [[p[0], p[-1]] for p in passes]}, indent=1)
    )
    return folder


def _gif_frames(path: Path) -> list[np.ndarray]:
    from PIL import Image, ImageSequence

    with Image.open(path) as gif:
        return [
            cv2.cvtColor(np.asarray(f.convert("RGB")), cv2.COLOR_RGB2BGR) for f in ImageSequence.Iterator(gif)
        ]


def _link(detections: list[np.ndarray]) -> list[dict[int, Box]]:
    """Greedy IoU linking of per-frame boxes into tracks (a track may skip one frame)."""
    tracks: list[dict[int, Box]] = []
    for frame, boxes in enumerate(detections):
        live = [t for t in tracks if max(t) >= frame - 2]
        taken: set[int] = set()
        for box in sorted(boxes.tolist(), key=lambda b: -(b[2] - b[0]) * (b[3] - b[1])):
            best, best_iou = None, _LINK_IOU
            for number, track in enumerate(live):
                overlap = _iou(track[max(track)], box)
                if number not in taken and overlap >= best_iou:
                    best, best_iou = number, overlap
            if best is None:
                tracks.append({frame: (box[0], box[1], box[2], box[3])})
            else:
                live[best][frame] = (box[0], box[1], box[2], box[3])
                taken.add(best)
    return tracks


def _iou(a: Sequence[float], b: Sequence[float]) -> float:
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - w * h
    return w * h / union if union > 0 else 0.0


def _relations(tracks: list[dict[int, Box]]) -> tuple[list[set[int]], list[bool]]:
    """Which tracks show the same person, and which crossed another person, from geometry alone.

    Box-overlap linking splits one person into several tracks (two detector boxes on one
    body; a track lost for a few frames and restarted) and can swap two people who overlap.
    Returns, per track, the tracks of the same person (itself included: duplicates that
    overlap it in >= 80 % of their shared frames, and fragments that start where it ended
    within `_FRAGMENT_GAP` frames, transitively), and whether it overlapped another track
    for `_CROSSING_FRAMES` or more frames but under 80 % of their shared frames (a crossing,
    after which the label may belong to the other person).
    """
    parent = list(range(len(tracks)))

    def root(i: int) -> int:
        while parent[i] != i:
            i = parent[i]
        return i

    crossed = [False] * len(tracks)
    for a, first in enumerate(tracks):
        for b in range(a + 1, len(tracks)):
            second = tracks[b]
            shared = sorted(set(first) & set(second))
            overlapping = sum(_iou(first[f], second[f]) >= _LINK_IOU for f in shared)
            if shared and overlapping >= 0.8 * len(shared):
                parent[root(b)] = root(a)
            elif overlapping >= _CROSSING_FRAMES:
                crossed[a] = crossed[b] = True
            for early, late in ((first, second), (second, first)):
                gap = min(late) - max(early)
                if 0 < gap <= _FRAGMENT_GAP and _iou(early[max(early)], late[min(late)]) > 0:
                    parent[root(b)] = root(a)
    groups = [root(i) for i in range(len(tracks))]
    return [{j for j, g in enumerate(groups) if g == groups[i]} for i in range(len(tracks))], crossed


def _truth_boxes(camera: str, track: dict[int, Box], frames: Sequence[int]) -> list[dict[str, object]]:
    return [{"frame": f"{camera}_{f:03d}.jpg", "box": [round(v, 1) for v in track[f]]} for f in frames]


def build_gifs(out: Path) -> Path:
    from detectors.ssdlite import SsdliteDetector

    folder = _fresh(out / "gifs")
    detector = SsdliteDetector()
    queries = []
    for path in sorted(GIFS.glob("*.gif")):
        if path.stem in _STATIC_GIFS:
            continue
        camera = path.stem.replace("_", "-")
        frames = _gif_frames(path)
        detections = []
        for image in frames:
            dets = detector.detect([image])[0]
            keep = (dets.confidence >= 0.3) & (dets.xyxy[:, 3] - dets.xyxy[:, 1] >= _GIF_MIN_HEIGHT)
            detections.append(dets.xyxy[keep])
        every = _link(detections)
        kept = [i for i, t in enumerate(every) if len(t) >= _GIF_MIN_TRACK]
        tracks = [every[i] for i in kept]
        same, crossed = _relations(every)
        # Each track's first 40 % gives the query photo, its last 40 % the targets: the
        # gallery holds every 2nd of those late frames (other people in them are distractors).
        late_of = [sorted(t)[int(0.6 * len(t)) :] for t in tracks]
        gallery_frames = sorted({f for late in late_of for f in late[::2]})
        for frame in gallery_frames:
            cv2.imwrite(str(folder / "gallery" / f"{camera}_{frame:03d}.jpg"), frames[frame])

        for number, (index, track, late) in enumerate(zip(kept, tracks, late_of, strict=True)):
            if crossed[index]:
                continue  # its box overlapped another person's for a while: it may have switched identity
            early = sorted(track)[: max(1, int(0.4 * len(track)))]
            best = max(early, key=lambda f: track[f][3] - track[f][1])
            photo = f"queries/{camera}_t{number:02d}.jpg"
            cv2.imwrite(str(folder / photo), _photo(frames[best], track[best]))
            targets = _truth_boxes(camera, track, [f for f in late if f in gallery_frames])
            # The same person outside the late window, in a duplicate box or in a fragment of
            # the track is neither a hit nor a distractor.
            ignore = [
                b
                for other in same[index]
                for b in _truth_boxes(camera, every[other], [f for f in every[other] if f in gallery_frames])
                if b not in targets
            ]
            queries.append(
                {"id": f"{camera}_t{number}", "photo": photo, "targets": targets, "ignore": ignore}
            )
    (folder / "truth.json").write_text(json.dumps({"queries": queries}, indent=1))
    return folder


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", type=Path, default=REPO / "vigil-data" / "devsets")
    parser.add_argument("--sets", default="mot17-02,mot17-02-phone,one-by-one,gifs")
    parser.add_argument("--rebuild", action="store_true", help="rebuild sets that already exist")
    parser.add_argument("--build-only", action="store_true")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    builders = {
        "mot17-02": lambda: build_mot17(args.out, phone=False),
        "mot17-02-phone": lambda: build_mot17(args.out, phone=True),
        "one-by-one": lambda: build_one_by_one(args.out),
        "gifs": lambda: build_gifs(args.out),
    }
    folders = []
    for name in args.sets.split(","):
        existing = args.out / name
        folders.append(
            existing
            if (existing / "truth.json").is_file() and not args.rebuild and not args.build_only
            else builders[name]()
        )
    if args.build_only:
        return 0
    from detectors.ssdlite import SsdliteDetector
    from vigil.evaluation.search import Method, evaluate_devset

    detector = SsdliteDetector()
    methods: tuple[Method, ...] = ("vigil", "appearance", "colours", "hsv")
    reports = [evaluate_devset(folder, detector, methods) for folder in folders]
    if args.json:
        print(json.dumps([r.as_dict() for r in reports], indent=1))
        return 0
    print(f"{'set':16} {'queries':>7} {'recall':>6}  " + "  ".join(f"{m:>16}" for m in methods))
    for r in reports:
        cells = "  ".join(f"{s.map:7.3f} / {s.rank1:6.3f}" for s in r.methods)
        print(f"{r.name:16} {r.queries:7d} {r.detector_recall:6.3f}  {cells}")
    print("cells: mAP / rank-1")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
