"""Image input/output: every odd or broken input is either converted properly or refused
with an ImageError naming the file and the reason."""
from __future__ import annotations

import os
import stat

import numpy as np
import pytest
from PIL import Image

from facesr_gui.pipeline.imageio import (
    DEFAULT_MAX_PIXELS,
    IMAGE_EXTENSIONS,
    VIDEO_EXTENSIONS,
    ImageError,
    classify,
    load_image,
    save_image,
)


def _rgb(h=24, w=32, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def test_classify():
    assert classify("a/B.JPG") == "image" and classify("x.tiff") == "image" and classify("c.webp") == "image"
    assert classify("clip.MP4") == "video" and classify("c.mkv") == "video"
    assert classify("notes.txt") is None and classify("noext") is None
    assert not IMAGE_EXTENSIONS & VIDEO_EXTENSIONS


def test_rgb_round_trip_and_alpha(tmp_path):
    rgb = _rgb()
    alpha = np.tile(np.arange(32, dtype=np.uint8) * 8, (24, 1))
    save_image(tmp_path / "a.png", rgb, alpha)
    img = load_image(tmp_path / "a.png")
    assert img.original_mode == "RGBA" and np.array_equal(img.rgb, rgb) and np.array_equal(img.alpha, alpha)
    assert img.rgb.flags.c_contiguous and not img.exif_rotated
    save_image(tmp_path / "a.jpg", rgb, alpha)               # JPEG has no alpha: dropped
    assert Image.open(tmp_path / "a.jpg").mode == "RGB"


@pytest.mark.parametrize("ext", [".png", ".jpg", ".jpeg", ".webp", ".tif", ".bmp"])
def test_save_every_format_atomically(tmp_path, ext):
    rgb = _rgb(30, 40)
    out = save_image(tmp_path / "sub" / f"x{ext}", rgb)
    back = load_image(out).rgb
    assert back.shape == (30, 40, 3)
    if ext in (".png", ".tif", ".bmp"):
        assert np.array_equal(back, rgb)
    assert [p.name for p in out.parent.iterdir()] == [out.name]        # no temporary file left
    assert stat.S_IMODE(out.stat().st_mode) & 0o044 == 0o044 & ~_umask()  # an ordinary file, not 0600


def _umask():
    m = os.umask(0o022)
    os.umask(m)
    return m


def test_grayscale_palette_and_bilevel(tmp_path):
    g = np.tile(np.arange(64, dtype=np.uint8) * 4, (8, 1))
    Image.fromarray(g, "L").save(tmp_path / "g.png")
    img = load_image(tmp_path / "g.png")
    assert img.original_mode == "L" and img.alpha is None
    assert np.array_equal(img.rgb[..., 0], g) and np.array_equal(img.rgb[..., 2], g)
    pal = Image.fromarray(_rgb(), "RGB").convert("P", palette=Image.Palette.ADAPTIVE, colors=16)
    pal.save(tmp_path / "p.gif")
    assert load_image(tmp_path / "p.gif").rgb.shape == (24, 32, 3)
    Image.new("1", (10, 6), 1).save(tmp_path / "b.png")
    assert load_image(tmp_path / "b.png").rgb.min() == 255


def test_palette_transparency_and_la_keep_alpha(tmp_path):
    p = Image.new("P", (8, 8), 0)
    p.putpalette([255, 0, 0] + [0, 255, 0] * 255)
    p.paste(1, (0, 0, 4, 8))
    p.save(tmp_path / "t.png", transparency=0)
    img = load_image(tmp_path / "t.png")
    assert img.alpha is not None and img.alpha[:, :4].min() == 255 and img.alpha[:, 4:].max() == 0
    la = Image.merge("LA", [Image.new("L", (5, 5), 100), Image.new("L", (5, 5), 7)])
    la.save(tmp_path / "la.png")
    img = load_image(tmp_path / "la.png")
    assert img.rgb[0, 0].tolist() == [100, 100, 100] and img.alpha.max() == 7


def test_16_bit_grey_is_scaled_not_clipped(tmp_path):
    v = np.linspace(0, 65535, 256).round().astype(np.uint16).reshape(4, 64)
    Image.fromarray(v).save(tmp_path / "g16.png")                 # PIL mode I;16
    img = load_image(tmp_path / "g16.png")
    assert img.original_mode == "I;16" and "scaled to 8 bit" in img.notes[0]
    expected = np.round(v / 257.0).astype(np.uint8)
    assert np.abs(img.rgb[..., 0].astype(int) - expected).max() == 0
    assert len(np.unique(img.rgb)) > 200                          # the whole range survives
    Image.frombytes("I;16B", (64, 4), v.astype(">u2").tobytes()).save(tmp_path / "g16b.tif")
    big_endian = load_image(tmp_path / "g16b.tif")
    assert big_endian.original_mode == "I;16B" and np.array_equal(big_endian.rgb, img.rgb)


def test_32_bit_and_float_grey(tmp_path):
    Image.fromarray(np.array([[-1000, 0, 3000]], np.int32), "I").save(tmp_path / "i.tif")
    img = load_image(tmp_path / "i.tif")
    assert img.rgb[0, :, 0].tolist() == [0, 64, 255] and "stretched" in img.notes[0]
    Image.fromarray(np.array([[0.0, 0.5, 1.0]], np.float32), "F").save(tmp_path / "f.tif")
    assert load_image(tmp_path / "f.tif").rgb[0, :, 1].tolist() == [0, 128, 255]


def test_cmyk_jpeg(tmp_path):
    Image.new("CMYK", (16, 16), (0, 255, 0, 0)).save(tmp_path / "c.jpg")   # pure magenta ink
    img = load_image(tmp_path / "c.jpg")
    r, g, b = img.rgb[8, 8].astype(int)
    assert img.original_mode == "CMYK" and r > 200 and g < 60 and b > 200
    assert any("CMYK" in n for n in img.notes)


def test_exif_orientation_is_applied(tmp_path):
    stored = np.zeros((20, 40, 3), np.uint8)
    stored[:, :20] = (255, 0, 0)                    # left half red as stored
    exif = Image.Exif()
    exif[0x0112] = 6                                # display rotated 90 degrees clockwise
    Image.fromarray(stored).save(tmp_path / "r.jpg", exif=exif, quality=95)
    img = load_image(tmp_path / "r.jpg")
    assert img.exif_rotated and img.rgb.shape == (40, 20, 3)
    assert img.rgb[:18, :, 0].mean() > 200 and img.rgb[22:, :, 0].mean() < 50   # left went to the top


@pytest.mark.parametrize("name,content,reason", [
    ("empty.png", b"", "empty file"),
    ("junk.jpg", b"this is not an image" * 20, "not an image"),
    ("fake.png", b"\x89PNG\r\n\x1a\n" + bytes(200), "not an image"),
])
def test_broken_files_are_refused_with_the_reason(tmp_path, name, content, reason):
    (tmp_path / name).write_bytes(content)
    with pytest.raises(ImageError, match=reason) as info:
        load_image(tmp_path / name)
    assert str(tmp_path / name) in str(info.value) and isinstance(info.value, ValueError)


def test_truncated_jpeg(tmp_path):
    Image.fromarray(_rgb(200, 200)).save(tmp_path / "full.jpg")
    data = (tmp_path / "full.jpg").read_bytes()
    (tmp_path / "cut.jpg").write_bytes(data[: len(data) // 2])
    with pytest.raises(ImageError, match="truncated"):
        load_image(tmp_path / "cut.jpg")


def test_missing_and_folder(tmp_path):
    with pytest.raises(ImageError, match="file not found"):
        load_image(tmp_path / "nope.png")
    with pytest.raises(ImageError, match="not a file"):
        load_image(tmp_path)


def test_huge_image_refused_from_its_header(tmp_path):
    Image.new("1", (12000, 8000)).save(tmp_path / "huge.png")       # 96 MP in ~12 KB
    assert (tmp_path / "huge.png").stat().st_size < 100_000
    with pytest.raises(ImageError) as info:
        load_image(tmp_path / "huge.png")
    msg = str(info.value)
    assert "12000x8000 (96.0 MP)" in msg and "50 MP limit" in msg and "--max-megapixels 96" in msg
    assert DEFAULT_MAX_PIXELS == 50_000_000


def test_pixel_limit_is_configurable(tmp_path, monkeypatch):
    save_image(tmp_path / "a.png", _rgb(100, 100))
    with pytest.raises(ImageError, match="0.005 MP limit"):
        load_image(tmp_path / "a.png", max_pixels=5000)
    assert load_image(tmp_path / "a.png", max_pixels=0).rgb.shape == (100, 100, 3)   # 0: no limit
    monkeypatch.setenv("FACESR_MAX_MEGAPIXELS", "0.001")
    with pytest.raises(ImageError, match="FACESR_MAX_MEGAPIXELS"):
        load_image(tmp_path / "a.png")


def test_unwritable_target(tmp_path):
    (tmp_path / "afile").write_text("x")
    with pytest.raises(ImageError, match="is a file, not a folder") as info:
        save_image(tmp_path / "afile" / "out.png", _rgb())
    assert "out.png" in str(info.value)
    with pytest.raises(ImageError, match="cannot write '.xyz'"):
        save_image(tmp_path / "out.xyz", _rgb())
    with pytest.raises(ValueError, match="uint8 RGB"):
        save_image(tmp_path / "out.png", np.zeros((4, 4), np.uint8))
