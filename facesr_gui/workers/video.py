"""The video thread: scrubber frames, face-detection previews and whole-video processing.

:class:`VideoWorker` owns one long-lived QThread (the :class:`~.inference.InferenceWorker`
pattern). Frame requests (:meth:`VideoWorker.request_frame`) are *latest-wins*: while the
user drags the scrubber only the newest position is decoded. A processing job
(:meth:`VideoWorker.process`) runs :func:`facesr_gui.pipeline.video.enhance_video` on the
same thread; frame requests made meanwhile wait for it. The restorer
(:func:`~facesr_gui.catalog.load_restorer`) and the MTCNN detector are built on
that thread and kept for the next job.

Every job ends with exactly one of ``finished(VideoReport)``, ``cancelled(VideoReport |
None)`` (the report names the partial output; None when cancelled before the first
frame) or ``errored(str)``. While it runs: ``progressed(fraction, message)``,
``frames_progressed(done, total, eta_seconds)`` and, at most :data:`PREVIEW_PER_SECOND`
times a second, ``frame_previewed(PreviewFrame)``. Signals carry numpy arrays and
dataclasses, never pixmaps or tensors.

Frames are ``(H, W, 3)`` uint8 RGB numpy arrays throughout.
"""
from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from collections.abc import Callable

import cv2
import numpy as np
from PySide6.QtCore import QMutex, QMutexLocker, QObject, QWaitCondition, Signal, SignalInstance

from ..catalog import load_restorer
from ..pipeline.detect import FaceDetector
from ..pipeline.restore import FaceRestorer
from ..pipeline.video import VideoError, VideoInfo, VideoReport, enhance_video, partial_path, probe_video
from ._thread import LoopThread

__all__ = ["DecodedFrame", "FrameReader", "PreviewFrame", "VideoError", "VideoInfo", "VideoJob", "VideoReport",
           "VideoWorker", "default_output", "partial_path", "probe_video", "read_frame"]

PREVIEW_PER_SECOND = 4.0
PREVIEW_MAX_SIDE = 960   # enhanced previews are shrunk to this long side before they cross threads


def default_output(src: str | Path, suffix: str = ".mkv", fallback_dir: str | Path | None = None) -> Path:
    """``clip.mp4`` -> ``clip_facesr.mkv`` beside the source, or in ``fallback_dir`` when the source's
    folder is not writable (a camera card, a network share mounted read-only)."""
    src = Path(src)
    out = src.with_name(f"{src.stem}_facesr{suffix}")
    if fallback_dir is not None and not os.access(out.parent, os.W_OK):
        return Path(fallback_dir) / out.name
    return out


class FrameReader:
    """Random access to one video's frames with OpenCV (the scrubber preview).

    Keeps the capture open between calls: reading ``index + 1`` after ``index`` costs one
    decode; any other index seeks (OpenCV decodes forward from the previous keyframe, so
    frame ``i`` is the same frame :func:`~facesr_gui.pipeline.video.iter_frames` yields as ``i``).
    """

    def __init__(self) -> None:
        self._path: Path | None = None
        self._cap: cv2.VideoCapture | None = None
        self._next = -1

    def read(self, path: str | Path, index: int) -> np.ndarray:
        """Frame ``index`` of ``path`` as ``(H, W, 3)`` uint8 RGB; raises :class:`VideoError`."""
        path = Path(path)
        if path != self._path or self._cap is None:
            self.close()
            if not path.is_file():
                raise VideoError(path, "file not found")
            cap = cv2.VideoCapture(str(path))
            if not cap.isOpened():
                raise VideoError(path, "not a readable video (OpenCV could not open it)")
            self._path, self._cap, self._next = path, cap, 0
        if index < 0:
            raise VideoError(path, f"no frame {index}")
        if index != self._next:
            self._cap.set(cv2.CAP_PROP_POS_FRAMES, index)
        ok, bgr = self._cap.read()
        if not ok or bgr is None:
            self._next = -1
            raise VideoError(path, f"frame {index} could not be decoded (past the end, or damaged)")
        self._next = index + 1
        return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)

    def close(self) -> None:
        if self._cap is not None:
            self._cap.release()
        self._path, self._cap, self._next = None, None, -1


