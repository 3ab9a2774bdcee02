"""PhotosTab with the real inference thread, fast fake networks and a fake detector: faces,
hand-drawn boxes, views, overlays, model grid, metrics and export."""
from __future__ import annotations

import cv2
import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import QPointF, Qt

from facesr_gui.pipeline.faces import Detections
from facesr_gui.pipeline.sizing import auto_upscale
from facesr_gui.ui.photos_tab import PhotosTab
from facesr_gui.ui.qimage import qimage_to_rgb


@pytest.fixture
def tab(qtbot, make_worker, make_tab):
    t = make_tab(make_worker())
    qtbot.waitExposed(t)
    return t


def _grab(widget) -> np.ndarray:
    return qimage_to_rgb(widget.grab().toImage())


def _load(tab, qtbot, make_photo, img=None):
    with qtbot.waitSignal(tab.worker.detected, timeout=5000):
        tab.set_image(make_photo() if img is None else img, "synthetic.png")
    assert [f.manual for f in tab.faces] == [False, False]


def _enhance(tab, qtbot):
    with qtbot.waitSignal(tab.worker.enhanced, timeout=10000):
        tab.enhance()
    qtbot.waitUntil(lambda: tab.outcome is not None and not tab.is_busy(), timeout=3000)


def test_faces_listed_then_checked_ones_enhanced(tab, qtbot, make_photo):
    _load(tab, qtbot, make_photo)
    assert tab.faces_list.count() == 2 and tab.faces_list.checked() == [0, 1]
    assert tab.faces_list.current() == 0 and len(tab.compare.marks) == 2
    tab.upscale_combo.setCurrentIndex(tab.upscale_combo.findData(2))
    tab.faces_list.set_checked(1, False)
    _enhance(tab, qtbot)
    out = tab.outcome
    assert out.face_ids == [0] and out.result.image.shape == (180, 320, 3)
    assert np.array_equal(qimage_to_rgb(tab.compare.after_pixmap.toImage()), out.result.image)
    assert "enhanced" in tab.faces_list.list.item(0).text() and "enhanced" not in tab.faces_list.list.item(1).text()
    assert tab.panel.value("Status").startswith("enhanced with maps")


def test_auto_upscale_is_the_engines_rule(tab, qtbot, make_photo):
    _load(tab, qtbot, make_photo)
    # 30 px boxes -> ~45 px aligned crops: round(128 / 45) = 3, as `facesr enhance` would choose
    h, w = tab.image.shape[:2]
    assert tab.upscale_combo.currentData() == 0 and tab.upscale() == auto_upscale(h, w, tab.detections, 128, 8) == 3
    tab.detections = Detections.empty()
    tab.faces = [tab.faces[0].__class__(np.array([10, 10, 16, 18], np.float32), 1.0, manual=True)]
    tab._rebuild_faces()
    assert tab.upscale() == 8            # a tiny face: the net's own factor caps it


def test_gui_and_cli_choose_the_same_output_size(qtbot, tmp_path, capsys):
    """The same photo through `facesr enhance` and the Photos tab's Auto size (real MTCNN both)."""
    import json

    from facesr_gui.catalog import net_entry
    from facesr_gui.cli import main
    from facesr_gui.pipeline.imageio import save_image
    from facesr_gui.selftest import degrade, load_sample
    from facesr_gui.workers.inference import InferenceWorker

    photo = tmp_path / "small.png"
    save_image(photo, degrade(load_sample()))
    assert main(["enhance", str(photo), "--model", "bicubic", "--out", str(tmp_path / "out"), "--json"]) == 0
    cli_upscale = json.loads(capsys.readouterr().out)["items"][0]["upscale"]
    worker = InferenceWorker([net_entry("bicubic")], device="cpu")
    worker.start()
    tab = PhotosTab(worker)
    qtbot.addWidget(tab)
    tab.set_models(worker.models())
    tab.set_model("bicubic")
    with qtbot.waitSignal(worker.detected, timeout=30000):
        assert tab.open_photo(photo)
    try:
        assert len(tab.faces) == 1 and tab.upscale_combo.currentData() == 0
        assert tab.upscale() == cli_upscale > 1
    finally:
        tab.stop()
        assert worker.stop(5000)


