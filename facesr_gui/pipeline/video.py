"""Video in, video out: a streaming reader, a writer with audio pass-through, and
:func:`enhance_video` (read -> detect/track -> restore -> write).

Frames are ``(H, W, 3)`` uint8 **RGB** numpy arrays, one at a time: no call holds the
whole video in memory (bounded queues of ``max_queue`` frames between the decode, the
restore and the encode thread).

Timestamps: the output is constant frame rate at the source's average rate
(:attr:`VideoInfo.fps`, an exact :class:`~fractions.Fraction`, e.g. 2997/100), in the
source's time base and starting at the source's first timestamp, so a constant-rate
source keeps every frame's timestamp and stays in sync with the copied audio. A
variable-frame-rate source keeps its frame count and average rate (hence its duration),
but its frames are re-timed evenly: the i-th frame is shown at ``start + i / fps``.

Audio: the source's first audio stream is copied packet by packet (no re-encode),
interleaved with the video up to the time of the frames written; after the last frame
the rest is copied, except when cancelled or cut short by ``max_frames`` (the audio
then ends with the video).

Not handled: rotation metadata of phone videos (frames are processed as stored), a
second video stream, subtitles and chapters (not copied).

Cancel and partial output: :func:`enhance_video` encodes into ``<stem>.partial<suffix>``
next to the target and renames it onto the target (``os.replace``, atomic) only when
every frame was written. When cancelled (or on an error, which is then re-raised) the
encoder is flushed and the container closed, so the ``.partial`` file is a valid,
playable video of the frames done so far (deleted when no frame was done); the target
itself is never replaced by an incomplete video. A hard kill of the process leaves an
unfinished ``.partial`` file (no MP4 index), never a broken target. A truncated source is not an
error: the frames that decode are processed, the output is complete for them and the
report says how many frames were missing (:attr:`VideoReport.problem`).

PyAV (``av``) does the decoding and encoding; without it, OpenCV's FFmpeg backend is a
fallback (MPEG-4 Part 2 ``mp4v`` output, no audio).
"""
from __future__ import annotations

import os
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING


from .track import FaceTracker, SceneCutDetector
from .video_io import (
    LOSSLESS_SUFFIXES, STAGES, VideoError, VideoInfo, VideoReader, VideoWarning, VideoWriter, iter_frames,
    probe_video,
)

__all__ = ["LOSSLESS_SUFFIXES", "STAGES", "VideoError", "VideoInfo", "VideoReader", "VideoReport", "VideoWarning",
           "VideoWriter", "enhance_video", "iter_frames", "partial_path", "probe_video"]

if TYPE_CHECKING:
    from .restore import FaceRestorer

Progress = Callable[[float, str], None]
@dataclass
class VideoReport:
    """What :func:`enhance_video` did.

    frames_in: frames decoded and taken in for processing (every decodable frame unless
    cancelled); frames_out: frames written (== frames_in, but for a frame cancelled
    halfway); frames_expected: the count the file announced; faces_*: faces restored per
    frame (total, max, frames with at least one); tracks: distinct faces tracked;
    scene_cuts: hard cuts seen; seconds: wall time; output: the finished file, the
    ``.partial`` file when cancelled or failed, None when nothing was written; problem:
    why frames were missing from the source (truncated/corrupt), else None; audio:
    ``"none"``, ``"copied (aac)"`` or ``"dropped (why)"``; fps_video: the frame rate of
    source and output; timings: seconds per stage (:data:`STAGES`).
    """

    frames_in: int = 0
    frames_out: int = 0
    frames_expected: int = 0
    faces_total: int = 0
    faces_max: int = 0
    frames_with_faces: int = 0
    tracks: int = 0
    scene_cuts: int = 0
    seconds: float = 0.0
    cancelled: bool = False
    output: Path | None = None
    problem: str | None = None
    audio: str = "none"
    fps_video: Fraction = Fraction(0)
    timings: dict[str, float] = field(default_factory=lambda: dict.fromkeys(STAGES, 0.0))

    @property
    def fps(self) -> float:
        """Processing speed in frames per second."""
        return self.frames_out / self.seconds if self.seconds > 0 else 0.0

    @property
    def faces_mean(self) -> float:
        return self.faces_total / self.frames_out if self.frames_out else 0.0

    def summary(self) -> str:
        state = "cancelled" if self.cancelled else "done"
        text = (f"{state}: {self.frames_out}/{self.frames_in} frames written in {self.seconds:.1f} s "
                f"({self.fps:.2f} fps), {self.faces_mean:.2f} faces/frame (max {self.faces_max}, "
                f"{self.tracks} tracks), audio {self.audio}")
        return text + (f"; source: {self.problem}" if self.problem else "")


