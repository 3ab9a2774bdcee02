"""The long-lived inference thread: owns the detector and the restorers, runs the face pipeline.

Three kinds of request reach :class:`InferenceWorker` (all images ``(H, W, 3)`` uint8 RGB):

* :class:`DetectRequest` -> ``detected(DetectOutcome)``: MTCNN boxes/scores for the face list;
* :class:`EnhanceRequest` -> ``enhanced(EnhanceOutcome)`` (a :class:`FaceRestorer` result for the
  chosen faces), then one ``measured(FaceMeasure)`` per face (identity similarity LR vs SR,
  PSNR/SSIM against a ground truth) and one for the whole image when a ground truth is given;
* :class:`GridRequest` -> ``grid_progressed(GridTile)`` per model, then ``grid_finished(GridOutcome)``.

Like the PySide6 mandelbrot example, only the *latest* request of each kind is kept: one that
arrives while another of its kind is pending replaces it, and a running one is abandoned
(``FaceRestorer.enhance``'s ``should_stop``) as soon as a newer one of its kind arrives.
Restorers are cached per ``(model, device, half, mask)``. A CUDA out-of-memory error moves the
worker to the CPU, says so (``notified``, ``device_changed``) and retries there.
Signals carry plain data (numpy arrays, dataclasses), never tensors or pixmaps.
"""
from __future__ import annotations

import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import torch
from PySide6.QtCore import QMutex, QMutexLocker, QObject, QWaitCondition, Signal

from ..catalog import ModelEntry, ModelUnavailable, list_models, load_net
from ..errors import describe
from ..pipeline.detect import FaceDetector
from ..pipeline.faces import Detections, combine_faces, subset
from ..pipeline.measure import AlignedIdentity, quality_vs_truth
from ..pipeline.restore import EnhanceResult, FaceRestorer, FaceResult
from ._thread import LoopThread

MAX_CACHED_RESTORERS = 4


def default_device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def device_label(device: torch.device) -> str:
    """Short human label, e.g. ``"CPU"`` or ``"GPU (NVIDIA H100)"``."""
    if device.type == "cuda":
        return f"GPU ({torch.cuda.get_device_name(device)})"
    return device.type.upper()


# --- requests and outcomes ---------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class DetectRequest:
    image: np.ndarray


@dataclass(frozen=True, eq=False)
class EnhanceRequest:
    """Faces are ``detections`` followed by ``manual_boxes`` (``(M, 4)`` x0, y0, x1, y1 in
    ``image`` pixels); ``selected`` indexes that combined list (None = all). Without
    detections and manual boxes the detector runs first. ``ground_truth``: the HR image,
    any size (resized to the output size) for PSNR/SSIM."""

    image: np.ndarray
    model_id: str
    detections: Detections | None = None
    manual_boxes: np.ndarray | None = None
    selected: tuple[int, ...] | None = None
    upscale: int = 1
    mask: str = "ellipse"
    identity: bool = True
    ground_truth: np.ndarray | None = None
    flip_ensemble: bool = False


@dataclass(frozen=True, eq=False)
class GridRequest:
    """Run every model of ``model_ids`` on face ``face_id`` of the combined face list."""

    image: np.ndarray
    model_ids: tuple[str, ...]
    face_id: int
    detections: Detections | None = None
    manual_boxes: np.ndarray | None = None
    flip_ensemble: bool = False


@dataclass(eq=False)
class DetectOutcome:
    request_id: int
    detections: Detections
    seconds: float
    device: str


@dataclass(eq=False)
class EnhanceOutcome:
    """``result.faces[k]`` is face ``face_ids[k]`` of the request's combined face list;
    ``seconds``: wall time without model loading."""

    request_id: int
    model_id: str
    result: EnhanceResult
    face_ids: list[int]
    seconds: float
    device: str
    image: np.ndarray            # the input, (H, W, 3) uint8 RGB

    def face(self, face_id: int) -> FaceResult | None:
        return self.result.faces[self.face_ids.index(face_id)] if face_id in self.face_ids else None


@dataclass(eq=False)
class FaceMeasure:
    """Metrics of face ``face_id`` (-1: the whole image): ``identity`` (cosine similarity of
    the dlib embeddings of the bicubic-upscaled LR crop and the SR crop), ``psnr``/``ssim``
    (Y channel, output vs ground truth inside the face box) and ``bicubic_psnr``/``bicubic_ssim``
    (the bicubic-upscaled input vs ground truth, same region). Missing values are None."""

    request_id: int
    face_id: int
    values: dict[str, float | None]
    note: str = ""


