"""FR-PSNR / FR-SSIM / identity on the HR-detected face region (EIPNet 4.3), real CelebA faces."""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from facesr_gui.train.degrade import downscale, upscale_bicubic

pytest.importorskip("dlib")
pytest.importorskip("face_recognition_models")

from facesr_gui.identity import DlibIdentity  # noqa: E402
from facesr_gui.train.face_metrics import face_region, fr_metrics, mean_fr_metrics, to_uint8_hwc  # noqa: E402


def celeba_128(path: Path) -> torch.Tensor:
    """An aligned CelebA photo as EIPNet's 128x128 HR face, ``(3, 128, 128)`` RGB ``[0, 1]``."""
    with Image.open(path) as img:
        img = img.convert("RGB")
        top = (img.height - 178) // 2
        arr = np.asarray(img.crop((0, top, 178, top + 178)).resize((128, 128), Image.Resampling.BICUBIC))
    return torch.from_numpy(arr.copy()).permute(2, 0, 1).float() / 255


@pytest.fixture(scope="module")
def faces(shared_data) -> torch.Tensor:
    """40 CelebA dev faces spread over identities, ``(40, 3, 128, 128)``."""
    paths = sorted((shared_data / "celeba_dev").glob("celeb_*.jpg"))[::13][:40]
    return torch.stack([celeba_128(p) for p in paths])


@pytest.fixture(scope="module")
def ident() -> DlibIdentity:
    return DlibIdentity()


def test_face_region_found_on_most_celeba_faces(faces):
    boxes = [face_region(to_uint8_hwc(f)) for f in faces]
    rate = sum(b is not None for b in boxes) / len(boxes)
    assert rate >= 0.9, f"face region found on only {rate:.0%} of 128x128 CelebA faces"
    for x0, y0, x1, y1 in filter(None, boxes):
        assert 0 <= x0 < x1 <= 128 and 0 <= y0 < y1 <= 128
        assert 40 <= x1 - x0 <= 128  # a face, not a speck nor the background


def test_no_face_region_on_flat_image():
    assert face_region(np.full((128, 128, 3), 90, np.uint8)) is None


def test_identical_images(faces, ident):
    hr = faces[:3]
    entries = fr_metrics(hr.clone(), hr, identity=ident)
    assert len(entries) == 3 and any(entries)
    for e in filter(None, entries):
        assert math.isinf(e["fr_psnr"]) and e["fr_ssim"] == pytest.approx(1.0)
        assert e["identity"] == pytest.approx(1.0, abs=1e-6)


def test_bicubic_x8_loses_identity(faces, ident):
    hr = faces[:6]
    x8 = upscale_bicubic(downscale(hr, 8), 8)
    x2 = upscale_bicubic(downscale(hr, 2), 2)
    e8, e2 = fr_metrics(x8, hr, identity=ident), fr_metrics(x2, hr, identity=ident)
    pairs = [(a, b) for a, b in zip(e8, e2) if a is not None]
    assert len(pairs) >= 5
    for a, b in pairs:
        assert a["box"] == b["box"]  # the region comes from the HR image alone
        assert a["identity"] < 0.999 and a["fr_ssim"] < 1.0 and math.isfinite(a["fr_psnr"])
    m8, m2 = mean_fr_metrics(e8), mean_fr_metrics(e2)
    assert m8["identity"] < m2["identity"] < 1.0
    assert m8["fr_psnr"] < m2["fr_psnr"] and m8["fr_ssim"] < m2["fr_ssim"]
    assert m8["fr_count"] == len(pairs)


def test_missing_face_gives_none_and_options(faces):
    hr = torch.stack([faces[0], torch.full_like(faces[0], 0.4)])
    sr = hr.flip(-1)
    entries = fr_metrics(sr, hr, identity=False)
    assert entries[1] is None
    assert entries[0] is not None and entries[0]["identity"] is None
    assert mean_fr_metrics(entries)["fr_count"] == 1
    assert math.isnan(mean_fr_metrics([None])["fr_psnr"])
    with pytest.raises(ValueError):
        fr_metrics(sr[:1], hr)
