"""BatchWorker: a real bicubic batch with MTCNN and provenance, never overwriting, cancel, failure, stop."""
from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import pytest
from PySide6.QtCore import Qt

from facesr_gui.catalog import ModelEntry
from facesr_gui.pipeline.detect import from_boxes
from facesr_gui.service import ModelService
from facesr_gui.workers.batch import BatchRequest, BatchWorker
from facesr_gui.workers.batch_jobs import OUT_FOLDER, default_out_dir, eta_text, status_text, summary

PHOTOS = ("obama-240p.jpg", "obama_small.jpg", "john2.jpeg")

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture
def photos(shared_data, tmp_path) -> list[Path]:
    """Three small real photos copied to ``tmp_path/in``."""
    folder = tmp_path / "in"
    folder.mkdir()
    return [Path(shutil.copy(shared_data / "photos" / "face_recognition" / name, folder)) for name in PHOTOS]


def _worker(qtbot, detect=True) -> BatchWorker:
    """bicubic only; ``detect``: real MTCNN, else a fixed fake face box (fast)."""
    fake = None if detect else (lambda img: from_boxes([[40, 40, 100, 110]]))
    w = BatchWorker(ModelService([ModelEntry("bicubic", "bicubic", 8)], device="cpu", detect_fn=fake))
    w.start()
    return w


def _run(qtbot, worker, request, on_item=None, timeout=120_000):
    items = []
    worker.item_done.connect(items.append)
    if on_item is not None:   # runs in the worker thread, before the engine checks for the next input
        worker.item_done.connect(on_item, Qt.ConnectionType.DirectConnection)
    try:
        with qtbot.waitSignal(worker.finished, timeout=timeout) as blocker:
            worker.enhance_all(request)
        qtbot.waitUntil(lambda: len(items) == len(request.inputs), timeout=5000)
    finally:
        worker.item_done.disconnect(items.append)
        if on_item is not None:
            worker.item_done.disconnect(on_item)
    return blocker.args[0], items


def test_batch_writes_outputs_and_provenance_with_mtcnn(qtbot, photos, tmp_path):
    worker = _worker(qtbot, detect=True)
    try:
        out = tmp_path / "out"
        fractions = []
        worker.progressed.connect(lambda f, m: fractions.append(f))
        report, items = _run(qtbot, worker, BatchRequest(tuple(photos), out, "bicubic", upscale="auto"))
    finally:
        assert worker.stop(10_000)
    assert [i.path for i in items] == photos == [i.path for i in report.items]
    assert report.ok and report.count("ok") >= 2, [(i.status, i.message) for i in report.items]
    for item in report.items:
        assert item.output.parent == out and item.output.name == f"{item.path.stem}_facesr{item.path.suffix}"
        assert item.output.is_file() and item.provenance == item.output.with_name(item.output.name + ".json")
        record = json.loads(item.provenance.read_text())
        assert record["model"]["id"] == "bicubic" and "catalogue" not in record["model"]["note"]   # the entry's facts
    assert fractions and max(fractions) <= 1.0 and fractions[-1] == pytest.approx(1.0)
    assert not worker.is_running()


