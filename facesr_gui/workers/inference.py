"""The long-lived inference thread: owns the loaded models, runs the latest request.

Like the PySide6 mandelbrot example, :meth:`InferenceWorker.submit` stores only the
*latest* request; a request that arrives while another is pending replaces it, and a
result whose request was superseded while running is dropped. Signals carry plain data
(numpy arrays inside :class:`InferenceResult`), never tensors or pixmaps.

For now the whole image is treated as one face: its centre square is resized to the
net's LR size (``net.LR_SIZE``, or ``128 // scale`` for fully convolutional nets, which
also take small images as they are). The face pipeline will replace this.
"""
from __future__ import annotations

import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from PySide6.QtCore import QMutex, QMutexLocker, QObject, QThread, QWaitCondition, Signal

from ..checkpoints import CheckpointError, load_checkpoint, read_manifest, verify_card
from ..nets import create_net, get_info, list_nets
from ..paths import models_dir


class ModelUnavailable(RuntimeError):
    """The chosen model cannot be loaded (message is shown to the user as is)."""


@dataclass(frozen=True)
class ModelEntry:
    """One choice in the model picker: a bundled checkpoint, or a registered net."""

    id: str
    net: str
    paper: str
    scale: int
    checkpoint: Path | None = None
    description: str = ""

    @property
    def available(self) -> bool:
        return self.checkpoint is not None or self.net == "bicubic"

    @property
    def label(self) -> str:
        """Short picker text, e.g. ``"jeanet (x8) - untrained"``; the paper goes in the tooltip."""
        text = f"{self.id} (x{self.scale})"
        return text if self.available else f"{text} - untrained"


def list_models(manifest: str | Path | None = None) -> list[ModelEntry]:
    """Bundled checkpoints first, then every registered net without one (marked untrained)."""
    manifest = Path(manifest) if manifest is not None else models_dir() / "manifest.json"
    try:
        cards = read_manifest(manifest)
    except CheckpointError as exc:
        warnings.warn(str(exc), stacklevel=2)
        cards = []
    entries = [ModelEntry(c.id, c.net, get_info(c.net).paper, c.scale, manifest.parent / c.file,
                          get_info(c.net).description) for c in cards if c.net in list_nets()]
    with_weights = {e.net for e in entries}
    for name in list_nets():
        if name not in with_weights:
            info = get_info(name)
            entries.append(ModelEntry(name, name, info.paper, info.scale, None, info.description))
    return entries


def load_model(entry: ModelEntry, device: str | torch.device) -> torch.nn.Module:
    """Build ``entry``'s network in eval mode on ``device``; raises :class:`ModelUnavailable`."""
    if entry.checkpoint is not None:
        try:
            net, _header = load_checkpoint(entry.checkpoint, device)
        except (CheckpointError, OSError) as exc:
            raise ModelUnavailable(f"cannot load {entry.id}: {exc}") from exc
        return net
    if entry.net == "bicubic":
        return create_net("bicubic").to(device).eval()
    raise ModelUnavailable(f"no trained weights bundled for {entry.id}")


def default_device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def device_label(device: torch.device) -> str:
    """Short human label, e.g. ``"CPU"`` or ``"GPU (NVIDIA H100)"``."""
    if device.type == "cuda":
        return f"GPU ({torch.cuda.get_device_name(device)})"
    return device.type.upper()


@dataclass(frozen=True)
class InferenceRequest:
    """``image``: ``(H, W, 3)`` uint8 RGB."""

    request_id: int
    model_id: str
    image: np.ndarray


@dataclass
class InferenceResult:
    """``sr``: ``(H, W, 3)`` uint8 RGB; ``before``: the LR input, nearest-upscaled to ``sr``'s size;
    ``maps``: spatial maps resized to ``(H, W)``, float32, ``(H, W)`` or ``(K, H, W)``, raw values."""

    request_id: int
    model_id: str
    sr: np.ndarray
    before: np.ndarray
    maps: dict[str, np.ndarray] = field(default_factory=dict)
    seconds: float = 0.0
    device: str = "CPU"
    lr_size: int = 0


def centre_square(rgb: np.ndarray) -> np.ndarray:
    h, w = rgb.shape[:2]
    side = min(h, w)
    top, left = (h - side) // 2, (w - side) // 2
    return rgb[top: top + side, left: left + side]


