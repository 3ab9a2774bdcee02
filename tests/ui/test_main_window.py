"""MainWindow: a real drop -> detect -> enhance with bicubic, routing of photos/folders/videos,
model picker with registered models, device switch, settings, clean close during work."""
from __future__ import annotations

import shutil
import time

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication

from facesr_gui.checkpoints import save_checkpoint
from facesr_gui.manifest import ModelCard, sha256_file, write_manifest
from facesr_gui.nets import create_net, get_info
from facesr_gui.app import create_window
from facesr_gui.ui.main_window import MainWindow
from facesr_gui.ui.qimage import qimage_to_rgb
from facesr_gui.ui.settings import Settings
from facesr_gui.workers.inference import InferenceWorker

PHOTO = "photos/face_recognition/obama-480p.jpg"
CLIP = "videos/head-pose-face-detection-female.mp4"


def _window(qtbot, worker) -> MainWindow:
    w = create_window(worker)
    qtbot.addWidget(w)
    w.show()
    return w


@pytest.fixture
def window(qtbot, make_worker):
    w = _window(qtbot, make_worker())
    yield w
    w.close()


@pytest.fixture
def small_photo(tmp_path, make_photo):
    path = tmp_path / "photos" / "synthetic.png"
    path.parent.mkdir()
    Image.fromarray(make_photo()).save(path)
    return path


def test_drop_real_photo_faces_found_and_enhanced_with_bicubic(drop, qtbot, shared_data):
    """End to end: the real worker (MTCNN + bicubic restorer) behind a dropped photo."""
    import torch
    torch.set_num_threads(1)
    w = _window(qtbot, InferenceWorker(device="cpu"))
    try:
        assert w.select_model("bicubic") and w.current_model() == "bicubic"
        with qtbot.waitSignal(w.worker.detected, timeout=30000):
            assert drop(w, shared_data / PHOTO)
        tab = w.photos
        assert tab.image.shape == (480, 853, 3) and w.tabs.currentWidget() is tab
        assert len(tab.faces) == 1 and 380 < tab.faces[0].box[0] < 400
        assert w.recent_files == [str(shared_data / PHOTO)] and w.recent_menu.actions()[0].text() == "obama-480p.jpg"
        with qtbot.waitSignal(w.worker.enhanced, timeout=30000):
            qtbot.mouseClick(tab.enhance_button, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: tab.outcome is not None, timeout=5000)
        shown = qimage_to_rgb(tab.compare.after_pixmap.toImage())
        assert np.array_equal(shown, tab.outcome.result.image) and tab.outcome.face_ids == [0]
        assert "bicubic on CPU" in w.timing_label.text() and "ms" in w.timing_label.text()
        assert tab.panel.value("Status") != "-" and "Face #1" in tab.panel.title.text()
    finally:
        w.close()
    assert not w.worker.is_running()


def test_fresh_window_starts_on_the_manifests_first_model(qtbot, tmp_path, monkeypatch):
    root = tmp_path / "bundled"
    cards = []
    for model_id in ("best-eip", "second-eip"):
        weights = save_checkpoint(root / f"{model_id}.safetensors", create_net("eipnet", **get_info("eipnet").tiny_cfg))
        cards.append(ModelCard(model_id, "eipnet", weights.name, sha256_file(weights), 8, get_info("eipnet").tiny_cfg))
    write_manifest(root / "manifest.json", cards)
    monkeypatch.setenv("FACESR_MODELS_DIR", str(root))
    w = _window(qtbot, InferenceWorker(device="cpu"))
    try:
        assert w.current_model() == "best-eip" and w.model_label.text() == "Model: best-eip"
        assert w.photos.model_id == "best-eip" and w.video.model_id == "best-eip"
    finally:
        w.close()


def test_model_picker_lists_registered_models_with_measured_psnr(window, tmp_path):
    model = window.model_combo.model()
    items = {window.model_combo.itemData(i): i for i in range(window.model_combo.count())}
    assert model.item(items["bicubic"]).isEnabled() and not model.item(items["jeanet"]).isEnabled()
    assert window.current_model() == "bicubic" and not window.select_model("jeanet")
    assert window.device_label.text() == "CPU" and window.model_label.text() == "Model: bicubic"
    assert "untrained" in window.model_combo.itemText(items["jeanet"])
    # a model registered from the Training tab lands in the user manifest; refresh picks it up
    real = create_window()
    try:
        root = tmp_path / "home" / "facesr-studio" / "models"
        weights = root / "mine.safetensors"
        save_checkpoint(weights, create_net("eipnet", **get_info("eipnet").tiny_cfg))
        write_manifest(root / "manifest.json", [ModelCard("mine", "eipnet", weights.name, sha256_file(weights), 8,
                                                          get_info("eipnet").tiny_cfg,
                                                          metrics={"dev": {"psnr": 24.5, "ssim": 0.7}})])
        real._on_model_registered(str(weights))
        row = real.model_combo.findData("mine")
        assert row >= 0 and real.model_combo.model().item(row).isEnabled()
        assert "PSNR 24.50 dB" in real.model_combo.itemData(row, Qt.ItemDataRole.ToolTipRole)
        assert "mine" in [real.photos.grid.models.item(i).data(Qt.ItemDataRole.UserRole)
                          for i in range(real.photos.grid.models.count())]
    finally:
        real.close()


