"""VideoTab: open/drop a clip, scrub, detect, process and cancel, errors in the tab, settings persistence.

Settings live in ``tmp_path`` (autouse fixture in ``tests/ui/conftest.py``)."""
from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QDropEvent
from PySide6.QtWidgets import QFileDialog

from facesr_gui.pipeline.video import partial_path, probe_video
from facesr_gui.ui.qimage import qimage_to_rgb
from facesr_gui.ui.video_tab import VideoTab, format_clock
from facesr_gui.workers.video import VideoWorker, read_frame

SHORT = "videos/head-pose-face-detection-female.mp4"   # 23 frames, 480x270, one face
LONG = "videos/head-pose-face-detection-male.mp4"      # 62 frames


pytestmark = pytest.mark.usefixtures("one_thread")


def _make_tab(qtbot) -> VideoTab:
    tab = VideoTab(VideoWorker())
    qtbot.addWidget(tab)
    tab.resize(900, 700)
    return tab


@pytest.fixture
def tab(qtbot):
    t = _make_tab(qtbot)
    yield t
    assert t.stop(10_000)


@pytest.fixture
def short_clip(shared_data):
    return shared_data / SHORT


def _state(tab: VideoTab) -> dict[str, bool]:
    return {name: getattr(tab, name).isEnabled() for name in
            ("process_button", "cancel_button", "slider", "detect_button", "open_button", "upscale_spin")}


def test_format_clock():
    assert [format_clock(s) for s in (0, 5.4, 754, 3723, -1)] == ["0:00", "0:05", "12:34", "1:02:03", "-"]


def test_open_video_fills_info_scrubber_and_output(tab, short_clip, qtbot):
    assert _state(tab) == dict(process_button=False, cancel_button=False, slider=False, detect_button=False,
                               open_button=True, upscale_spin=True)
    with qtbot.waitSignal(tab.worker.frame_decoded, timeout=5000):
        assert tab.open_video(short_clip)
    text = tab.info_label.text()
    for part in ("head-pose-face-detection-female.mp4", "480x270", "12.5 fps", "23 frames", "1.84 s", "audio: no"):
        assert part in text, part
    assert (tab.slider.minimum(), tab.slider.maximum(), tab.slider.value()) == (0, 22, 0)
    qtbot.waitUntil(lambda: tab.shown_index == 0, timeout=2000)
    assert (tab.view.image.width(), tab.view.image.height()) == (480, 270)
    assert tab.output_edit.text() == str(short_clip.with_name("head-pose-face-detection-female_facesr.mkv"))
    assert _state(tab) == dict(process_button=True, cancel_button=False, slider=True, detect_button=True,
                               open_button=True, upscale_spin=True)


def test_moving_the_scrubber_updates_the_preview(tab, short_clip, qtbot):
    tab.open_video(short_clip)
    qtbot.waitUntil(lambda: tab.shown_index == 0, timeout=5000)
    first = qimage_to_rgb(tab.view.image)
    for index in (4, 9, 15):          # a drag: only the latest needs to arrive
        tab.slider.setValue(index)
    qtbot.waitUntil(lambda: tab.shown_index == 15, timeout=5000)
    shown = qimage_to_rgb(tab.view.image)
    assert np.array_equal(shown, read_frame(short_clip, 15)) and not np.array_equal(shown, first)
    assert tab.frame_label.text().startswith("Frame 15 / 22") and "1.20 s" in tab.frame_label.text()
    tab.grab()  # paints without boxes


def test_detect_faces_draws_boxes(tab, short_clip, qtbot):
    tab.open_video(short_clip)
    tab.slider.setValue(10)
    qtbot.waitUntil(lambda: tab.shown_index == 10, timeout=5000)
    assert tab.view.boxes is None
    tab.detect_button.click()
    qtbot.waitUntil(lambda: tab.view.boxes is not None, timeout=15_000)
    assert tab.view.boxes.shape == (1, 4) and tab.message_label.text().startswith("1 face on frame 10")
    assert tab.grab().width() > 0   # paints the boxes


def test_unreadable_video_is_reported_in_the_tab(tab, tmp_path, short_clip, qtbot):
    bad = tmp_path / "broken.mp4"
    bad.write_bytes(b"\x00garbage" * 500)
    messages = []
    tab.status_message.connect(messages.append)
    assert not tab.open_video(bad)
    assert "broken.mp4" in tab.message_label.text() and "Cannot open" in tab.message_label.text()
    assert messages and tab.path is None and not tab.process_button.isEnabled()
    assert tab.open_video(short_clip) and not tab.open_video(tmp_path / "missing.mp4")
    assert tab.path == short_clip     # a failed open keeps the loaded video


