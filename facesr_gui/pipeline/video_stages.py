"""The threads of :func:`.video.enhance_video`: decode -> detect/track -> (caller: restore) -> encode.

Four stages run at once, joined by bounded queues of ``max_queue`` items, so no stage holds more
than a few frames and memory stays flat over any length of video:

* **decode** (:class:`VideoReader`) puts ``(index, pts, rgb)`` frames;
* **detect** (:class:`FrameTracker`) finds the faces of each frame (whole-frame detection or the
  regions around the tracks, :mod:`.regions`), updates the tracker and puts a :class:`Tracked`;
* the **caller's thread** restores each tracked frame (:class:`FrameRestorer`: SR and paste-back);
* **encode** (:class:`VideoWriter`) writes the restored frames.

Detection of frame ``t + 1`` needs only the tracks of frame ``t``, never its restored image, so it
runs while frame ``t`` is restored: on two CPU cores the two halves of the work (each ~130 ms a
frame on the 480p street clip with one thread) overlap instead of taking turns, and the Python
parts of each (crops, NMS, alignment, paste) no longer leave a core idle. The output is the same
as one thread doing both, frame for frame: nothing either stage computes depends on timing.
"""
from __future__ import annotations

import functools
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from ..memory import limit_malloc_arenas, trim_malloc
from .motion import MotionGate, track_rects
from .track import FaceTracker, SceneCutDetector, TrackedFaces
from .video_io import VideoReader, VideoWriter

if TYPE_CHECKING:
    from .restore import EnhanceResult, FaceRestorer
    from .stabilise import FaceStabiliser
    from .video import VideoReport

END = object()   # the end of a queue's items
TRIM_EVERY = 25   # frames between two malloc_trim calls (facesr_gui.memory)


@dataclass
class Tracked:
    """One decoded frame with its faces, as the detect stage hands it on.

    ``index``: the frame's index in the whole video; ``rgb``: the frame, ``(H, W, 3)`` uint8 RGB; ``faces``: the tracker's output for it; ``cut``:
    a scene cut starts here (the restorer resets its stabiliser); ``tracks_started``: the tracker's
    count of tracks ever started, just after this frame (what the tracks of a part are counted from)."""

    index: int
    rgb: np.ndarray
    faces: TrackedFaces
    cut: bool
    tracks_started: int


# Whole-frame detections look for faces from SMALLEST_SHARE of the smallest face found so far (the
# pyramid's levels for smaller ones are left out, FaceDetector.start_level), except every
# FULL_PYRAMID_EVERY-th one, at scene cuts and until a face was found: those look down to the detector's
# smallest face. On the 480p street clip (faces of 12-63 px; the detector looks down to 6 px at its 2x
# zoom) a whole-frame detection then costs 294 instead of 430 ms, and finds 287 of the 288 faces the
# whole pyramid finds in 50 frames.
SMALLEST_SHARE = 0.75
FULL_PYRAMID_EVERY = 4
# A whole-frame detection that starts no new track (every face it found was tracked already, or none)
# moves the next one a frame further away, up to BACKOFF x detect_every; one that does brings the
# cadence back to detect_every. On the 480p street clip, where faces keep coming, that is 18 whole
# frames per 100 instead of 25.7 at the same recall (0.963 vs 0.965, three phases); a quiet corridor
# backs off to every 8th. detect_every 1 stays every frame.
BACKOFF = 2
# A fixed camera: whole-frame detections other than the complete ones (every FULL_PYRAMID_EVERY-th, at cuts and
# the first) look only where the frame changed since the previous whole-frame detection and around the tracked
# faces (:mod:`.motion`); where those rectangles would cover most of the frame, the whole frame is detected.


