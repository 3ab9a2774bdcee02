"""Export: labelled comparison images, suffixes from the dialog filter, atomic saves."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from facesr_gui.ui.export import GAP, LABEL_BAR, Exporter, comparison_image, fit_height, with_suffix_for_filter


def test_comparison_panels_share_one_height_under_labels(qapp):
    small = np.full((16, 16, 3), 200, np.uint8)
    small[:8] = 10
    big = np.full((128, 96, 3), 50, np.uint8)
    out = comparison_image([("LR", small), ("SR", big)])
    assert out.shape == (128 + LABEL_BAR, 128 + GAP + 96, 3) and out.dtype == np.uint8
    lr = out[LABEL_BAR:, :128]
    assert (lr[:64] == 10).all() and (lr[64:] == 200).all()               # nearest: no blur at the edge
    assert (out[LABEL_BAR:, 128 + GAP:] == 50).all()
    strip = out[:LABEL_BAR, :128]
    assert (strip > 128).any() and np.median(strip) < 60                  # light text on a dark strip
    with pytest.raises(ValueError):
        comparison_image([])


def test_fit_height_keeps_aspect():
    assert fit_height(np.zeros((10, 30, 3), np.uint8), 20).shape == (20, 60, 3)
    assert fit_height(np.zeros((40, 30, 3), np.uint8), 20).shape == (20, 15, 3)


def test_suffix_from_filter():
    assert with_suffix_for_filter("/x/out", "JPEG image (*.jpg *.jpeg)") == "/x/out.jpg"
    assert with_suffix_for_filter("/x/out.png", "JPEG image (*.jpg *.jpeg)") == "/x/out.png"


def test_exporter_writes_in_the_background(qtbot, tmp_path):
    rgb = np.random.default_rng(0).integers(0, 256, (30, 40, 3), dtype=np.uint8)
    ex = Exporter()
    with qtbot.waitSignal(ex.finished, timeout=5000) as done:
        ex.save(tmp_path / "a" / "out.png", lambda: rgb)
    assert done.args[0].endswith("out.png") and np.array_equal(np.asarray(Image.open(tmp_path / "a" / "out.png")), rgb)
    with qtbot.waitSignal(ex.errored, timeout=5000) as err:
        ex.save(tmp_path / "out.xyz", rgb)
    assert "out.xyz" in err.args[0]
    assert ex.wait(1000) and not list(tmp_path.rglob("*.tmp"))
