"""The composition root of the desktop app: builds the workers and hands them to the main window.

The UI (:mod:`facesr_gui.ui`) never imports torch, so it never builds a worker itself; the
entry point (``facesr-gui``), the self-test and the screenshot script call :func:`create_window`.
The inference, video and batch workers share one :class:`~facesr_gui.service.ModelService` (one
owner of the loaded models).
"""
from __future__ import annotations

from .ui.main_window import MainWindow
from .workers.batch import BatchWorker
from .workers.inference import InferenceWorker
from .workers.training import TrainingWorker
from .workers.video import VideoWorker


def create_window(worker: InferenceWorker | None = None) -> MainWindow:
    """The main window over ``worker`` (default: a new :class:`InferenceWorker` on the catalogue)."""
    worker = worker if worker is not None else InferenceWorker()
    return MainWindow(worker, VideoWorker(worker.service), TrainingWorker(), batch_worker=BatchWorker(worker.service))