_END = object()


def partial_path(dst: str | os.PathLike) -> Path:
    """Where :func:`enhance_video` writes until done: ``clip.mp4`` -> ``clip.partial.mp4``."""
    dst = Path(dst)
    return dst.with_name(f"{dst.stem}.partial{dst.suffix}")


def _eta_message(done: int, total: int, elapsed: float) -> str:
    rate = done / elapsed if elapsed > 0 else 0.0
    if total <= 0 or rate <= 0:
        return f"frame {done}, {rate:.1f} fps"
    left = max(total - done, 0) / rate
    return f"frame {done}/{total}, {rate:.1f} fps, ETA {int(left // 60)}:{int(left % 60):02d}"


class _Stage(threading.Thread):
    """A daemon thread running ``fn``; its exception is kept for the main thread to raise."""

    def __init__(self, fn: Callable[[], None], name: str) -> None:
        super().__init__(name=name, daemon=True)
        self._fn, self.exc = fn, None

    def run(self) -> None:
        try:
            self._fn()
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread
            self.exc = exc


def _put(q: queue.Queue, item, abort: threading.Event, consumer: threading.Thread | None = None) -> bool:
    """Blocking put that gives up (False) once ``abort`` is set or the ``consumer`` thread died."""
    while not abort.is_set() and (consumer is None or consumer.is_alive()):
        try:
            q.put(item, timeout=0.1)
            return True
        except queue.Full:
            continue
    return False


