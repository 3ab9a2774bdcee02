"""overlay_render: shapes, dtype, colormap ends, label palette, errors."""
from __future__ import annotations

import numpy as np
import pytest

from facesr_gui.ui.overlay_render import LABEL_PALETTE, VIRIDIS_LUT, colorize_map, map_kind


def test_heat_range_maps_to_lut_ends():
    arr = np.linspace(-3, 5, 64, dtype=np.float32).reshape(8, 8)
    rgba = colorize_map(arr, "heat")
    assert rgba.shape == (8, 8, 4) and rgba.dtype == np.uint8
    assert (rgba[0, 0, :3] == VIRIDIS_LUT[0]).all() and (rgba[-1, -1, :3] == VIRIDIS_LUT[-1]).all()
    assert (rgba[..., 3] == 255).all()


def test_heat_multichannel_and_constant_and_nan():
    assert colorize_map(np.random.rand(3, 5, 6), "heat").shape == (5, 6, 4)
    flat = colorize_map(np.full((4, 4), 7.0), "heat")
    assert (flat[..., :3] == VIRIDIS_LUT[0]).all()
    assert colorize_map(np.array([[np.nan, 1.0], [0.0, 2.0]]), "heat").shape == (2, 2, 4)


def test_labels_argmax_palette():
    scores = np.zeros((3, 2, 2), dtype=np.float32)
    scores[1, 0, 0] = scores[2, 1, 1] = 1.0
    rgba = colorize_map(scores, "labels")
    assert (rgba[0, 0, :3] == LABEL_PALETTE[1]).all() and (rgba[1, 1, :3] == LABEL_PALETTE[2]).all()
    assert (rgba[0, 1, :3] == LABEL_PALETTE[0]).all()


def test_errors_and_kinds():
    with pytest.raises(ValueError):
        colorize_map(np.zeros(5), "heat")
    with pytest.raises(ValueError):
        colorize_map(np.zeros((2, 2)), "rainbow")
    assert map_kind("parsing") == "labels" and map_kind("edge/x8") == "heat"
    assert map_kind("parsing_block/spatial") == "heat"


def test_ui_modules_do_not_import_torch():
    import subprocess
    import sys
    code = ("import sys, facesr_gui.ui.overlay_render, facesr_gui.ui.photos_tab, facesr_gui.ui.settings; "
            "sys.exit('torch' in sys.modules)")
    assert subprocess.run([sys.executable, "-c", code], timeout=60).returncode == 0
