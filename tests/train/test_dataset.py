"""FaceFolder on small synthetic folders (plus one real CelebA item)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch.utils.data import DataLoader

from facesr_gui.train.dataset import FaceFolder, list_images, load_rgb


def _face(w: int = 178, h: int = 218, seed: int = 0) -> Image.Image:
    """A smooth asymmetric RGB image (so flips/rotations are distinguishable)."""
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (6, 5, 3), dtype=np.uint8)
    return Image.fromarray(small).resize((w, h), Image.Resampling.BICUBIC)


def _folder(tmp_path: Path, n: int = 3) -> Path:
    root = tmp_path / "faces"
    (root / "sub").mkdir(parents=True)
    for i in range(n):
        _face(seed=i).save(root / ("sub" if i % 2 else "") / f"img{i}.png")
    return root


def _hr_of(img: Image.Image, box, size=128) -> torch.Tensor:
    arr = np.asarray(img.convert("RGB").resize((size, size), Image.Resampling.BICUBIC, box=box))
    return torch.from_numpy(arr.copy()).permute(2, 0, 1).float() / 255


def test_empty_and_missing_folder(tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.txt").write_text("no images")
    with pytest.raises(ValueError, match="no images"):
        FaceFolder(tmp_path / "empty")
    with pytest.raises(ValueError, match="not found"):
        FaceFolder(tmp_path / "nope")


def test_listing_is_recursive_sorted_and_filtered(tmp_path):
    root = tmp_path / "r"
    (root / "b").mkdir(parents=True)
    img = _face(32, 32)
    for rel in ["b/z.JPG", "a.webp", "c.bmp", "b/a.png", ".hidden.png", "skip.gif"]:
        img.save(root / rel)
    names = [p.relative_to(root).as_posix() for p in list_images(root)]
    assert names == ["a.webp", "b/a.png", "b/z.JPG", "c.bmp"]


def test_item_layout_and_celeba_crop(tmp_path):
    root = _folder(tmp_path)
    ds = FaceFolder(root, augment=False)
    assert len(ds) == 3
    item = ds[0]
    assert item["name"] == "img0"
    assert item["hr"].shape == (3, 128, 128) and item["hr"].dtype == torch.float32
    assert item["lr"].shape == (3, 16, 16)
    assert 0 <= item["hr"].min() and item["hr"].max() <= 1
    # centred 178x178 of a 178x218 image (20 rows off the top), PIL bicubic to 128
    assert torch.equal(item["hr"], _hr_of(_face(seed=0), (0, 20, 178, 198)))
    assert set(item["edges"]) == {"edge/x2", "edge/x4", "edge/x8"}
    for r, e in item["edges"].items():
        side = 16 * int(r.split("x")[1])
        assert e.shape == (1, side, side)
        assert set(e.unique().tolist()) <= {0.0, 1.0}
    assert "parsing" not in item


@pytest.mark.parametrize("crop, box", [("center", (0, 20, 178, 198)), ("none", (0, 0, 178, 218))])
def test_other_crops(tmp_path, crop, box):
    root = _folder(tmp_path, 1)
    item = FaceFolder(root, augment=False, crop=crop, with_edges=False)[0]
    assert torch.equal(item["hr"], _hr_of(_face(seed=0), box))
    assert item["edges"] == {}


def test_celeba_crop_needs_large_enough_image(tmp_path):
    root = tmp_path / "small"
    root.mkdir()
    _face(100, 120).save(root / "tiny.png")
    with pytest.raises(ValueError, match="tiny.png"):
        FaceFolder(root)[0]


def test_augmentation_is_a_dihedral_transform_and_reproducible(tmp_path):
    root = _folder(tmp_path)
    plain = FaceFolder(root, augment=False, with_edges=False)
    aug = FaceFolder(root, augment=True, with_edges=False, seed=7)
    seen = set()
    for epoch in range(6):
        aug.set_epoch(epoch)
        for i in range(len(aug)):
            hr, ref = aug[i]["hr"], plain[i]["hr"]
            variants = [(f, k) for f in (False, True) for k in range(4)
                        if torch.equal(hr, torch.rot90(ref.flip(-1) if f else ref, k, dims=(-2, -1)))]
            assert variants, "augmented image is not a flip/rotation of the plain one"
            seen.add(variants[0])
            assert torch.equal(aug[i]["lr"], torch.nn.functional.interpolate(
                hr[None], size=(16, 16), mode="bicubic", antialias=True).clamp(0, 1)[0])
    assert len(seen) >= 4  # the draws vary across items and epochs
    again = FaceFolder(root, augment=True, with_edges=False, seed=7)
    again.set_epoch(5)
    assert torch.equal(again[2]["hr"], aug[2]["hr"])


def test_rotate_false_keeps_faces_upright(tmp_path):
    root = _folder(tmp_path)
    plain = FaceFolder(root, augment=False, with_edges=False)
    upright = FaceFolder(root, augment=True, with_edges=False, seed=7, rotate=False)
    flips = set()
    for epoch in range(6):
        upright.set_epoch(epoch)
        for i in range(len(upright)):
            hr, ref = upright[i]["hr"], plain[i]["hr"]
            flipped = torch.equal(hr, ref.flip(-1))
            assert flipped or torch.equal(hr, ref), "rotate=False produced a turned face"
            flips.add(flipped)
    assert flips == {False, True}


def test_random_rescale_zooms_in(tmp_path):
    root = _folder(tmp_path, 1)
    ds = FaceFolder(root, augment=True, rescale=(1.3, 1.3), with_edges=False)
    plain = FaceFolder(root, augment=False, with_edges=False)[0]["hr"]
    hr = ds[0]["hr"]
    assert hr.shape == (3, 128, 128)
    assert not any(torch.equal(hr, torch.rot90(p, k, dims=(-2, -1)))
                   for p in (plain, plain.flip(-1)) for k in range(4))


@pytest.mark.parametrize("mode", ["L", "LA", "RGBA", "P", "I;16", "CMYK", "1"])
def test_colour_modes_become_rgb(tmp_path, mode):
    img = _face(40, 40)
    if mode == "I;16":
        arr = np.asarray(img.convert("L")).astype(np.uint16) * 257
        img = Image.fromarray(arr)
        assert img.mode == "I;16"
    else:
        img = img.convert(mode)
    path = tmp_path / ("x.jpg" if mode == "CMYK" else "x.png")
    img.save(path)
    rgb = load_rgb(path)
    assert rgb.mode == "RGB" and rgb.size == (40, 40)
    if mode == "I;16":  # full 16-bit range maps back to the 8-bit grey levels, not clipped
        assert np.abs(np.asarray(rgb)[..., 0].astype(int) - np.asarray(_face(40, 40).convert("L"))).max() <= 1


def test_transparent_pixels_become_white(tmp_path):
    Image.new("RGBA", (8, 8), (255, 0, 0, 0)).save(tmp_path / "t.png")
    assert np.asarray(load_rgb(tmp_path / "t.png")).min() == 255


def test_exif_orientation_is_applied(tmp_path):
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to display"
    _face(178, 218).save(tmp_path / "o.jpg", exif=exif)
    assert load_rgb(tmp_path / "o.jpg").size == (218, 178)


def test_corrupt_files_are_named(tmp_path):
    root = _folder(tmp_path, 2)
    (root / "bad.jpg").write_bytes(b"not an image at all")
    with pytest.raises(ValueError, match="bad.jpg"):
        FaceFolder(root)
    # lazily: a truncated PNG passes construction without validation, fails naming the file
    (root / "bad.jpg").unlink()
    data = (root / "img0.png").read_bytes()
    (root / "cut.png").write_bytes(data[: len(data) // 2])
    ds = FaceFolder(root, validate=False)
    with pytest.raises(ValueError, match="cut.png"):
        ds[ds.paths.index(root / "cut.png")]


def test_parsing_cache_follows_the_geometry(tmp_path):
    # Image: left half red, right half blue; labels: 1 on the red half, 2 on the blue half.
    root, cache = tmp_path / "img", tmp_path / "parsing"
    root.mkdir(), cache.mkdir()
    arr = np.zeros((64, 64, 3), np.uint8)
    arr[:, :32, 0], arr[:, 32:, 2] = 255, 255
    Image.fromarray(arr).save(root / "face.png")
    lab = np.where(np.arange(64)[None, :] < 32, 1, 2).repeat(64, 0).astype(np.uint8)
    Image.fromarray(lab).save(cache / "face.png")
    ds = FaceFolder(root, hr_size=32, scale=4, crop="center", edge_scales=(4,), parsing_dir=cache)
    for epoch in range(4):
        ds.set_epoch(epoch)
        item = ds[0]
        p = item["parsing"]
        assert p.shape == (19, 32, 32) and torch.equal(p.sum(0), torch.ones(32, 32))
        red = item["hr"][0] > 0.5
        assert torch.equal(p[1] > 0.5, red) and torch.equal(p[2] > 0.5, ~red)


def test_parsing_npz_keys_and_probabilities(tmp_path):
    root, cache = _folder(tmp_path, 1), tmp_path / "cache"
    cache.mkdir()
    probs = np.random.default_rng(0).random((3, 64, 64)).astype(np.float32)
    np.savez(cache / "img0.npz", parsing=np.zeros((64, 64), np.uint8), cagface=probs)
    ds = FaceFolder(root, augment=False, with_edges=False, parsing_dir=cache, parsing_key="cagface")
    p = ds[0]["parsing"]
    assert p.shape == (3, 128, 128) and p.dtype == torch.float32
    assert FaceFolder(root, augment=False, with_edges=False, parsing_dir=cache)[0]["parsing"].shape == (19, 128, 128)
    with pytest.raises(ValueError, match="no parsing maps"):
        FaceFolder(root, augment=False, with_edges=False, parsing_dir=tmp_path)


def test_images_without_parsing_are_dropped_and_listed(tmp_path):
    root, cache = _folder(tmp_path, 3), tmp_path / "cache"
    cache.mkdir()
    np.savez(cache / "img0.npz", parsing=np.zeros((64, 64), np.uint8))
    ds = FaceFolder(root, augment=False, with_edges=False, parsing_dir=cache)
    assert len(ds) == 1 and sorted(p.stem for p in ds.without_parsing) == ["img1", "img2"]


def test_dataloader_collates(tmp_path):
    ds = FaceFolder(_folder(tmp_path), augment=True)
    batch = next(iter(DataLoader(ds, batch_size=2)))
    assert batch["hr"].shape == (2, 3, 128, 128) and batch["lr"].shape == (2, 3, 16, 16)
    assert batch["edges"]["edge/x2"].shape == (2, 1, 32, 32)
    assert batch["name"] == ["img0", "img2"]  # sorted by relative path: img0, img2, sub/img1


def test_real_celeba_item(shared_data):
    folder = shared_data / "celeba_dev"
    if not folder.is_dir():
        pytest.skip("celeba_dev missing")
    ds = FaceFolder(folder, augment=False, validate=False)
    item = ds[0]
    assert item["hr"].shape == (3, 128, 128) and item["lr"].shape == (3, 16, 16)
    assert 0.02 < item["edges"]["edge/x8"].mean() < 0.3  # a face has some, but sparse, edges


def test_flip_swaps_left_right_parsing_labels(tmp_path):
    """A mirrored face's left eye is its right eye: one-hot 19-class labels must swap channels."""
    import numpy as np
    from PIL import Image

    from facesr_gui.train.dataset import FaceFolder

    img_dir, par_dir = tmp_path / "img", tmp_path / "par"
    img_dir.mkdir(), par_dir.mkdir()
    Image.fromarray(np.full((32, 32, 3), 128, np.uint8)).save(img_dir / "a.png")
    labels = np.zeros((32, 32), np.uint8)
    labels[:, :16] = 4  # l_eye on the image's left half
    np.savez_compressed(par_dir / "a.npz", parsing=labels)
    for seed in range(40):
        ds = FaceFolder(img_dir, hr_size=32, scale=8, crop="none", with_edges=False, parsing_dir=par_dir, seed=seed)
        flip, turns = ds._draw(0)[1:]
        if flip and turns == 0:
            item = ds[0]
            assert item["parsing"][5, :, 16:].min() == 1 and item["parsing"][4].max() == 0
            return
    raise AssertionError("no flip-only draw found")