def test_existing_output_is_never_overwritten(qtbot, photos, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    mine = out / "obama-240p_facesr.jpg"
    mine.write_bytes(b"the user's own file")
    worker = _worker(qtbot, detect=False)
    try:
        report, _ = _run(qtbot, worker, BatchRequest(tuple(photos[:2]), out, upscale=1))
    finally:
        assert worker.stop(10_000)
    assert mine.read_bytes() == b"the user's own file"
    first = report.items[0]
    assert first.output == out / "obama-240p_facesr_2.jpg" and first.output.is_file()
    assert "not overwritten" in first.message


def test_cancel_after_the_first_item_leaves_the_rest_cancelled(qtbot, photos, tmp_path):
    worker = _worker(qtbot, detect=False)
    try:
        report, items = _run(qtbot, worker, BatchRequest(tuple(photos), tmp_path / "out", upscale=1),
                             on_item=lambda item: worker.cancel())
        assert [i.status for i in report.items] == ["ok", "cancelled", "cancelled"]
        assert [i.status for i in items] == ["ok", "cancelled", "cancelled"]
        assert not list((tmp_path / "out").glob("obama_small*")) and not list((tmp_path / "out").glob("john2*"))
        # the thread lives on: a later batch runs in full
        report, _ = _run(qtbot, worker, BatchRequest(tuple(photos[1:]), tmp_path / "out", upscale=1))
        assert [i.status for i in report.items] == ["ok", "ok"]
    finally:
        assert worker.stop(10_000)


def test_unknown_model_fails_with_one_line(qtbot, photos, tmp_path):
    worker = _worker(qtbot, detect=False)
    try:
        with qtbot.waitSignal(worker.failed, timeout=10_000) as blocker:
            worker.enhance_all(BatchRequest(tuple(photos), tmp_path / "out", "no-such-model"))
        assert "no-such-model" in blocker.args[0] and "\n" not in blocker.args[0]
        qtbot.waitUntil(lambda: not worker.is_busy(), timeout=2000)
    finally:
        assert worker.stop(10_000)
    assert not (tmp_path / "out").exists()


def test_stop_during_a_batch_cancels_and_waits(qtbot, photos, tmp_path):
    worker = _worker(qtbot, detect=True)
    worker.enhance_all(BatchRequest(tuple(photos * 3), tmp_path / "out"))   # repeated: planned _2, _3 names
    qtbot.waitUntil(worker.is_busy, timeout=2000)
    time.sleep(0.2)
    t0 = time.perf_counter()
    assert worker.stop(10_000) and not worker.is_running()
    assert time.perf_counter() - t0 < 10


def test_helpers(tmp_path):
    photo = tmp_path / "in" / "a.jpg"
    assert default_out_dir([photo]) == tmp_path / "in" / OUT_FOLDER
    assert default_out_dir([photo], tmp_path) == tmp_path                      # remembered, still a folder
    assert default_out_dir([photo], tmp_path / "gone") == tmp_path / "in" / OUT_FOLDER
    deeper = [tmp_path / "in" / "a" / "x.jpg", tmp_path / "in" / "b" / "c" / "y.jpg"]
    assert default_out_dir(deeper) == tmp_path / "in" / OUT_FOLDER            # a dropped folder's top
    assert eta_text(0.0, 5.0) == "0%"
    assert eta_text(0.5, 30.0) == "50% - about 30 s left"
    assert eta_text(0.25, 60.0) == "25% - about 3 min 00 s left"
    from facesr_gui.pipeline.engine import BatchReport, ItemReport

    report = BatchReport([ItemReport(photo, "image", "ok"), ItemReport(photo, "image", "cancelled")])
    assert summary(report) == "1 enhanced, 1 cancelled" and summary(BatchReport()) == "nothing to do"
    # a photo written with every face left as it was (all larger than the net's output) is not "enhanced"
    as_is, done = ItemReport(photo, "image", "ok", faces=2, restored=0), ItemReport(photo, "image", "ok", restored=1)
    assert status_text(as_is) == "faces left as is" and status_text(done) == "enhanced"
    assert summary(BatchReport([as_is, done])) == "1 enhanced, 1 with faces left as they are"


def test_out_of_gpu_memory_goes_on_on_the_cpu(qtbot, photos, tmp_path, out_of_memory):
    """A batch on the GPU that runs out of memory tells the window, moves the shared service to the CPU and
    finishes there, the failed input included."""
    import torch

    class FullGpuService(ModelService):
        """The service on a GPU whose every restorer runs out of memory (no GPU is needed)."""
        def __init__(self):
            super().__init__([ModelEntry("bicubic", "bicubic", 8)], device="cpu",
                             detect_fn=lambda img: from_boxes([[40, 40, 100, 110]]))
            self.on_gpu = True

        def device(self):
            return (torch.device("cuda"), False) if self.on_gpu else super().device()

        def fall_back_to_cpu(self, on_fallback=None):
            self.on_gpu = False
            super().fall_back_to_cpu(on_fallback)

        def restorer(self, model_id, device, half=False, on_load=None, backend="torch"):
            real = super().restorer(model_id, torch.device("cpu"), False, on_load, backend)
            return out_of_memory(real) if device.type == "cuda" else real

    worker = BatchWorker(FullGpuService())
    worker.start()
    notes, labels = [], []
    worker.notified.connect(notes.append)
    worker.device_changed.connect(labels.append)
    try:
        report, items = _run(qtbot, worker, BatchRequest(tuple(photos), tmp_path / "out", "bicubic", upscale=2))
        assert [i.status for i in items] == ["ok"] * len(photos)
        qtbot.waitUntil(lambda: len(labels) == 1, timeout=5000)
        assert len(notes) == 1 and "out of memory" in notes[0] and labels[0].startswith("CPU")
        assert worker.service.device()[0].type == "cpu"
    finally:
        assert worker.stop()