def test_process_then_cancel_buttons_and_partial_output(tab, shared_data, tmp_path, qtbot):
    clip = shared_data / LONG
    tab.open_video(clip)
    dst = tmp_path / "out.mkv"
    tab.output_edit.setText(str(dst))
    busy = []
    tab.busy_changed.connect(busy.append)
    frames = []
    tab.worker.frames_progressed.connect(lambda d, t, e: frames.append(d))
    tab.process_button.click()
    assert busy == [True] and tab.is_busy()
    assert _state(tab) == dict(process_button=False, cancel_button=True, slider=False, detect_button=False,
                               open_button=False, upscale_spin=False)
    assert not tab.open_video(clip)
    qtbot.waitUntil(lambda: len(frames) >= 3, timeout=30_000)
    assert tab.frames_label.text().endswith(" / 62 frames") and tab.eta_label.text().startswith("ETA ")
    assert tab.progress_bar.maximum() == 62 and tab.progress_bar.value() >= 3
    with qtbot.waitSignal(tab.busy_changed, timeout=5000) as blocker:
        tab.cancel_button.click()
        assert tab.cancel_button.text() == "Cancelling..." and not tab.cancel_button.isEnabled()
    assert blocker.args == [False]
    assert _state(tab) == dict(process_button=True, cancel_button=False, slider=True, detect_button=True,
                               open_button=True, upscale_spin=True)
    report = tab.report
    assert report.cancelled and report.output == partial_path(dst) and report.output.is_file()
    assert str(report.output) in tab.message_label.text() and "Cancelled" in tab.message_label.text()
    assert not dst.exists() and probe_video(report.output).frames == report.frames_out


def test_process_to_the_end_shows_progress_and_preview(tab, short_clip, tmp_path, qtbot):
    tab.open_video(short_clip)
    tab.upscale_spin.setValue(2)
    tab.detect_every_spin.setValue(4)
    dst = tmp_path / "done.mp4"
    tab.output_edit.setText(str(dst))
    previews = []
    tab.worker.frame_previewed.connect(previews.append)
    with qtbot.waitSignal(tab.worker.finished, timeout=30_000):
        assert tab.start_processing()
    qtbot.waitUntil(lambda: not tab.is_busy(), timeout=2000)
    assert tab.report.frames_out == 23 and dst.is_file() and probe_video(dst).width == 960
    assert tab.progress_bar.value() == tab.progress_bar.maximum() == 23
    assert tab.frames_label.text() == "23 / 23 frames" and tab.message_label.text().startswith("Done: 23 frames")
    assert previews and (tab.view.image.width(), tab.view.image.height()) == (960, 540)


def test_output_problems_are_shown_before_starting(tab, short_clip, tmp_path, qtbot, monkeypatch):
    tab.open_video(short_clip)
    for path, words in ((tmp_path / "nowhere" / "out.mkv", "does not exist"), (tmp_path / "out.gif", ".mkv or .mp4"),
                        (short_clip, "must not overwrite")):
        tab.output_edit.setText(str(path))
        assert not tab.start_processing()
        assert words in tab.message_label.text() and not tab.is_busy() and "d03030" in tab.message_label.styleSheet()
    # an empty output asks for a file; cancelling the dialog does not start
    tab.output_edit.setText("")
    monkeypatch.setattr(QFileDialog, "getSaveFileName", staticmethod(lambda *a, **k: ("", "")))
    assert not tab.start_processing() and not tab.is_busy()


def test_worker_error_is_shown_in_the_tab(tab, short_clip, tmp_path, qtbot):
    tab.open_video(short_clip)
    tab.output_edit.setText(str(tmp_path / "out.mkv"))
    tab.set_model("no-such-model")
    busy = []
    tab.busy_changed.connect(busy.append)
    assert tab.start_processing()
    qtbot.waitUntil(lambda: busy == [True, False], timeout=15_000)
    assert "no-such-model" in tab.message_label.text() and tab.message_label.text().startswith("Processing failed")
    assert tab.process_button.isEnabled() and tab.eta_label.text() == "failed"


def test_settings_persist(qtbot, short_clip, tmp_path, monkeypatch):
    tab = _make_tab(qtbot)
    tab.upscale_spin.setValue(3)
    tab.detect_every_spin.setValue(5)
    tab.mask_combo.setCurrentIndex(tab.mask_combo.findData("parsing"))
    tab.ensemble_check.setChecked(True)
    tab.open_video(short_clip)
    out_dir = tmp_path / "exports"
    out_dir.mkdir()
    monkeypatch.setattr(QFileDialog, "getSaveFileName",
                        staticmethod(lambda *a, **k: (str(out_dir / "mine"), "MP4 video (*.mp4)")))
    assert tab.choose_output() and tab.output_edit.text() == str(out_dir / "mine.mp4")
    assert tab.stop(5000)

    again = _make_tab(qtbot)
    try:
        assert (again.upscale_spin.value(), again.detect_every_spin.value()) == (3, 5)
        assert again.mask_combo.currentData() == "parsing" and again.ensemble_check.isChecked()
        again.open_video(short_clip)
        assert again.output_edit.text() == str(out_dir / "head-pose-face-detection-female_facesr.mp4")
    finally:
        assert again.stop(5000)


def test_drop_opens_a_video(tab, short_clip, qtbot):
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(short_clip.with_suffix(".txt"))), QUrl.fromLocalFile(str(short_clip))])
    event = QDropEvent(QPointF(10, 10), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                       Qt.KeyboardModifier.NoModifier)
    tab.dropEvent(event)
    assert tab.path == short_clip and tab.slider.maximum() == 22
