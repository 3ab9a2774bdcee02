"""InferenceWorker: bicubic end to end, missing weights, superseding, maps, clean shutdown."""
from __future__ import annotations

import time

import numpy as np
import pytest
import torch

from facesr_gui.nets import SROutput
from facesr_gui.workers import InferenceRequest, InferenceWorker, ModelEntry, list_models
from facesr_gui.workers.inference import make_lr

BICUBIC = ModelEntry("bicubic", "bicubic", "baseline", 8)
UNTRAINED = ModelEntry("jeanet", "jeanet", "paper", 8)


class _FakeNet(torch.nn.Module):
    """x8 'network' with one heat map and one parsing map; optionally slow."""

    scale, LR_SIZE = 8, 16

    def __init__(self, delay: float = 0.0):
        super().__init__()
        self.delay = delay

    def forward(self, lr):
        time.sleep(self.delay)
        up = torch.nn.functional.interpolate(lr, scale_factor=8, mode="nearest")
        return SROutput(up, {"edge/x8": lr[:, :1], "parsing": torch.rand(1, 3, 32, 32),
                             "attn": torch.ones(1, 4, 1, 1)})


def _worker(qtbot, delay=0.0, catalogue=(BICUBIC, UNTRAINED)):
    def loader(entry, device):
        if entry.id == "fake":
            return _FakeNet(delay)
        from facesr_gui.workers import load_model
        return load_model(entry, device)

    worker = InferenceWorker(list(catalogue) + [ModelEntry("fake", "fake", "test", 8, None)], loader=loader,
                             device=torch.device("cpu"))
    worker.start()
    yield worker
    assert worker.stop(5000)


@pytest.fixture
def worker(qtbot):
    yield from _worker(qtbot)


def _image(h=96, w=128):
    return np.random.default_rng(0).integers(0, 256, (h, w, 3), dtype=np.uint8)


def test_list_models_marks_untrained(tmp_path):
    entries = {e.id: e for e in list_models(tmp_path / "missing.json")}
    assert entries["bicubic"].available and "untrained" not in entries["bicubic"].label
    assert not entries["jeanet"].available and entries["jeanet"].label.endswith("untrained")


def test_make_lr_centre_square():
    assert make_lr(_image(), 16, 8).shape == (16, 16, 3)
    assert make_lr(_image(12, 20), None, 8).shape == (12, 12, 3)   # small: used directly


def test_bicubic_result(qtbot, worker):
    with qtbot.waitSignal(worker.finished, timeout=10000) as blocker:
        worker.submit(InferenceRequest(1, "bicubic", _image()))
    result = blocker.args[0]
    assert result.request_id == 1 and result.sr.shape == (128, 128, 3) and result.sr.dtype == np.uint8
    assert result.before.shape == result.sr.shape and result.maps == {} and result.device == "CPU"


def test_missing_weights_error(qtbot, worker):
    with qtbot.waitSignal(worker.errored, timeout=10000) as blocker:
        worker.submit(InferenceRequest(1, "jeanet", _image()))
    assert blocker.args[0] == "no trained weights bundled for jeanet"


def test_spatial_maps_resized(qtbot, worker):
    with qtbot.waitSignal(worker.finished, timeout=10000) as blocker:
        worker.submit(InferenceRequest(1, "fake", _image()))
    maps = blocker.args[0].maps
    assert set(maps) == {"edge/x8", "parsing"}           # (1,4,1,1) vector is not spatial
    assert maps["edge/x8"].shape == (128, 128) and maps["parsing"].shape == (3, 128, 128)
    assert maps["parsing"].dtype == np.float32


def test_new_request_supersedes_pending(qtbot):
    gen = _worker(qtbot, delay=0.3)
    worker = next(gen)
    got = []
    worker.finished.connect(lambda r: got.append(r.request_id))
    for i in range(1, 5):
        worker.submit(InferenceRequest(i, "fake", _image()))
    qtbot.waitUntil(lambda: 4 in got, timeout=10000)
    assert got[-1] == 4 and len(got) < 4
    next(gen, None)


def test_stop_while_busy_does_not_hang(qtbot):
    gen = _worker(qtbot, delay=1.0)
    worker = next(gen)
    with qtbot.waitSignal(worker.progressed, timeout=5000):
        worker.submit(InferenceRequest(1, "fake", _image()))
    t0 = time.perf_counter()
    assert worker.stop(5000)
    assert time.perf_counter() - t0 < 3.0 and not worker.is_running()
    next(gen, None)