class FrameTracker:
    """Detect (the whole frame every ``detect_every``-th frame, backing off to ``BACKOFF`` times that while
    no new face appears, at scene cuts and at the first frame; else around the tracked faces, or not at
    all without ``regions``) and track one frame; adds the detection time, cuts and whole-frame detections to ``report``. ``offset``: what
    turns a decoded frame's index into its index in the whole video (a part's first frame,
    :class:`~.video.Segment`); ``phase``: the second whole-frame detection comes that many frames after
    the first (default ``detect_every``). Whole-frame detections choose their pyramid from the face sizes seen
    (``SMALLEST_SHARE``); with ``motion_gate`` (and ``detect_every`` over 1), all but every
    ``FULL_PYRAMID_EVERY``-th look only at the parts of the frame that changed since the previous one and
    around the tracks (:mod:`.motion`)."""

    def __init__(self, restorer: FaceRestorer, tracker: FaceTracker, detect_every: int,
                 scene_cut: float | None, report: VideoReport, regions: bool = True, offset: int = 0,
                 phase: int = 0, motion_gate: bool = True) -> None:
        self.restorer, self.tracker, self.detect_every, self.offset = restorer, tracker, detect_every, offset
        self.is_cut = SceneCutDetector(scene_cut) if scene_cut is not None else (lambda rgb: False)
        self.report, self.regions, self.phase = report, regions, phase
        self.smallest: float | None = None   # side of the smallest face a whole-frame detection found, px
        self.motion = MotionGate() if motion_gate and detect_every > 1 else None   # 1: every frame whole, as asked
        # the cadence now, and its next whole frame (None: the first frame taken in, a part's too, is detected whole)
        self.interval, self.next_whole = detect_every, None

    def _detect_whole(self, rgb: np.ndarray, cut: bool):
        complete = cut or self.report.full_detections % FULL_PYRAMID_EVERY == 0
        min_face = None if complete or self.smallest is None else SMALLEST_SHARE * self.smallest
        rects = None
        if self.motion is not None and complete:
            self.motion.set_reference(rgb)
        elif self.motion is not None:
            rects = self.motion.changed(rgb, extra=track_rects(self.tracker.peek(), *rgb.shape[:2]))
        if rects is None:
            found = self.restorer.detect(rgb, min_face=min_face)
        else:
            found = self.restorer.detect_in(rgb, rects, min_face=min_face)
            self.report.gated_detections += 1
        if len(found):
            side = float(np.maximum(found.boxes[:, 2] - found.boxes[:, 0], found.boxes[:, 3] - found.boxes[:, 1]).min())
            self.smallest = side if self.smallest is None else min(self.smallest, side)
        return found

    def __call__(self, index: int, rgb: np.ndarray) -> Tracked:
        report, t0, index = self.report, time.perf_counter(), index + self.offset
        cut = bool(self.is_cut(rgb))
        if cut:
            self.tracker.reset()
            report.scene_cuts += 1
        first = self.next_whole is None
        if cut or first or index >= self.next_whole:
            started = self.tracker.tracks_started
            faces = self.tracker.update(self._detect_whole(rgb, cut))
            report.full_detections += 1
            new = cut or self.tracker.tracks_started > started
            slowest = BACKOFF * self.detect_every if self.detect_every > 1 else 1   # 1: every frame, as asked
            self.interval = self.detect_every if new else min(self.interval + 1, slowest)
            self.next_whole = index + (self.phase if first and self.phase > 0 else self.interval)
        elif self.regions and len(predicted := self.tracker.peek()):
            # a face not found around its track coasts on it until the tracker drops it; the next
            # whole-frame detection finds it again where it went (see video.DEFAULT_DETECT_EVERY)
            found, _ = self.restorer.detect_near(rgb, predicted)
            faces = self.tracker.update(found)
        else:
            faces = self.tracker.predict()
        report.timings["detect"] += time.perf_counter() - t0
        return Tracked(index, rgb, faces, cut, self.tracker.tracks_started)


class FrameRestorer:
    """Restore one tracked frame (SR, paste-back, the stabiliser, reset at cuts); adds the stage
    times and face counts to ``report``."""

    def __init__(self, restorer: FaceRestorer, upscale: int, report: VideoReport,
                 stabiliser: FaceStabiliser | None = None) -> None:
        self.restorer, self.upscale, self.report, self.stabiliser = restorer, upscale, report, stabiliser
        # nothing looks at a video face's maps but a parsing mask made from them: without, the SR network
        # computes the image only (:meth:`~.restore.FaceRestorer.enhance`, keep_maps)
        self.keep_maps = None if getattr(restorer, "mask", "ellipse") == "parsing" else False

    def __call__(self, item: Tracked) -> EnhanceResult:
        report, tracked = self.report, item.faces
        if item.cut and self.stabiliser is not None:
            self.stabiliser.reset()
        # a frame once started is finished (a stop request ends the video after it): the output then
        # holds every frame taken in
        refine = (None if self.stabiliser is None
                  else functools.partial(self.stabiliser, item.index, track_ids=tracked.ids))
        result = self.restorer.enhance(item.rgb, detections=tracked.detections, upscale=self.upscale, refine=refine,
                                       keep_maps=self.keep_maps)
        result.track_ids = tracked.ids
        report.timings["sr"] += result.timings.get("sr", 0.0)
        report.timings["paste"] += result.timings.get("paste", 0.0)
        n = sum(f.skipped is None for f in result.faces)
        report.faces_total += n
        report.faces_max = max(report.faces_max, n)
        report.frames_with_faces += n > 0
        return result


