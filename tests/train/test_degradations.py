"""Degradation pipelines: deterministic per seed, in range, the stated damage, and the dataset's use of them."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from facesr_gui.train.cache import PreloadedFaces
from facesr_gui.train.dataset import FaceFolder
from facesr_gui.train.degradations import DEGRADATIONS, degrade, list_degradations, sample_rng
from facesr_gui.train.degrade import downscale


def _face(seed: int = 0, size: int = 64) -> np.ndarray:
    """A smooth synthetic 'face': gradients and a few discs, uint8 RGB."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size] / size
    img = np.stack([0.6 * xx + 0.2, 0.5 * yy + 0.3, 0.4 + 0.2 * xx * yy], axis=-1)
    for _ in range(4):
        cy, cx, r = rng.uniform(0.2, 0.8, 2).tolist() + [rng.uniform(0.05, 0.15)]
        img[(yy - cy) ** 2 + (xx - cx) ** 2 < r * r] *= 0.4
    return (img.clip(0, 1) * 255).round().astype(np.uint8)


def test_names():
    assert list_degradations()[:3] == ["bicubic", "realistic", "surveillance"]
    assert all(d.summary for d in DEGRADATIONS.values())
    with pytest.raises(ValueError, match="unknown degradation 'jpeg'.*realistic"):
        degrade(_face(), 8, "jpeg", sample_rng(0))


def test_bicubic_is_the_papers_downscale():
    hr = _face()
    ours = degrade(hr, 8, "bicubic")
    ref = downscale(torch.from_numpy(hr).permute(2, 0, 1)[None].float() / 255.0, 8)[0].permute(1, 2, 0).numpy()
    np.testing.assert_array_equal(ours, ref)


@pytest.mark.parametrize("name", ["realistic", "surveillance"])
def test_deterministic_per_seed_and_in_range(name):
    hr = _face()
    outs = [degrade(hr, 8, name, sample_rng(seed, "face_1")) for seed in range(12)]
    again = [degrade(hr, 8, name, sample_rng(seed, "face_1")) for seed in range(12)]
    for a, b in zip(outs, again):
        np.testing.assert_array_equal(a, b)
        assert a.shape == (8, 8, 3) and a.dtype == np.float32
        assert a.min() >= 0.0 and a.max() <= 1.0
    distinct = {a.tobytes() for a in outs}
    assert len(distinct) >= 10       # the seed matters (a few draws may be the clean share)
    clean = degrade(hr, 8, "bicubic")
    errors = [float(np.abs(a - clean).mean()) for a in outs]
    assert np.median(errors) > 0.005   # damaged on the whole ...
    assert max(errors) < 0.25          # ... but still the same face


def test_realistic_hurts_bicubic_less_than_noise_alone_but_measurably():
    """Over many draws the pipeline's LR differs from the clean one by the amounts it documents:
    at most a few grey levels of noise on average, more than rounding."""
    hr = _face(3, 128)
    clean = degrade(hr, 8, "bicubic")
    diffs = [float(np.sqrt(((degrade(hr, 8, "realistic", sample_rng(0, i)) - clean) ** 2).mean())) for i in range(40)]
    assert 0.005 < np.mean(diffs) < 0.12


def test_rng_keys_by_name_not_order():
    a = sample_rng(0, "000123").random()
    assert sample_rng(0, "000123").random() == a
    assert sample_rng(1, "000123").random() != a
    assert sample_rng(0, "000124").random() != a


def test_degrade_rejects_bad_input():
    with pytest.raises(ValueError, match="uint8"):
        degrade(np.zeros((16, 16, 3), np.float32), 8, "bicubic")
    with pytest.raises(ValueError, match="divisible"):
        degrade(np.zeros((20, 16, 3), np.uint8), 8, "bicubic")
    with pytest.raises(ValueError, match="random generator"):
        degrade(np.zeros((16, 16, 3), np.uint8), 8, "realistic")


@pytest.fixture()
def faces(tmp_path):
    from PIL import Image

    for i in range(4):
        Image.fromarray(_face(i, 96)).save(tmp_path / f"f{i}.png")
    return tmp_path


