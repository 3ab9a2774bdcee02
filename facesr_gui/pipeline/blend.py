"""Seamless paste-back of restored faces: soft masks, colour matching, ROI compositing.

Conventions: crops are ``(S, S, 3)`` uint8 RGB aligned to the CelebA template (see
:mod:`facesr_gui.pipeline.align`); masks are ``(S, S)`` float32 in ``[0, 1]``; frames are
``(H, W, 3)`` uint8 RGB. Only the frame rectangle a face covers is touched, so pasting
costs the same on a 480p frame and on a 4K one.
"""
from __future__ import annotations

import functools

import cv2
import numpy as np

from .align import FaceCrop, _crop_like_to_frame, _frame_roi

# Ellipse of the face in the CelebA-aligned crop, as fractions of the crop side: centre
# and half-axes. The template puts the eyes at y=0.52 and the mouth at y=0.75, so the
# ellipse reaches from the brows' upper edge to just below the chin and across both cheeks.
ELLIPSE_CENTRE = (0.5, 0.60)
ELLIPSE_AXES = (0.34, 0.42)
FEATHER = 0.08  # Gaussian sigma of the mask edge, as a fraction of the crop side
# A crop at least this many times larger than the frame area it is pasted into (a 128 px SR face into 32 px
# or less) is first area-shrunk to that size, one 2-4x larger to twice that size: bicubic interpolation
# decimating 4-8x folds the network's detail back as aliasing, and the warp then never decimates more than
# 2x. Measured (benchmarks/bench_paste.py, the default model, against the ground truth): +0.9-1.9 dB for
# faces of 16-23 px at x1, +0.00-0.18 where only the 2x step acts; shrinking the 2-4x crops all the way
# blurred them (-0.18 dB for 37 px faces at x1).
PREFILTER_RATIO = 4.0


@functools.lru_cache(maxsize=8)
def ellipse_mask(size: int, feather: float = FEATHER) -> np.ndarray:
    """``(size, size)`` float32 face mask: 1 inside the face ellipse, feathered to 0. Read-only: the same
    array serves every face of that size (a video pastes thousands; its Gaussian blur cost 0.2 ms each)."""
    mask = np.zeros((size, size), np.float32)
    centre = (int(round(ELLIPSE_CENTRE[0] * size)), int(round(ELLIPSE_CENTRE[1] * size)))
    axes = (int(round(ELLIPSE_AXES[0] * size)), int(round(ELLIPSE_AXES[1] * size)))
    cv2.ellipse(mask, centre, axes, 0, 0, 360, 1.0, thickness=-1)
    mask = _feather(mask, feather * size)
    mask.flags.writeable = False
    return mask


def parsing_mask(foreground: np.ndarray, size: int, feather: float = FEATHER) -> np.ndarray:
    """Soft mask from a predicted face-foreground probability map (any resolution).

    The map is resized to ``size``, thresholded at 0.5, its outer contours filled (skin
    maps have holes at the eyes and mouth), slightly dilated so the seam falls outside
    the face contour, then feathered like :func:`ellipse_mask`.
    Falls back to the ellipse when the prediction covers less than 5% of the crop.
    """
    fg = cv2.resize(np.asarray(foreground, np.float32), (size, size), interpolation=cv2.INTER_LINEAR)
    hard = (fg > 0.5).astype(np.uint8)
    if hard.mean() < 0.05:
        return ellipse_mask(size, feather)
    contours, _ = cv2.findContours(hard, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    cv2.drawContours(hard, contours, -1, 1, thickness=-1)
    k = max(3, int(round(size * 0.06)) | 1)
    hard = cv2.dilate(hard, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k)))
    return _feather(hard.astype(np.float32), feather * size)


def _feather(mask: np.ndarray, sigma: float) -> np.ndarray:
    """Blur a hard mask and force it to 0 on the crop border (no visible crop edge)."""
    size = mask.shape[0]
    if sigma > 0:
        mask = cv2.GaussianBlur(mask, (0, 0), sigma)
    ramp = np.minimum(np.arange(size), np.arange(size)[::-1]).astype(np.float32)
    ramp = np.clip(ramp / max(2.0 * sigma, 1.0), 0, 1)
    return np.clip(mask * ramp[None, :] * ramp[:, None], 0, 1).astype(np.float32)


def match_colour(sr: np.ndarray, lr: np.ndarray) -> np.ndarray:
    """Make the SR face agree with its LR input at low frequencies.

    Networks drift in colour and brightness (more so early in training or with a GAN
    loss); the background around a pasted face comes from the same LR pixels, so a
    drift shows as a box. We add the low-pass difference between the LR crop and the
    SR crop seen at LR resolution (one step of iterative back-projection, smoothed with
    a Gaussian of about one LR pixel so no LR blockiness returns). High-frequency detail
    of the SR output is untouched.

    The three linear steps (area shrink, cubic enlargement, Gaussian blur; OpenCV's filters and
    borders) are applied as matrix products, :func:`_colour_matrices`: the same output within one
    grey level on one value in a million, 0.1 instead of 0.4 ms a face.

    Args:
        sr: ``(S, S, 3)`` uint8 RGB network output.
        lr: ``(s, s, 3)`` uint8 RGB network input, ``S = s * scale``.
    Returns:
        ``(S, S, 3)`` uint8 RGB.
    """
    shrink, enlarge = _colour_matrices(sr.shape[0], lr.shape[0])
    srf = sr.astype(np.float32)
    planes = srf.transpose(2, 0, 1)
    low = lr.astype(np.float32).transpose(2, 0, 1) - shrink @ planes @ shrink.T
    delta = (enlarge @ low @ enlarge.T).transpose(1, 2, 0)
    return np.clip(srf + delta, 0, 255).round().astype(np.uint8)