class Stage(threading.Thread):
    """A daemon thread running ``fn``; its exception is kept for the main thread to raise."""

    def __init__(self, fn: Callable[[], None], name: str) -> None:
        super().__init__(name=name, daemon=True)
        self._fn, self.exc = fn, None

    def run(self) -> None:
        try:
            self._fn()
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread
            self.exc = exc


def put(q: queue.Queue, item, abort: threading.Event, consumer: threading.Thread | None = None) -> bool:
    """Blocking put that gives up (False) once ``abort`` is set or the ``consumer`` thread died."""
    while not abort.is_set() and (consumer is None or consumer.is_alive()):
        try:
            q.put(item, timeout=0.1)
            return True
        except queue.Full:
            continue
    return False


def get(q: queue.Queue, producer: Stage):
    """Next item from ``producer``; :data:`END` when it died without sending one."""
    while True:
        try:
            return q.get(timeout=0.1)
        except queue.Empty:
            if not producer.is_alive() and q.empty():
                return END


def put_end(q: queue.Queue, consumer: Stage) -> None:
    while consumer.is_alive():
        try:
            q.put(END, timeout=0.1)
            return
        except queue.Full:
            continue


class Pipeline:
    """The decode, detect and encode threads around the caller's restore loop (module docstring)."""

    def __init__(self, reader: VideoReader, track: FrameTracker, writer: VideoWriter, report: VideoReport,
                 max_queue: int) -> None:
        limit_malloc_arenas()   # no effect where an entry point set it already (facesr_gui.memory)
        self.reader, self.track, self.writer, self.report = reader, track, writer, report
        self.abort = threading.Event()
        self.decoded: queue.Queue = queue.Queue(max_queue)
        self.tracked: queue.Queue = queue.Queue(max_queue)
        self.restored: queue.Queue = queue.Queue(max_queue)
        self.decoder, self.detector = Stage(self._decode, "video-decode"), Stage(self._detect, "video-detect")
        self.encoder = Stage(self._encode, "video-encode")
        for stage in (self.decoder, self.detector, self.encoder):
            stage.start()

    def _decode(self) -> None:
        it = iter(self.reader)
        while not self.abort.is_set():
            t0 = time.perf_counter()
            item = next(it, END)
            self.report.timings["decode"] += time.perf_counter() - t0
            if not put(self.decoded, item, self.abort) or item is END:
                return

    def _detect(self) -> None:
        while not self.abort.is_set():
            item = get(self.decoded, self.decoder)
            if item is not END:
                index, _pts, rgb = item
                item = self.track(index, rgb)
            if not put(self.tracked, item, self.abort) or item is END:
                return

    def _encode(self) -> None:
        written = 0
        while True:
            item = self.restored.get()
            if item is END:
                return
            t0 = time.perf_counter()
            self.writer.write(item)
            written += 1
            if written % TRIM_EVERY == 0:
                trim_malloc()
            self.report.timings["encode"] += time.perf_counter() - t0

    def frames(self):
        """Each :class:`Tracked` frame until the end (or a stage before died)."""
        while True:
            item = get(self.tracked, self.detector)
            if item is END:
                return
            yield item

    def write(self, rgb) -> bool:
        """Queue one output frame; False when the encoder died."""
        return put(self.restored, rgb, self.abort, self.encoder)

    def close(self, complete: bool, error: BaseException | None) -> BaseException | None:
        """Stop the decoder and the detector, drain the encoder, close both files; returns the first error."""
        self.abort.set()  # the decoder and the detector stop at their next frame
        self.decoder.join()
        self.detector.join()
        put_end(self.restored, self.encoder)
        self.encoder.join()
        try:
            self.writer.close(complete=complete)
        except BaseException as exc:  # noqa: BLE001 - the first error wins; raised by the caller
            error = error or exc
        self.reader.close()
        return error or self.decoder.exc or self.detector.exc or self.encoder.exc
