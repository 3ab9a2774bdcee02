"""Face alignment: CelebA-style square crops and the inverse warp back into the frame.

The SR networks are trained on aligned CelebA faces preprocessed as "centre 178x178
crop of the 178x218 image, resized to 128" (see facesr_gui/train/dataset.py). An
aligned crop here frames a detected face the same way: a similarity transform
(rotation + uniform scale + shift) maps the 5 MTCNN landmarks onto
:data:`CELEBA_TEMPLATE_128` scaled to the crop size.

Conventions: images and crops are ``(H, W, C)`` numpy arrays, **RGB** for colour
images, uint8 ``[0, 255]`` (crops) or any float range (maps); coordinates have pixel
centres at integers (cv2). ``FaceCrop.affine`` maps image -> crop coordinates and
``inverse_affine`` crop -> image, both ``(2, 3)`` float64 in cv2.warpAffine form.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from facesr_gui.pipeline.faces import Detections

# Mean MTCNN landmarks (x, y) on CelebA faces preprocessed like the training data.
# Measured with FaceDetector() defaults on 50 celeba_train images (every 96th file in
# sorted order), each centre-cropped to 178x178 and PIL-bicubic resized to 128x128;
# all 50 detected. Order: eye, eye, nose, mouth corner, mouth corner (left to right).
# Per-point std over the 50 faces: 0.7-1.3 px for the eyes, 1.3-2.0 px for the mouth
# corners, 2.7-4.0 px for the nose tip (pose).
CELEBA_TEMPLATE_128 = np.array(
    [[49.83, 65.97], [78.26, 66.06], [63.09, 83.84], [51.10, 95.51], [76.83, 95.61]],
    dtype=np.float64,
)
TEMPLATE_SIZE = 128

# Box fallback (no landmarks), measured on the same 50 faces: the MTCNN box's long side
# is 82.48 px of the 128 px crop, and the crop centre sits (-0.0155, -0.1398) box long
# sides from the box centre (the box reaches lower, to the chin, than the crop centre).
BOX_SIDE_IN_CROP = 82.48 / TEMPLATE_SIZE
BOX_CENTRE_TO_CROP_CENTRE = np.array([-0.0155, -0.1398])


@dataclass(eq=False)  # numpy fields have no boolean ==
class FaceCrop:
    """One face cut out of a frame.

    box: ``(4,)`` float32 ``x0, y0, x1, y1`` in the frame; landmarks: ``(5, 2)``
    float32 in the frame (NaN when unknown: the crop is then box-based);
    affine / inverse_affine: ``(2, 3)`` float64, frame -> crop and crop -> frame;
    crop: ``(size, size, 3)`` uint8 RGB; size: crop side in pixels.
    """

    box: np.ndarray
    landmarks: np.ndarray
    affine: np.ndarray
    inverse_affine: np.ndarray
    crop: np.ndarray
    size: int

    @property
    def side_in_frame(self) -> float:
        """Side of the crop in frame pixels (``affine`` maps frame -> crop)."""
        return self.size / affine_scale(self.affine)


def affine_scale(affine: np.ndarray) -> float:
    """Crop pixels per frame pixel of a ``(2, 3)`` frame -> crop similarity (the square root of its determinant)."""
    return math.sqrt(abs(np.linalg.det(affine[:, :2])))


def template(size: int = TEMPLATE_SIZE, margin: float = 0.0) -> np.ndarray:
    """The ``(5, 2)`` landmark template for a ``size`` crop with ``margin`` extra context.

    ``margin`` is added on each side as a fraction of the CelebA field of view: the crop
    shows ``1 + 2 * margin`` times as much, so the face is smaller in it.
    """
    centre = (size - 1) / 2
    pts = (CELEBA_TEMPLATE_128 + 0.5) * size / TEMPLATE_SIZE - 0.5
    return centre + (pts - centre) / (1.0 + 2.0 * margin)


def similarity_transform(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Least-squares similarity (no reflection) mapping ``src`` ``(N, 2)`` onto ``dst``.

    Written with complex numbers: ``dst ~ a * src + b``; ``a`` = scale * rotation.
    Returns a ``(2, 3)`` float64 matrix.
    """
    zs = src[:, 0] + 1j * src[:, 1]
    zd = dst[:, 0] + 1j * dst[:, 1]
    zs0, zd0 = zs - zs.mean(), zd - zd.mean()
    a = np.sum(np.conj(zs0) * zd0) / np.sum(np.abs(zs0) ** 2)
    b = zd.mean() - a * zs.mean()
    return np.array([[a.real, -a.imag, b.real], [a.imag, a.real, b.imag]])


