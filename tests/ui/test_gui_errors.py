"""GUI: a failing model load, a failing write (a full disk, faked) and a worker exception each show
one message and leave the window usable; nothing the user made is lost."""
from __future__ import annotations

import errno
import json

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import save_file

from facesr_gui.nets import create_net
from facesr_gui.pipeline.detect import from_boxes
from facesr_gui.ui import export
from facesr_gui.ui.export import Exporter
from facesr_gui.ui.photos_tab import PhotosTab
from facesr_gui.catalog import ModelEntry, load_net
from facesr_gui.workers.inference import InferenceWorker

FAKE_BOXES = [[20, 20, 44, 50], [100, 30, 124, 60]]   # as in conftest.py


class _Broken(torch.nn.Module):
    scale = 8

    def forward(self, lr):
        raise RuntimeError("the net broke\nwith a second line")


@pytest.fixture
def tab(qtbot, tmp_path):
    bomb = tmp_path / "bomb.safetensors"
    state = {k: v.contiguous() for k, v in create_net("eipnet", width=16).state_dict().items()}
    save_file(state, str(bomb), metadata={"facesr": json.dumps({"net": "eipnet", "config": {"width": 8192}})})
    catalogue = [ModelEntry("bicubic", "bicubic", 8), ModelEntry("bomb", "eipnet", 8, checkpoint=bomb),
                 ModelEntry("broken", "broken", 8, checkpoint=bomb)]

    def loader(entry, device):
        return _Broken() if entry.id == "broken" else load_net(entry, device)

    worker = InferenceWorker(catalogue, loader=loader, device="cpu", detect_fn=lambda img: from_boxes(FAKE_BOXES))
    worker.start()
    t = PhotosTab(worker)
    t.set_models(worker.models())
    t.identity_check.setChecked(False)
    qtbot.addWidget(t)
    t.show()
    yield t
    t.stop()
    assert worker.stop(5000)


def _enhance_fails(tab, qtbot, model: str) -> str:
    tab.set_model(model)
    with qtbot.waitSignal(tab.worker.errored, timeout=10000) as blocker:
        tab.enhance()
    qtbot.waitUntil(lambda: not tab.is_busy(), timeout=3000)
    return blocker.args[1]


def test_a_failing_load_and_a_failing_net_leave_the_tab_usable(tab, qtbot, make_photo):
    with qtbot.waitSignal(tab.worker.detected, timeout=5000):
        tab.set_image(make_photo(), "synthetic.png")
    message = _enhance_fails(tab, qtbot, "bomb")
    assert "bomb.safetensors" in message and "over the 200 M limit" in message and "\n" not in message
    assert not tab.message.isHidden() and "bomb.safetensors" in tab.message.text()
    message = _enhance_fails(tab, qtbot, "broken")
    assert message == "the net broke; with a second line"
    tab.set_model("bicubic")                                # still usable: another model works
    with qtbot.waitSignal(tab.worker.enhanced, timeout=10000):
        tab.enhance()
    qtbot.waitUntil(lambda: tab.outcome is not None and not tab.is_busy(), timeout=3000)


def test_a_full_disk_is_reported_and_the_next_save_works(qtbot, tmp_path, monkeypatch):
    rgb = np.random.default_rng(0).integers(0, 256, (30, 40, 3), dtype=np.uint8)
    (tmp_path / "mine.png").write_bytes(b"the user's file")
    real = export.save_rgb

    def full_disk(path, image):
        raise OSError(errno.ENOSPC, "No space left on device", str(path))
    monkeypatch.setattr(export, "save_rgb", full_disk)
    ex = Exporter()
    with qtbot.waitSignal(ex.errored, timeout=5000) as err:
        ex.save(tmp_path / "mine.png", rgb)
    assert err.args[0] == f"could not save mine.png: {tmp_path / 'mine.png'}: No space left on device"
    assert (tmp_path / "mine.png").read_bytes() == b"the user's file"
    monkeypatch.setattr(export, "save_rgb", real)
    with qtbot.waitSignal(ex.finished, timeout=5000):
        ex.save(tmp_path / "out.png", rgb)
    assert np.array_equal(np.asarray(Image.open(tmp_path / "out.png")), rgb)
    assert ex.wait(1000)
