"""Degradation model used to make LR training/evaluation inputs from HR faces.

The model is the conventional one of the face SR papers: bicubic downscaling by an
integer factor. We use *antialiased* bicubic (the MATLAB ``imresize`` behaviour that
SR benchmarks are built with); plain ``F.interpolate(..., mode="bicubic")`` without
antialiasing only samples 4x4 taps and aliases badly at x8.

Tensors are ``(N, 3, H, W)`` float RGB in ``[0, 1]``; numpy images are
``(H, W, 3)`` uint8 RGB.
"""
from __future__ import annotations

import numpy as np
import torch.nn.functional as F
from PIL import Image
from torch import Tensor

__all__ = ["downscale", "upscale_bicubic", "resize", "downscale_uint8"]


def _check_batch(x: Tensor) -> None:
    if x.dim() != 4:
        raise ValueError(f"expected a (N, C, H, W) tensor, got shape {tuple(x.shape)}")


def resize(x: Tensor, size: tuple[int, int]) -> Tensor:
    """Bicubic resize of ``(N, C, H, W)`` ``[0, 1]`` to ``size=(h, w)``, antialiased when
    shrinking, clamped to ``[0, 1]``."""
    _check_batch(x)
    if tuple(x.shape[-2:]) == tuple(size):
        return x
    shrink = size[0] < x.shape[-2] or size[1] < x.shape[-1]
    out = F.interpolate(x, size=size, mode="bicubic", align_corners=False, antialias=shrink)
    return out.clamp(0.0, 1.0)


def downscale(hr: Tensor, scale: int) -> Tensor:
    """HR ``(N, 3, H, W)`` RGB ``[0, 1]`` -> LR ``(N, 3, H/scale, W/scale)`` by antialiased
    bicubic, clamped to ``[0, 1]``. ``H`` and ``W`` must be divisible by ``scale``."""
    _check_batch(hr)
    h, w = hr.shape[-2:]
    if scale < 1 or h % scale or w % scale:
        raise ValueError(f"HR size {h}x{w} is not divisible by scale {scale}")
    return resize(hr, (h // scale, w // scale))


def upscale_bicubic(lr: Tensor, scale: int) -> Tensor:
    """LR ``(N, 3, h, w)`` RGB ``[0, 1]`` -> ``(N, 3, h*scale, w*scale)`` by bicubic
    interpolation, clamped to ``[0, 1]`` (the bicubic baseline)."""
    _check_batch(lr)
    h, w = lr.shape[-2:]
    return resize(lr, (h * scale, w * scale))


def downscale_uint8(img: np.ndarray, scale: int) -> np.ndarray:
    """Numpy twin of :func:`downscale` for ``(H, W, 3)`` uint8 RGB images, using PIL's
    bicubic (which is antialiased, same kernel). PIL rounds and clips between its horizontal
    and vertical passes, so results can differ from the torch path by a few levels."""
    h, w = img.shape[:2]
    if scale < 1 or h % scale or w % scale:
        raise ValueError(f"image size {h}x{w} is not divisible by scale {scale}")
    pil = Image.fromarray(np.ascontiguousarray(img))
    return np.asarray(pil.resize((w // scale, h // scale), Image.Resampling.BICUBIC))
