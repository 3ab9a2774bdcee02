"""The long-lived inference thread: runs the face pipeline for the Photos tab.

Three kinds of request (:mod:`.requests`; images ``(H, W, 3)`` uint8 RGB) reach
:class:`InferenceWorker`:

* :class:`DetectRequest` -> ``detected(DetectOutcome)``: MTCNN boxes/scores for the face list;
* :class:`EnhanceRequest` -> ``enhanced(EnhanceOutcome)`` (a :class:`FaceRestorer` result for the
  chosen faces), then one ``measured(FaceMeasure)`` per face (identity similarity LR vs SR,
  PSNR/SSIM against a ground truth) and one for the whole image when a ground truth is given;
* :class:`GridRequest` -> ``grid_progressed(GridTile)`` per model, then ``grid_finished(GridOutcome)``.

Only the *latest* request of each kind is kept (:class:`~._latest.LatestRequests`), and a
running one is abandoned (``FaceRestorer.enhance``'s ``should_stop``) as soon as a newer one
of its kind arrives. Models, detectors and the device belong to a
:class:`~facesr_gui.service.ModelService` (restorer cache; a CUDA out-of-memory error moves it
to the CPU, which the worker reports with ``notified`` and ``device_changed``).
Signals carry plain data (numpy arrays, dataclasses), never tensors or pixmaps.
"""
from __future__ import annotations

import time
from typing import Callable

import numpy as np
import torch
from PySide6.QtCore import Signal

from ..catalog import ModelEntry, ModelUnavailable, load_net
from ..errors import describe
from ..pipeline.faces import Detections, combine_faces, subset
from ..pipeline.measure import AlignedIdentity, quality_vs_truth
from ..pipeline.restore import EnhanceResult
from ..service import ModelService, device_label
from ._thread import LoopWorker
from .requests import (DetectOutcome, DetectRequest, EnhanceOutcome, EnhanceRequest, FaceMeasure, GridOutcome,
                       GridRequest, GridTile, RequestKind)

__all__ = ["DetectOutcome", "DetectRequest", "EnhanceOutcome", "EnhanceRequest", "FaceMeasure", "GridOutcome",
           "GridRequest", "GridTile", "InferenceWorker", "RequestKind"]
KINDS = {DetectRequest: RequestKind.DETECT, EnhanceRequest: RequestKind.ENHANCE, GridRequest: RequestKind.GRID}


