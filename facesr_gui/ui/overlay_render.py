"""Turn network maps into RGBA overlays (numpy only: no torch, no Qt).

``colorize_map(arr, kind)`` takes a float map ``(h, w)`` or ``(K, h, w)`` and returns
``(h, w, 4)`` uint8 RGBA (straight alpha, fully opaque; the view applies the opacity).
"""
from __future__ import annotations

import numpy as np

# viridis sampled at 9 evenly spaced points (matplotlib); interpolated to a 256-entry LUT
_VIRIDIS_STOPS = np.array([
    (68, 1, 84), (71, 44, 122), (59, 81, 139), (44, 113, 142), (33, 144, 141),
    (39, 173, 129), (92, 200, 99), (170, 220, 50), (253, 231, 37),
], dtype=np.float64)

# distinct colours for label maps (face parsing classes); index i colours label i mod len
LABEL_PALETTE = np.array([
    (0, 0, 0), (230, 25, 75), (60, 180, 75), (255, 225, 25), (0, 130, 200), (245, 130, 48),
    (145, 30, 180), (70, 240, 240), (240, 50, 230), (210, 245, 60), (250, 190, 212),
    (0, 128, 128), (220, 190, 255), (170, 110, 40), (255, 250, 200), (128, 0, 0),
    (170, 255, 195), (128, 128, 0), (255, 215, 180), (0, 0, 128),
], dtype=np.uint8)


def _build_lut(stops: np.ndarray, n: int = 256) -> np.ndarray:
    x = np.linspace(0.0, 1.0, len(stops))
    t = np.linspace(0.0, 1.0, n)
    return np.stack([np.interp(t, x, stops[:, c]) for c in range(3)], axis=1).round().astype(np.uint8)


VIRIDIS_LUT = _build_lut(_VIRIDIS_STOPS)


def normalize(arr: np.ndarray) -> np.ndarray:
    """Min-max normalise to ``[0, 1]``; a constant (or all-NaN) map becomes zeros."""
    arr = np.nan_to_num(np.asarray(arr, dtype=np.float32), nan=0.0, posinf=0.0, neginf=0.0)
    lo, hi = float(arr.min()), float(arr.max())
    if hi - lo < 1e-12:
        return np.zeros_like(arr)
    return (arr - lo) / (hi - lo)


def heat_rgba(arr: np.ndarray) -> np.ndarray:
    """``(h, w)`` float -> viridis RGBA; ``(K, h, w)`` is averaged over K first."""
    arr = np.asarray(arr, dtype=np.float32)
    if arr.ndim == 3:
        arr = arr.mean(axis=0)
    idx = (normalize(arr) * 255.0).round().astype(np.intp)
    return _with_alpha(VIRIDIS_LUT[idx])


def labels_rgba(arr: np.ndarray) -> np.ndarray:
    """``(K, h, w)`` class scores -> argmax over K; ``(h, w)`` is taken as integer labels.
    K identical planes (W-Net repeats one skin mask) carry no classes: shown as heat."""
    arr = np.asarray(arr)
    if arr.ndim == 3 and arr.shape[0] > 1 and np.allclose(arr[1:], arr[:1]):
        return heat_rgba(arr[0])
    labels = arr.argmax(axis=0) if arr.ndim == 3 else np.rint(np.nan_to_num(arr)).astype(np.intp)
    return _with_alpha(LABEL_PALETTE[np.mod(labels, len(LABEL_PALETTE))])


def image_rgba(arr: np.ndarray) -> np.ndarray:
    """``(3, h, w)`` RGB in ``[0, 1]`` (an intermediate image, e.g. a coarse SR) -> RGBA."""
    arr = np.nan_to_num(np.asarray(arr, dtype=np.float32))
    if arr.ndim != 3 or arr.shape[0] != 3:
        return heat_rgba(arr)
    return _with_alpha((np.clip(arr, 0, 1).transpose(1, 2, 0) * 255.0).round().astype(np.uint8))


def _with_alpha(rgb: np.ndarray) -> np.ndarray:
    alpha = np.full(rgb.shape[:2] + (1,), 255, dtype=np.uint8)
    return np.concatenate([rgb, alpha], axis=2)


def colorize_map(arr: np.ndarray, kind: str = "heat") -> np.ndarray:
    """Colourise a map: ``kind="heat"`` (viridis, min-max normalised), ``"labels"`` (palette)
    or ``"image"`` (a 3-channel RGB intermediate shown as is).

    ``arr``: ``(h, w)`` or ``(K, h, w)`` float. Returns ``(h, w, 4)`` uint8 RGBA.
    """
    if np.ndim(arr) not in (2, 3):
        raise ValueError(f"expected (h, w) or (K, h, w), got shape {np.shape(arr)}")
    if kind == "heat":
        return heat_rgba(arr)
    if kind == "labels":
        return labels_rgba(arr)
    if kind == "image":
        return image_rgba(arr)
    raise ValueError(f"unknown map kind {kind!r}; expected 'heat', 'labels' or 'image'")


IMAGE_MAPS = frozenset({"coarse_sr", "stage1"})   # intermediate RGB images (PriorSR, CAGFace)


def map_kind(name: str) -> str:
    """Default rendering for a map name: face parsing maps are labels, intermediate images
    are images, the rest heat."""
    if name in IMAGE_MAPS:
        return "image"
    return "labels" if name.split("/")[0] == "parsing" and "/" not in name else "heat"


def crop_to_frame(inverse_affine: np.ndarray, crop_size: int, h: int, w: int) -> np.ndarray:
    """``(2, 3)`` affine placing an ``h`` x ``w`` crop-aligned map onto the frame.

    ``inverse_affine``: the face crop's crop -> frame transform (cv2 form, pixel centres at
    integers) for a ``crop_size`` square crop. The result uses pixel *edges* (a pixel spans
    ``[i, i + 1)``), as QPainter does: ``x_frame = M[:, :2] @ x_map + M[:, 2]``.
    """
    sx, sy = crop_size / w, crop_size / h
    resize = np.array([[sx, 0, 0.5 * (sx - 1)], [0, sy, 0.5 * (sy - 1)], [0, 0, 1]])
    m = np.asarray(inverse_affine, np.float64).reshape(2, 3) @ resize          # centres -> centres
    out = m.copy()
    out[:, 2] = m[:, 2] + 0.5 - m[:, :2] @ np.array([0.5, 0.5])             # edges -> edges
    return out
