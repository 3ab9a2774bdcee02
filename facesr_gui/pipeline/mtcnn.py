"""MTCNN's cascade (Zhang et al. 2016) over facenet-pytorch's three networks, without its slow parts.

facenet-pytorch's ``detect_face`` spends most of a 480p frame's ~0.75 s outside the networks:
the image pyramid is resampled from a float tensor with ``adaptive_avg_pool2d`` at every scale,
each of the ~1000 candidate boxes of stage two and three is cut and resampled by its own
``interpolate`` call, and without torchvision its non-maximum suppression is a Python loop
(:mod:`._tv_shim`). This module runs the same cascade with the same networks, thresholds,
pyramid, box regression, squaring (``rerec``), clipping (``pad``) and NMS thresholds, but:

* the pyramid levels are made with OpenCV's area filter from the float32 image, the small ones
  (:data:`INTEGRAL_SHARE`) by the same filter from the frame's integral image (:func:`area_from_integral`);
* candidate crops are cut from the ``(H, W, 3)`` image and resampled with OpenCV's area
  filter (the same filter; OpenCV weighs fractional pixels exactly where ``adaptive_avg_pool2d``
  averages whole ones, so scores differ in the third decimal);
* NMS is OpenCV's (``cv2.dnn.NMSBoxes``: greedy, IoU, suppress above the threshold); stage
  three's "Min"-overlap NMS is facenet's own numpy one.

Input: ``(B, H, W, 3)`` uint8 RGB frames of one size. Output per frame: boxes ``(K, 4)``
``x0, y0, x1, y1``, scores ``(K,)`` and landmarks ``(K, 5, 2)`` ``(x, y)``, float32, in MTCNN's
pixel convention (as facenet-pytorch returns them), sorted by decreasing score.
"""
from __future__ import annotations

import cv2
import numpy as np
import torch

from ._tv_shim import import_facenet_pytorch

__all__ = ["area_from_integral", "decode_onet", "detect_faces", "network_input", "square"]

_NORM_MEAN, _NORM_SCALE = 127.5, 0.0078125
# pyramid levels of at most this share of the frame's pixels are made from its integral image
# (area_from_integral): there a level costs less than with cv2.resize, which reads the whole frame
INTEGRAL_SHARE = 1 / 50


def _helpers():
    import_facenet_pytorch()
    from facenet_pytorch.models.utils import detect_face as df

    return df


def _nms(boxes: np.ndarray, scores: np.ndarray, groups: np.ndarray, threshold: float) -> np.ndarray:
    """Indices kept by greedy IoU NMS within each group, by decreasing score overall."""
    keep = []
    for g in np.unique(groups):
        idx = np.flatnonzero(groups == g)
        b = boxes[idx].astype(np.float64)
        rects = np.stack([b[:, 0], b[:, 1], b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]], axis=1).tolist()
        kept = cv2.dnn.NMSBoxes(rects, scores[idx].astype(np.float64).tolist(), 0.0, threshold)
        keep.extend(idx[np.asarray(kept, np.int64).reshape(-1)])
    keep = np.asarray(keep, np.int64)
    return keep[np.argsort(-scores[keep], kind="stable")]


def network_input(images: np.ndarray) -> torch.Tensor:
    """``(N, H, W, 3)`` RGB in 0-255 (uint8 or float32) -> MTCNN's normalised ``(N, 3, H, W)`` float32."""
    x = (np.asarray(images, np.float32) - np.float32(_NORM_MEAN)) * np.float32(_NORM_SCALE)   # NHWC, numpy's SIMD
    return torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))


def _crops(frames: np.ndarray, boxes: np.ndarray, inds: np.ndarray, size: int) -> torch.Tensor:
    """MTCNN's crops (``pad``: integer, clipped to the frame) resampled to ``size``, normalised NCHW."""
    h, w = frames.shape[1:3]
    b = np.trunc(boxes[:, :4]).astype(np.int64)
    x, y = np.maximum(b[:, 0], 1), np.maximum(b[:, 1], 1)
    ex, ey = np.minimum(b[:, 2], w), np.minimum(b[:, 3], h)
    out = np.zeros((len(b), size, size, 3), np.float32)
    for k in range(len(b)):
        if ey[k] > y[k] - 1 and ex[k] > x[k] - 1:
            crop = frames[inds[k], y[k] - 1:ey[k], x[k] - 1:ex[k]]
            out[k] = cv2.resize(crop, (size, size), interpolation=cv2.INTER_AREA)
    return network_input(out)


