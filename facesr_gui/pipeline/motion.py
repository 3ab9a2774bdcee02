"""Where a video frame changed since the last whole-frame detection: the only places a new face can be.

A face that enters a fixed camera's view moves; the wall, floor and desks do not. Between two
whole-frame detections of a video (:class:`~.video_stages.FrameTracker`) the tracked faces are found
around their tracks (:mod:`.regions`); the whole-frame detection is there for the faces that came in
meanwhile. :class:`MotionGate` says which rectangles of the frame changed since the previous
whole-frame detection, so MTCNN's cascade runs on those (and on the tracked faces) instead of the
whole frame:

* both frames are compared as grey thumbnails at ``1 / CELL`` of the frame's side (an area filter: one
  cell averages ``CELL x CELL`` pixels, which also averages away sensor noise and H.264's block flicker);
  a cell changed when its grey level moved by more than ``THRESHOLD`` levels;
* the changed cells are grown by one cell, grouped into connected blobs, and each blob's bounding box
  is padded by ``PAD`` of the frame's short side (a face is inside its own motion, and the cascade
  needs the face whole with some context around it); overlapping rectangles are merged until none
  overlap, so no face is looked for twice;
* when the rectangles cover more than ``MAX_SHARE`` of the frame (a hand-held or panning camera, a
  change of light) the gate answers None: the whole frame is detected, as without the gate.

Measured on the bundled clips (changed area between frames 6 apart, as rectangles): 9% of the
classroom, 37-44% of the fixed corridor and shop cameras, 99% of the hand-held 480p street clip.

Coordinates: rectangles are ``(x0, y0, x1, y1)`` int pixels of the frame, ``x1``/``y1`` exclusive.
"""
from __future__ import annotations

import cv2
import numpy as np

__all__ = ["CELL", "MAX_SHARE", "PAD", "THRESHOLD", "TRACK_WINDOW", "MotionGate", "merge_rects", "track_rects"]

CELL = 4            # thumbnail cell, px of the frame
THRESHOLD = 12.0    # grey levels (0-255) a cell's mean must move by to count as changed
PAD = 0.125         # rectangle padding, share of the frame's short side (54 px at 432p)
MAX_SHARE = 0.6     # above this share of the frame in rectangles: the whole frame
TRACK_WINDOW = 2.5  # a tracked face is looked for in the square of this many times its side around it
                    # (here and by regions.detect_windows, whose WINDOW this is)


def track_rects(boxes: np.ndarray, height: int, width: int) -> list[tuple[int, int, int, int]]:
    """The square of ``TRACK_WINDOW`` times each ``(K, 4)`` float ``x0, y0, x1, y1`` box's longer side
    around its centre, as rectangles clipped to a ``height`` x ``width`` frame: where a gated whole-frame
    detection looks for the tracked faces (one that stood still is in no changed rectangle)."""
    b = np.asarray(boxes, np.float64).reshape(-1, 4)
    half = np.maximum(b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]) * TRACK_WINDOW / 2
    cx, cy = (b[:, 0] + b[:, 2]) / 2, (b[:, 1] + b[:, 3]) / 2
    out = []
    for x, y, r in zip(cx, cy, half):
        x0, y0 = max(0, int(np.floor(x - r))), max(0, int(np.floor(y - r)))
        x1, y1 = min(width, int(np.ceil(x + r))), min(height, int(np.ceil(y + r)))
        if x1 > x0 and y1 > y0:
            out.append((x0, y0, x1, y1))
    return out


def merge_rects(rects: list[tuple[int, int, int, int]]) -> list[tuple[int, int, int, int]]:
    """``rects`` with every overlapping pair replaced by their bounding box until none overlap."""
    out = [tuple(int(v) for v in r) for r in rects]
    merged = True
    while merged:
        merged = False
        for i in range(len(out)):
            for j in range(i + 1, len(out)):
                a, b = out[i], out[j]
                if a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]:
                    out[i] = (min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3]))
                    del out[j]
                    merged = True
                    break
            if merged:
                break
    return sorted(out)


class MotionGate:
    """The rectangles of a frame that changed since the reference frame (module docstring).

    The reference is the frame of the previous whole-frame detection: :meth:`changed` compares a frame with
    it and makes that frame the next one's (one thumbnail per frame); :meth:`set_reference` only does the
    latter (a complete detection, a scene cut's among them, looks at everything)."""

    def __init__(self, threshold: float = THRESHOLD, pad: float = PAD, max_share: float = MAX_SHARE) -> None:
        self.threshold, self.pad, self.max_share = float(threshold), float(pad), float(max_share)
        self._ref: np.ndarray | None = None

    @staticmethod
    def _thumb(rgb: np.ndarray) -> np.ndarray:
        h, w = rgb.shape[:2]
        small = cv2.resize(rgb, (max(1, w // CELL), max(1, h // CELL)), interpolation=cv2.INTER_AREA)
        return cv2.cvtColor(small, cv2.COLOR_RGB2GRAY).astype(np.int16)

    def set_reference(self, rgb: np.ndarray) -> None:
        """``rgb`` (``(H, W, 3)`` uint8 RGB) is the frame later frames are compared with."""
        self._ref = self._thumb(rgb)

    def changed(self, rgb: np.ndarray, extra: list[tuple[int, int, int, int]] = ()) -> list[tuple[int, int, int, int]] | None:
        """The rectangles of ``rgb`` that changed since the reference, plus ``extra`` ones (merged with
        them), or None when the whole frame must be looked at: no reference, a different frame size, or
        the rectangles cover over ``max_share`` of it. An empty list: nothing changed and nothing extra.
        ``rgb`` becomes the reference."""
        h, w = rgb.shape[:2]
        thumb = self._thumb(rgb)
        ref, self._ref = self._ref, thumb
        if ref is None or ref.shape != thumb.shape:
            return None
        moved = (np.abs(thumb - ref) > self.threshold).astype(np.uint8)
        moved = cv2.dilate(moved, np.ones((3, 3), np.uint8))
        n, _labels, stats, _ = cv2.connectedComponentsWithStats(moved, connectivity=8)
        pad = int(round(self.pad * min(h, w)))
        rects = list(extra)
        for x, y, bw, bh, _area in stats[1:n]:
            rects.append((x * CELL - pad, y * CELL - pad, (x + bw) * CELL + pad, (y + bh) * CELL + pad))
        rects = [(max(0, x0), max(0, y0), min(w, x1), min(h, y1)) for x0, y0, x1, y1 in rects]
        rects = merge_rects([r for r in rects if r[2] > r[0] and r[3] > r[1]])
        if sum((x1 - x0) * (y1 - y0) for x0, y0, x1, y1 in rects) > self.max_share * h * w:
            return None
        return rects
