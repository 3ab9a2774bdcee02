"""TrainingWorker: a real tiny run, throttling, cancel keeps a resumable state, pause blocks, registration."""
from __future__ import annotations

import json
import shutil
import time
from dataclasses import replace

import numpy as np
import pytest

from facesr_gui.checkpoints import load_checkpoint
from facesr_gui.manifest import read_manifest, verify_card, write_manifest
from facesr_gui.nets import get_info
from facesr_gui.train.loop import TrainConfig, TrainEvent
from facesr_gui.workers.training import (TrainingWorker, describe_state, register_model, sanitize_model_id,
                                         trainable_nets)

NET = "priorsr"     # its tiny config trains at ~50 ms a step on one core


@pytest.fixture(scope="module")
def faces(tmp_path_factory, shared_data):
    """Four CelebA faces in a temporary folder."""
    root = tmp_path_factory.mktemp("faces")
    for p in sorted((shared_data / "celeba_dev").glob("*.jpg"))[:4]:
        shutil.copy(p, root / p.name)
    return str(root)


pytestmark = pytest.mark.usefixtures("one_thread")


def _cfg(faces, tmp_path, steps, **kw) -> TrainConfig:
    return TrainConfig(net=NET, data=faces, steps=steps, batch_size=2, out=str(tmp_path / "run"),
                       net_cfg=get_info(NET).tiny_cfg, val_limit=2, preview_count=2, save_every=10_000, **kw)


@pytest.fixture
def worker(qtbot):
    w = TrainingWorker()
    yield w
    w.cancel()
    assert w.wait(10_000)


def test_catalogue_lists_trainable_nets_only():
    nets = {n.name: n for n in trainable_nets()}
    assert "bicubic" not in nets and {"eipnet", "jeanet", NET} <= set(nets)
    assert nets["eipnet"].tiny_cfg == {"width": 16} and nets["eipnet"].options["width"] == 512
    assert nets[NET].needs_parsing and nets["priorsr_gan"].has_gan and not nets["jeanet"].has_gan


def test_tiny_run_emits_increasing_steps_and_finishes(qtbot, worker, faces, tmp_path):
    events: list[TrainEvent] = []
    worker.progressed.connect(events.append)
    with qtbot.waitSignal(worker.finished, timeout=30_000) as done:
        worker.start(_cfg(faces, tmp_path, steps=4, val=faces, val_every=2))
        assert worker.is_running()
    steps = [e.step for e in events]
    assert steps == sorted(set(steps)) and steps[-1] == 4
    assert {2, 4} <= set(steps)                     # validation steps are never throttled away
    val_events = [e for e in events if e.val is not None]
    assert [e.step for e in val_events] == [2, 4]
    assert all("bicubic_psnr" in e.val and e.preview.dtype == np.uint8 for e in val_events)
    summary = done.args[0]
    assert not summary.cancelled and summary.step == summary.total == 4
    assert summary.checkpoint.is_file() and summary.state.is_file()
    assert summary.val == val_events[-1].val
    assert worker.wait(5000) and not worker.is_running()


def test_throttles_plain_steps_but_forwards_validation_and_last(qtbot):
    def fast_train(cfg, should_stop=None):     # engine stand-in: 300 steps in a few milliseconds
        for step in range(1, 301):
            val = {"psnr": 20.0} if step % 100 == 0 else None
            yield TrainEvent(step, 300, {"total": 1.0}, 1e-4, 0.0, 0.0, val=val, finished=step == 300)
            if should_stop():
                break

    worker = TrainingWorker(train_fn=fast_train, max_rate=10.0)
    steps = []
    worker.progressed.connect(lambda e: steps.append(e.step))
    with qtbot.waitSignal(worker.finished, timeout=5000):
        worker.start(TrainConfig(net=NET, data="unused", steps=300, out="unused"))
    assert {100, 200, 300} <= set(steps) and steps == sorted(steps)
    assert len(steps) <= 10, steps


