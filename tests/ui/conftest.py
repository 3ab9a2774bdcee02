"""UI test fixtures: settings and the per-user data folder in ``tmp_path``; a real inference
thread with fast fake networks (``make_worker``), synthetic photos (``make_photo``), a shown Photos
tab over such a worker (``make_tab``) and a file drop on a window (``drop``)."""
from __future__ import annotations

import time

import cv2
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from facesr_gui.nets import SROutput
from facesr_gui.nets._base import SRNet
from facesr_gui.pipeline.detect import from_boxes
from facesr_gui.pipeline.faces import Detections
from facesr_gui.catalog import ModelEntry, load_net
from facesr_gui.workers.inference import InferenceWorker

#: faces the fake detector reports in every photo (x0, y0, x1, y1)
FAKE_BOXES = [[20, 20, 44, 50], [100, 30, 124, 60]]


@pytest.fixture(autouse=True)
def _settings_in_tmp(tmp_path, monkeypatch):
    """Every test starts with empty settings and an empty user model folder."""
    from PySide6.QtCore import QSettings

    QSettings.setDefaultFormat(QSettings.Format.IniFormat)
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, str(tmp_path / "settings"))
    monkeypatch.setenv("FACESR_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("FACESR_CHECKPOINTS", raising=False)
    yield


class _MapNet(SRNet):
    """x8 stand-in for a trained net: bicubic, an edge heat map and a 3-class parsing map; optionally slow."""

    def __init__(self, delay: float = 0.0):
        super().__init__(scale=8)
        self.delay = delay

    def forward(self, lr):
        time.sleep(self.delay)
        up = F.interpolate(lr, scale_factor=8, mode="bicubic", align_corners=False)
        parsing = torch.softmax(torch.stack([up[:, 0], up[:, 1], up[:, 2]], 1) * 10, 1)
        return SROutput(up, {"edge/x8": up[:, :1] - up[:, 1:2], "parsing": parsing})


class _Usable(ModelEntry):
    @property
    def available(self) -> bool:
        return True


CATALOGUE = [ModelEntry("bicubic", "bicubic", 8), _Usable("maps", "maps", 8),
             _Usable("slow", "slow", 8), ModelEntry("jeanet", "jeanet", 8)]


def _loader(entry, device):
    if entry.id in ("maps", "slow"):
        return _MapNet(0.5 if entry.id == "slow" else 0.0)
    return load_net(entry, device)


def _make_worker(boxes=FAKE_BOXES) -> InferenceWorker:
    detect = (lambda img: from_boxes(boxes)) if len(boxes) else (lambda img: Detections.empty())
    return InferenceWorker(CATALOGUE, loader=_loader, device="cpu", detect_fn=detect)


def _photo(h: int = 90, w: int = 160, seed: int = 0) -> np.ndarray:
    """Smooth random colours, ``(h, w, 3)`` uint8 RGB."""
    rng = np.random.default_rng(seed)
    img = cv2.GaussianBlur(rng.integers(0, 255, (h, w, 3)).astype(np.float32), (0, 0), 3)
    return cv2.normalize(img, None, 20, 235, cv2.NORM_MINMAX).astype(np.uint8)


@pytest.fixture
def make_worker():
    """Factory of (not started) workers: models bicubic, maps, slow (0.5 s a batch), jeanet
    (untrained); the detector reports :data:`FAKE_BOXES` (or the ``boxes`` given)."""
    return _make_worker


@pytest.fixture
def make_photo():
    return _photo


@pytest.fixture
def make_tab(qtbot):
    """Factory of shown 1200x700 Photos tabs over a started ``worker`` (the "maps" model, no identity
    measure); each tab and its worker are stopped after the test."""
    from facesr_gui.ui.photos_tab import PhotosTab

    tabs = []

    def make(worker):
        worker.start()
        tab = PhotosTab(worker)
        tab.set_models(worker.models())
        tab.set_model("maps")
        tab.identity_check.setChecked(False)
        qtbot.addWidget(tab)
        tab.resize(1200, 700)
        tab.show()
        tabs.append(tab)
        return tab

    yield make
    for tab in tabs:
        tab.stop()
        assert tab.worker.stop(5000)


def _drop(window, *paths) -> bool:
    from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
    from PySide6.QtGui import QDropEvent

    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(p)) for p in paths])
    event = QDropEvent(QPointF(10, 10), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                       Qt.KeyboardModifier.NoModifier)
    window.dropEvent(event)
    return event.isAccepted()


@pytest.fixture
def drop():
    """``drop(window, *paths) -> accepted``: files dropped on ``window`` as a file manager drops them."""
    return _drop
