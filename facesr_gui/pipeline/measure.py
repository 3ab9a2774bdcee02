"""Measures of an enhanced photo: PSNR/SSIM against a ground truth and identity similarity.

Images are ``(H, W, 3)`` uint8 RGB; PSNR/SSIM follow :mod:`facesr_gui.metrics` (Y channel,
:func:`~facesr_gui.metrics.y_psnr_ssim`); identity is the cosine similarity of dlib's 128-D
embeddings (:mod:`facesr_gui.identity`).
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import cv2
import numpy as np

from ..metrics import y_psnr_ssim

if TYPE_CHECKING:
    from .restore import EnhanceResult

# dlib face box inside a 128 px aligned crop (mean over 39 CelebA dev faces, std < 3 px):
# used for both crops so the identity embedding needs no detection on a degraded face.
ALIGNED_DLIB_BOX_128 = (29, 45, 102, 118)


def quality_vs_truth(result: EnhanceResult, image: np.ndarray, truth: np.ndarray,
                     boxes: dict[int, np.ndarray]) -> dict[int, dict[str, float | None]]:
    """PSNR/SSIM of the output and of the bicubic-upscaled input against ``truth`` (resized to
    the output size): key -1 for the whole image, ``face_id`` for each box (input coordinates)."""
    h, w = result.image.shape[:2]
    if truth.shape[:2] != (h, w):
        truth = cv2.resize(truth, (w, h), interpolation=cv2.INTER_AREA if truth.shape[0] > h else cv2.INTER_CUBIC)
    bic = image if result.upscale == 1 else cv2.resize(image, (w, h), interpolation=cv2.INTER_CUBIC)
    regions = {-1: (0, 0, w, h)}
    for face_id, box in boxes.items():
        x0, y0, x1, y1 = (np.asarray(box, np.float64) * result.upscale).round().astype(int)
        regions[face_id] = (max(0, x0), max(0, y0), min(w, x1), min(h, y1))
    out = {}
    for key, (x0, y0, x1, y1) in regions.items():
        if x1 - x0 < 2 or y1 - y0 < 2:
            out[key] = {"psnr": None, "ssim": None, "bicubic_psnr": None, "bicubic_ssim": None}
            continue
        gt = truth[y0:y1, x0:x1]
        p, s = y_psnr_ssim(result.image[y0:y1, x0:x1], gt)
        bp, bs = y_psnr_ssim(bic[y0:y1, x0:x1], gt)
        out[key] = {"psnr": p, "ssim": s, "bicubic_psnr": bp, "bicubic_ssim": bs}
    return out


class AlignedIdentity:
    """Lazily built :class:`~facesr_gui.identity.DlibIdentity`: ``similarity`` of two aligned face
    crops (``(S, S, 3)`` uint8 RGB, CelebA framing) without detecting the face on them; None with
    ``reason`` set when dlib is not installed."""

    def __init__(self) -> None:
        self._ident = None
        self.reason = ""

    def similarity(self, a: np.ndarray, b: np.ndarray) -> float | None:
        from ..identity import DlibIdentity

        if self._ident is None:
            status = DlibIdentity.available()
            if not status:
                self.reason = status.reason
                return None
            self._ident = DlibIdentity()
        k = a.shape[0] / 128.0
        box = tuple(int(round(v * k)) for v in ALIGNED_DLIB_BOX_128)
        return self._ident.similarity(a, b, box=box)