def test_dataset_draws_are_reproducible_and_keyed(faces):
    ds = FaceFolder(faces, hr_size=64, scale=8, crop="center", degradation="realistic", jitter=0.05, seed=3,
                    with_edges=False)
    a, b = ds[1], ds[1]
    assert torch.equal(a["lr"], b["lr"]) and torch.equal(a["hr"], b["hr"])
    ds.set_epoch(1)
    c = ds[1]
    assert not torch.equal(a["lr"], c["lr"])   # a new epoch draws anew
    # evaluation (no augmentation): the draw belongs to the file, not to its position
    ev = FaceFolder(faces, hr_size=64, scale=8, crop="center", augment=False, degradation="realistic", seed=0,
                    jitter=0.05, with_edges=False)
    sub = FaceFolder(faces, hr_size=64, scale=8, crop="center", augment=False, degradation="realistic", seed=0,
                     jitter=0.05, with_edges=False)
    sub.paths = sub.paths[2:]
    assert torch.equal(ev[2]["lr"], sub[0]["lr"]) and torch.equal(ev[2]["hr"], sub[0]["hr"])


def test_jitter_moves_the_crop_and_stays_in_range(faces):
    plain = FaceFolder(faces, hr_size=64, scale=8, crop="center", augment=False, with_edges=False)
    jit = FaceFolder(faces, hr_size=64, scale=8, crop="center", augment=False, with_edges=False, jitter=0.1)
    for i in range(len(plain)):
        hr = jit[i]["hr"]
        assert hr.shape == (3, 64, 64) and 0 <= float(hr.min()) and float(hr.max()) <= 1
        assert not torch.equal(hr, plain[i]["hr"])
    with pytest.raises(ValueError, match="jitter"):
        FaceFolder(faces, jitter=0.5)


def test_preloaded_faces_draw_the_same_degraded_inputs(faces):
    ds = FaceFolder(faces, hr_size=64, scale=8, crop="center", degradation="realistic", seed=5,
                    edge_scales=(2,))
    pre = PreloadedFaces(FaceFolder(faces, hr_size=64, scale=8, crop="center", degradation="realistic", seed=5,
                                    edge_scales=(2,)))
    for epoch in (0, 1):
        ds.set_epoch(epoch)
        pre.set_epoch(epoch)
        for i in range(len(ds)):
            assert torch.equal(ds[i]["lr"], pre[i]["lr"]), (epoch, i)
    with pytest.raises(ValueError, match="jitter"):
        PreloadedFaces(FaceFolder(faces, hr_size=64, scale=8, crop="center", jitter=0.05))


def test_clean_share_gives_that_share_the_bicubic_input_in_training_only(faces):
    kw = dict(hr_size=64, scale=8, crop="center", degradation="surveillance", seed=1, with_edges=False)
    everything = FaceFolder(faces, clean_share=1.0, **kw)
    for epoch in range(3):
        everything.set_epoch(epoch)
        for i in range(len(everything)):
            item = everything[i]
            assert torch.equal(item["lr"], downscale(item["hr"][None], 8)[0])
    # a share of it: the same draw with or without it for the faces it leaves degraded
    some, none = FaceFolder(faces, clean_share=0.5, **kw), FaceFolder(faces, **kw)
    clean = 0
    for epoch in range(6):
        some.set_epoch(epoch)
        none.set_epoch(epoch)
        for i in range(len(some)):
            a, b = some[i], none[i]
            if torch.equal(a["lr"], downscale(a["hr"][None], 8)[0]):
                clean += 1
            else:
                assert torch.equal(a["lr"], b["lr"])
    assert 4 <= clean <= 20   # of 24 draws; the pipeline's own 12% adds a few
    # evaluation keeps the degraded inputs whatever the training share
    ev = FaceFolder(faces, augment=False, clean_share=1.0, **kw)
    ref = FaceFolder(faces, augment=False, **kw)
    assert all(torch.equal(ev[i]["lr"], ref[i]["lr"]) for i in range(len(ev)))
    with pytest.raises(ValueError, match="clean_share"):
        FaceFolder(faces, clean_share=1.5)
