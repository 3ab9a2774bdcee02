"""Degradation: shapes, range, antialiasing and the numpy/PIL twin."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from facesr_gui.train.degrade import downscale, downscale_uint8, resize, upscale_bicubic


def test_downscale_shape_range_and_constant():
    hr = torch.rand(2, 3, 64, 48)
    lr = downscale(hr, 8)
    assert lr.shape == (2, 3, 8, 6)
    assert lr.min() >= 0 and lr.max() <= 1
    flat = torch.full((1, 3, 32, 32), 0.3)
    assert torch.allclose(downscale(flat, 4), torch.full((1, 3, 8, 8), 0.3), atol=1e-6)


def test_downscale_is_antialiased():
    # A one-pixel checkerboard has no content below Nyquist: antialiased x8 gives flat grey,
    # plain 4-tap bicubic sampling would alias into a pattern of extremes.
    yy, xx = torch.meshgrid(torch.arange(64), torch.arange(64), indexing="ij")
    checker = ((yy + xx) % 2).float().expand(1, 3, 64, 64)
    lr = downscale(checker, 8)
    assert torch.allclose(lr, torch.full_like(lr, 0.5), atol=0.02)


def test_downscale_rejects_bad_input():
    with pytest.raises(ValueError, match="divisible"):
        downscale(torch.rand(1, 3, 30, 32), 8)
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        downscale(torch.rand(3, 32, 32), 8)


def test_upscale_bicubic_shape_and_clamp():
    lr = torch.rand(1, 3, 16, 12)
    sr = upscale_bicubic(lr, 8)
    assert sr.shape == (1, 3, 128, 96)
    assert sr.min() >= 0 and sr.max() <= 1  # bicubic overshoot is clamped
    assert resize(lr, (16, 12)) is lr


def test_uint8_twin_matches_torch_path():
    rng = np.random.default_rng(0)
    smooth = np.kron(rng.integers(0, 256, (8, 8, 3)), np.ones((8, 8, 1))).astype(np.uint8)
    a = downscale_uint8(smooth, 4)
    hr = torch.from_numpy(smooth).permute(2, 0, 1)[None].float() / 255
    b = (downscale(hr, 4)[0].permute(1, 2, 0) * 255).round().byte().numpy()
    assert a.shape == b.shape == (16, 16, 3)
    diff = np.abs(a.astype(int) - b.astype(int))
    assert diff.max() <= 3 and diff.mean() < 0.5  # PIL rounds/clips between its two passes
