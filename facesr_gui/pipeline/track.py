"""Face tracking across video frames: stable ids, smoothed boxes, bridged misses.

Per-frame MTCNN boxes jitter by a few pixels and a face is sometimes missed for a
frame or two; pasting SR faces straight from raw detections makes them flicker and
blink. :class:`FaceTracker` matches each frame's detections to existing tracks by IoU
and distance (greedy, best pair first), smooths every track with an alpha-beta
(constant-velocity g-h) filter, and keeps a track alive for ``max_missed`` detections
without a match, coasting on its velocity. Between detection frames (``detect_every > 1``
in :func:`facesr_gui.pipeline.video.enhance_video`) :meth:`FaceTracker.predict` moves
the tracks on without counting a miss. :class:`SceneCutDetector` spots hard cuts, where
every track should be dropped (a coasting box would be pasted over the new shot).

Coordinates are those of :class:`~facesr_gui.pipeline.detect.Detections`: boxes
``(K, 4)`` float32 ``x0, y0, x1, y1``, landmarks ``(K, 5, 2)`` float32 ``(x, y)``
(NaN when unknown), pixels of the frame the detections came from.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from facesr_gui.pipeline.faces import Detections

# Velocity factor applied at each missed detection: a coasting track slows down.
COAST_DAMPING = 0.5


@dataclass(frozen=True, eq=False)  # numpy fields have no boolean ==
class TrackedFaces:
    """The tracked faces of one frame, sorted by track id.

    detections: smoothed boxes, last detection scores and smoothed landmarks;
    ids: ``(K,)`` int64 track ids (stable while a face is tracked, never reused);
    missed: ``(K,)`` int32 frames since the track last matched a detection (0 = detected
    in this frame; > 0 = coasting on its predicted position).
    """

    detections: Detections
    ids: np.ndarray
    missed: np.ndarray

    def __len__(self) -> int:
        return len(self.detections)


@dataclass(eq=False)
class _Track:
    id: int
    state: np.ndarray  # (14,) float64: box (4) then landmarks (10); landmarks NaN when unknown
    velocity: np.ndarray  # (14,) float64 per frame
    score: float
    missed: int = 0  # detection frames in a row without a match
    since_measured: int = 0  # frames since the last matched detection
    hits: int = 1


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of every box in ``a`` ``(N, 4)`` against every box in ``b`` ``(M, 4)`` -> ``(N, M)``."""
    a = np.asarray(a, np.float64).reshape(-1, 4)[:, None]
    b = np.asarray(b, np.float64).reshape(-1, 4)[None]
    iw = (np.minimum(a[..., 2], b[..., 2]) - np.maximum(a[..., 0], b[..., 0])).clip(min=0)
    ih = (np.minimum(a[..., 3], b[..., 3]) - np.maximum(a[..., 1], b[..., 1])).clip(min=0)
    inter = iw * ih
    area_a = (a[..., 2] - a[..., 0]) * (a[..., 3] - a[..., 1])
    area_b = (b[..., 2] - b[..., 0]) * (b[..., 3] - b[..., 1])
    union = area_a + area_b - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-12), 0.0)


def match_scores(tracks: np.ndarray, dets: np.ndarray, iou_threshold: float, max_distance: float) -> np.ndarray:
    """``(N, M)`` scores for matching predicted track boxes to detection boxes; 0 = no match.

    A pair may match when its IoU is at least ``iou_threshold``, or when the detection's
    centre lies within ``max_distance`` track sides (sqrt of the box area) of the
    predicted centre and the two sizes differ by less than 1.5x: a 12 px face walking
    3 px a frame, detected every 3rd frame, barely overlaps its last box. Score = IoU +
    closeness, so overlap wins ties.
    """
    iou = iou_matrix(tracks, dets)
    t = np.asarray(tracks, np.float64).reshape(-1, 4)[:, None]
    d = np.asarray(dets, np.float64).reshape(-1, 4)[None]
    side_t = np.sqrt(np.maximum((t[..., 2] - t[..., 0]) * (t[..., 3] - t[..., 1]), 1e-6))
    side_d = np.sqrt(np.maximum((d[..., 2] - d[..., 0]) * (d[..., 3] - d[..., 1]), 1e-6))
    shift = np.hypot((t[..., 0] + t[..., 2] - d[..., 0] - d[..., 2]) / 2,
                     (t[..., 1] + t[..., 3] - d[..., 1] - d[..., 3]) / 2) / side_t
    closeness = np.clip(1.0 - shift / max(max_distance, 1e-9), 0.0, 1.0) if max_distance > 0 else 0 * shift
    similar = np.abs(np.log(side_d / side_t)) < np.log(1.5)
    ok = (iou >= iou_threshold) | ((closeness > 0) & similar)
    return np.where(ok, iou + closeness, 0.0)


