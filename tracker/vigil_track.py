"""Vigil's multi-object tracker: ByteTrack's two-stage association, carried further.

What it keeps from ByteTrack (Zhang et al., 2022): a Kalman motion model, matching
confident detections first and then giving the still-unmatched tracks a second chance
on weak detections (a half-occluded person scores low but is still there).

What it adds, each measured on the public-detection MOTChallenge sequences
(`benchmarks/tracking.py`):

- a filter on box centre *and size* with detection-confidence-scaled noise;
- a direction cue (OC-SORT's observation-centric momentum): a detection ahead of a
  moving track's last observation is preferred over one behind or beside it, which
  lets the first stage accept somewhat lower overlaps at low frame rates safely;
- buffered IoU (boxes grown by a fraction of their size) so that low-frame-rate
  cameras, where a walker moves more than their own width between frames, still match;
- re-association of recently lost tracks with a wider buffer that grows with the time
  lost, gated on height similarity, before any new track may start there;
- memory of lost tracks in seconds, not frames, so 7 fps and 30 fps cameras behave alike;
- ids given on confirmation only, so false starts do not burn ids;
- coasting (`VigilTracker.coast`, or ``update(..., looked=regions)``): frames or areas
  the detector did not look at advance tracks without counting a miss, for a bounded
  time (``max_coast_s``), so a gated pipeline can skip inference; with frames given, the
  tracks follow the image's optical flow (`tracker.flow`) instead of their predictions;
- an optional appearance cue (``detections.data["embedding"]``) and optional camera
  motion compensation (translation by phase correlation) when frames are given.

All track state lives in column arrays (`_Tracks`), so a frame costs a fixed number of
NumPy calls whatever the number of people.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from tracker.flow import box_shifts, grey_small
from tracker.kalman import KalmanFilter, cxcywh_to_xyxy, xyxy_to_cxcywh
from tracker.matching import assign, cosine_distance, direction_consistency, height_ratio, iou_matrix
from vigil.core.types import Detections

Array = npt.NDArray[np.float64]
Index = npt.NDArray[np.int64]


@dataclass(frozen=True)
class VigilTrackerConfig:
    """Tuning knobs; the defaults are one configuration for every camera.

    Attributes:
        high_threshold: Detections at or above this score take part in the first
            association. Raising it makes the first stage stricter and leans more on
            the second (low-score) stage.
        low_threshold: Detections below this score are ignored entirely. Raising it
            drops more false positives and more occluded people.
        new_track_threshold: Least score for an unmatched detection to start a track.
            Raising it gives fewer ghost tracks and later starts.
        match_iou: Least score-weighted IoU (plus the direction bonus) to match a track
            to a confident detection. Lowering it helps low frame rates; too low merges
            nearby people in crowds (measured: 0.15 best with the direction cue).
        direction_weight: Weight of the direction cue in the first stage: the cost of a
            pair drops by up to half this times the detection score when the detection
            lies straight ahead of the track's motion, and rises as much straight behind.
            Only pairs whose boxes overlap may match. Raising it trusts motion direction
            over overlap; 0 turns the cue off.
        low_match_iou: Least IoU to match a track to a weak detection; stricter,
            because weak detections are often false.
        iou_buffer: Fraction of box size each box grows by before IoU in the first
            stage. Raising it helps low frame rates, but nearby people blur together.
        reassociate_buffer: Extra growth per second lost, for re-associating lost tracks.
        min_height_ratio: Least smaller/larger box-height ratio to re-associate a lost
            track: a child does not become an adult.
        track_buffer_s: How long a lost track may still be re-associated. Raising it
            keeps lost tracks longer: fewer id switches, more wrong re-associations.
        min_hits: Matched frames before a track is confirmed and reported. Raising it
            suppresses flicker tracks and delays new ones.
        fuse_score: Multiply IoU by detection score in the first stage, so confident
            detections win ties.
        appearance_threshold: Largest cosine distance between a track's and a
            detection's embedding for appearance to vouch for a match (when
            detections carry ``data["embedding"]``).
        embedding_momentum: Weight of the old embedding in a track's running mean.
        output_filtered_box: Report the filtered box instead of the detection's box.
        std_position / std_velocity: Kalman noise as fractions of box size (see
            `tracker.kalman.KalmanFilter`).
        reassociate_last_box: Also match lost tracks by where they were last seen, not
            only by the filter's prediction (OC-SORT's OCR). Off: measured to cost HOTA
            on the public detections (more false re-associations).
        refind_velocity: Reset a re-found track's velocity from the gap it crossed
            (OC-SORT's ORU, simplified). Off: measured not to pay.
        lost_in_first_stage: Match lost tracks in the first stage with the active ones
            (ByteTrack); False leaves them to the re-association stage only.
        tentative_max_lost: Misses an unconfirmed track survives. Raising it keeps
            flickering new people, and more false starts; 0 measured best.
        max_coast_s: How long tracks may coast (advance on their predictions, frames or
            areas not looked at) since the last frame the detector looked at in full;
            beyond it, not looked counts as not seen. Raising it lets a gated pipeline
            skip more, and lets predicted boxes drift further from people who turn.
        coast_by_flow: Move coasting tracks by the optical flow between the last frame and
            this one (`tracker.flow`, about 1 ms per 10 boxes) when frames are given, instead
            of at their last pace. Off: coasted boxes leave people who turn or stop.
    """

    high_threshold: float = 0.3
    low_threshold: float = 0.1
    new_track_threshold: float = 0.35
    match_iou: float = 0.15
    direction_weight: float = 0.25
    low_match_iou: float = 0.5
    iou_buffer: float = 0.0
    reassociate_buffer: float = 0.0
    min_height_ratio: float = 0.0
    track_buffer_s: float = 2.0
    min_hits: int = 4
    fuse_score: bool = True
    appearance_threshold: float = 0.25
    embedding_momentum: float = 0.9
    output_filtered_box: bool = True
    std_position: float = 1.0 / 20
    reassociate_last_box: bool = False
    refind_velocity: bool = False
    lost_in_first_stage: bool = True
    tentative_max_lost: int = 0
    std_velocity: float = 1.0 / 160
    max_coast_s: float = 2.0
    coast_by_flow: bool = True


@dataclass(frozen=True)
class _Tracks:
    """Column-wise state of all live tracks (T rows)."""

    key: Index  # internal identity, also for unconfirmed tracks
    tracker_id: Index  # public id, -1 until confirmed
    mean: Array  # (T, 8) Kalman state
    covariance: Array  # (T, 8, 8)
    hits: Index  # matched frames
    lost_frames: Index  # frames since last match; 0 = matched in the previous frame
    score: Array  # last matched detection score
    detection: Index  # row of this frame's detections it matched, -1 if none
    last_box: Array  # (T, 4) xyxy of the last matched detection
    class_id: Index  # class of the last matched detection
    embedding: Array | None  # (T, D) running mean, when detections carry embeddings
    seen_frame: Index  # frame index of the last match
    step: Array  # (T, 2) centre motion per frame between the last two matches (coasting uses it)

    @classmethod
    def empty(cls) -> _Tracks:
        return cls(
            key=np.zeros(0, np.int64),
            tracker_id=np.zeros(0, np.int64),
            mean=np.zeros((0, 8)),
            covariance=np.zeros((0, 8, 8)),
            hits=np.zeros(0, np.int64),
            lost_frames=np.zeros(0, np.int64),
            score=np.zeros(0),
            detection=np.zeros(0, np.int64),
            last_box=np.zeros((0, 4)),
            class_id=np.zeros(0, np.int64),
            embedding=None,
            seen_frame=np.zeros(0, np.int64),
            step=np.zeros((0, 2)),
        )

    def __len__(self) -> int:
        return len(self.key)

    @property
    def confirmed(self) -> npt.NDArray[np.bool_]:
        return self.tracker_id >= 0

    @property
    def xyxy(self) -> Array:
        return cxcywh_to_xyxy(self.mean[:, :4])

    def select(self, index: Index | npt.NDArray[np.bool_]) -> _Tracks:
        return _Tracks(
            key=self.key[index],
            tracker_id=self.tracker_id[index],
            mean=self.mean[index],
            covariance=self.covariance[index],
            hits=self.hits[index],
            lost_frames=self.lost_frames[index],
            score=self.score[index],
            detection=self.detection[index],
            last_box=self.last_box[index],
            class_id=self.class_id[index],
            embedding=None if self.embedding is None else self.embedding[index],
            seen_frame=self.seen_frame[index],
            step=self.step[index],
        )

    def append(self, other: _Tracks) -> _Tracks:
        embedding = None
        if self.embedding is not None and other.embedding is not None:
            embedding = np.concatenate([self.embedding, other.embedding])
        elif len(self) == 0:
            embedding = other.embedding
        elif len(other) == 0:
            embedding = self.embedding
        return _Tracks(
            key=np.concatenate([self.key, other.key]),
            tracker_id=np.concatenate([self.tracker_id, other.tracker_id]),
            mean=np.concatenate([self.mean, other.mean]),
            covariance=np.concatenate([self.covariance, other.covariance]),
            hits=np.concatenate([self.hits, other.hits]),
            lost_frames=np.concatenate([self.lost_frames, other.lost_frames]),
            score=np.concatenate([self.score, other.score]),
            detection=np.concatenate([self.detection, other.detection]),
            last_box=np.concatenate([self.last_box, other.last_box]),
            class_id=np.concatenate([self.class_id, other.class_id]),
            embedding=embedding,
            seen_frame=np.concatenate([self.seen_frame, other.seen_frame]),
            step=np.concatenate([self.step, other.step]),
        )


class VigilTracker:
    """One camera's tracker (see the module docstring for the algorithm).

    Args:
        frame_rate: Frames per second of the camera; converts seconds to frames.
        config: Tuning knobs; the defaults suit every camera.

    Example:
        >>> tracker = VigilTracker(frame_rate=25)
        >>> tracked = tracker.update(detections)  # tracked.tracker_id is set
        >>> coasted = tracker.coast()  # next frame, not looked at: predicted boxes
    """

    def __init__(self, frame_rate: float = 30.0, config: VigilTrackerConfig | None = None) -> None:
        self.frame_rate = frame_rate
        self.config = config or VigilTrackerConfig()
        self._kalman = KalmanFilter(self.config.std_position, self.config.std_velocity)
        self._max_lost = max(1, round(self.config.track_buffer_s * frame_rate))
        self._max_coast = round(self.config.max_coast_s * frame_rate)
        self.reset()

    def reset(self) -> None:
        """Forget all tracks and restart ids at 1: call when the stream restarts."""
        self._tracks = _Tracks.empty()
        self._frame_index = 0
        self._next_key = 0
        self._next_id = 1
        self._coasted = 0  # frames since the detector last looked at the whole frame
        self._gated = False  # coasting began: predictions follow the image's flow
        # The last frame (and its grey copy once made), for coasting by flow.
        self._last_frame: npt.NDArray[np.uint8] | None = None
        self._last_grey: tuple[npt.NDArray[np.uint8], float] | None = None

    def update(
        self,
        detections: Detections,
        frame: npt.NDArray[np.uint8] | None = None,
        looked: npt.ArrayLike | None = None,
    ) -> Detections:
        """Associate one frame's detections with the tracks; see `tracker.base.Tracker`.

        Args:
            detections: This frame's detections; never modified.
            frame: The BGR image, when available (unused by this tracker today).
            looked: (K, 4) xyxy regions the detector looked at, when it did not look at
                the whole frame: a track whose predicted box lies outside every region
                was not looked for, so it coasts (see `coast`) instead of missing.

        Returns:
            The confirmed tracks matched in this frame, plus, with ``looked``, the
            confirmed live tracks outside it at their predicted boxes; ``data["coasted"]``
            (N,) bool marks the predicted rows.
        """
        cfg = self.config
        self._frame_index += 1
        self._coasted = 0 if looked is None else self._coasted + 1
        self._gated |= looked is not None
        # Predict where every track is now (following the image's flow once coasting).
        tracks, followed = self._follow(self._predict(self._tracks), self._tracks.xyxy, frame)
        boxes = detections.xyxy.astype(np.float64)
        scores = detections.confidence.astype(np.float64)
        classes = detections.class_id.astype(np.int64)
        embeddings = self._embeddings(detections)

        # Split by score: confident detections lead, weak ones only rescue tracks, the rest is ignored.
        high = np.flatnonzero(scores >= cfg.high_threshold)
        low = np.flatnonzero((scores >= cfg.low_threshold) & (scores < cfg.high_threshold))

        # Associate in four stages; each gives (K, 2) pairs of (track row, detection row).
        confident, pool, high = self._associate_high(tracks, boxes, scores, embeddings, high)
        weak = self._associate_low(tracks, pool, boxes, low)
        refound, high = self._reassociate_lost(tracks, confident, boxes, high)
        tentative, high = self._associate_tentative(tracks, boxes, high)

        # Correct the matched tracks, excuse those not looked for, age out the rest, start new ones.
        matched = np.concatenate([confident, weak, refound, tentative]).astype(np.int64)
        tracks = self._correct(tracks, matched, boxes, scores, classes, embeddings)
        if looked is not None:
            tracks = self._excuse_unlooked(tracks, np.asarray(looked, np.float64).reshape(-1, 4), followed)
        tracks = self._age_out(tracks, matched[:, 0])
        starts = high[scores[high] >= cfg.new_track_threshold]
        tracks = tracks.append(self._start(boxes[starts], scores[starts], classes, embeddings, starts))
        self._tracks = tracks
        return self._report(tracks, detections)

    def coast(self, frame: npt.NDArray[np.uint8] | None = None) -> Detections:
        """Advance one frame the detector did not look at: tracks move on their predictions.

        Not looking is not a miss: no track is lost, started or ended, for up to
        ``max_coast_s`` since the last full look; beyond it every coasted frame counts as
        a miss, so tracks nobody looks for still age out.

        Args:
            frame: The BGR image, when available: coasted tracks follow its optical flow.

        Returns:
            The confirmed tracks seen at the last look, at their predicted boxes, with
            their last detection's score and class; ``data["coasted"]`` is all True.
        """
        self._coasted += 1
        self._frame_index += 1
        self._gated = True
        tracks, followed = self._follow(self._predict(self._tracks), self._tracks.xyxy, frame)
        tracks = dataclasses.replace(tracks, detection=np.full(len(tracks), -1, np.int64))
        tracks = self._glide(tracks, ~followed)
        if self._coasted > self._max_coast:
            # Too long without looking: from here on, not looked counts as not seen.
            tracks = self._age_out(dataclasses.replace(tracks, lost_frames=tracks.lost_frames + 1), _NO_ROWS)
        self._tracks = tracks
        return self._report(tracks, Detections.empty())

    def live_boxes(self) -> tuple[Array, npt.NDArray[np.bool_]]:
        """Where every live track is now: confirmed, still unconfirmed, or recently lost.

        Returns:
            (T, 4) float64 xyxy of the current (last corrected or coasted) boxes, and (T,)
            True for the settled ones: confirmed and not missed at the last look. A gated
            pipeline treats motion inside every live box as explained, and looks again at
            the others next frame: unconfirmed ones until they confirm, and a confirmed one
            just missed (a region crop shows a person differently than the last look did;
            unlooked, it would stay lost until the next full look).
        """
        tracks = self._tracks
        return tracks.xyxy, tracks.confirmed & (tracks.lost_frames != 1)

    # --- steps -----------------------------------------------------------------

    def _predict(self, tracks: _Tracks) -> _Tracks:
        mean = tracks.mean.copy()
        # A lost track keeps its size: extrapolating growth of an unseen box only drifts.
        mean[tracks.lost_frames > 0, 6:8] = 0.0
        mean, covariance = self._kalman.predict(mean, tracks.covariance)
        return dataclasses.replace(tracks, mean=mean, covariance=covariance)

    def _associate_high(
        self, tracks: _Tracks, boxes: Array, scores: Array, embeddings: Array | None, high: Index
    ) -> tuple[Index, Index, Index]:
        """1. Confirmed tracks, lost or not, against confident detections.

        Returns:
            (K, 2) pairs, the track rows and the confident detection rows left unmatched.
        """
        cfg = self.config
        pool = np.flatnonzero(tracks.confirmed & (cfg.lost_in_first_stage | (tracks.lost_frames == 0)))
        cost = self._first_stage_cost(tracks, pool, boxes, scores, embeddings, high)
        pairs, pool_left, high_left = assign(cost, 1.0 - cfg.match_iou)
        return np.stack([pool[pairs[:, 0]], high[pairs[:, 1]]], axis=1), pool[pool_left], high[high_left]

    def _associate_low(self, tracks: _Tracks, pool: Index, boxes: Array, low: Index) -> Index:
        """2. Tracks seen last frame, still unmatched, against weak detections: occluded people score low."""
        active = pool[tracks.lost_frames[pool] == 0]
        cost = 1.0 - iou_matrix(tracks.xyxy[active], boxes[low])
        pairs, _, _ = assign(cost, 1.0 - self.config.low_match_iou)
        return np.stack([active[pairs[:, 0]], low[pairs[:, 1]]], axis=1)

    def _reassociate_lost(
        self, tracks: _Tracks, confident: Index, boxes: Array, high: Index
    ) -> tuple[Index, Index]:
        """3. Lost tracks against the confident detections left, with a buffer that grows with the gap."""
        lost = np.flatnonzero(tracks.confirmed & (tracks.lost_frames > 0) & ~_rows_in(confident, len(tracks)))
        cost = self._reassociation_cost(tracks, lost, boxes, high)
        pairs, _, high_left = assign(cost, 1.0 - self.config.match_iou)
        return np.stack([lost[pairs[:, 0]], high[pairs[:, 1]]], axis=1), high[high_left]

    def _associate_tentative(self, tracks: _Tracks, boxes: Array, high: Index) -> tuple[Index, Index]:
        """4. Unconfirmed tracks (one hit so far) against the confident detections left."""
        tentative = np.flatnonzero(~tracks.confirmed)
        cost = 1.0 - iou_matrix(tracks.xyxy[tentative], boxes[high])
        pairs, _, high_left = assign(cost, 1.0 - self.config.match_iou)
        return np.stack([tentative[pairs[:, 0]], high[pairs[:, 1]]], axis=1), high[high_left]

    def _first_stage_cost(
        self,
        tracks: _Tracks,
        rows: Index,
        boxes: Array,
        scores: Array,
        embeddings: Array | None,
        cols: Index,
    ) -> Array:
        iou = iou_matrix(tracks.xyxy[rows], boxes[cols], self.config.iou_buffer)
        r, c = np.nonzero(iou)
        if self.config.fuse_score:
            iou = iou * scores[cols][None, :]
        # Direction only re-ranks overlapping pairs (weighted by score like the IoU); alone it never matches.
        cost = np.full(iou.shape, np.inf)
        seen = xyxy_to_cxcywh(tracks.last_box[rows[r]])[:, :2]
        ahead = direction_consistency(tracks.mean[rows[r], 4:6], seen, xyxy_to_cxcywh(boxes[cols[c]])[:, :2])
        cost[r, c] = 1.0 - iou[r, c] - self.config.direction_weight * ahead * scores[cols[c]]
        if embeddings is not None and tracks.embedding is not None:
            # Appearance may vouch for a geometrically plausible pair (BoT-SORT style).
            appearance = cosine_distance(tracks.embedding[rows], embeddings[cols])
            vouched = (appearance <= self.config.appearance_threshold) & (iou > 0.0)
            cost = np.where(vouched, np.minimum(cost, appearance), cost)
        return cost

    def _reassociation_cost(self, tracks: _Tracks, rows: Index, boxes: Array, cols: Index) -> Array:
        seconds_lost = tracks.lost_frames[rows] / self.frame_rate
        buffer = self.config.iou_buffer + self.config.reassociate_buffer * seconds_lost
        iou = iou_matrix(tracks.xyxy[rows], boxes[cols], buffer)
        if self.config.reassociate_last_box:
            # The filter drifts while a track is unseen; where it was last seen is a second guess.
            iou = np.maximum(iou, iou_matrix(tracks.last_box[rows], boxes[cols], buffer))
        similar = height_ratio(tracks.xyxy[rows], boxes[cols]) >= self.config.min_height_ratio
        return np.where(similar, 1.0 - iou, np.inf)

    def _correct(
        self,
        tracks: _Tracks,
        matched: Index,
        boxes: Array,
        scores: Array,
        classes: Index,
        embeddings: Array | None,
    ) -> _Tracks:
        rows, cols = matched[:, 0], matched[:, 1]
        mean, covariance = tracks.mean.copy(), tracks.covariance.copy()
        refound = rows[tracks.lost_frames[rows] > 0]
        if self.config.refind_velocity and len(refound):
            # Velocity drifted while unseen: restart it from the gap it actually crossed (OC-SORT's idea).
            gap = (tracks.lost_frames[refound] + 1)[:, None]
            seen_at = xyxy_to_cxcywh(tracks.last_box[refound])[:, :2]
            now_at = xyxy_to_cxcywh(boxes[cols[tracks.lost_frames[rows] > 0]])[:, :2]
            mean[refound, 4:6] = (now_at - seen_at) / gap
        mean[rows], covariance[rows] = self._kalman.update(
            mean[rows], covariance[rows], xyxy_to_cxcywh(boxes[cols]), scores[cols]
        )
        hits, lost_frames, score = tracks.hits.copy(), tracks.lost_frames + 1, tracks.score.copy()
        hits[rows] += 1
        lost_frames[rows] = 0
        score[rows] = scores[cols]
        tracker_id = tracks.tracker_id.copy()
        # The first frame of a stream confirms at once: there is no history to wait for.
        promote = (tracker_id < 0) & ((hits >= self.config.min_hits) | (self._frame_index == 1))
        promote &= lost_frames == 0
        tracker_id[promote] = np.arange(self._next_id, self._next_id + promote.sum())
        self._next_id += int(promote.sum())
        embedding = tracks.embedding
        if embedding is not None and embeddings is not None:
            embedding = embedding.copy()
            m = self.config.embedding_momentum
            embedding[rows] = m * embedding[rows] + (1 - m) * _unit(embeddings[cols])
        detection = np.full(len(tracks), -1, np.int64)
        detection[rows] = cols
        last_box, class_id = tracks.last_box.copy(), tracks.class_id.copy()
        seen_frame, step = tracks.seen_frame.copy(), tracks.step.copy()
        gap = np.maximum(1, self._frame_index - seen_frame[rows])[:, None]
        step[rows] = (xyxy_to_cxcywh(boxes[cols])[:, :2] - xyxy_to_cxcywh(last_box[rows])[:, :2]) / gap
        last_box[rows], class_id[rows], seen_frame[rows] = boxes[cols], classes[cols], self._frame_index
        return _Tracks(
            tracks.key,
            tracker_id,
            mean,
            covariance,
            hits,
            lost_frames,
            score,
            detection,
            last_box,
            class_id,
            embedding,
            seen_frame,
            step,
        )

    def _follow(
        self, tracks: _Tracks, before: Array, frame: npt.NDArray[np.uint8] | None
    ) -> tuple[_Tracks, npt.NDArray[np.bool_]]:
        """Move predicted tracks by the image's optical flow since the last frame (`tracker.flow`).

        Only once the tracker coasts (a gated pipeline: `coast` or ``update(..., looked=)``)
        and frames are given: there, tracks go unseen for several frames, and at 5 fps the
        filter's prediction leaves people who turn or stop within about two. An every-frame
        pipeline keeps the filter alone and pays nothing.

        Args:
            tracks: The predicted tracks.
            before: (T, 4) xyxy of the same tracks in the last frame.
            frame: This frame's BGR image, or None.

        Returns:
            The tracks, moved where the flow was trusted, and (T,) True there.
        """
        previous, previous_grey = self._last_frame, self._last_grey
        self._last_frame, self._last_grey = frame, None
        followed = np.zeros(len(tracks), bool)
        if not self._gated or not self.config.coast_by_flow or previous is None or frame is None:
            return tracks, followed
        self._last_grey = grey_small(frame)
        grey, scale = self._last_grey
        shifts, followed = box_shifts((previous_grey or grey_small(previous))[0], grey, scale, before)
        mean = tracks.mean.copy()
        mean[followed, 0:4] = xyxy_to_cxcywh(before[followed])
        mean[followed, 0:2] += shifts[followed]
        mean[followed, 4:6] = shifts[followed]
        mean[followed, 6:8] = 0.0
        return dataclasses.replace(tracks, mean=mean), followed

    def _excuse_unlooked(self, tracks: _Tracks, looked: Array, followed: npt.NDArray[np.bool_]) -> _Tracks:
        if self._coasted > self._max_coast:
            return tracks  # too long without a full look: not looked counts as not seen
        box = tracks.xyxy
        # A box the region edge cuts was not looked at whole: the model may well miss a cut person.
        inside = (
            (box[:, None, 0] >= looked[None, :, 0] - 1)
            & (box[:, None, 1] >= looked[None, :, 1] - 1)
            & (box[:, None, 2] <= looked[None, :, 2] + 1)
            & (box[:, None, 3] <= looked[None, :, 3] + 1)
        ).any(axis=1)
        # _correct counted a miss for every unmatched track; one never looked for did not miss.
        excused = (tracks.detection < 0) & ~inside
        tracks = dataclasses.replace(tracks, lost_frames=tracks.lost_frames - excused)
        return self._glide(tracks, excused & ~followed)

    def _glide(self, tracks: _Tracks, coasting: npt.NDArray[np.bool_]) -> _Tracks:
        """Move coasting tracks on from their last observation at its last observed pace.

        At low frame rates the filter's velocity adapts over several matches, so its
        prediction lags a walker within two frames; the step between the last two
        observed boxes is already the walker's pace. Only coasting uses it, and only where
        the image's flow (`_follow`) is unknown: a track that was looked for and missed
        keeps the filter's prediction.
        """
        rows = np.flatnonzero(coasting & (tracks.lost_frames == 0) & (tracks.hits >= 2))
        if len(rows) == 0:
            return tracks
        mean = tracks.mean.copy()
        gap = (self._frame_index - tracks.seen_frame[rows])[:, None]
        mean[rows, 0:2] = xyxy_to_cxcywh(tracks.last_box[rows])[:, :2] + tracks.step[rows] * gap
        mean[rows, 4:6] = tracks.step[rows]
        return dataclasses.replace(tracks, mean=mean)

    def _age_out(self, tracks: _Tracks, matched_rows: Index) -> _Tracks:
        # An unconfirmed track that misses a frame was most likely a false positive.
        keep = tracks.confirmed | (tracks.lost_frames <= self.config.tentative_max_lost)
        keep &= tracks.lost_frames <= self._max_lost
        return tracks.select(keep)

    def _start(
        self, boxes: Array, scores: Array, classes: Index, embeddings: Array | None, rows: Index
    ) -> _Tracks:
        n = len(boxes)
        mean, covariance = self._kalman.initiate(xyxy_to_cxcywh(boxes))
        keys = np.arange(self._next_key, self._next_key + n, dtype=np.int64)
        self._next_key += n
        tracker_id = np.full(n, -1, np.int64)
        if self._frame_index == 1:
            tracker_id = np.arange(self._next_id, self._next_id + n, dtype=np.int64)
            self._next_id += n
        return _Tracks(
            key=keys,
            tracker_id=tracker_id,
            mean=mean,
            covariance=covariance,
            hits=np.ones(n, np.int64),
            lost_frames=np.zeros(n, np.int64),
            score=scores,
            detection=rows,
            last_box=boxes,
            class_id=classes[rows],
            embedding=None if embeddings is None else _unit(embeddings[rows]),
            seen_frame=np.full(n, self._frame_index, np.int64),
            step=np.zeros((n, 2)),
        )

    def _report(self, tracks: _Tracks, detections: Detections) -> Detections:
        """Confirmed tracks matched in this frame, carrying their detection's columns, then coasted ones."""
        seen = np.flatnonzero(tracks.confirmed & (tracks.detection >= 0))
        rows = tracks.detection[seen]
        # One construction, not four: this runs every frame of every camera.
        reported = Detections(
            xyxy=tracks.xyxy[seen] if self.config.output_filtered_box else detections.xyxy[rows],
            confidence=detections.confidence[rows],
            class_id=detections.class_id[rows],
            tracker_id=tracks.tracker_id[seen],
            data={
                **{key: value[rows] for key, value in detections.data.items()},
                "coasted": np.zeros(len(seen), bool),
            },
        )
        # Only coasting leaves a live (lost_frames 0) track unmatched: every miss counts.
        coasting = np.flatnonzero(tracks.confirmed & (tracks.detection < 0) & (tracks.lost_frames == 0))
        if len(coasting) == 0:
            return reported
        n = len(coasting)
        data = {key: np.zeros((n, *value.shape[1:]), value.dtype) for key, value in reported.data.items()}
        if "embedding" in data and tracks.embedding is not None:
            data["embedding"] = tracks.embedding[coasting].astype(data["embedding"].dtype)
        data["coasted"] = np.ones(n, bool)
        predicted = Detections(
            xyxy=tracks.xyxy[coasting],
            confidence=tracks.score[coasting],
            class_id=tracks.class_id[coasting],
            tracker_id=tracks.tracker_id[coasting],
            data=data,
        )
        return Detections.merge([reported, predicted])

    def _embeddings(self, detections: Detections) -> Array | None:
        embedding = detections.data.get("embedding")
        if embedding is None or len(detections) == 0:
            return None
        return np.asarray(embedding, dtype=np.float64).reshape(len(detections), -1)


_NO_ROWS = np.zeros(0, np.int64)


def _rows_in(pairs: Index, n: int) -> npt.NDArray[np.bool_]:
    """Mask (n,) of the track rows that appear in matched ``pairs`` (K, 2)."""
    mask = np.zeros(n, dtype=bool)
    mask[pairs[:, 0]] = True
    return mask


def _unit(x: Array) -> Array:
    unit: Array = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
    return unit