def _regress(boxes: np.ndarray, reg: np.ndarray) -> np.ndarray:
    """facenet's ``bbreg`` on numpy rows ``x0, y0, x1, y1, ...``."""
    out = boxes.copy()
    w, h = boxes[:, 2] - boxes[:, 0] + 1, boxes[:, 3] - boxes[:, 1] + 1
    out[:, 0] += reg[:, 0] * w
    out[:, 1] += reg[:, 1] * h
    out[:, 2] += reg[:, 2] * w
    out[:, 3] += reg[:, 3] * h
    return out


def decode_onet(boxes: np.ndarray, reg: np.ndarray, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """O-Net's outputs for its input squares ``boxes`` (rows ``x0, y0, x1, y1, ...``): the regressed
    boxes (other columns kept) and the landmarks ``(K, 5, 2)`` ``(x, y)``, placed as facenet does."""
    wi, hi = boxes[:, 2] - boxes[:, 0] + 1, boxes[:, 3] - boxes[:, 1] + 1
    lm = np.stack([wi[:, None] * points[:, :5] + boxes[:, :1] - 1,
                   hi[:, None] * points[:, 5:10] + boxes[:, 1:2] - 1], axis=2)
    return _regress(boxes, reg), lm


def area_from_integral(integral: np.ndarray, hs: int, ws: int) -> np.ndarray:
    """OpenCV's area filter (``INTER_AREA``, shrinking) of an image to ``ws`` x ``hs`` px, from its
    integral image ``(H + 1, W + 1, C)`` (``cv2.integral``): ``(hs, ws, C)`` float32.

    Each output pixel is the mean of the image over its footprint, a rectangle with fractional
    corners; the integral image of a piecewise-constant image is bilinear within each pixel, so
    its value at a fractional corner is the bilinear interpolation of the four integer ones and the
    footprint's sum is the usual four-corner difference. Within 2e-4 grey levels of ``cv2.resize``
    (float64 here, float32 sums there). Why: ``cv2.resize`` reads the whole image for each pyramid
    level, ~3 ms a level for a 480p frame at 2x however small the level; this reads only the
    level's corners (0.1-1.8 ms for the levels of at most :data:`INTEGRAL_SHARE` of the frame)."""
    h, w = integral.shape[0] - 1, integral.shape[1] - 1
    py = np.arange(hs + 1) * (h / hs)
    i = np.minimum(py.astype(np.int64), h - 1)
    fy = (py - i)[:, None, None]
    px = np.arange(ws + 1) * (w / ws)
    j = np.minimum(px.astype(np.int64), w - 1)
    fx = (px - j)[None, :, None]
    s00 = integral[np.ix_(i, j)].astype(np.float64)
    s01, s10, s11 = integral[np.ix_(i, j + 1)], integral[np.ix_(i + 1, j)], integral[np.ix_(i + 1, j + 1)]
    top = s00 + (s01 - s00) * fx
    corners = top + (s10 + (s11 - s10) * fx - top) * fy
    sums = corners[1:, 1:] - corners[:-1, 1:] - corners[1:, :-1] + corners[:-1, :-1]
    return (sums * (hs * ws / (h * w))).astype(np.float32)


def square(boxes: np.ndarray) -> np.ndarray:
    """facenet's ``rerec``: the square of side ``max(w, h)`` centred on each box (other columns kept)."""
    out = boxes.copy()
    w, h = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
    side = np.maximum(w, h)
    out[:, 0] = boxes[:, 0] + w * 0.5 - side * 0.5
    out[:, 1] = boxes[:, 1] + h * 0.5 - side * 0.5
    out[:, 2] = out[:, 0] + side
    out[:, 3] = out[:, 1] + side
    return out


@torch.inference_mode()
def detect_faces(frames: np.ndarray, pnet, rnet, onet, min_size: float, thresholds, factor: float = 0.709,
                 pnet_bf16: bool = False, device: torch.device | str | None = None, start_level: int = 0,
                 ) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """``(boxes, scores, landmarks)`` per frame of ``frames`` ``(B, H, W, 3)`` uint8 RGB (module docstring).
    ``pnet``, ``rnet``, ``onet``: facenet's modules or callables like them (:mod:`.accel`'s compiled ones,
    float32 in and out). ``pnet_bf16``: run P-Net (most of the time) under bfloat16 autocast on the CPU.
    ``device``: where the inputs go (default: the modules' own). ``start_level``: leave out the pyramid's
    first (largest, costliest) levels, those of the faces smaller than ``min_size / factor**start_level``;
    the other levels are the same as the whole pyramid's."""
    df = _helpers()
    n, h, w = frames.shape[:3]
    params = next(pnet.parameters()) if isinstance(pnet, torch.nn.Module) else None
    dtype = params.dtype if params is not None else torch.float32
    device = torch.device(device) if device is not None else (params.device if params is not None else torch.device("cpu"))
    scales, m = [], 12.0 / min_size
    minl = min(h, w) * m
    while minl >= 12:
        scales.append(m * factor ** len(scales))
        minl *= factor
    scales = scales[start_level:]
    floats = frames.astype(np.float32)
    integrals = None   # each frame's integral image, made for the first small level
    # stage 1: P-Net over the pyramid; NMS 0.5 per scale and frame, then 0.7 per frame
    cand, cand_inds = [], []
    for scale in scales:
        hs, ws = int(h * scale + 1), int(w * scale + 1)
        if hs * ws <= INTEGRAL_SHARE * h * w and h * w * 255 < 2 ** 31:   # a small level (and int32 sums suffice)
            if integrals is None:
                integrals = [cv2.integral(f, sdepth=cv2.CV_32S) for f in frames]
            level = np.stack([area_from_integral(s, hs, ws) for s in integrals])
        else:
            level = np.stack([cv2.resize(f, (ws, hs), interpolation=cv2.INTER_AREA) for f in floats])
        x = network_input(level).to(device, dtype)
        if params is not None:   # PyTorch's P-Net runs channels-last; a compiled one takes NCHW as it is (a
            x = x.contiguous(memory_format=torch.channels_last)   # round trip through NHWC was 40 ms a 2x frame)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=pnet_bf16 and device.type == "cpu"):
            reg, probs = pnet(x)
        reg, probs = reg.float(), probs.float()
        boxes_s, inds_s = df.generateBoundingBox(reg, probs[:, 1], scale, thresholds[0])
        boxes_s, inds_s = boxes_s.float().cpu().numpy(), inds_s.cpu().numpy()
        if len(boxes_s):
            pick = _nms(boxes_s[:, :4], boxes_s[:, 4], inds_s, 0.5)
            cand.append(boxes_s[pick])
            cand_inds.append(inds_s[pick])
    empty = (np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros((0, 5, 2), np.float32))
    if not cand:
        return [empty for _ in range(n)]
    boxes, inds = np.concatenate(cand), np.concatenate(cand_inds)
    pick = _nms(boxes[:, :4], boxes[:, 4], inds, 0.7)
    boxes, inds = boxes[pick], inds[pick]
    regw, regh = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
    boxes = np.stack([boxes[:, 0] + boxes[:, 5] * regw, boxes[:, 1] + boxes[:, 6] * regh,
                      boxes[:, 2] + boxes[:, 7] * regw, boxes[:, 3] + boxes[:, 8] * regh, boxes[:, 4]], axis=1)
    boxes = square(boxes)
    # stage 2: R-Net on 24x24 crops
    out = rnet(_crops(frames, boxes, inds, 24).to(device, dtype))
    reg, score = out[0].float().cpu().numpy(), out[1][:, 1].float().cpu().numpy()
    ok = score > thresholds[1]
    boxes = np.concatenate([boxes[ok, :4], score[ok, None]], axis=1)
    inds, reg = inds[ok], reg[ok]
    if len(boxes):
        pick = _nms(boxes[:, :4], boxes[:, 4], inds, 0.7)
        boxes, inds, reg = boxes[pick], inds[pick], reg[pick]
        boxes = square(_regress(boxes, reg))
    if not len(boxes):
        return [empty for _ in range(n)]
    # stage 3: O-Net on 48x48 crops: score, box regression, landmarks; "Min" NMS 0.7 per frame
    out = onet(_crops(frames, boxes, inds, 48).to(device, dtype))
    reg, points, score = (out[0].float().cpu().numpy(), out[1].float().cpu().numpy(),
                          out[2][:, 1].float().cpu().numpy())
    ok = score > thresholds[2]
    boxes = np.concatenate([boxes[ok, :4], score[ok, None]], axis=1)
    inds, reg, points = inds[ok], reg[ok], points[ok]
    boxes, lm = decode_onet(boxes, reg, points)
    if len(boxes):
        pick = df.batched_nms_numpy(torch.from_numpy(boxes[:, :4]), torch.from_numpy(boxes[:, 4]),
                                    torch.from_numpy(inds), 0.7, "Min")
        pick = np.asarray(pick, np.int64).reshape(-1)
        boxes, inds, lm = boxes[pick], inds[pick], lm[pick]
    result = []
    for i in range(n):
        sel = np.flatnonzero(inds == i)
        sel = sel[np.argsort(-boxes[sel, 4], kind="stable")]
        result.append((boxes[sel, :4].astype(np.float32), boxes[sel, 4].astype(np.float32),
                       lm[sel].astype(np.float32)))
    return result