def greedy_match(scores: np.ndarray, threshold: float) -> list[tuple[int, int]]:
    """Pairs ``(row, col)`` taken best score first, each row and column at most once, score >= threshold."""
    pairs: list[tuple[int, int]] = []
    if scores.size == 0:
        return pairs
    rows, cols = np.unravel_index(np.argsort(-scores, axis=None, kind="stable"), scores.shape)
    used_r, used_c = set(), set()
    for r, c in zip(rows.tolist(), cols.tolist()):
        if scores[r, c] < threshold:
            break
        if r not in used_r and c not in used_c:
            pairs.append((r, c))
            used_r.add(r)
            used_c.add(c)
    return pairs


class FaceTracker:
    """Tracks faces by IoU and distance, smooths them with an alpha-beta filter.

    Call :meth:`update` with each detected frame's :class:`Detections` and
    :meth:`predict` for frames that were not detected; both return the frame's
    :class:`TrackedFaces`.

    Args:
        iou_threshold: minimum IoU between a track's predicted box and a detection to match.
        max_distance: a detection whose centre is within this many face sizes of the
            predicted centre (and of similar size) also matches without overlap (see
            :func:`match_scores`); 0 = IoU only.
        max_missed: detection frames a track survives without a match (coasting on its
            predicted box, so a face missed for a frame or two does not blink); it is
            dropped on the next miss.
        smoothing: in ``[0, 1)``; 0 passes detections through unchanged, larger values
            smooth more (and lag more on sudden moves). The filter gain is
            ``g = 1 - smoothing`` for positions and ``h = g**2 / (2 - g)`` for velocities
            (Benedict-Bordner), so a face moving at constant speed is followed without a
            steady-state lag; a new track starts with the larger least-squares gains of
            an expanding-memory filter until these are reached.
        min_hits: a new track is reported once it has matched this many detections
            (1 = at once; 2 or more hides one-frame false positives).
    """

    def __init__(self, iou_threshold: float = 0.3, max_missed: int = 5, smoothing: float = 0.6,
                 min_hits: int = 1, max_distance: float = 1.0) -> None:
        if not 0.0 <= smoothing < 1.0:
            raise ValueError(f"smoothing must be in [0, 1), got {smoothing}")
        if max_missed < 0 or min_hits < 1:
            raise ValueError("max_missed must be >= 0 and min_hits >= 1")
        self.iou_threshold = float(iou_threshold)
        self.max_missed = int(max_missed)
        self.smoothing = float(smoothing)
        self.min_hits = int(min_hits)
        self.max_distance = float(max_distance)
        self._gain = 1.0 - self.smoothing
        self._vgain = self._gain ** 2 / (2.0 - self._gain)
        self._tracks: list[_Track] = []
        self._next_id = 0

    @property
    def tracks_started(self) -> int:
        """How many distinct tracks (faces) have been started so far."""
        return self._next_id

    def reset(self) -> None:
        """Forget all tracks (e.g. at a scene cut); ids keep counting up."""
        self._tracks = []

    def peek(self) -> np.ndarray:
        """``(K, 4)`` float32 boxes where every track (shown or not yet) is expected in the next
        frame: the boxes :meth:`update` will match that frame's detections against."""
        return np.array([t.state[:4] + t.velocity[:4] for t in self._tracks], np.float32).reshape(-1, 4)

    def predict(self) -> TrackedFaces:
        """Advance every track one frame without a detection (a frame that was not detected)."""
        self._advance()
        return self._output()

    def update(self, detections: Detections) -> TrackedFaces:
        """Advance one frame and correct the tracks with this frame's ``detections``.

        Returns the smoothed faces of the frame: matched and newly started tracks, plus
        tracks coasting through at most ``max_missed`` missed detections.
        """
        self._advance()
        meas = _measurements(detections)
        boxes = np.array([t.state[:4] for t in self._tracks]).reshape(-1, 4)
        scores = match_scores(boxes, detections.boxes, self.iou_threshold, self.max_distance)
        pairs = greedy_match(scores, 1e-9)
        matched_t = {t for t, _ in pairs}
        matched_d = {d for _, d in pairs}
        for ti, di in pairs:
            self._correct(self._tracks[ti], meas[di], float(detections.scores[di]))
        for ti, track in enumerate(self._tracks):
            if ti not in matched_t:
                track.missed += 1
                track.velocity *= COAST_DAMPING  # do not let a lost face drift off
        self._tracks = [t for t in self._tracks if t.missed <= self.max_missed]
        for di in range(len(detections)):
            if di not in matched_d:
                self._tracks.append(_Track(self._next_id, meas[di].copy(), np.zeros(14),
                                           float(detections.scores[di])))
                self._next_id += 1
        self._drop_duplicates()
        return self._output()

    def _drop_duplicates(self) -> None:
        """Drop coasting tracks that overlap a detected one: the face is tracked under that id."""
        fresh = np.array([t.state[:4] for t in self._tracks if t.missed == 0]).reshape(-1, 4)
        if len(fresh) == 0:
            return
        self._tracks = [t for t in self._tracks if t.missed == 0
                        or iou_matrix(t.state[None, :4], fresh).max() <= self.iou_threshold]

    def _advance(self) -> None:
        for t in self._tracks:
            t.state = t.state + t.velocity
            t.since_measured += 1

    def _correct(self, t: _Track, z: np.ndarray, score: float) -> None:
        dt = max(t.since_measured, 1)
        lm_known = np.isfinite(t.state[4:]).all() and np.isfinite(z[4:]).all()
        n = 14 if lm_known else 4
        # expanding-memory warm-up: the first measurements get least-squares gains (the
        # 2nd sets the velocity outright), so a new track does not lag behind its face
        k = t.hits + 1
        g = max(self._gain, 2.0 * (2 * k - 1) / (k * (k + 1)))
        h = max(self._vgain, 6.0 / (k * (k + 1)))
        r = z[:n] - t.state[:n]
        t.state[:n] += g * r
        t.velocity[:n] += h * r / dt
        if not lm_known:  # landmarks appear, disappear or stay unknown: take the measurement
            t.state[4:] = z[4:]
            t.velocity[4:] = 0.0
        t.score, t.missed, t.since_measured = score, 0, 0
        t.hits += 1

    def _output(self) -> TrackedFaces:
        shown = sorted((t for t in self._tracks if t.hits >= self.min_hits), key=lambda t: t.id)
        if not shown:
            return TrackedFaces(Detections.empty(), np.zeros(0, np.int64), np.zeros(0, np.int32))
        state = np.stack([t.state for t in shown]).astype(np.float32)
        boxes = state[:, :4].copy()
        boxes[:, 2:] = np.maximum(boxes[:, 2:], boxes[:, :2] + 1.0)  # never an empty box
        dets = Detections(boxes, np.array([t.score for t in shown], np.float32),
                          state[:, 4:].reshape(-1, 5, 2).copy())
        return TrackedFaces(dets, np.array([t.id for t in shown], np.int64),
                            np.array([t.since_measured for t in shown], np.int32))