def test_cancel_stops_promptly_and_leaves_a_resumable_state(qtbot, worker, faces, tmp_path):
    cancelled_at = []

    def on_first(event):
        if not cancelled_at:
            cancelled_at.append(time.monotonic())
            worker.cancel()

    worker.progressed.connect(on_first)
    with qtbot.waitSignal(worker.finished, timeout=20_000) as done:
        worker.start(_cfg(faces, tmp_path, steps=100_000))
    took = time.monotonic() - cancelled_at[0]
    summary = done.args[0]
    assert summary.cancelled and 1 <= summary.step < 20 and took < 5, (summary.step, took)
    state = describe_state(summary.state)
    assert state.net == NET and state.step == summary.step and state.total == 100_000
    assert get_info(NET).tiny_cfg.items() <= state.net_cfg.items()
    net, header = load_checkpoint(summary.checkpoint)     # weights written on the way out load strictly
    assert header["meta"]["steps"] == summary.step


def test_pause_blocks_progress_and_resume_continues(qtbot, worker, faces, tmp_path):
    steps: list[int] = []
    worker.progressed.connect(lambda e: steps.append(e.step))
    with qtbot.waitSignal(worker.paused_changed, timeout=20_000, check_params_cb=lambda p: p is True):
        worker.start(_cfg(faces, tmp_path, steps=100_000))
        qtbot.waitUntil(lambda: bool(steps), timeout=20_000)
        worker.pause()
    qtbot.wait(100)
    paused_at = steps[-1]
    qtbot.wait(600)                                   # ~10 steps' worth of time
    assert steps[-1] == paused_at and worker.is_running() and worker.is_paused()
    with qtbot.waitSignal(worker.paused_changed, timeout=5000, check_params_cb=lambda p: p is False):
        worker.resume()
    qtbot.waitUntil(lambda: steps[-1] > paused_at, timeout=10_000)
    with qtbot.waitSignal(worker.finished, timeout=10_000) as done:
        worker.cancel()
    assert done.args[0].cancelled and done.args[0].step > paused_at


def test_engine_error_is_reported(qtbot, worker, tmp_path):
    with qtbot.waitSignal(worker.errored, timeout=10_000) as err:
        worker.start(TrainConfig(net=NET, data=str(tmp_path / "missing"), steps=2, out=str(tmp_path / "run"),
                                 net_cfg=get_info(NET).tiny_cfg))
    assert "image folder not found" in err.args[0]
    assert worker.wait(5000)


def test_register_model_writes_a_card_that_loads_strictly(qtbot, worker, faces, tmp_path, monkeypatch):
    with qtbot.waitSignal(worker.finished, timeout=20_000) as done:
        worker.start(_cfg(faces, tmp_path, steps=2))
    root = tmp_path / "models"
    card = register_model(done.args[0].checkpoint, "my tiny/model", training={"steps": 2},
                          metrics={"dev": {"psnr": 1.0}}, root=root)
    assert card.id == sanitize_model_id("my tiny/model") == "my-tiny-model"
    again = register_model(done.args[0].checkpoint, "my-tiny-model", root=root)   # same id: replaced
    register_model(done.args[0].checkpoint, "other", root=root)
    cards = read_manifest(root / "manifest.json")
    assert [c.id for c in cards] == ["my-tiny-model", "other"] and cards[0] == again
    assert cards[0].net == NET and cards[0].scale == 8
    assert get_info(NET).tiny_cfg.items() <= cards[0].config.items()
    net, _ = load_checkpoint(verify_card(cards[0], root))           # sha256 matches, strict load
    assert sum(p.numel() for p in net.parameters()) > 0
    data = json.loads((root / "manifest.json").read_text())
    assert data["version"] == 1 and len(data["models"]) == 2
    bundled = tmp_path / "bundled"
    write_manifest(bundled / "manifest.json", [replace(cards[1], id="eipnet-celeba")])
    monkeypatch.setenv("FACESR_MODELS_DIR", str(bundled))
    with pytest.raises(ValueError, match="bundled model"):
        register_model(done.args[0].checkpoint, "eipnet-celeba", root=root)