def box_transform(box: np.ndarray, size: int = TEMPLATE_SIZE, margin: float = 0.0) -> np.ndarray:
    """Axis-aligned ``(2, 3)`` frame -> crop transform framing an MTCNN-style ``box``."""
    x0, y0, x1, y1 = (float(v) for v in box)
    long_side = max(x1 - x0, y1 - y0, 1e-3)
    cx, cy = np.array([(x0 + x1) / 2, (y0 + y1) / 2]) + BOX_CENTRE_TO_CROP_CENTRE * long_side
    k = size * BOX_SIDE_IN_CROP / long_side / (1.0 + 2.0 * margin)
    c = (size - 1) / 2
    return np.array([[k, 0.0, c - k * cx], [0.0, k, c - k * cy]])


def face_transform(box: np.ndarray, landmarks: np.ndarray, size: int = TEMPLATE_SIZE,
                   margin: float = 0.0) -> np.ndarray:
    """Frame -> crop ``(2, 3)`` transform: landmark-based when landmarks are usable, else box-based."""
    lm = np.asarray(landmarks, np.float64).reshape(-1, 2)
    spread = np.ptp(lm, axis=0).max() if lm.shape[0] == 5 and np.isfinite(lm).all() else 0.0
    if spread < 1.0:  # missing (NaN) or degenerate landmarks
        return box_transform(box, size, margin)
    return similarity_transform(lm, template(size, margin))


def warp_crop(img: np.ndarray, affine: np.ndarray, size: int) -> np.ndarray:
    """``img`` warped into a ``size`` x ``size`` crop by ``affine`` (bicubic, reflected border).

    When the face is shrunk by more than 2x the crop is warped at an integer multiple
    of ``size`` and area-downsampled, so large faces do not alias.

    Bicubic, not bilinear: a face is warped twice on its way through the app (into the net's LR crop,
    and its SR crop back into the frame), and bilinear interpolation blurs by as much as its sub-pixel
    offset says (none on the grid, a [1/2, 1/2] average half-way). On CelebA dev faces degraded
    ``realistic``ally into frames (aligned crops of 16-45 px, x2 and x3 output,
    ``benchmarks/bench_paste.py``) the default model's pasted faces gain 0.09-0.28 dB Y-PSNR against
    the ground truth with bicubic. Area pre-filtering of the 1-2x shrinks lost 0.08-0.18 dB: the nets
    were trained on sharp LR faces. (At x1 it cost faces under ~25 px 0.5-1 dB until paste-back shrank
    crops much larger than their place in the frame first, ``blend.PREFILTER_RATIO``; with both, every
    size and scale measured gains: ``benchmarks/README.md``.)
    """
    scale = affine_scale(affine)
    f = max(1, math.ceil(1.0 / max(scale, 1e-6))) if scale < 0.5 else 1
    m = affine.copy()
    if f > 1:  # same pixel-centre mapping on the f-times finer grid
        m = np.array([[f, 0, (f - 1) / 2], [0, f, (f - 1) / 2]]) @ np.vstack([m, [0, 0, 1]])
    out = cv2.warpAffine(img, m, (size * f, size * f), flags=cv2.INTER_CUBIC,
                         borderMode=cv2.BORDER_REFLECT_101)
    if f > 1:
        out = cv2.resize(out, (size, size), interpolation=cv2.INTER_AREA)
    return out