def enhance_video(src: str | os.PathLike, dst: str | os.PathLike, restorer: FaceRestorer, upscale: int = 1,
                  detect_every: int = 1, progress: Progress | None = None,
                  should_stop: Callable[[], bool] | None = None, max_queue: int = 8,
                  max_frames: int | None = None, tracker: FaceTracker | None = None,
                  scene_cut: float | None = 20.0, max_pixels: int | None = None, **writer_options) -> VideoReport:
    """Restore every face of ``src`` frame by frame and write ``dst``.

    Each frame is decoded, faces are detected every ``detect_every``-th frame and
    tracked (smoothed, bridged over short misses) in between, restored with
    ``restorer.enhance(frame, detections=tracked, upscale=upscale)`` and encoded; audio
    is copied. Decoding and encoding run in their own threads, at most ``max_queue``
    frames ahead/behind. See the module docstring for timestamps and partial output.

    Args:
        progress: ``progress(fraction, message)`` after every frame; the message has
            the frame count, speed and ETA.
        should_stop: polled before every frame; True cancels after the current frame.
        max_frames: process only the first frames (previews, tests, benchmarks).
        tracker: default ``FaceTracker()`` keeping a missed face for ~0.25 s.
        scene_cut: :class:`SceneCutDetector` threshold; at a cut the tracks are dropped
            and the frame is detected. None: no cut detection.
        max_pixels: refuse frames over this many pixels (see :class:`VideoReader`).
        writer_options: passed to :class:`VideoWriter` (``codec``, ``crf``, ``lossless``...).
    Raises:
        VideoError: ``src`` cannot be read or ``dst`` cannot be written.
    """
    src, dst, upscale = Path(src), Path(dst), int(upscale)
    if detect_every < 1 or max_queue < 1 or upscale < 1:
        raise ValueError("detect_every, max_queue and upscale must be >= 1")
    if src.resolve() == dst.resolve():
        raise ValueError(f"{dst}: the output must not overwrite the video being read")
    t_start = time.perf_counter()
    report = VideoReport()
    reader = VideoReader(src, max_frames, max_pixels)   # refuses oversized frames before decoding
    info = reader.info
    report.frames_expected, report.fps_video = info.frames, info.fps
    total = min(info.frames, max_frames) if max_frames is not None else info.frames
    if tracker is None:
        tracker = FaceTracker(max_missed=max(1, round(float(info.fps) / 4 / detect_every)))
    tmp = partial_path(dst)
    try:
        tmp.parent.mkdir(parents=True, exist_ok=True)
        writer = VideoWriter(tmp, info.width * upscale, info.height * upscale, info.fps,
                             audio_from=src if info.has_audio else None, time_base=info.time_base,
                             start_pts=info.start_pts, **writer_options)
    except BaseException as exc:
        reader.close()
        if isinstance(exc, OSError):
            raise VideoError(dst, f"cannot create the output ({exc})") from exc
        raise
    report.audio = writer.audio
    abort = threading.Event()
    decoded: queue.Queue = queue.Queue(max_queue)
    restored: queue.Queue = queue.Queue(max_queue)

    def decode() -> None:
        it = iter(reader)
        while not abort.is_set():
            t0 = time.perf_counter()
            item = next(it, _END)
            report.timings["decode"] += time.perf_counter() - t0
            if not _put(decoded, item, abort) or item is _END:
                return

    def encode() -> None:
        while True:
            item = restored.get()
            if item is _END:
                return
            t0 = time.perf_counter()
            writer.write(item)
            report.timings["encode"] += time.perf_counter() - t0

    stages = [_Stage(decode, "video-decode"), _Stage(encode, "video-encode")]
    for s in stages:
        s.start()
    stop = should_stop or (lambda: False)
    is_cut = SceneCutDetector(scene_cut) if scene_cut is not None else (lambda rgb: False)
    error: BaseException | None = None
    try:
        while True:
            item = _get(decoded, stages[0])
            if item is _END:
                break
            index, _pts, rgb = item
            if stop():
                report.cancelled = True
                break
            report.frames_in += 1
            t0 = time.perf_counter()
            cut = is_cut(rgb)
            if cut:
                tracker.reset()
                report.scene_cuts += 1
            if cut or index % detect_every == 0:
                tracked = tracker.update(restorer.detect(rgb))
            else:
                tracked = tracker.predict()
            report.timings["detect"] += time.perf_counter() - t0
            # a frame once started is finished (a stop request ends the video after it): the output
            # then holds every frame taken in
            result = restorer.enhance(rgb, detections=tracked.detections, upscale=upscale)
            report.timings["sr"] += result.timings.get("sr", 0.0)
            report.timings["paste"] += result.timings.get("paste", 0.0)
            n = sum(f.skipped is None for f in result.faces)
            report.faces_total += n
            report.faces_max = max(report.faces_max, n)
            report.frames_with_faces += n > 0
            if not _put(restored, result.image, abort, stages[1]):
                break  # the encoder failed: its error is raised below
            if progress is not None:
                done = index + 1
                progress(min(done / total, 1.0) if total > 0 else 0.0,
                         _eta_message(done, total, time.perf_counter() - t_start))
    except BaseException as exc:  # noqa: BLE001 - cleaned up below, then re-raised
        error = exc
    finally:
        abort.set()  # the decoder stops at its next frame
        stages[0].join()
        _put_end(restored, stages[1])
        stages[1].join()
        try:
            writer.close(complete=error is None and not report.cancelled and reader.reached_end)
        except BaseException as exc:  # noqa: BLE001 - the first error wins; raised below
            error = error or exc
        reader.close()
    error = error or stages[0].exc or stages[1].exc
    report.frames_out = writer.frames_written
    report.tracks = tracker.tracks_started
    report.problem = None if report.cancelled else reader.problem
    report.seconds = time.perf_counter() - t_start
    if error is not None:
        _keep_partial(tmp, report)
        if report.output is not None and hasattr(error, "add_note"):  # Python 3.11+
            error.add_note(f"the {report.frames_out} frames done are in {report.output}")
        raise error
    if report.cancelled:
        _keep_partial(tmp, report)
    else:
        os.replace(tmp, dst)
        report.output = dst
    if progress is not None and not report.cancelled:
        progress(1.0, report.summary())
    return report


def _get(q: queue.Queue, producer: _Stage):
    """Next item from the decoder; _END when it died without sending one."""
    while True:
        try:
            return q.get(timeout=0.1)
        except queue.Empty:
            if not producer.is_alive() and q.empty():
                return _END


def _put_end(q: queue.Queue, consumer: _Stage) -> None:
    while consumer.is_alive():
        try:
            q.put(_END, timeout=0.1)
            return
        except queue.Full:
            continue


def _keep_partial(tmp: Path, report: VideoReport) -> None:
    """Keep a partial output that has frames; remove an empty one."""
    if report.frames_out > 0 and tmp.is_file():
        report.output = tmp
    else:
        tmp.unlink(missing_ok=True)
