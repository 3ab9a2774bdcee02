"""The one owner of loaded models and detectors, Qt-free: what the GUI's workers run on.

:class:`ModelService` keeps the catalogue the GUI shows (:mod:`facesr_gui.catalog`), the
device choice, up to :data:`MAX_CACHED_RESTORERS` restorers (least recently used dropped
first) keyed by ``(model id, device, half)``, and one MTCNN detector per device. Callers
never change a cached restorer: per-request options (mask, flip ensemble) go through
:meth:`~facesr_gui.pipeline.restore.FaceRestorer.with_options`, a copy sharing the network.

CUDA out-of-memory policy (:meth:`ModelService.run`): the job is retried once on the CPU after
the GPU models are dropped, and the service stays on the CPU; the caller is told (``on_fallback``).
Thread-safe: the GUI thread reads the catalogue and sets the device while a worker thread runs jobs.
"""
from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import TypeVar

import numpy as np
import torch
from torch import nn

from .catalog import ModelEntry, ModelUnavailable, list_models, load_net
from .pipeline.accel import resolve_backend
from .pipeline.detect import FaceDetector
from .pipeline.faces import Detections
from .pipeline.restore import FaceRestorer

MAX_CACHED_RESTORERS = 4
FALLBACK_MESSAGE = "GPU out of memory: switched to the CPU and ran the request again"
T = TypeVar("T")


def default_device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def device_label(device: torch.device, half: bool = False) -> str:
    """Short human label, e.g. ``"CPU"`` or ``"GPU (NVIDIA H100) fp16"``."""
    text = f"GPU ({torch.cuda.get_device_name(device)})" if device.type == "cuda" else device.type.upper()
    return text + (" fp16" if half else "")


