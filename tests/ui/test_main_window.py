"""MainWindow: open/drop a photo, Enhance with bicubic, overlays, settings persistence, clean close."""
from __future__ import annotations

import time

import numpy as np
import pytest
import torch
from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QDropEvent
from PySide6.QtWidgets import QApplication

from facesr_gui.nets import SROutput
from facesr_gui.ui.main_window import MainWindow
from facesr_gui.ui.qimage import qimage_to_rgb
from facesr_gui.ui.settings import Settings
from facesr_gui.workers import InferenceWorker, ModelEntry, load_model

PHOTO = "photos/face_recognition/obama-480p.jpg"


@pytest.fixture(autouse=True)
def _settings_in_tmp(tmp_path):
    from PySide6.QtCore import QSettings
    QSettings.setDefaultFormat(QSettings.Format.IniFormat)
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, str(tmp_path))
    yield


class _SlowNet(torch.nn.Module):
    scale, LR_SIZE = 8, 16

    def forward(self, lr):
        time.sleep(1.0)
        return SROutput(torch.nn.functional.interpolate(lr, scale_factor=8), {"edge/x8": lr[:, :1]})


class _FakeEntry(ModelEntry):
    """A usable model without weights on disk (the loader builds it)."""

    @property
    def available(self) -> bool:
        return True


def _loader(entry, device):
    return _SlowNet() if entry.id == "slow" else load_model(entry, device)


def _make_window(qtbot) -> MainWindow:
    catalogue = [ModelEntry("bicubic", "bicubic", "baseline", 8), _FakeEntry("slow", "slow", "test", 8),
                 ModelEntry("jeanet", "jeanet", "paper", 8)]
    window = MainWindow(InferenceWorker(catalogue, loader=_loader, device=torch.device("cpu")))
    qtbot.addWidget(window)
    window.show()
    return window


@pytest.fixture
def window(qtbot):
    w = _make_window(qtbot)
    yield w
    w.close()


@pytest.fixture
def photo(shared_data):
    return shared_data / PHOTO


def test_model_picker(window):
    items = {window.model_combo.itemData(i): i for i in range(window.model_combo.count())}
    model = window.model_combo.model()
    assert model.item(items["bicubic"]).isEnabled() and not model.item(items["jeanet"]).isEnabled()
    assert "untrained" in window.model_combo.itemText(items["jeanet"])
    assert window.current_model() == "bicubic" and not window.select_model("jeanet")
    assert window.device_label.text() == "CPU" and "bicubic" in window.model_label.text()


def test_drop_image_displays_it(window, photo, qtbot):
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(photo))])
    event = QDropEvent(QPointF(10, 10), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                       Qt.KeyboardModifier.NoModifier)
    window.dropEvent(event)
    assert window.photos.image.shape == (480, 853, 3)
    assert window.photos.compare.image_size() == (853, 480)
    assert window.recent_files == [str(photo)] and window.recent_menu.actions()[0].text() == photo.name
    assert not window.open_paths([str(photo.with_suffix(".txt"))])


def test_enhance_bicubic_shows_result(window, photo, qtbot):
    assert window.open_paths([photo])
    with qtbot.waitSignal(window.worker.finished, timeout=15000):
        qtbot.mouseClick(window.photos.enhance_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: window.photos.result is not None, timeout=2000)
    assert window.photos.compare.image_size() == (128, 128)
    assert window.photos.enhance_button.isEnabled() and "ms" in window.timing_label.text()
    shown = qimage_to_rgb(window.photos.compare.after_pixmap.toImage())
    assert np.array_equal(shown, window.photos.result.sr)


def test_overlay_toggle_changes_rendering(window, photo, qtbot):
    window.open_paths([photo])
    assert window.select_model("slow")
    with qtbot.waitSignal(window.worker.finished, timeout=15000):
        window.enhance()
    qtbot.waitUntil(lambda: window.photos.result is not None, timeout=2000)
    tab = window.photos
    assert [tab.overlay_combo.itemText(i) for i in range(tab.overlay_combo.count())][1:] == ["edge/x8"]
    tab.opacity_slider.setValue(100)
    plain = tab.compare.right.grab().toImage()
    tab.overlay_combo.setCurrentText("edge/x8")
    assert tab.compare.overlay_pixmap is not None
    assert tab.compare.right.grab().toImage() != plain
    tab.overlay_combo.setCurrentIndex(0)
    assert tab.compare.overlay_pixmap is None and tab.compare.right.grab().toImage() == plain


def test_settings_persist_across_windows(qtbot, photo):
    first = _make_window(qtbot)
    first.open_paths([photo])
    first.select_model("slow")
    first.photos.mode_combo.setCurrentIndex(1)
    first.resize(700, 450)
    first.close()
    second = _make_window(qtbot)
    try:
        assert second.current_model() == "slow"
        assert second.last_folder == str(photo.parent) and second.recent_files == [str(photo)]
        assert second.photos.compare.mode() == "slider"
        assert (second.width(), second.height()) == (700, 450)
        assert Settings("main_window").get("model", "") == "slow"
    finally:
        second.close()


def test_close_while_busy_does_not_hang(qtbot, photo):
    w = _make_window(qtbot)
    w.open_paths([photo])
    w.select_model("slow")
    with qtbot.waitSignal(w.worker.progressed, timeout=5000):
        w.enhance()
    t0 = time.perf_counter()
    w.close()
    QApplication.processEvents()
    assert time.perf_counter() - t0 < 4.0 and not w.worker.is_running()