def test_hand_drawn_box_is_added_and_enhanced(tab, qtbot, make_photo):
    _load(tab, qtbot, make_photo)
    tab.faces_list.draw_button.click()
    assert tab.compare.draw_mode
    pane = tab.compare.left
    t = pane.image_transform()
    start, end = t.map(QPointF(60, 40)), t.map(QPointF(84, 70))
    qtbot.mousePress(pane, Qt.MouseButton.LeftButton, pos=start.toPoint())
    qtbot.mouseMove(pane, end.toPoint())
    assert tab.compare.rubber_band is not None
    qtbot.mouseRelease(pane, Qt.MouseButton.LeftButton, pos=end.toPoint())
    assert len(tab.faces) == 3 and tab.faces[2].manual and not tab.compare.draw_mode
    assert np.allclose(tab.faces[2].box, [60, 40, 84, 70], atol=1.0)
    assert tab.faces_list.current() == 2 and tab.faces_list.remove_button.isEnabled()
    _enhance(tab, qtbot)
    assert tab.outcome.face_ids == [0, 1, 2] and tab.outcome.face(2).sr.shape == (128, 128, 3)
    tab.remove_face(2)
    assert len(tab.faces) == 2 and tab.outcome is None


def test_face_view_shows_lr_bicubic_sr(tab, qtbot, make_photo):
    _load(tab, qtbot, make_photo)
    _enhance(tab, qtbot)
    tab.faces_list.set_current(1)
    tab.view_combo.setCurrentIndex(tab.view_combo.findData("face"))
    face = tab.outcome.face(1)
    assert tab.compare.middle.isVisible() and tab.compare.image_size() == (128, 128)
    assert np.array_equal(qimage_to_rgb(tab.compare.after_pixmap.toImage()), face.sr)
    assert np.array_equal(qimage_to_rgb(tab.compare.middle_pixmap.toImage()), face.bicubic)
    before = qimage_to_rgb(tab.compare.before_pixmap.toImage())
    assert np.array_equal(before[::8, ::8], face.lr)                       # nearest-upscaled LR
    assert tab.compare.captions["before"] == "LR 16 px" and tab.compare.captions["after"] == "maps"
    assert tab.compare.marks == []


def test_slider_and_overlays_change_the_view(tab, qtbot, make_photo):
    _load(tab, qtbot, make_photo)
    _enhance(tab, qtbot)
    assert tab.overlays.names() == ["edge/x8", "parsing"]
    pane = tab.compare.right
    plain = _grab(pane)
    tab.overlays.slider.setValue(100)
    assert tab.overlays.select("edge/x8")
    with_edges = _grab(pane)
    changed = np.abs(with_edges.astype(int) - plain.astype(int)).sum(2) > 30
    assert changed.mean() > 0.01
    inside = np.zeros_like(changed)                                          # only over the faces' crops
    t = pane.image_transform()
    for face in tab.outcome.result.faces:
        s = face.crop.size
        corners = np.array([[-0.5, -0.5, 1], [s - 0.5, -0.5, 1], [-0.5, s - 0.5, 1], [s - 0.5, s - 0.5, 1]])
        pts = [t.map(QPointF(x + 0.5, y + 0.5)) for x, y in corners @ face.crop.inverse_affine.T]
        x0, x1 = min(p.x() for p in pts) - 2, max(p.x() for p in pts) + 2
        y0, y1 = min(p.y() for p in pts) - 2, max(p.y() for p in pts) + 2
        inside[max(0, int(y0)):int(y1) + 1, max(0, int(x0)):int(x1) + 1] = True
    assert not (changed & ~inside).any()
    tab.overlays.select("parsing")
    assert not np.array_equal(_grab(pane), with_edges)
    tab.overlays.slider.setValue(0)
    assert np.array_equal(_grab(pane), plain)
    tab.overlays.select(None)
    tab.mode_combo.setCurrentIndex(tab.mode_combo.findData("slider"))
    split = tab.compare.left
    tab.compare.set_split(1.0)
    all_before = _grab(split)
    tab.compare.set_split(0.0)
    assert not np.array_equal(_grab(split), all_before)


def test_face_view_overlay_is_stretched_over_the_sr_crop(tab, qtbot, make_photo):
    _load(tab, qtbot, make_photo)
    _enhance(tab, qtbot)
    tab.view_combo.setCurrentIndex(tab.view_combo.findData("face"))
    assert tab.overlays.select("edge/x8")
    assert tab.compare.overlays and tab.compare.overlays[0][1] is None
    assert tab.compare.overlay_pixmap.size().width() == 128


