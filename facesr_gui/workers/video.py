"""The video thread: scrubber frames, face-detection previews and whole-video processing.

:class:`VideoWorker` owns one long-lived QThread (:class:`~._thread.LoopWorker`, as the
Photos tab's worker does). Frame requests (:meth:`VideoWorker.request_frame`)
are *latest-wins*: while the user drags the scrubber only the newest position is decoded. A
processing job (:meth:`VideoWorker.process`) runs :func:`facesr_gui.pipeline.video.enhance_video`
on the same thread and goes before frame requests. Restorers and detectors come from a
:class:`~facesr_gui.service.ModelService` (shared with the Photos tab's worker when the window
passes one), which keeps them for the next job.

CUDA out of memory during a job (loading the model or any frame): the service drops its GPU models and
moves to the CPU (:meth:`~facesr_gui.service.ModelService.fall_back_to_cpu`, as the Photos and batch
workers do), ``notified(message)`` and ``device_changed(label)`` say so, and the job runs again from
the first frame on the CPU into the same ``.partial`` file; it ends as any job does.

Every job ends with exactly one of ``finished(VideoReport)``, ``cancelled(VideoReport |
None)`` (the report names the partial output; None when cancelled before the first
frame) or ``errored(str)``. While it runs: ``progressed(fraction, message)``,
``frames_progressed(done, total, eta_seconds)`` and, at most :data:`PREVIEW_PER_SECOND`
times a second, ``frame_previewed(PreviewFrame)``. Signals carry numpy arrays and
dataclasses (:mod:`.video_jobs`), never pixmaps or tensors.

Frames are ``(H, W, 3)`` uint8 RGB numpy arrays throughout.
"""
from __future__ import annotations

import threading
import time
from dataclasses import replace
from pathlib import Path

import torch
from PySide6.QtCore import Signal, SignalInstance

from ..pipeline import accel
from ..pipeline.restore import FaceRestorer
from ..pipeline.video import VideoError, VideoInfo, VideoReport, enhance_video, probe_video
from ..service import ModelService
from ._thread import LoopWorker
from .video_jobs import (PREVIEW_PER_SECOND, DecodedFrame, FrameReader, FrameRequest, PreviewFrame, VideoJob,
                         default_output, partial_path, read_frame, shrink)

__all__ = ["DecodedFrame", "FrameReader", "PreviewFrame", "VideoError", "VideoInfo", "VideoJob", "VideoReport",
           "VideoWorker", "default_output", "partial_path", "probe_video", "read_frame"]


VIDEO_FALLBACK_MESSAGE = "GPU out of memory: switched to the CPU; the video runs again from its first frame"