def test_gpu_choice_disabled_without_cuda(window):
    if window.worker.cuda_available():
        pytest.skip("a GPU is present")
    assert not window.device_combo.model().item(1).isEnabled()
    assert window.device_combo.currentData() == "cpu" and not window.half_check.isEnabled()


def test_oom_fallback_message_resets_the_device_choice(window):
    window.device_combo.blockSignals(True)
    window.device_combo.setCurrentIndex(1)               # as if the GPU had been chosen
    window.device_combo.blockSignals(False)
    window.worker.notified.emit("GPU out of memory: switched to the CPU and ran the request again")
    window.worker.device_changed.emit("CPU")
    assert window.device_combo.currentData() == "cpu" and window.device_label.text() == "CPU"
    assert "out of memory" in window.statusBar().currentMessage()


def test_video_oom_fallback_moves_the_video_tab_to_the_cpu_too(window):
    window.video.set_device("cuda", True)                # the tab's next job would run on the GPU
    window.device_combo.blockSignals(True)
    window.device_combo.setCurrentIndex(1)
    window.device_combo.blockSignals(False)
    window.video.worker.notified.emit("GPU out of memory: switched to the CPU; the video runs again from its "
                                      "first frame")
    window.video.worker.device_changed.emit("CPU")
    assert window.device_combo.currentData() == "cpu" and window.device_label.text() == "CPU"
    assert (window.video.device, window.video.half) == ("cpu", False)
    assert "first frame" in window.statusBar().currentMessage()


def test_folder_drop_opens_photos_with_navigation(drop, window, small_photo, qtbot, make_photo):
    Image.fromarray(make_photo(seed=5)).save(small_photo.with_name("second.jpg"))
    (small_photo.parent / "notes.txt").write_text("not a photo")
    with qtbot.waitSignal(window.worker.detected, timeout=5000):
        assert drop(window, small_photo.parent)
    tab = window.photos
    assert [p.name for p in tab.files] == ["second.jpg", "synthetic.png"] and tab.name == "second.jpg"
    assert tab.next_button.isVisibleTo(tab)
    with qtbot.waitSignal(window.worker.detected, timeout=5000):
        tab.next_button.click()
    assert tab.name == "synthetic.png" and window.windowTitle().endswith("synthetic.png")
    assert not window.open_paths([small_photo.parent / "notes.txt"])


def test_drop_video_switches_to_the_video_tab(drop, qtbot, shared_data, tmp_path, make_worker):
    w = _window(qtbot, make_worker())
    try:
        clip = tmp_path / "clip.mp4"
        shutil.copy(shared_data / CLIP, clip)
        assert drop(w, clip)
        assert w.tabs.currentWidget() is w.video and w.recent_files[0] == str(clip)
        assert w.tabs.tabText(2) == "Training"
    finally:
        w.close()


def test_settings_persist_across_windows(qtbot, small_photo, make_worker):
    first = _window(qtbot, make_worker())
    with qtbot.waitSignal(first.worker.detected, timeout=5000):
        first.open_paths([small_photo])
    first.select_model("maps")
    first.photos.mode_combo.setCurrentIndex(1)
    first.photos.view_combo.setCurrentIndex(1)
    first.photos.overlays.slider.setValue(80)
    first.photos.upscale_combo.setCurrentIndex(first.photos.upscale_combo.findData(4))
    first.resize(1000, 770)
    height = first.height()                # (the Video and Training tabs need ~740 px)
    first.close()
    second = _window(qtbot, make_worker())
    try:
        assert second.current_model() == "maps" and second.photos.model_id == "maps"
        assert second.last_folder == str(small_photo.parent) and second.recent_files == [str(small_photo)]
        p = second.photos
        assert p.compare.mode() == "slider" and p.view_combo.currentData() == "face"
        assert p.overlays.slider.value() == 80 and p.upscale() == 4
        assert second.height() == height == 770   # (the Training tab needs 768 px; the offscreen screen is 800 px wide: Qt clamps the width)
        assert Settings("main_window").get("model", "") == "maps"
    finally:
        second.close()


def test_close_while_busy_cancels_and_waits(qtbot, small_photo, make_worker):
    w = _window(qtbot, make_worker())
    with qtbot.waitSignal(w.worker.detected, timeout=5000):
        w.open_paths([small_photo])
    w.select_model("slow")
    seen = []     # (a connected lambda, not waitSignal: more progress events stay queued after the first)
    w.worker.progressed.connect(lambda *args: seen.append(args))
    w.enhance()
    qtbot.waitUntil(lambda: bool(seen), timeout=5000)
    assert w.photos.is_busy() and w.progress.isVisible()
    t0 = time.perf_counter()
    w.close()
    QApplication.processEvents()
    assert time.perf_counter() - t0 < 3.0 and not w.worker.is_running()