def test_model_grid_fills(tab, qtbot, make_photo):
    _load(tab, qtbot, make_photo)
    tab.faces_list.set_current(1)
    with qtbot.waitSignal(tab.worker.grid_finished, timeout=10000):
        tab.grid.run_requested.emit(["bicubic", "maps", "jeanet"])
    assert tab.grid.tile_titles() == ["LR 16 px", "bicubic", "maps", "jeanet"]    # no duplicate bicubic
    assert "ms" in tab.grid._tiles[2].caption.text() and tab.grid._tiles[2].picture.pixmap() is not None
    assert "no trained weights" in tab.grid._tiles[3].caption.text()
    with qtbot.waitSignal(tab.worker.grid_finished, timeout=10000):
        tab.grid.run_requested.emit(["maps"])
    assert tab.grid.tile_titles() == ["LR 16 px", "bicubic", "maps"]
    assert tab.grid.run_button.isEnabled() and "Face #2" in tab.grid.status.text()


def test_ground_truth_and_identity_fill_the_panel(tab, qtbot, make_photo):
    hr = make_photo(180, 320, seed=3)
    _load(tab, qtbot, make_photo, cv2.resize(hr, (160, 90), interpolation=cv2.INTER_AREA))
    tab.upscale_combo.setCurrentIndex(tab.upscale_combo.findData(2))
    tab.identity_check.setChecked(True)
    with qtbot.waitSignal(tab.worker.enhanced, timeout=10000):
        tab.set_ground_truth(hr, "hr.png")
        tab.enhance()
    qtbot.waitUntil(lambda: {-1, 0, 1} <= set(tab.measures), timeout=10000)
    assert tab.panel.value("Face PSNR / SSIM").endswith(tuple("0123456789")) and "dB" in tab.panel.value(
        "Image PSNR / SSIM")
    assert tab.measures[-1]["psnr"] > 20
    ident = tab.panel.value("Identity LR vs SR")
    assert ident.startswith(("0.", "1.", "-0.", "n/a"))


def test_export_writes_result_and_comparison(tab, qtbot, make_photo, tmp_path):
    _load(tab, qtbot, make_photo)
    assert not tab.save_result(tmp_path / "none.png")              # nothing enhanced yet
    _enhance(tab, qtbot)
    with qtbot.waitSignal(tab.exporter.finished, timeout=5000):
        assert tab.save_result(tmp_path / "out.png")
    saved = np.asarray(Image.open(tmp_path / "out.png"))
    assert np.array_equal(saved, tab.outcome.result.image)
    with qtbot.waitSignal(tab.exporter.finished, timeout=5000):
        assert tab.save_comparison(tmp_path / "cmp.jpg")
    h, w = tab.outcome.result.image.shape[:2]
    assert Image.open(tmp_path / "cmp.jpg").size[0] == 2 * w + 4
    tab.view_combo.setCurrentIndex(tab.view_combo.findData("face"))
    with qtbot.waitSignal(tab.exporter.finished, timeout=5000):
        assert tab.save_comparison(tmp_path / "face.png")
    assert Image.open(tmp_path / "face.png").size[0] == 3 * 128 + 8
    assert not list(tmp_path.glob(".*.tmp"))                      # atomic writes leave no temporaries


def test_errors_are_shown_and_busy_is_reset(tab, qtbot, make_photo):
    _load(tab, qtbot, make_photo)
    tab.set_model("jeanet")
    with qtbot.waitSignal(tab.worker.errored, timeout=5000):
        tab.enhance()
    assert not tab.is_busy() and tab.enhance_button.text() == "Enhance"
    assert "no trained weights" in tab.message.text() and not tab.message.isHidden()


def test_flip_ensemble_option_reaches_the_worker_and_is_remembered(tab, qtbot, make_photo):
    _load(tab, qtbot, make_photo)
    tab.ensemble_check.setChecked(True)
    sent, enhance = [], tab.worker.enhance
    tab.worker.enhance = lambda *args, **kwargs: sent.append(kwargs) or enhance(*args, **kwargs)
    _enhance(tab, qtbot)
    assert sent[-1]["flip_ensemble"] is True
    tab.save_state()
    again = PhotosTab(tab.worker)
    qtbot.addWidget(again)
    assert again.ensemble_check.isChecked()
    again.ensemble_check.setChecked(False)
    again.save_state()