class VideoWorker(LoopWorker):
    """Call :meth:`start` once and :meth:`stop` on close (it cancels a running job and waits).

    ``models``: the :class:`~facesr_gui.service.ModelService` restorers and detectors come from
    (default: a new one over the catalogue).
    """

    frame_decoded = Signal(object)            # DecodedFrame
    frame_failed = Signal(str)                # a scrubber frame could not be read/detected
    progressed = Signal(float, str)           # fraction in [0, 1], message with speed and ETA
    frames_progressed = Signal(int, int, float)  # frames done, total (0 unknown), ETA seconds (-1 unknown)
    frame_previewed = Signal(object)          # PreviewFrame, throttled
    finished = Signal(object)                 # VideoReport of a complete run
    cancelled = Signal(object)                # VideoReport with the partial output, or None
    errored = Signal(str)
    notified = Signal(str)                    # e.g. the CUDA out-of-memory fallback
    device_changed = Signal(str)              # device label, after such a fallback

    def __init__(self, models: ModelService | None = None, parent=None):
        super().__init__(parent, priority=(VideoJob,))
        self.service = models if models is not None else ModelService()
        self._cancel = threading.Event()
        self._frames = FrameReader()

    # --- GUI-thread API -----------------------------------------------------------------------
    def is_processing(self) -> bool:
        return self._requests.running() is VideoJob or self._requests.pending(VideoJob)

    def request_frame(self, path: str | Path, index: int, detect: bool = False, device: str = "cpu") -> None:
        """Decode frame ``index`` (and detect faces on it); replaces a request not yet started."""
        self._requests.submit(FrameRequest, FrameRequest(Path(path), int(index), detect, device))

    def process(self, job: VideoJob) -> None:
        """Queue ``job``; it runs after the frame being decoded now, if any."""
        self._cancel.clear()
        self._requests.submit(VideoJob, job)

    def cancel(self) -> None:
        """Stop the job at the next frame; it ends with ``cancelled``."""
        self._cancel.set()

    # --- worker thread --------------------------------------------------------------------------
    _DROP_ON_STOP = (FrameRequest,)   # a pending job still runs, to end with `cancelled`

    def _cancel_running(self) -> None:
        self._cancel.set()

    def _stopped(self) -> None:
        self._frames.close()

    def _handle(self, kind, _request_id, request):
        if kind is VideoJob:
            signal, payload = self._run_job(request)
            return lambda: signal.emit(payload)     # after done(): is_processing() is False in the slots
        if not self._thread.isInterruptionRequested():
            self._decode(request)
        return None

    def _decode(self, req: FrameRequest) -> None:
        try:
            rgb = self._frames.read(req.path, req.index)
            boxes = scores = None
            if req.detect:
                det = self.service.find_faces(rgb, req.device)
                boxes, scores = det.boxes.copy(), det.scores.copy()
        except Exception as exc:  # noqa: BLE001 - shown in the tab, never a crash
            self.frame_failed.emit(str(exc) if isinstance(exc, VideoError) else f"{type(exc).__name__}: {exc}")
            return
        self.frame_decoded.emit(DecodedFrame(req.path, req.index, rgb, boxes, scores))

    def _load(self, job: VideoJob) -> FaceRestorer:
        """The job's restorer (cached by the model service) with the job's options."""
        restorer = self.service.restorer(job.model_id, torch.device(job.device), job.half, backend="auto")
        return restorer.with_options(mask=job.mask, flip_ensemble=job.flip_ensemble)

    def _run_job(self, job: VideoJob) -> tuple[SignalInstance, object]:
        """Run ``job``; returns the terminal signal to emit and its argument."""
        try:
            if job.src.resolve() == job.dst.resolve():
                raise VideoError(job.dst, "the output must not overwrite the video being read")
            info = probe_video(job.src)
            if self._cancel.is_set():
                return self.cancelled, None
            out_of_memory = False
            try:
                report = self._load_and_enhance(job, info)
            except torch.cuda.OutOfMemoryError:
                if torch.device(job.device).type != "cuda" or self._cancel.is_set():
                    raise
                out_of_memory = True
            if out_of_memory:   # outside the handler, whose traceback holds the GPU restorer's frames
                self.service.fall_back_to_cpu(self._on_fallback)
                report = self._load_and_enhance(replace(job, device="cpu", half=False), info)
            if report is None:
                return self.cancelled, None
        except Exception as exc:  # noqa: BLE001 - every failure is reported, the thread lives on
            return self.errored, _describe(exc)
        if report.cancelled:
            return self.cancelled, (report if report.output is not None else None)
        return self.finished, report

    def _load_and_enhance(self, job: VideoJob, info: VideoInfo) -> VideoReport | None:
        """The job's run; None when cancelled while its model loaded."""
        self.progressed.emit(0.0, f"loading {job.model_id} on {job.device}{accel.first_use_note()}")
        restorer = self._load(job)
        if self._cancel.is_set():
            return None
        return self._enhance(job, info, restorer)

    def _on_fallback(self, _message: str) -> None:
        self.notified.emit(VIDEO_FALLBACK_MESSAGE)
        self.device_changed.emit(self.service.device_label())

    def _enhance(self, job: VideoJob, info: VideoInfo, restorer: FaceRestorer) -> VideoReport:
        total = min(info.frames, job.max_frames) if job.max_frames is not None else info.frames
        state = {"done": 0, "last_preview": 0.0}
        t_start = time.perf_counter()

        def on_frame(index: int, result) -> None:
            state["done"] += 1
            now = time.perf_counter()
            if index == 0 or now - state["last_preview"] >= 1.0 / PREVIEW_PER_SECOND:
                state["last_preview"] = now
                self.frame_previewed.emit(PreviewFrame(index, shrink(result.image)))

        def progress(fraction: float, message: str) -> None:
            done, elapsed = state["done"], time.perf_counter() - t_start
            eta = (total - done) * elapsed / done if done > 0 and total > 0 else -1.0
            self.progressed.emit(float(fraction), message)
            self.frames_progressed.emit(done, max(total, 0), max(eta, 0.0) if eta >= 0 else -1.0)

        from ..pipeline.stabilise import FaceStabiliser

        return enhance_video(job.src, job.dst, restorer, upscale=job.upscale, detect_every=job.detect_every,
                             progress=progress, should_stop=self._cancel.is_set, max_frames=job.max_frames,
                             on_frame=on_frame, stabiliser=FaceStabiliser() if job.stabilise else None)


def _describe(exc: BaseException) -> str:
    """A one-line message for the user (:func:`facesr_gui.errors.describe`, the CLI's too)."""
    from ..errors import describe

    return describe(exc)
