"""The batch thread: "Enhance all" of the Photos tab, on the engine behind ``facesr enhance``.

:class:`BatchWorker` runs :func:`facesr_gui.pipeline.engine.enhance_paths` on its own long-lived
QThread (:class:`~._thread.LoopWorker`) with a restorer from the window's
:class:`~facesr_gui.service.ModelService` (shared with the Photos and Video tabs, so a model the
Photos tab loaded is not loaded twice), on the service's current device. The engine plans the
output names (never overwriting a file) and records each input's outcome; this module only moves
its progress and reports onto signals.

Every batch ends with exactly one of ``finished(BatchReport)`` (also after a cancel: the inputs not
done are ``"cancelled"``) or ``failed(str)`` (nothing ran: the model could not be loaded, a bad
option). While it runs: ``progressed(fraction, message)`` over the whole batch and
``item_done(ItemReport)`` after each input, in input order.
"""
from __future__ import annotations

import threading

from PySide6.QtCore import Signal

from ..errors import describe
from ..pipeline import accel
from ..pipeline.engine import enhance_paths
from ..pipeline.restore import FaceRestorer
from ..service import ModelService
from ._thread import LoopWorker
from .batch_jobs import BatchRequest

__all__ = ["BatchRequest", "BatchWorker"]


class BatchWorker(LoopWorker):
    """Call :meth:`start` once and :meth:`stop` on close (it cancels a running batch and waits).

    ``models``: the :class:`~facesr_gui.service.ModelService` restorers come from (default: a new one).
    """

    progressed = Signal(float, str)   # fraction of the whole batch in [0, 1], message
    item_done = Signal(object)        # ItemReport, one per input in input order
    finished = Signal(object)         # BatchReport (cancelled inputs included)
    failed = Signal(str)              # nothing ran; one line for the user
    notified = Signal(str)            # something the user should know (the batch went on on the CPU)
    device_changed = Signal(str)      # device label, after such a fallback

    def __init__(self, models: ModelService | None = None, parent=None):
        super().__init__(parent)
        self.service = models if models is not None else ModelService()
        self._cancel = threading.Event()

    # --- GUI-thread API -----------------------------------------------------------------------
    def is_busy(self) -> bool:
        """A batch is queued or running."""
        return self._requests.busy()

    def enhance_all(self, request: BatchRequest) -> None:
        """Queue ``request`` (replacing one not yet started); starts the thread if needed."""
        if not self.is_running():
            self.start()
        self._cancel.clear()
        self._requests.submit(BatchRequest, request)

    def cancel(self) -> None:
        """Stop at the next check: the input being processed and those left end ``"cancelled"``."""
        self._cancel.set()

    # --- worker thread --------------------------------------------------------------------------
    def _cancel_running(self) -> None:
        self._cancel.set()

    def _handle(self, _kind, _request_id, request: BatchRequest):
        signal, payload = self._run_batch(request)
        return lambda: signal.emit(payload)     # after done(): is_busy() is False in the slots

    def _restorer(self, request: BatchRequest) -> FaceRestorer:
        """The request's model (cached by the service) on the service's device, with its options."""
        device, half = self.service.device()
        restorer = self.service.restorer(request.model_id, device, half, backend="auto")   # a long job
        return restorer.with_options(mask=request.mask, flip_ensemble=request.flip_ensemble)

    def _on_cpu(self, request: BatchRequest) -> FaceRestorer:
        """An input ran out of GPU memory: the service moves to the CPU (as the Photos tab's worker does) and
        the batch goes on there, that input first."""
        self.service.fall_back_to_cpu(self.notified.emit)
        self.device_changed.emit(self.service.device_label())
        return self._restorer(request)

    def _run_batch(self, request: BatchRequest):
        """Run ``request``; returns the terminal signal and its argument."""
        try:
            self.progressed.emit(0.0, f"loading {request.model_id}{accel.first_use_note()}")
            restorer = self._restorer(request)
            on_gpu = self.service.device()[0].type == "cuda"
            report = enhance_paths(request.inputs, request.out_dir, restorer, request.upscale,
                                   progress=self.progressed.emit, should_stop=self._cancel.is_set,
                                   on_item=self.item_done.emit, quality=request.quality,
                                   provenance=request.provenance,
                                   fallback=(lambda: self._on_cpu(request)) if on_gpu else None)
        except Exception as exc:  # noqa: BLE001 - every failure is reported, the thread lives on
            return self.failed, describe(exc)
        return self.finished, report
