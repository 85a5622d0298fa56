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
- ``one-by-one``: the Intel one-by-one clip (CC-BY-4.0): people pass one at a time in
  front of one camera. There is no ground truth: identities are the detector's own
  passes (runs of frames with exactly one person box, score >= 0.5, right of the window
  the detector mistakes for a person). The first frame of a pass is the query photo,
  every 10th frame of every pass is in the gallery. Recall is 1 by construction here.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import FOOTAGE, REPO, SHARED, require  # noqa: E402

MOT17 = SHARED / "data" / "mot17_frames" / "MOT17-02-FRCNN"
ONE_BY_ONE = FOOTAGE / "one-by-one-person-detection.mp4"
_MARGIN = 0.15


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
    first = cv2.imread(str(MOT17 / "img1" / "000001.jpg"))
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


def build_one_by_one(out: Path) -> Path:
    from detectors.ssdlite import SsdliteDetector

    folder = _fresh(out / "one-by-one")
    detector = SsdliteDetector()
    capture = cv2.VideoCapture(str(require(ONE_BY_ONE)))
    singles: dict[int, tuple[np.ndarray, tuple[float, float, float, float]]] = {}
    index = 0
    while True:
        ok, image = capture.read()
        if not ok:
            break
        if index % 5 == 0:
            dets = detector.detect([image])[0]
            keep = (
                (dets.confidence >= 0.5)
                & (dets.xyxy[:, 0] > 200)
                & (dets.xyxy[:, 3] - dets.xyxy[:, 1] >= 150)
            )
            if int(keep.sum()) == 1:
                singles[index] = (image, tuple(float(v) for v in dets.xyxy[keep][0]))  # type: ignore[misc]
        index += 1
    capture.release()
    passes: list[list[int]] = []
    for frame in sorted(singles):
        if passes and frame - passes[-1][-1] <= 40:
            passes[-1].append(frame)
        else:
            passes.append([frame])
    passes = [p for p in passes if len(p) >= 4]
    gallery: list[list[dict[str, object]]] = []
    for run in passes:
        entries = []
        for frame in run[2::2]:  # every 10th frame, leaving a gap after the query frame
            image, box = singles[frame]
            name = f"obo_{frame:05d}.jpg"
            cv2.imwrite(str(folder / "gallery" / name), image)
            entries.append({"frame": name, "box": list(box)})
        gallery.append(entries)
    queries = []
    for number, (run, targets) in enumerate(zip(passes, gallery, strict=True)):
        image, box = singles[run[0]]
        name = f"queries/pass{number:02d}.jpg"
        cv2.imwrite(str(folder / name), _photo(image, box))
        queries.append({"id": f"pass{number}", "photo": name, "targets": targets})
    (folder / "truth.json").write_text(json.dumps({"queries": queries}, indent=1))
    return folder


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", type=Path, default=REPO / "vigil-data" / "devsets")
    parser.add_argument("--sets", default="mot17-02,mot17-02-phone,one-by-one")
    parser.add_argument("--build-only", action="store_true")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    builders = {
        "mot17-02": lambda: build_mot17(args.out, phone=False),
        "mot17-02-phone": lambda: build_mot17(args.out, phone=True),
        "one-by-one": lambda: build_one_by_one(args.out),
    }
    folders = []
    for name in args.sets.split(","):
        existing = args.out / name
        folders.append(
            existing
            if (existing / "truth.json").is_file()
            and args.build_only is False
            and name != "mot17-02"
            and name != "mot17-02-phone"
            else builders[name]()
        )
    if args.build_only:
        return 0
    from detectors.ssdlite import SsdliteDetector
    from vigil.evaluation.search import evaluate_devset

    detector = SsdliteDetector()
    methods = ("vigil", "appearance", "colours", "hsv")
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
