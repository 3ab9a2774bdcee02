"""Temporal flicker of restored faces in a video, relative to bicubic's.

A network restores each frame on its own, so the same face can change from one frame to the next
more than the input did (noise and compression amplified into detail that comes and goes): it
flickers. :class:`FlickerMeter` measures it per track: for every pair of consecutive frames in
which a track's face was restored (pasted), the mean absolute difference of the two aligned SR
crops and of the two aligned bicubic crops (``FaceResult.sr`` / ``FaceResult.bicubic``, ``(S, S, 3)``
uint8 RGB, compared on luma, 0-255). The input's own change (motion, lighting, a new noise draw,
the alignment's jitter) moves both; their ratio

    ``ratio = sum over pairs of |SR_t - SR_t-1| / sum over pairs of |BIC_t - BIC_t-1|``

is 1.0 when the network changes a face exactly as much as upscaling the input does, above 1 when it
adds flicker. Faces are matched by the tracker's id (``EnhanceResult.track_ids``); a track that skips
a frame starts a new pair. Torch-free.
"""
from __future__ import annotations

import numpy as np

__all__ = ["FlickerMeter", "luma"]

_LUMA = np.array([0.299, 0.587, 0.114], np.float32)


def luma(rgb: np.ndarray) -> np.ndarray:
    """``(H, W, 3)`` RGB -> ``(H, W)`` float32 BT.601 luma (0-255 for uint8 input)."""
    return rgb.astype(np.float32) @ _LUMA


class FlickerMeter:
    """Feed :meth:`add` every restored frame in order; read :attr:`ratio` (NaN before any pair)."""

    def __init__(self) -> None:
        self._last: dict[int, tuple[int, np.ndarray, np.ndarray]] = {}   # id -> (frame, sr luma, bicubic luma)
        self.sr_change = self.bicubic_change = 0.0
        self.pairs = 0

    def add(self, frame: int, result) -> None:
        """One frame's :class:`~.restore.EnhanceResult` (with ``track_ids``) at index ``frame``."""
        ids = getattr(result, "track_ids", None)
        if ids is None:
            return
        for face in result.faces:
            if face.skipped is not None:
                continue
            tid = int(ids[face.index])
            sr, bic = luma(face.sr), luma(face.bicubic)
            last = self._last.get(tid)
            if last is not None and last[0] == frame - 1 and last[1].shape == sr.shape:
                self.sr_change += float(np.abs(sr - last[1]).mean())
                self.bicubic_change += float(np.abs(bic - last[2]).mean())
                self.pairs += 1
            self._last[tid] = (frame, sr, bic)
        for tid in [t for t, v in self._last.items() if v[0] < frame - 1]:
            del self._last[tid]

    @property
    def ratio(self) -> float:
        return self.sr_change / self.bicubic_change if self.bicubic_change > 0 else float("nan")
