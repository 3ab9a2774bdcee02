"""PSNR/SSIM against closed-form values, an independent scipy reference, and real CelebA data."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.ndimage import gaussian_filter

from facesr_gui.metrics import psnr, quantize_uint8, rgb_to_y, ssim


def test_identical_images():
    x = torch.rand(2, 3, 24, 24)
    assert torch.isinf(psnr(x, x)).all()
    assert torch.allclose(ssim(x, x), torch.ones(2, dtype=torch.float64))


def test_psnr_constant_offset_known_value():
    hr = torch.full((1, 3, 16, 16), 100 / 255)
    sr = hr + 10 / 255
    # Y weights sum to 219, so a 10-level RGB offset is 10 * 219 / 255 levels of Y.
    expected_y = 20 * math.log10(255 / (10 * 219 / 255))
    assert psnr(sr, hr).item() == pytest.approx(expected_y, abs=1e-9)
    assert psnr(sr, hr, y_channel=False).item() == pytest.approx(20 * math.log10(255 / 10), abs=1e-9)


def test_quantize_and_border():
    hr = torch.full((1, 3, 16, 16), 0.5)
    sr = hr + 0.4 / 255  # below half an 8-bit level
    assert torch.isinf(psnr(sr, hr))
    assert torch.isfinite(psnr(sr, hr, quantize=False))
    sr = hr.clone()
    sr[..., 0, :] = 0.0  # damage only the top row
    assert torch.isinf(psnr(sr, hr, border=1))
    assert torch.isfinite(psnr(sr, hr))


def test_y_channel_matches_matlab_rgb2ycbcr():
    rgb = torch.tensor([[1.0, 1.0, 1.0], [0.0, 0.0, 0.0], [1.0, 0.0, 0.0]]).view(3, 3, 1, 1)
    y = rgb_to_y(rgb).flatten()
    assert torch.allclose(y, torch.tensor([235.0, 16.0, 16 + 65.481]), atol=1e-3)


def _reference_ssim(a: np.ndarray, b: np.ndarray) -> float:
    """skimage ``structural_similarity(gaussian_weights=True, sigma=1.5,
    use_sample_covariance=False, data_range=255)``: Gaussian moments, crop of the 5-pixel
    border (the valid part of the 11x11 window), mean of the SSIM map."""
    blur = lambda x: gaussian_filter(x, sigma=1.5, truncate=3.5)  # noqa: E731 - 11 taps
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    mu_a, mu_b = blur(a), blur(b)
    var_a, var_b = blur(a * a) - mu_a**2, blur(b * b) - mu_b**2
    cov = blur(a * b) - mu_a * mu_b
    m = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2))
    return float(m[5:-5, 5:-5].mean())


def test_ssim_matches_scipy_reference():
    g = torch.Generator().manual_seed(1)
    hr = torch.rand(2, 3, 32, 40, generator=g)
    sr = (hr + 0.15 * torch.randn(2, 3, 32, 40, generator=g)).clamp(0, 1)
    got_y, got_rgb = ssim(sr, hr), ssim(sr, hr, y_channel=False)
    qs, qh = quantize_uint8(sr).double(), quantize_uint8(hr).double()
    ys, yh = rgb_to_y(qs).numpy(), rgb_to_y(qh).numpy()
    for i in range(2):
        assert got_y[i].item() == pytest.approx(_reference_ssim(ys[i, 0], yh[i, 0]), abs=1e-7)
        ref_rgb = np.mean([_reference_ssim(qs[i, c].numpy() * 255, qh[i, c].numpy() * 255) for c in range(3)])
        assert got_rgb[i].item() == pytest.approx(ref_rgb, abs=1e-7)
    assert 0 < got_y.min() and got_y.max() < 1


def test_shape_mismatch_raises():
    with pytest.raises(ValueError):
        psnr(torch.rand(1, 3, 16, 16), torch.rand(1, 3, 16, 8))
    with pytest.raises(ValueError, match="11x11"):
        ssim(torch.rand(1, 3, 8, 8), torch.rand(1, 3, 8, 8))


def test_bicubic_x8_baseline_on_celeba(shared_data):
    from facesr_gui.train.dataset import FaceFolder
    from facesr_gui.train.degrade import downscale, upscale_bicubic

    folder = shared_data / "celeba_dev"
    if not folder.is_dir():
        pytest.skip("celeba_dev missing")
    ds = FaceFolder(folder, augment=False, with_edges=False, validate=False)
    # 20 images spread over the sorted list (~20 identities); measured 23.07 dB Y / 21.70 dB RGB.
    idx = np.linspace(0, len(ds) - 1, 20).round().astype(int)
    hr = torch.stack([ds[int(i)]["hr"] for i in idx])
    sr = upscale_bicubic(downscale(hr, 8), 8)
    y_psnr = psnr(sr, hr).mean().item()
    assert 22.0 < y_psnr < 24.0
    assert psnr(sr, hr, y_channel=False).mean().item() < y_psnr  # chroma errors lower RGB PSNR
    assert 0.55 < ssim(sr, hr).mean().item() < 0.72