class InferenceWorker(LoopWorker):
    """Owns one QThread for the app's lifetime; call :meth:`start` once and :meth:`stop` on close.

    ``models``: the :class:`~facesr_gui.service.ModelService` to run on; without one it is built
    from ``catalogue`` (fixed model list, tests; default :func:`~facesr_gui.catalog.list_models`,
    re-read by :meth:`refresh_models`), ``loader(entry, device) -> nn.Module`` and
    ``detect_fn(image) -> Detections`` (replaces MTCNN in tests).
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
                 parent=None, models: ModelService | None = None):
        super().__init__(parent)
        self.service = models if models is not None else ModelService(catalogue, loader, device, detect_fn)
        self._identity = AlignedIdentity()

    # --- public API (GUI thread) ------------------------------------------------------------
    def models(self) -> list[ModelEntry]:
        return self.service.models()

    def default_model_id(self) -> str:
        """The model a fresh GUI starts on: the manifest's first, else bicubic."""
        return self.service.default_model_id()

    def refresh_models(self) -> list[ModelEntry]:
        """Re-read the catalogue (a model registered from the Training tab appears); emits ``models_changed``."""
        entries = self.service.refresh()
        self.models_changed.emit()
        return entries

    def cuda_available(self) -> bool:
        return self.service.cuda_available()

    @property
    def device(self) -> torch.device:
        return self.service.device()[0]

    def half(self) -> bool:
        return self.service.device()[1]

    def device_label(self) -> str:
        return self.service.device_label()

    def set_device(self, device: str, half: bool = False) -> bool:
        """Run later requests on ``"cpu"`` or ``"cuda"`` (fp16 only on CUDA); False if unavailable."""
        if not self.service.set_device(device, half):
            return False
        self.device_changed.emit(self.device_label())
        return True

    def is_busy(self) -> bool:
        return self._requests.busy()

    def submit(self, request: DetectRequest | EnhanceRequest | GridRequest) -> int:
        """Queue ``request`` (replacing a pending one of its kind); returns its request id."""
        return self._requests.submit(KINDS[type(request)], request)

    def detect(self, image: np.ndarray) -> int:
        return self.submit(DetectRequest(image))

    def enhance(self, image: np.ndarray, model_id: str, **kwargs) -> int:
        return self.submit(EnhanceRequest(image, model_id, **kwargs))

    def run_grid(self, image: np.ndarray, model_ids: list[str], face_id: int, **kwargs) -> int:
        return self.submit(GridRequest(image, tuple(model_ids), face_id, **kwargs))

    def cancel(self) -> None:
        """Drop pending requests; the running one stops at its next check."""
        self._requests.cancel()

    def stop(self, timeout_ms: int = 5000) -> bool:
        """Ask the thread to finish and wait for it (a running request sees it superseded); True if it
        stopped in time."""
        return super().stop(timeout_ms)

    # --- thread loop -------------------------------------------------------------------------
    def _handle(self, kind: RequestKind, request_id: int, request) -> None:
        handlers = {RequestKind.DETECT: self._detect, RequestKind.ENHANCE: self._enhance, RequestKind.GRID: self._grid}
        try:
            self.service.run(lambda dev, half: handlers[kind](request_id, request, dev, half), self._on_fallback)
        except InterruptedError:
            pass
        except ModelUnavailable as exc:
            self.errored.emit(request_id, str(exc))
        except Exception as exc:  # noqa: BLE001 - anything a model raises goes to the UI
            self.errored.emit(request_id, describe(exc))

    def _on_fallback(self, message: str) -> None:
        self.notified.emit(message)
        self.device_changed.emit(self.device_label())

    def _stopper(self, kind: RequestKind) -> Callable[[], bool]:
        return lambda: self._requests.superseded(kind)

    def _check(self, kind: RequestKind) -> None:
        if self._requests.superseded(kind):
            raise InterruptedError("superseded")

    def _restorer(self, model_id: str, device: torch.device, half: bool, **options):
        restorer = self.service.restorer(model_id, device, half,
                                         on_load=lambda e: self.progressed.emit(0.05, f"loading {e.label}"))
        return restorer.with_options(**options)

    # --- handlers ----------------------------------------------------------------------------
    def _detect(self, request_id: int, req: DetectRequest, device: torch.device, _half: bool) -> None:
        self.progressed.emit(0.2, "detecting faces")
        t0 = time.perf_counter()
        dets = self.service.find_faces(req.image, device)
        self._check(RequestKind.DETECT)
        self.progressed.emit(1.0, f"{len(dets)} faces found")
        self.detected.emit(DetectOutcome(request_id, dets, time.perf_counter() - t0, device_label(device)))

    def _enhance(self, request_id: int, req: EnhanceRequest, device: torch.device, half: bool) -> None:
        restorer = self._restorer(req.model_id, device, half, mask=req.mask, flip_ensemble=req.flip_ensemble)
        t0 = time.perf_counter()
        faces = combine_faces(req.detections, req.manual_boxes)
        detect_s = 0.0
        if req.detections is None and (req.manual_boxes is None or not len(req.manual_boxes)):
            faces = self.service.find_faces(req.image, device)
            detect_s = time.perf_counter() - t0
        ids = list(range(len(faces))) if req.selected is None else [i for i in req.selected if 0 <= i < len(faces)]
        self.progressed.emit(0.1, f"enhancing {len(ids)} faces with {req.model_id}")
        result = restorer.enhance(req.image, subset(faces, ids), upscale=req.upscale,
                                  progress=lambda f, m: self.progressed.emit(0.1 + 0.8 * f, m),
                                  should_stop=self._stopper(RequestKind.ENHANCE))
        result.timings["detect"] = detect_s
        self._check(RequestKind.ENHANCE)
        self.progressed.emit(1.0, "done")
        self.enhanced.emit(EnhanceOutcome(request_id, req.model_id, result, ids, time.perf_counter() - t0,
                                          device_label(device, restorer.half), req.image))
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
            self._check(RequestKind.ENHANCE)
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
            self._check(RequestKind.GRID)
            self.progressed.emit(i / len(req.model_ids), f"model grid: {model_id}")
            try:
                restorer = self._restorer(model_id, device, half, flip_ensemble=req.flip_ensemble)
                face = restorer.enhance(req.image, one, should_stop=self._stopper(RequestKind.GRID))
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
