"""Temporal stabilisation of restored video faces: less flicker, the same detail.

A network restores each frame of a video on its own; on noisy, compressed faces the detail it adds
changes from frame to frame although the face did not (:mod:`.flicker` measures it). The
stabiliser is a recursive filter per tracked face, on the aligned SR crops (``FaceResult.sr``,
``(S, S, 3)`` uint8 RGB) before they are pasted:

1. motion compensation: the shift between the face's previous and current aligned bicubic crops
   (``FaceResult.bicubic``; the alignment follows the landmarks, so what is left is their jitter
   and the face's own motion) is measured by phase correlation on luma, and the previous
   stabilised SR crop is moved by it;
2. a per-pixel weight ``w = strength * exp(-change / tau)``, where ``change`` is the absolute
   luma difference of the two (aligned) bicubic crops, smoothed by a Gaussian of ``sigma`` px:
   where the input really changed (a blink, a turn, a new face) the new SR crop is kept, where it
   did not (only new noise) the previous one is blended in;
3. ``sr = sr + w * (previous - sr)``.

Reset: a track seen for the first time, or after a gap of more than one frame, starts anew; at a
scene cut the caller calls :meth:`FaceStabiliser.reset` (the tracker drops its tracks there too).
Torch-free; a few milliseconds per face at 128 px.
"""
from __future__ import annotations

import cv2
import numpy as np

from .flicker import luma

__all__ = ["FaceStabiliser"]


class FaceStabiliser:
    """Call with each frame's restored faces and their track ids, before pasting (module docstring).

    Args:
        strength: largest share of the previous crop blended in (0 = off, < 1).
        tau: luma change (0-255) of the input at which the weight falls to ``strength / e``.
        sigma: Gaussian smoothing (px of the SR crop) of the change map: noise is not change.
    """

    def __init__(self, strength: float = 0.6, tau: float = 6.0, sigma: float = 3.0) -> None:
        if not 0.0 <= strength < 1.0 or tau <= 0 or sigma < 0:
            raise ValueError("strength must be in [0, 1), tau positive and sigma >= 0")
        self.strength, self.tau, self.sigma = float(strength), float(tau), float(sigma)
        self._prev: dict[int, tuple[int, np.ndarray, np.ndarray]] = {}   # id -> (frame, sr float32, bicubic luma)

    def reset(self) -> None:
        """Forget every track (a scene cut)."""
        self._prev.clear()

    def __call__(self, frame: int, faces: list, track_ids: np.ndarray) -> None:
        """Stabilise ``faces`` (``FaceResult`` list; pasted ones only) of frame index ``frame`` in place."""
        for face in faces:
            if face.skipped is not None:
                continue
            tid = int(track_ids[face.index])
            sr = face.sr.astype(np.float32)
            bic = luma(face.bicubic)
            prev = self._prev.get(tid)
            if prev is not None and prev[0] == frame - 1 and prev[1].shape == sr.shape and self.strength > 0:
                sr = self._blend(sr, bic, prev[1], prev[2])
                face.sr = np.clip(sr + 0.5, 0, 255).astype(np.uint8)
            self._prev[tid] = (frame, sr, bic)
        for tid in [t for t, v in self._prev.items() if v[0] < frame - 1]:
            del self._prev[tid]

    def _blend(self, sr: np.ndarray, bic: np.ndarray, prev_sr: np.ndarray, prev_bic: np.ndarray) -> np.ndarray:
        (dx, dy), _response = cv2.phaseCorrelate(prev_bic, bic)
        h, w = bic.shape
        if abs(dx) > w / 4 or abs(dy) > h / 4:      # not the same face any more: start over
            return sr
        m = np.array([[1.0, 0.0, dx], [0.0, 1.0, dy]], np.float32)
        prev_sr = cv2.warpAffine(prev_sr, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        prev_bic = cv2.warpAffine(prev_bic, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        change = np.abs(bic - prev_bic)
        if self.sigma > 0:
            change = cv2.GaussianBlur(change, (0, 0), self.sigma)
        weight = self.strength * np.exp(-change / self.tau)
        return sr + weight[..., None] * (prev_sr - sr)
