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
    """Every module of facesr_gui.ui (found by walking the package, not listed by hand) imports
    without loading torch (import-linter checks the same statically: pyproject.toml)."""
    import subprocess
    import sys
    code = ("import importlib, pkgutil, sys, facesr_gui.ui as ui\n"
            "names = [m.name for m in pkgutil.walk_packages(ui.__path__, 'facesr_gui.ui.')]\n"
            "for name in names:\n"
            "    importlib.import_module(name)\n"
            "assert len(names) >= 15, names\n"
            "sys.exit('torch' in sys.modules)")
    assert subprocess.run([sys.executable, "-c", code], timeout=120).returncode == 0


def test_crop_to_frame_matches_the_pipeline_warp():
    """The Qt (pixel-edge) placement of a crop map equals warp_back's (pixel-centre) one."""
    from facesr_gui.pipeline.align import crop_faces, warp_back
    from facesr_gui.pipeline.detect import from_boxes
    from facesr_gui.ui.overlay_render import crop_to_frame

    img = np.zeros((120, 160, 3), np.uint8)
    face = crop_faces(img, from_boxes([[50, 30, 80, 70]]), size=16)[0]
    m = crop_to_frame(face.inverse_affine, face.size, 32, 32)        # a 32x32 map over a 16 px crop
    for (u, v) in [(0.5, 0.5), (16.0, 16.0), (31.5, 2.0)]:          # map points, pixel-edge convention
        qt = m[:, :2] @ [u, v] + m[:, 2]
        centre = np.array([u - 0.5, v - 0.5])                         # the same point, pixel centres
        sx = face.size / 32
        crop_pt = centre * sx + 0.5 * (sx - 1)
        cv_pt = face.inverse_affine[:, :2] @ crop_pt + face.inverse_affine[:, 2]
        assert np.allclose(qt - 0.5, cv_pt, atol=1e-9)
    warped, mask = warp_back(np.ones((32, 32), np.float32), face, img.shape)
    ys, xs = np.nonzero(mask > 0.5)
    corners = np.array([[0, 0], [32, 0], [0, 32], [32, 32]]) @ m[:, :2].T + m[:, 2]
    assert abs(xs.min() - corners[:, 0].min()) < 1.5 and abs(ys.max() + 1 - corners[:, 1].max()) < 1.5


def test_image_maps_and_repeated_parsing():
    from facesr_gui.ui.overlay_render import colorize_map
    rgb = np.zeros((3, 4, 4), np.float32)
    rgb[0] = 1.0
    out = colorize_map(rgb, map_kind("coarse_sr"))
    assert map_kind("coarse_sr") == "image" and (out[..., :3] == [255, 0, 0]).all()
    skin = np.linspace(0, 1, 16, dtype=np.float32).reshape(4, 4)
    wnet = colorize_map(np.stack([skin] * 3), "labels")               # W-Net: 3 copies of one mask
    assert (wnet[0, 0, :3] == VIRIDIS_LUT[0]).all() and (wnet[-1, -1, :3] == VIRIDIS_LUT[-1]).all()
