"""Enhance all from the window: real photos through the batch worker (bicubic, fake face boxes),
outputs and provenance sidecars in the chosen folder, one table row per photo, never overwriting,
Cancel, and the batch thread ending on close."""
from __future__ import annotations

import shutil
import time
import types
from pathlib import Path

import pytest

from facesr_gui.app import create_window
from facesr_gui.ui import batch_panel
from facesr_gui.ui.settings import Settings

PHOTOS = ("obama-240p.jpg", "obama_small.jpg", "john2.jpeg")

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture
def folder(shared_data, tmp_path) -> Path:
    """``tmp_path/in`` holding three small real photos."""
    folder = tmp_path / "in"
    folder.mkdir()
    for name in PHOTOS:
        shutil.copy(shared_data / "photos" / "face_recognition" / name, folder)
    return folder


@pytest.fixture
def window(qtbot, make_worker):
    w = create_window(make_worker())
    qtbot.addWidget(w)
    w.show()
    yield w
    w.close()


def _statuses(panel) -> list[str]:
    return [panel.status(row) for row in range(panel.table.rowCount())]


def _run(qtbot, window, out_dir, timeout=60_000):
    with qtbot.waitSignal(window.batch.worker.finished, timeout=timeout):
        assert window.enhance_all(out_dir)
    qtbot.waitUntil(lambda: not window.batch.is_running(), timeout=5000)


def test_enhance_all_writes_outputs_and_sidecars_and_lists_each_photo(qtbot, window, folder, tmp_path, monkeypatch):
    assert not window.enhance_all_action.isEnabled()
    assert window.open_paths([folder]) and window.enhance_all_action.isEnabled()
    asked = []
    out = tmp_path / "out"
    monkeypatch.setattr(batch_panel, "QFileDialog", types.SimpleNamespace(
        getExistingDirectory=lambda parent, title, start: asked.append(start) or str(out)))
    with qtbot.waitSignal(window.batch.worker.finished, timeout=60_000):
        window.enhance_all_action.trigger()
    qtbot.waitUntil(lambda: not window.batch.is_running(), timeout=5000)
    assert asked == [str(folder / "facesr")]                     # the default: beside the photos, not among them
    panel = window.batch
    assert panel.isVisible() and panel.table.rowCount() == 3
    assert [panel.table.item(r, 0).text() for r in range(3)] == sorted(PHOTOS)
    # the fake boxes are larger than the untrained net's output in two photos: written, faces left as they were
    assert _statuses(panel) == ["faces left as is", "enhanced", "faces left as is"]
    assert all(panel.table.item(r, 2).text() in ("1", "2") for r in range(3))   # of the fake detector's two boxes
    for row, name in enumerate(sorted(PHOTOS)):
        stem, ext = name.rsplit(".", 1)
        output = out / f"{stem}_facesr.{ext}"
        assert output.is_file() and (out / f"{output.name}.json").is_file()
        assert panel.output(row) == output
    assert sorted(p.name for p in folder.iterdir()) == sorted(PHOTOS)        # nothing written among the inputs
    done = "1 enhanced, 2 with faces left as they are"
    assert panel.progress.value() == panel.progress.maximum() and done in panel.message_label.text()
    assert done in window.statusBar().currentMessage()
    assert Settings("batch").get("out_dir", "") == str(out)                  # remembered for the next batch
    assert panel.default_out_dir(window.photos.files) == out
    opened = []
    monkeypatch.setattr(batch_panel, "QDesktopServices", types.SimpleNamespace(openUrl=opened.append))
    panel.table.cellDoubleClicked.emit(1, 3)
    assert [Path(u.toLocalFile()) for u in opened] == [panel.output(1)]


def test_enhance_all_is_offered_for_several_photos_or_a_folder(qtbot, window, folder, tmp_path):
    photos = sorted(folder.iterdir())
    assert window.open_paths([photos[0]]) and not window.enhance_all_action.isEnabled()
    assert window.open_paths(photos[:2]) and window.enhance_all_action.isEnabled()
    single = tmp_path / "single"
    single.mkdir()
    shutil.copy(photos[0], single)
    assert window.open_paths([photos[0]]) and not window.enhance_all_action.isEnabled()
    assert window.open_paths([single]) and window.enhance_all_action.isEnabled()


def test_a_users_existing_file_is_not_overwritten(qtbot, window, folder, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    mine = out / "john2_facesr.jpeg"
    mine.write_bytes(b"mine")
    window.open_paths([folder])
    window.photos.upscale_combo.setCurrentIndex(window.photos.upscale_combo.findData(1))
    _run(qtbot, window, out)
    assert mine.read_bytes() == b"mine"
    panel = window.batch
    row = [panel.table.item(r, 0).text() for r in range(3)].index("john2.jpeg")
    assert panel.output(row) == out / "john2_facesr_2.jpeg" and panel.output(row).is_file()
    assert "not overwritten" in panel.table.item(row, 4).text()


def test_cancel_after_the_first_photo_leaves_the_rest_cancelled(qtbot, window, folder):
    for i in range(3):   # six photos
        shutil.copy(folder / PHOTOS[0], folder / f"extra{i}.jpg")
    window.open_paths([folder])
    assert window.select_model("slow")                           # 0.5 s a photo
    panel = window.batch
    with qtbot.waitSignal(panel.worker.item_done, timeout=30_000):
        assert window.enhance_all(folder / "out")
    panel.cancel_button.click()
    qtbot.waitUntil(lambda: not panel.is_running(), timeout=30_000)
    statuses = _statuses(panel)
    assert statuses[0] == "enhanced" and statuses[-1] == "cancelled", statuses
    first_cancelled = statuses.index("cancelled")
    assert first_cancelled <= 2 and set(statuses[first_cancelled:]) == {"cancelled"}, statuses
    assert "cancelled" in panel.message_label.text() and not panel.cancel_button.isEnabled()
    assert len(list((folder / "out").glob("*.json"))) == first_cancelled


def test_close_during_a_batch_stops_its_thread(qtbot, make_worker, folder):
    w = create_window(make_worker())
    qtbot.addWidget(w)
    w.show()
    w.open_paths([folder])
    w.select_model("slow")
    with qtbot.waitSignal(w.batch.worker.progressed, timeout=10_000):
        w.enhance_all(folder / "out")
    t0 = time.perf_counter()
    w.close()
    assert not w.batch.worker.is_running() and time.perf_counter() - t0 < 10