def make_lr(rgb: np.ndarray, lr_size: int | None, scale: int) -> np.ndarray:
    """Centre square resized (area) to the LR side; fully convolutional nets (``lr_size=None``)
    take small squares (side <= ``128 // scale``) unchanged."""
    square = centre_square(rgb)
    side = lr_size or max(1, 128 // scale)
    if lr_size is None and square.shape[0] <= side:
        return np.ascontiguousarray(square)
    return cv2.resize(square, (side, side), interpolation=cv2.INTER_AREA)


def run_sr(net: torch.nn.Module, rgb: np.ndarray, device: torch.device) -> tuple[np.ndarray, np.ndarray, dict]:
    """``rgb`` (H, W, 3) uint8 -> ``(lr uint8, sr uint8, maps)``; maps resized to the SR size."""
    scale = int(getattr(net, "scale", 8))
    lr = make_lr(rgb, getattr(net, "LR_SIZE", None), scale)
    x = torch.from_numpy(lr).permute(2, 0, 1)[None].float().div(255.0).to(device)
    with torch.inference_mode():
        out = net(x)
        sr_t = out.clamped()[0]
        size = tuple(sr_t.shape[-2:])
        maps = {name: F.interpolate(m[:1].float(), size=size, mode="bilinear", align_corners=False)[0]
                for name, m in out.spatial_maps().items()}
    sr = (sr_t.permute(1, 2, 0) * 255.0).round().byte().cpu().numpy()
    maps_np = {k: (v[0] if v.shape[0] == 1 else v).cpu().numpy().astype(np.float32) for k, v in maps.items()}
    return lr, sr, maps_np


class _LoopThread(QThread):
    def __init__(self, target: Callable[[], None], parent=None):
        super().__init__(parent)
        self._target = target

    def run(self) -> None:
        self._target()


class InferenceWorker(QObject):
    """Owns one QThread for the app's lifetime; call :meth:`start` once and :meth:`stop` on close.

    (A QObject owning the thread, not a QThread subclass, because ``QThread.finished``
    already means "the thread ended".)
    """

    finished = Signal(object)        # InferenceResult
    errored = Signal(str)
    progressed = Signal(float, str)  # fraction in [0, 1], message

    def __init__(self, catalogue: list[ModelEntry] | None = None,
                 loader: Callable[[ModelEntry, torch.device], torch.nn.Module] = load_model,
                 device: torch.device | None = None, parent=None):
        super().__init__(parent)
        self._entries = {e.id: e for e in (catalogue if catalogue is not None else list_models())}
        self._loader = loader
        self.device = device or default_device()
        self._models: dict[str, torch.nn.Module] = {}
        self._mutex = QMutex()
        self._cond = QWaitCondition()
        self._pending: InferenceRequest | None = None
        self._busy = False
        self._thread = _LoopThread(self._run, self)

    def start(self) -> None:
        self._thread.start()

    def is_running(self) -> bool:
        return self._thread.isRunning()

    def models(self) -> list[ModelEntry]:
        return list(self._entries.values())

    def device_label(self) -> str:
        return device_label(self.device)

    def is_busy(self) -> bool:
        with QMutexLocker(self._mutex):
            return self._busy or self._pending is not None

    def submit(self, request: InferenceRequest) -> None:
        """Queue ``request``, replacing any request not yet started."""
        with QMutexLocker(self._mutex):
            self._pending = request
            self._cond.wakeOne()

    def stop(self, timeout_ms: int = 5000) -> bool:
        """Ask the thread to finish and wait for it; True if it stopped in time."""
        self._thread.requestInterruption()
        with QMutexLocker(self._mutex):
            self._pending = None
            self._cond.wakeAll()
        self._thread.quit()
        return self._thread.wait(timeout_ms)

    def _interrupted(self) -> bool:
        return self._thread.isInterruptionRequested()

    def _run(self) -> None:
        while True:
            with QMutexLocker(self._mutex):
                while self._pending is None and not self._interrupted():
                    self._cond.wait(self._mutex)
                if self._interrupted():
                    return
                request, self._pending, self._busy = self._pending, None, True
            try:
                self._process(request)
            except ModelUnavailable as exc:
                self.errored.emit(str(exc))
            except Exception as exc:  # noqa: BLE001 - anything a model raises goes to the UI
                self.errored.emit(f"{type(exc).__name__}: {exc}")
            finally:
                with QMutexLocker(self._mutex):
                    self._busy = False

    def _superseded(self) -> bool:
        with QMutexLocker(self._mutex):
            return self._pending is not None or self._interrupted()

    def _model(self, model_id: str) -> torch.nn.Module:
        if model_id not in self._models:
            entry = self._entries.get(model_id)
            if entry is None:
                raise ModelUnavailable(f"unknown model {model_id!r}")
            self.progressed.emit(0.1, f"loading {model_id}")
            self._models[model_id] = self._loader(entry, self.device)
        return self._models[model_id]

    def _process(self, request: InferenceRequest) -> None:
        start = time.perf_counter()
        net = self._model(request.model_id)
        if self._superseded():
            return
        self.progressed.emit(0.5, f"enhancing with {request.model_id}")
        lr, sr, maps = run_sr(net, request.image, self.device)
        if self._superseded():
            return
        before = cv2.resize(lr, (sr.shape[1], sr.shape[0]), interpolation=cv2.INTER_NEAREST)
        seconds = time.perf_counter() - start
        self.progressed.emit(1.0, "done")
        self.finished.emit(InferenceResult(request.request_id, request.model_id, sr, before, maps,
                                           seconds, self.device_label(), lr.shape[0]))