class ModelService:
    """``catalogue``: a fixed model list (tests), default :func:`~facesr_gui.catalog.list_models`
    (re-read by :meth:`refresh`); ``loader(entry, device) -> nn.Module``; ``detect_fn(image) ->
    Detections`` replaces MTCNN (tests)."""

    def __init__(self, catalogue: list[ModelEntry] | None = None,
                 loader: Callable[[ModelEntry, torch.device], nn.Module] = load_net,
                 device: str | torch.device | None = None,
                 detect_fn: Callable[[np.ndarray], Detections] | None = None) -> None:
        self._catalogue_fn = (lambda: list(catalogue)) if catalogue is not None else list_models
        self._loader, self._detect_fn = loader, detect_fn
        self._lock = threading.RLock()
        self._entries = {e.id: e for e in self._catalogue_fn()}
        self._device = torch.device(device) if device is not None else default_device()
        self._half = False
        self._restorers: OrderedDict[tuple, FaceRestorer] = OrderedDict()
        self._detectors: dict[tuple[str, str], FaceDetector] = {}   # (device, resolved backend)

    # --- catalogue ------------------------------------------------------------------------------
    def models(self) -> list[ModelEntry]:
        with self._lock:
            return list(self._entries.values())

    def default_model_id(self) -> str:
        """The first bundled model (the manifest's first, as :func:`~facesr_gui.catalog.default_model`), else bicubic."""
        return next((e.id for e in self.models() if e.source == "bundled" and e.available), "bicubic")

    def refresh(self) -> list[ModelEntry]:
        """Re-read the catalogue; cached restorers of entries that changed are dropped."""
        entries = {e.id: e for e in self._catalogue_fn()}
        with self._lock:
            for key in [k for k in self._restorers if self._entries.get(k[0]) != entries.get(k[0])]:
                del self._restorers[key]
            self._entries = entries
        return list(entries.values())

    # --- device ---------------------------------------------------------------------------------
    @staticmethod
    def cuda_available() -> bool:
        return torch.cuda.is_available()

    def device(self) -> tuple[torch.device, bool]:
        """The device later jobs run on and whether in fp16."""
        with self._lock:
            return self._device, self._half

    def set_device(self, device: str | torch.device, half: bool = False) -> bool:
        """Run later jobs on ``"cpu"`` or ``"cuda"`` (fp16 only on CUDA); False if unavailable."""
        dev = torch.device(device)
        if dev.type == "cuda" and not torch.cuda.is_available():
            return False
        with self._lock:
            self._device, self._half = dev, bool(half) and dev.type == "cuda"
        return True

    def device_label(self) -> str:
        return device_label(*self.device())

    def run(self, job: Callable[[torch.device, bool], T], on_fallback: Callable[[str], None] | None = None) -> T:
        """``job(device, half)`` on the current device; on CUDA out-of-memory, drop the GPU models,
        switch to the CPU, tell ``on_fallback(message)`` and run it again there."""
        device, half = self.device()
        try:
            return job(device, half)
        except torch.cuda.OutOfMemoryError:
            if device.type != "cuda":
                raise
        # outside the handler: its traceback would keep the failed job's GPU tensors alive
        self.fall_back_to_cpu(on_fallback)
        return job(torch.device("cpu"), False)

    def fall_back_to_cpu(self, on_fallback: Callable[[str], None] | None = None) -> None:
        """After a CUDA out-of-memory error: drop the GPU models, make the CPU the device of later jobs
        and tell ``on_fallback(message)``."""
        self.release_cuda()
        with self._lock:
            self._device, self._half = torch.device("cpu"), False
        if on_fallback is not None:
            on_fallback(FALLBACK_MESSAGE)

    def release_cuda(self) -> None:
        with self._lock:
            for key in [k for k in self._restorers if k[1] != "cpu"]:
                del self._restorers[key]
            self._detectors = {k: v for k, v in self._detectors.items() if k[0] == "cpu"}
        if torch.cuda.is_available():
            torch.cuda.empty_cache()

    # --- models ---------------------------------------------------------------------------------
    def restorer(self, model_id: str, device: torch.device, half: bool = False,
                 on_load: Callable[[ModelEntry], None] | None = None, backend: str = "torch") -> FaceRestorer:
        """The cached restorer of ``model_id`` on ``device`` (loaded, and ``on_load(entry)`` told,
        when not cached); raises :class:`~facesr_gui.catalog.ModelUnavailable`. ``backend``: what runs
        the networks (:mod:`facesr_gui.pipeline.accel`): long jobs (video, batch) ask for ``"auto"``;
        a photo's first result should not wait for a model's one-time OpenVINO conversion. Cached by the
        backend it resolves to: without OpenVINO, ``"auto"`` and ``"torch"`` share one restorer."""
        key = (model_id, str(device), bool(half), resolve_backend(backend, device))
        with self._lock:
            if key in self._restorers:
                self._restorers.move_to_end(key)
                return self._restorers[key]
            entry = self._entries.get(model_id)
        if entry is None:
            raise ModelUnavailable(f"unknown model {model_id!r}")
        if on_load is not None:
            on_load(entry)
        net = self._loader(entry, torch.device("cpu"))
        detector = None if self._detect_fn is not None else self.detector(device, backend)
        restorer = FaceRestorer(net, detector=detector, device=device, half=half, net_name=model_id,
                                lr_size=entry.lr_size, model=entry.facts(), backend=backend)
        with self._lock:
            self._restorers[key] = restorer
            while len(self._restorers) > MAX_CACHED_RESTORERS:
                self._restorers.popitem(last=False)
        return restorer

    def detector(self, device: torch.device | str, backend: str = "torch") -> FaceDetector:
        key = (str(device), resolve_backend(backend, device))
        with self._lock:
            if key not in self._detectors:
                self._detectors[key] = FaceDetector(device=device, backend=backend)
            return self._detectors[key]

    def find_faces(self, image: np.ndarray, device: torch.device | str) -> Detections:
        """MTCNN (or the injected ``detect_fn``) on ``image``, ``(H, W, 3)`` uint8 RGB."""
        if self._detect_fn is not None:
            return self._detect_fn(image)
        return self.detector(device).detect(image)