@dataclass(eq=False)
class GridTile:
    """One model's output for the grid: ``sr`` ``(S, S, 3)`` uint8 RGB or None with ``error``;
    ``seconds``: network time for this face."""

    request_id: int
    face_id: int
    model_id: str
    sr: np.ndarray | None
    seconds: float
    lr: np.ndarray | None = None
    bicubic: np.ndarray | None = None
    error: str = ""


@dataclass(eq=False)
class GridOutcome:
    request_id: int
    face_id: int
    tiles: list[GridTile] = field(default_factory=list)


InferenceRequest = EnhanceRequest   # names kept from the single-request worker
InferenceResult = EnhanceOutcome


# --- the worker --------------------------------------------------------------------------------
class InferenceWorker(QObject):
    """Owns one QThread for the app's lifetime; call :meth:`start` once and :meth:`stop` on close.

    ``catalogue``: fixed model list (tests); default :func:`list_models` (re-read by
    :meth:`refresh_models`). ``loader(entry, device) -> nn.Module`` builds a network;
    ``detect_fn(image) -> Detections`` replaces MTCNN (tests).
    """

    detected = Signal(object)         # DetectOutcome
    enhanced = Signal(object)         # EnhanceOutcome
    measured = Signal(object)         # FaceMeasure
    grid_progressed = Signal(object)  # GridTile
    grid_finished = Signal(object)    # GridOutcome
    errored = Signal(int, str)        # request id, message
    progressed = Signal(float, str)   # fraction in [0, 1], message
    notified = Signal(str)            # something the user should know (e.g. fell back to CPU)
    device_changed = Signal(str)      # device label
    models_changed = Signal()

    def __init__(self, catalogue: list[ModelEntry] | None = None,
                 loader: Callable[[ModelEntry, torch.device], torch.nn.Module] = load_net,
                 device: str | torch.device | None = None, detect_fn: Callable[[np.ndarray], Detections] | None = None,
                 parent=None):
        super().__init__(parent)
        self._catalogue_fn = (lambda: list(catalogue)) if catalogue is not None else list_models
        self._entries = {e.id: e for e in self._catalogue_fn()}
        self._loader = loader
        self._detect_fn = detect_fn
        self._device = torch.device(device) if device is not None else default_device()
        self._half = False
        self._restorers: OrderedDict[tuple, FaceRestorer] = OrderedDict()
        self._detectors: dict[str, FaceDetector] = {}
        self._identity = AlignedIdentity()
        self._mutex = QMutex()
        self._cond = QWaitCondition()
        self._pending: dict[type, tuple[int, Any]] = {}
        self._next_id = 0
        self._busy = self._cancelled = False
        self._thread = LoopThread(self._run, self)

    # --- public API (GUI thread) ------------------------------------------------------------
    def start(self) -> None:
        self._thread.start()

    def is_running(self) -> bool:
        return self._thread.isRunning()

    def models(self) -> list[ModelEntry]:
        with QMutexLocker(self._mutex):
            return list(self._entries.values())

    def refresh_models(self) -> list[ModelEntry]:
        """Re-read the catalogue (a model registered from the Training tab appears); emits
        ``models_changed``. Cached restorers of entries that changed are dropped."""
        entries = {e.id: e for e in self._catalogue_fn()}
        with QMutexLocker(self._mutex):
            stale = [k for k in self._restorers if self._entries.get(k[0]) != entries.get(k[0])]
            for key in stale:
                del self._restorers[key]
            self._entries = entries
        self.models_changed.emit()
        return list(entries.values())

    @staticmethod
    def cuda_available() -> bool:
        return torch.cuda.is_available()

    @property
    def device(self) -> torch.device:
        return self._device

    def half(self) -> bool:
        return self._half

    def device_label(self) -> str:
        return device_label(self._device) + (" fp16" if self._half else "")

    def set_device(self, device: str, half: bool = False) -> bool:
        """Run later requests on ``"cpu"`` or ``"cuda"`` (fp16 only on CUDA); False if unavailable."""
        dev = torch.device(device)
        if dev.type == "cuda" and not torch.cuda.is_available():
            return False
        with QMutexLocker(self._mutex):
            self._device, self._half = dev, bool(half) and dev.type == "cuda"
        self.device_changed.emit(self.device_label())
        return True

    def is_busy(self) -> bool:
        with QMutexLocker(self._mutex):
            return self._busy or bool(self._pending)

    def submit(self, request: DetectRequest | EnhanceRequest | GridRequest) -> int:
        """Queue ``request`` (replacing a pending one of its kind); returns its request id."""
        with QMutexLocker(self._mutex):
            self._next_id += 1
            self._pending[type(request)] = (self._next_id, request)
            self._cond.wakeOne()
            return self._next_id

    def detect(self, image: np.ndarray) -> int:
        return self.submit(DetectRequest(image))

    def enhance(self, image: np.ndarray, model_id: str, **kwargs) -> int:
        return self.submit(EnhanceRequest(image, model_id, **kwargs))

    def run_grid(self, image: np.ndarray, model_ids: list[str], face_id: int, **kwargs) -> int:
        return self.submit(GridRequest(image, tuple(model_ids), face_id, **kwargs))

    def cancel(self) -> None:
        """Drop pending requests; the running one stops at its next check."""
        with QMutexLocker(self._mutex):
            self._pending.clear()
            self._cancelled = True

    def stop(self, timeout_ms: int = 5000) -> bool:
        """Ask the thread to finish and wait for it; True if it stopped in time."""
        self._thread.requestInterruption()
        with QMutexLocker(self._mutex):
            self._pending.clear()
            self._cond.wakeAll()
        return self._thread.wait(timeout_ms)

    # --- thread loop -------------------------------------------------------------------------
    def _run(self) -> None:
        handlers = {DetectRequest: self._detect, EnhanceRequest: self._enhance, GridRequest: self._grid}
        while True:
            with QMutexLocker(self._mutex):
                while not self._pending and not self._thread.isInterruptionRequested():
                    self._cond.wait(self._mutex)
                if self._thread.isInterruptionRequested():
                    return
                kind = next(iter(self._pending))
                request_id, request = self._pending.pop(kind)
                self._busy, self._cancelled = True, False
            try:
                self._on_device(lambda dev, half: handlers[kind](request_id, request, dev, half))
            except InterruptedError:
                pass
            except ModelUnavailable as exc:
                self.errored.emit(request_id, str(exc))
            except Exception as exc:  # noqa: BLE001 - anything a model raises goes to the UI
                self.errored.emit(request_id, describe(exc))
            finally:
                with QMutexLocker(self._mutex):
                    self._busy = False

    def _stopper(self, kind: type) -> Callable[[], bool]:
        def should_stop() -> bool:
            with QMutexLocker(self._mutex):
                return kind in self._pending or self._cancelled or self._thread.isInterruptionRequested()
        return should_stop

    def _check(self, kind: type) -> None:
        if self._stopper(kind)():
            raise InterruptedError("superseded")

    def _on_device(self, job: Callable[[torch.device, bool], None]) -> None:
        with QMutexLocker(self._mutex):
            device, half = self._device, self._half
        try:
            job(device, half)
        except torch.cuda.OutOfMemoryError:
            if device.type != "cuda":
                raise
            self._release_cuda()
            with QMutexLocker(self._mutex):
                self._device, self._half = torch.device("cpu"), False
            self.notified.emit("GPU out of memory: switched to the CPU and ran the request again")
            self.device_changed.emit(self.device_label())
            job(torch.device("cpu"), False)

    def _release_cuda(self) -> None:
        for key in [k for k in self._restorers if k[1] != "cpu"]:
            del self._restorers[key]
        self._detectors = {k: v for k, v in self._detectors.items() if k == "cpu"}
        if torch.cuda.is_available():
            torch.cuda.empty_cache()

    # --- models ------------------------------------------------------------------------------
    def _restorer(self, model_id: str, device: torch.device, half: bool, mask: str = "ellipse") -> FaceRestorer:
        key = (model_id, str(device), half, mask)
        if key in self._restorers:
            self._restorers.move_to_end(key)
            return self._restorers[key]
        with QMutexLocker(self._mutex):
            entry = self._entries.get(model_id)
        if entry is None:
            raise ModelUnavailable(f"unknown model {model_id!r}")
        self.progressed.emit(0.05, f"loading {entry.label}")
        net = self._loader(entry, torch.device("cpu"))
        restorer = FaceRestorer(net, detector=None, device=device, half=half, mask=mask, net_name=model_id,
                                lr_size=entry.lr_size)
        self._restorers[key] = restorer
        while len(self._restorers) > MAX_CACHED_RESTORERS:
            self._restorers.popitem(last=False)
        return restorer

    def _find_faces(self, image: np.ndarray, device: torch.device) -> Detections:
        if self._detect_fn is not None:
            return self._detect_fn(image)
        key = str(device)
        if key not in self._detectors:
            self._detectors[key] = FaceDetector(device=device)
        return self._detectors[key].detect(image)

    # --- handlers ----------------------------------------------------------------------------
    def _detect(self, request_id: int, req: DetectRequest, device: torch.device, _half: bool) -> None:
        self.progressed.emit(0.2, "detecting faces")
        t0 = time.perf_counter()
        dets = self._find_faces(req.image, device)
        self._check(DetectRequest)
        self.progressed.emit(1.0, f"{len(dets)} faces found")
        self.detected.emit(DetectOutcome(request_id, dets, time.perf_counter() - t0, device_label(device)))

    def _enhance(self, request_id: int, req: EnhanceRequest, device: torch.device, half: bool) -> None:
        restorer = self._restorer(req.model_id, device, half, req.mask)
        restorer.flip_ensemble = req.flip_ensemble
        t0 = time.perf_counter()
        faces = combine_faces(req.detections, req.manual_boxes)
        detect_s = 0.0
        if req.detections is None and (req.manual_boxes is None or not len(req.manual_boxes)):
            faces = self._find_faces(req.image, device)
            detect_s = time.perf_counter() - t0
        ids = list(range(len(faces))) if req.selected is None else [i for i in req.selected if 0 <= i < len(faces)]
        self.progressed.emit(0.1, f"enhancing {len(ids)} faces with {req.model_id}")
        result = restorer.enhance(req.image, subset(faces, ids), upscale=req.upscale,
                                  progress=lambda f, m: self.progressed.emit(0.1 + 0.8 * f, m),
                                  should_stop=self._stopper(EnhanceRequest))
        result.timings["detect"] = detect_s
        self._check(EnhanceRequest)
        self.progressed.emit(1.0, "done")
        self.enhanced.emit(EnhanceOutcome(request_id, req.model_id, result, ids, time.perf_counter() - t0,
                                          device_label(device) + (" fp16" if restorer.half else ""), req.image))
        self._measure(request_id, req, result, ids)

    def _measure(self, request_id: int, req: EnhanceRequest, result: EnhanceResult, ids: list[int]) -> None:
        """Identity and ground-truth metrics, emitted face by face after the result."""
        truth = None
        if req.ground_truth is not None:
            truth = quality_vs_truth(result, req.image, req.ground_truth,
                                     {i: f.box for i, f in zip(ids, result.faces)})
            self.measured.emit(FaceMeasure(request_id, -1, truth[-1]))
        for face_id, face in zip(ids, result.faces):
            if not req.identity and truth is None:
                return
            self._check(EnhanceRequest)
            values: dict[str, float | None] = dict(truth[face_id]) if truth is not None else {}
            if req.identity:
                values["identity"] = self._identity.similarity(face.bicubic, face.sr)
            self.measured.emit(FaceMeasure(request_id, face_id, values, self._identity.reason))

    def _grid(self, request_id: int, req: GridRequest, device: torch.device, half: bool) -> None:
        faces = combine_faces(req.detections, req.manual_boxes)
        if not 0 <= req.face_id < len(faces):
            raise ValueError(f"no face #{req.face_id + 1}")
        one = subset(faces, [req.face_id])
        outcome = GridOutcome(request_id, req.face_id)
        for i, model_id in enumerate(req.model_ids):
            self._check(GridRequest)
            self.progressed.emit(i / len(req.model_ids), f"model grid: {model_id}")
            try:
                restorer = self._restorer(model_id, device, half)
                restorer.flip_ensemble = req.flip_ensemble
                face = restorer.enhance(req.image, one, should_stop=self._stopper(GridRequest))
                tile = GridTile(request_id, req.face_id, model_id, face.faces[0].sr, face.timings["sr"],
                                face.faces[0].lr, face.faces[0].bicubic)
            except (ModelUnavailable, ValueError, RuntimeError) as exc:
                if isinstance(exc, torch.cuda.OutOfMemoryError):
                    raise
                tile = GridTile(request_id, req.face_id, model_id, None, 0.0, error=str(exc))
            outcome.tiles.append(tile)
            self.grid_progressed.emit(tile)
        self.progressed.emit(1.0, "model grid done")
        self.grid_finished.emit(outcome)