@functools.lru_cache(maxsize=8)
def _colour_matrices(size: int, small: int) -> tuple[np.ndarray, np.ndarray]:
    """:func:`match_colour`'s operators as ``(small, size)`` and ``(size, small)`` float32 matrices, read off
    OpenCV's own filters (each is separable and linear, so filtering the identity gives its matrix): the area
    shrink ``size -> small``, and the cubic enlargement ``small -> size`` followed by the Gaussian blur of sigma
    ``size / small`` (OpenCV's float kernel of ``8 sigma + 1`` taps, reflect-101 borders)."""
    eye = np.eye(size, dtype=np.float32)
    shrink = cv2.resize(eye, (size, small), interpolation=cv2.INTER_AREA)
    enlarge = cv2.resize(np.eye(small, dtype=np.float32), (small, size), interpolation=cv2.INTER_CUBIC)
    sigma = max(size / small, 1.0)
    kernel = cv2.getGaussianKernel(int(round(sigma * 8 + 1)) | 1, sigma, cv2.CV_32F)
    blur = cv2.sepFilter2D(eye, -1, np.ones((1, 1), np.float32), kernel, borderType=cv2.BORDER_REFLECT_101)
    smooth = (blur.astype(np.float64) @ enlarge.astype(np.float64)).astype(np.float32)
    shrink.flags.writeable = smooth.flags.writeable = False
    return shrink, smooth


def paste(frame: np.ndarray, crop_like: np.ndarray, mask: np.ndarray, face: FaceCrop) -> None:
    """Composite ``crop_like`` into ``frame`` in place through ``mask``.

    Args:
        frame: ``(H, W, 3)`` uint8 RGB, modified in place.
        crop_like: ``(S, S, 3)`` uint8 RGB covering ``face``'s crop (any resolution; one over
            twice as large as its place in ``frame`` is area-shrunk first, :data:`PREFILTER_RATIO`).
        mask: ``(S, S)`` float32 ``[0, 1]`` in the same crop coordinates.
        face: gives the crop -> frame transform (``face.inverse_affine``, ``face.size``).
    """
    h, w = crop_like.shape[:2]
    side = face.side_in_frame
    big = max(h, w)
    n = max(2, int(np.ceil(side if big >= PREFILTER_RATIO * side else 2 * side)))
    if n < big:
        crop_like = cv2.resize(crop_like, (n, n), interpolation=cv2.INTER_AREA)
        mask = cv2.resize(mask, (n, n), interpolation=cv2.INTER_AREA)
        h = w = n
    m = _crop_like_to_frame(face, h, w)
    x0, y0, x1, y1 = _frame_roi(m, h, w, frame.shape[0], frame.shape[1])
    if x1 <= x0 or y1 <= y0:
        return
    m = m.copy()
    m[:, 2] -= (x0, y0)
    size = (x1 - x0, y1 - y0)
    kw = dict(flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    src = cv2.warpAffine(crop_like.astype(np.float32), m, size, **kw)
    alpha = np.clip(cv2.warpAffine(mask.astype(np.float32), m, size, **{**kw, "flags": cv2.INTER_LINEAR}), 0, 1)
    roi = frame[y0:y1, x0:x1].astype(np.float32)
    out = roi + alpha[..., None] * (src - roi)
    frame[y0:y1, x0:x1] = np.clip(out, 0, 255).round().astype(np.uint8)


def warp_map_into(canvas: np.ndarray, crop_map: np.ndarray, face: FaceCrop,
                  interpolation: int = cv2.INTER_LINEAR) -> None:
    """Warp a crop-aligned map into ``canvas`` (``(H, W)`` or ``(K, H, W)`` float32), keeping the max.

    ``crop_map`` is ``(h, w)`` or ``(K, h, w)`` at any resolution over the crop.
    """
    multi = crop_map.ndim == 3
    h, w = crop_map.shape[-2:]
    H, W = canvas.shape[-2:]
    m = _crop_like_to_frame(face, h, w)
    x0, y0, x1, y1 = _frame_roi(m, h, w, H, W)
    if x1 <= x0 or y1 <= y0:
        return
    m = m.copy()
    m[:, 2] -= (x0, y0)
    planes = crop_map if multi else crop_map[None]
    kw = dict(flags=interpolation, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    for k, plane in enumerate(planes):
        warped = cv2.warpAffine(np.ascontiguousarray(plane, np.float32), m, (x1 - x0, y1 - y0), **kw)
        target = canvas[k] if multi else canvas
        np.maximum(target[y0:y1, x0:x1], warped, out=target[y0:y1, x0:x1])
