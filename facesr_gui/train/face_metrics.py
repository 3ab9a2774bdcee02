"""Face-region metrics: FR-PSNR, FR-SSIM (EIPNet 4.3) and identity similarity.

EIPNet crops the face region detected in the HR image by the *face_recognition* algorithm
(dlib's HOG detector), applies the same crop to the SR image and computes PSNR and SSIM
between the crops; images whose HR face is not detected are left out of the averages. Here
PSNR/SSIM are :func:`facesr_gui.metrics.psnr` / :func:`~facesr_gui.metrics.ssim` on the Y
channel of the crops, and ``identity`` is the cosine similarity of the dlib embeddings of SR
and HR over that same box (:class:`facesr_gui.identity.DlibIdentity`).

Needs the optional dlib packages (see :mod:`facesr_gui.identity`); without them the functions
raise :class:`~facesr_gui.identity.IdentityUnavailable`.
"""
from __future__ import annotations

import math

import numpy as np
from torch import Tensor

from ..identity import Box, DlibIdentity, detect_faces
from ..metrics import psnr, ssim

__all__ = ["face_region", "fr_metrics", "mean_fr_metrics", "to_uint8_hwc"]

_MIN_SIDE = 11  # SSIM's window


def to_uint8_hwc(x: Tensor) -> np.ndarray:
    """One ``(3, H, W)`` RGB ``[0, 1]`` tensor -> ``(H, W, 3)`` uint8 RGB (rounded)."""
    arr = (x.detach().float().clamp(0.0, 1.0) * 255.0).round().to("cpu").numpy()
    return np.ascontiguousarray(arr.astype(np.uint8).transpose(1, 2, 0))


def face_region(hr_uint8: np.ndarray) -> Box | None:
    """Box ``(x0, y0, x1, y1)`` (exclusive ends) of the largest face dlib's HOG detector
    finds in ``hr_uint8`` (``(H, W, 3)`` uint8 RGB), or ``None``.

    Small images are upsampled for detection (a 128x128 aligned CelebA face is searched at
    1x, then 2x); boxes are clipped to the image and at least 11x11 (SSIM's window)."""
    for box in detect_faces(hr_uint8):
        if box[2] - box[0] >= _MIN_SIDE and box[3] - box[1] >= _MIN_SIDE:
            return box
    return None


def fr_metrics(sr: Tensor, hr: Tensor, identity: DlibIdentity | bool = True,
               boxes: list[Box | None] | None = None) -> list[dict | None]:
    """Per-image face-region metrics of ``sr`` against ``hr``.

    ``sr``, ``hr``: ``(N, 3, H, W)`` RGB ``[0, 1]`` of equal shape. Returns one entry per
    image: ``None`` where no face is detected in the HR image (EIPNet discards those), else
    ``{"box": (x0, y0, x1, y1), "fr_psnr": float, "fr_ssim": float, "identity": float}`` with
    Y-channel PSNR (dB, ``inf`` for identical crops) and SSIM over the HR face box, and the
    cosine similarity of the SR and HR dlib embeddings over that box (1 = same embedding).
    ``identity=False`` skips the embeddings (``"identity"`` is then ``None``); an instance
    may be passed to reuse it. ``boxes`` (one per image, as returned in an earlier call's
    entries) skips the HR detection, e.g. to score bicubic on the very same boxes."""
    if sr.shape != hr.shape or sr.dim() != 4 or sr.shape[1] != 3:
        raise ValueError(f"expected two (N, 3, H, W) tensors of equal shape, "
                         f"got {tuple(sr.shape)} and {tuple(hr.shape)}")
    ident: DlibIdentity | None = None
    if isinstance(identity, DlibIdentity):
        ident = identity
    elif identity:
        ident = DlibIdentity()
    out: list[dict | None] = []
    if boxes is not None and len(boxes) != len(sr):
        raise ValueError(f"{len(boxes)} boxes for {len(sr)} images")
    for i, (sr_i, hr_i) in enumerate(zip(sr, hr)):
        hr_np = to_uint8_hwc(hr_i)
        box = face_region(hr_np) if boxes is None else boxes[i]
        if box is None:
            out.append(None)
            continue
        x0, y0, x1, y1 = box
        sr_c, hr_c = sr_i[None, :, y0:y1, x0:x1], hr_i[None, :, y0:y1, x0:x1]
        sim = ident.similarity(to_uint8_hwc(sr_i), hr_np, box=box) if ident else None
        out.append({"box": box, "fr_psnr": float(psnr(sr_c, hr_c)[0]),
                    "fr_ssim": float(ssim(sr_c, hr_c)[0]), "identity": sim})
    return out


def mean_fr_metrics(entries: list[dict | None]) -> dict[str, float]:
    """Means over the images with a detected face (``fr_psnr`` over finite values only),
    plus ``fr_count``, the number of such images; empty means are ``nan``."""
    found = [e for e in entries if e is not None]
    means: dict[str, float] = {"fr_count": float(len(found))}
    for key in ("fr_psnr", "fr_ssim", "identity"):
        vals = [e[key] for e in found if e[key] is not None and math.isfinite(e[key])]
        means[key] = float(np.mean(vals)) if vals else math.nan
    return means