def read_frame(path: str | Path, index: int) -> np.ndarray:
    """One frame, ``(H, W, 3)`` uint8 RGB (opens and closes the file; see :class:`FrameReader`)."""
    reader = FrameReader()
    try:
        return reader.read(path, index)
    finally:
        reader.close()


@dataclass(frozen=True)
class FrameRequest:
    path: Path
    index: int
    detect: bool = False
    device: str = "cpu"


@dataclass(frozen=True, eq=False)
class DecodedFrame:
    """A scrubber frame: ``rgb`` ``(H, W, 3)`` uint8 RGB; ``boxes`` ``(K, 4)`` float32
    ``x0, y0, x1, y1`` in frame pixels and ``scores`` ``(K,)`` when detection was asked for, else None."""

    path: Path
    index: int
    rgb: np.ndarray
    boxes: np.ndarray | None = None
    scores: np.ndarray | None = None


@dataclass(frozen=True, eq=False)
class PreviewFrame:
    """An enhanced frame during processing: ``index`` in the source, ``rgb`` ``(h, w, 3)``
    uint8 RGB shrunk to at most :data:`PREVIEW_MAX_SIDE` on its long side."""

    index: int
    rgb: np.ndarray


@dataclass(frozen=True)
class VideoJob:
    """What to process: ``src`` -> ``dst`` with ``model_id`` (see ``load_restorer``).

    ``upscale``: whole-frame output scale (1-4); ``detect_every``: run MTCNN every N-th
    frame and track in between; ``mask``: ``"ellipse"`` or ``"parsing"``; ``max_frames``:
    only the first frames (None: all); ``flip_ensemble``: see :class:`FaceRestorer`.
    """

    src: Path
    dst: Path
    model_id: str = "bicubic"
    upscale: int = 1
    detect_every: int = 1
    mask: str = "ellipse"
    device: str = "cpu"
    half: bool = False
    max_frames: int | None = None
    flip_ensemble: bool = False


def shrink(rgb: np.ndarray, max_side: int = PREVIEW_MAX_SIDE) -> np.ndarray:
    """``rgb`` resized (area) so its long side is at most ``max_side``; a copy either way."""
    h, w = rgb.shape[:2]
    if max(h, w) <= max_side:
        return rgb.copy()
    f = max_side / max(h, w)
    return cv2.resize(rgb, (max(1, round(w * f)), max(1, round(h * f))), interpolation=cv2.INTER_AREA)


