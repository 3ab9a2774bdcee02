"""Shared layers (nets/_blocks.py) that stand in for a PyTorch operation must compute the same thing."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from facesr_gui.nets._blocks import bicubic_upsample


@pytest.mark.parametrize("shape, scale", [((2, 3, 16, 16), 8), ((1, 3, 13, 20), 2), ((3, 4, 32, 32), 4),
                                          ((1, 1, 1, 5), 3)])
def test_bicubic_upsample_is_pytorchs_bicubic(shape, scale):
    x = torch.rand(shape, generator=torch.Generator().manual_seed(0)) * 2 - 0.5   # out of [0, 1] too
    ref = F.interpolate(x, scale_factor=scale, mode="bicubic", align_corners=False)
    out = bicubic_upsample(x, scale)
    assert out.shape == ref.shape and out.dtype == ref.dtype
    assert (out - ref).abs().max() < 1e-5


def test_bicubic_upsample_stays_float32_under_autocast_and_has_gradients():
    x = torch.rand(2, 3, 16, 16).contiguous(memory_format=torch.channels_last).requires_grad_(True)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = bicubic_upsample(x, 8)
    ref = F.interpolate(x, scale_factor=8, mode="bicubic", align_corners=False)
    assert out.dtype == torch.float32 and (out - ref).abs().max() < 1e-5   # the residual bases stay exact
    out.sum().backward()
    x2 = x.detach().clone().requires_grad_(True)
    F.interpolate(x2, scale_factor=8, mode="bicubic", align_corners=False).sum().backward()
    assert torch.allclose(x.grad, x2.grad, atol=1e-4)