def _measurements(d: Detections) -> np.ndarray:
    """``(K, 14)`` float64 rows ``box, landmarks`` of a frame's detections."""
    k = len(d)
    return np.concatenate([np.asarray(d.boxes, np.float64).reshape(k, 4),
                           np.asarray(d.landmarks, np.float64).reshape(k, 10)], axis=1)


class SceneCutDetector:
    """Flags hard cuts between consecutive frames.

    A frame is a cut when the mean absolute difference of 64x36 grey thumbnails of it
    and the previous frame exceeds ``threshold`` (0-255 grey levels). Measured on the
    shared test clips: 0.2-3.8 between ordinary frames (walking people, head turns),
    up to 14 for fast hand-held pans, 28-31 at the two cuts of short_hamilton_clip.mp4.
    """

    SIZE = (64, 36)

    def __init__(self, threshold: float = 20.0) -> None:
        self.threshold = float(threshold)
        self._prev: np.ndarray | None = None

    def __call__(self, rgb: np.ndarray) -> bool:
        """Whether ``rgb`` (``(H, W, 3)`` uint8 RGB) starts a new shot; the first frame is not a cut."""
        grey = cv2.cvtColor(cv2.resize(rgb, self.SIZE, interpolation=cv2.INTER_AREA), cv2.COLOR_RGB2GRAY)
        grey = grey.astype(np.float32)
        prev, self._prev = self._prev, grey
        return prev is not None and float(np.abs(grey - prev).mean()) > self.threshold