class VideoWorker(QObject):
    """Call :meth:`start` once and :meth:`stop` on close (it cancels a running job and waits).

    ``loader(model_id, device, half, **kw) -> FaceRestorer`` may be injected (tests).
    """

    frame_decoded = Signal(object)            # DecodedFrame
    frame_failed = Signal(str)                # a scrubber frame could not be read/detected
    progressed = Signal(float, str)           # fraction in [0, 1], message with speed and ETA
    frames_progressed = Signal(int, int, float)  # frames done, total (0 unknown), ETA seconds (-1 unknown)
    frame_previewed = Signal(object)          # PreviewFrame, throttled
    finished = Signal(object)                 # VideoReport of a complete run
    cancelled = Signal(object)                # VideoReport with the partial output, or None
    errored = Signal(str)

    def __init__(self, loader: Callable[..., FaceRestorer] = load_restorer, parent=None):
        super().__init__(parent)
        self._loader = loader
        self._mutex = QMutex()
        self._cond = QWaitCondition()
        self._pending_frame: FrameRequest | None = None
        self._pending_job: VideoJob | None = None
        self._running_job = False
        self._cancel = threading.Event()
        self._restorer: FaceRestorer | None = None
        self._restorer_key: tuple | None = None
        self._detectors: dict[str, FaceDetector] = {}
        self._frames = FrameReader()
        self._thread = LoopThread(self._run, self)

    # --- GUI-thread API -----------------------------------------------------------------------
    def start(self) -> None:
        self._thread.start()

    def is_running(self) -> bool:
        return self._thread.isRunning()

    def is_processing(self) -> bool:
        with QMutexLocker(self._mutex):
            return self._running_job or self._pending_job is not None

    def request_frame(self, path: str | Path, index: int, detect: bool = False, device: str = "cpu") -> None:
        """Decode frame ``index`` (and detect faces on it); replaces a request not yet started."""
        with QMutexLocker(self._mutex):
            self._pending_frame = FrameRequest(Path(path), int(index), detect, device)
            self._cond.wakeOne()

    def process(self, job: VideoJob) -> None:
        """Queue ``job``; it runs after the frame being decoded now, if any."""
        with QMutexLocker(self._mutex):
            self._cancel.clear()
            self._pending_job = job
            self._cond.wakeOne()

    def cancel(self) -> None:
        """Stop the job at the next frame; it ends with ``cancelled``."""
        self._cancel.set()

    def stop(self, timeout_ms: int = 10000) -> bool:
        """Cancel, end the thread and wait for it; True if it stopped in time."""
        self._thread.requestInterruption()
        self._cancel.set()
        with QMutexLocker(self._mutex):
            self._pending_frame = None
            self._cond.wakeAll()
        self._thread.quit()
        stopped = self._thread.wait(timeout_ms)
        if stopped:
            self._frames.close()
        return stopped

    # --- worker thread --------------------------------------------------------------------------
    def _interrupted(self) -> bool:
        return self._thread.isInterruptionRequested()

    def _run(self) -> None:
        while True:
            with QMutexLocker(self._mutex):
                while self._pending_frame is None and self._pending_job is None and not self._interrupted():
                    self._cond.wait(self._mutex)
                job, frame = self._pending_job, None
                if job is not None:
                    self._pending_job, self._running_job = None, True
                elif not self._interrupted():
                    frame, self._pending_frame = self._pending_frame, None
            if job is not None:
                try:
                    signal, payload = self._run_job(job)
                finally:
                    with QMutexLocker(self._mutex):
                        self._running_job = False
                signal.emit(payload)     # after the flag: is_processing() is False in the slots
            elif frame is not None:
                self._decode(frame)
            if self._interrupted():
                return

    def _detector(self, device: str) -> FaceDetector:
        if device not in self._detectors:
            self._detectors[device] = FaceDetector(device=device)
        return self._detectors[device]

    def _decode(self, req: FrameRequest) -> None:
        try:
            rgb = self._frames.read(req.path, req.index)
            boxes = scores = None
            if req.detect:
                det = self._detector(req.device).detect(rgb)
                boxes, scores = det.boxes.copy(), det.scores.copy()
        except Exception as exc:  # noqa: BLE001 - shown in the tab, never a crash
            self.frame_failed.emit(str(exc) if isinstance(exc, VideoError) else f"{type(exc).__name__}: {exc}")
            return
        self.frame_decoded.emit(DecodedFrame(req.path, req.index, rgb, boxes, scores))

    def _load(self, job: VideoJob) -> FaceRestorer:
        key = (job.model_id, job.device, job.half)
        if self._restorer is None or self._restorer_key != key:
            self._restorer = None   # free the previous model first
            self._restorer = self._loader(job.model_id, job.device, job.half, detector=self._detector(job.device))
            self._restorer_key = key
        self._restorer.mask = job.mask
        self._restorer.flip_ensemble = job.flip_ensemble
        return self._restorer

    def _run_job(self, job: VideoJob) -> tuple[SignalInstance, object]:
        """Run ``job``; returns the terminal signal to emit and its argument."""
        try:
            if job.src.resolve() == job.dst.resolve():
                raise VideoError(job.dst, "the output must not overwrite the video being read")
            info = probe_video(job.src)
            if self._cancel.is_set():
                return self.cancelled, None
            self.progressed.emit(0.0, f"loading {job.model_id}")
            restorer = self._load(job)
            if self._cancel.is_set():
                return self.cancelled, None
            report = self._enhance(job, info, restorer)
        except Exception as exc:  # noqa: BLE001 - every failure is reported, the thread lives on
            return self.errored, _describe(exc)
        if report.cancelled:
            return self.cancelled, (report if report.output is not None else None)
        return self.finished, report

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

        return enhance_video(job.src, job.dst, restorer, upscale=job.upscale, detect_every=job.detect_every,
                             progress=progress, should_stop=self._cancel.is_set, max_frames=job.max_frames,
                             on_frame=on_frame)


def _describe(exc: BaseException) -> str:
    """A one-line message for the user (:func:`facesr_gui.errors.describe`, the CLI's too)."""
    from ..errors import describe

    return describe(exc)