def crop_faces(img: np.ndarray, detections: Detections, size: int = 128,
               margin: float = 0.0) -> list[FaceCrop]:
    """Aligned ``size`` x ``size`` crops of every detected face in ``img``.

    Args:
        img: ``(H, W, 3)`` uint8 RGB frame.
        detections: faces in ``img`` (:mod:`facesr_gui.pipeline.detect`).
        size: crop side; the CelebA framing is kept at any size.
        margin: extra context per side, as a fraction of the CelebA field of view.
    Returns:
        one :class:`FaceCrop` per detection, in detection order.
    """
    faces = []
    for box, lm in zip(detections.boxes, detections.landmarks):
        affine = face_transform(box, lm, size, margin)
        faces.append(FaceCrop(
            box=np.asarray(box, np.float32), landmarks=np.asarray(lm, np.float32),
            affine=affine, inverse_affine=cv2.invertAffineTransform(affine),
            crop=warp_crop(img, affine, size), size=size,
        ))
    return faces


def _crop_like_to_frame(face: FaceCrop, h: int, w: int) -> np.ndarray:
    """``(2, 3)`` map from an ``h`` x ``w`` array covering the crop to frame coordinates."""
    sx, sy = face.size / w, face.size / h
    resize = np.array([[sx, 0, 0.5 * (sx - 1)], [0, sy, 0.5 * (sy - 1)], [0, 0, 1]])
    return face.inverse_affine @ resize


def _frame_roi(m: np.ndarray, h: int, w: int, out_h: int, out_w: int) -> tuple[int, int, int, int]:
    """Frame rectangle ``x0, y0, x1, y1`` (clipped) covered by the warped ``h`` x ``w`` array."""
    corners = np.array([[-0.5, -0.5, 1], [w - 0.5, -0.5, 1], [-0.5, h - 0.5, 1], [w - 0.5, h - 0.5, 1]])
    pts = corners @ m.T
    x0, y0 = np.floor(pts.min(0)).astype(int)
    x1, y1 = np.ceil(pts.max(0)).astype(int) + 1
    return max(x0, 0), max(y0, 0), min(x1, out_w), min(y1, out_h)


def warp_back(crop_like: np.ndarray, face: FaceCrop, out_shape: tuple[int, ...],
              interpolation: int = cv2.INTER_LINEAR) -> tuple[np.ndarray, np.ndarray]:
    """Warp a crop-aligned array back into frame coordinates.

    Args:
        crop_like: ``(h, w, C)`` or ``(h, w)`` array covering the crop of ``face``
            (any resolution: an SR output at 4x, a 32x32 edge map, ...), uint8 or float.
        face: the :class:`FaceCrop` it belongs to.
        out_shape: the frame's shape; only ``(H, W)`` is used.
        interpolation: cv2 flag, e.g. ``cv2.INTER_NEAREST`` for label maps.
    Returns:
        ``(warped, mask)``: ``warped`` ``(H, W, C)`` (or ``(H, W)``) with the input's dtype
        (float32 for dtypes cv2 cannot warp), 0 outside the crop; ``mask`` ``(H, W)``
        float32 in ``[0, 1]``: 1 where the crop covers the frame, fractional on its
        edge. Edge values are premultiplied by ``mask``, so
        ``warped + (1 - mask[..., None]) * frame`` pastes the crop exactly.
    """
    arr = np.asarray(crop_like)
    if arr.dtype not in (np.uint8, np.uint16, np.float32, np.float64):
        arr = arr.astype(np.float32)
    h, w = arr.shape[:2]
    out_h, out_w = int(out_shape[0]), int(out_shape[1])
    warped = np.zeros((out_h, out_w) + arr.shape[2:], arr.dtype)
    mask = np.zeros((out_h, out_w), np.float32)
    m = _crop_like_to_frame(face, h, w)
    x0, y0, x1, y1 = _frame_roi(m, h, w, out_h, out_w)
    if x1 <= x0 or y1 <= y0:
        return warped, mask
    m_roi = m.copy()
    m_roi[:, 2] -= (x0, y0)
    kw = dict(flags=interpolation, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    roi = cv2.warpAffine(arr, m_roi, (x1 - x0, y1 - y0), **kw)
    warped[y0:y1, x0:x1] = roi.reshape((y1 - y0, x1 - x0) + arr.shape[2:])
    mask[y0:y1, x0:x1] = cv2.warpAffine(np.ones((h, w), np.float32), m_roi, (x1 - x0, y1 - y0), **kw)
    return warped, mask
