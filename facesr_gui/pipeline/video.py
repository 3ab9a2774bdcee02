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
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np

from .track import FaceTracker, SceneCutDetector

try:
    import av
except ImportError:  # pragma: no cover - exercised by monkeypatching av = None in tests
    av = None

if TYPE_CHECKING:
    from .restore import FaceRestorer

Progress = Callable[[float, str], None]
LOSSLESS_SUFFIXES = (".mkv", ".avi", ".nut")
# audio codecs the MP4/MOV muxer takes as they are; other containers: see _audio_fits
MP4_AUDIO = {"aac", "mp3", "ac3", "eac3", "alac", "opus", "flac"}
STAGES = ("decode", "detect", "sr", "paste", "encode")  # keys of VideoReport.timings
BT709, MPEG_RANGE = 1, 1  # FFmpeg's AVCOL_SPC/PRI/TRC_BT709 and AVCOL_RANGE_MPEG (limited range)


class VideoError(ValueError):
    """A video that cannot be read or written; the message names the file and the reason."""

    def __init__(self, path: str | os.PathLike, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path, self.reason = Path(path), reason


class VideoWarning(UserWarning):
    """Frames were missing from a video read by :func:`iter_frames` (truncated or corrupt)."""


@dataclass(frozen=True)
class VideoInfo:
    """What :func:`probe_video` reads from a file's header.

    fps: average frame rate (exact fraction); frames: frame count, exact when
    ``frames_exact`` (MP4/MOV index) else estimated from duration * fps; duration in
    seconds; codec: the video codec's FFmpeg name; time_base / start_pts: the video
    stream's timestamp unit and first timestamp (None / 0 when unknown).
    """

    width: int
    height: int
    fps: Fraction
    frames: int
    duration: float
    has_audio: bool
    codec: str
    frames_exact: bool = True
    time_base: Fraction | None = None
    start_pts: int = 0


def _open_input(path: Path):
    if not path.is_file():
        raise VideoError(path, "file not found")
    try:
        return av.open(str(path), mode="r")
    except (av.FFmpegError, OSError, UnicodeDecodeError) as exc:
        raise VideoError(path, "not a readable video, or truncated (an MP4 whose index at the end is "
                               f"missing cannot be opened): {getattr(exc, 'strerror', None) or exc}") from exc


def _info_av(path: Path, container) -> VideoInfo:
    if not container.streams.video:
        raise VideoError(path, "the file has no video stream")
    v = container.streams.video[0]
    rate = v.average_rate or v.guessed_rate or v.base_rate
    if not rate or rate <= 0:
        raise VideoError(path, "the video stream has no frame rate")
    if not v.width or not v.height:
        raise VideoError(path, "the video stream has no frame size (unknown or broken codec)")
    fps = Fraction(rate)
    if v.duration and v.time_base:
        duration = float(v.duration * v.time_base)
    elif container.duration:  # e.g. Matroska: only the file's span; the video may start later
        end = ((container.start_time or 0) + container.duration) / 1e6
        duration = max(end - float((v.start_time or 0) * (v.time_base or 0)), 0.0)
    else:
        duration = 0.0
    exact = bool(v.frames and v.frames > 0)
    frames = int(v.frames) if exact else round(duration * fps)
    return VideoInfo(v.width, v.height, fps, frames, duration, bool(container.streams.audio),
                     v.codec_context.name, exact, Fraction(v.time_base) if v.time_base else None,
                     int(v.start_time or 0))


def _info_cv2(path: Path, cap) -> VideoInfo:
    fps = Fraction(cap.get(cv2.CAP_PROP_FPS) or 0).limit_denominator(1001)
    w, h = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
    if fps <= 0 or w <= 0 or h <= 0:
        raise VideoError(path, "not a readable video (OpenCV found no frame size or rate)")
    frames = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
    fourcc = int(cap.get(cv2.CAP_PROP_FOURCC)).to_bytes(4, "little").decode("ascii", "replace")
    return VideoInfo(w, h, fps, frames, float(frames / fps), False, fourcc.strip("\0 "), False)


def _open_cv2(path: Path):
    if not path.is_file():
        raise VideoError(path, "file not found")
    cap = cv2.VideoCapture(str(path))
    if not cap.isOpened():
        raise VideoError(path, "not a readable video, or truncated (OpenCV could not open it)")
    return cap


def probe_video(path: str | os.PathLike) -> VideoInfo:
    """Read a video's size, exact frame rate, frame count, duration and streams.

    Raises :class:`VideoError` (a ``ValueError``) naming the file and the reason when it
    is missing, not a video, or cannot be opened (e.g. an MP4 cut before its index).
    """
    path = Path(path)
    if av is None:
        cap = _open_cv2(path)
        try:
            return _info_cv2(path, cap)
        finally:
            cap.release()
    with _open_input(path) as container:
        return _info_av(path, container)


class VideoReader:
    """Decodes a video one frame at a time: iterate for ``(index, pts_seconds, rgb)``.

    ``rgb`` is ``(H, W, 3)`` uint8 RGB; ``pts_seconds`` the frame's presentation time
    (``index / fps`` when the file has none). Decoding stops at the end of the stream, at
    ``max_frames``, or at an unrecoverable demux error; a packet that fails to decode is
    skipped and counted. :attr:`problem` then says what was missing.
    """

    def __init__(self, path: str | os.PathLike, max_frames: int | None = None) -> None:
        self.path = Path(path)
        self.max_frames = max_frames
        self.frames_read = 0
        self.skipped_packets = 0
        self.error: str | None = None
        self.reached_end = False  # True once the whole stream was read (not stopped by max_frames)
        if av is None:
            self._src = _open_cv2(self.path)
            self.info = _info_cv2(self.path, self._src)
        else:
            self._src = _open_input(self.path)
            try:
                self.info = _info_av(self.path, self._src)
            except VideoError:
                self._src.close()
                raise

    def __enter__(self) -> VideoReader:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        if av is None:
            self._src.release()
        else:
            self._src.close()

    @property
    def problem(self) -> str | None:
        """Why fewer frames came out than the file announced, or None."""
        msgs = [self.error] if self.error else []
        if self.skipped_packets:
            msgs.append(f"{self.skipped_packets} corrupt packet(s) could not be decoded")
        expected = self.info.frames
        short = expected - self.frames_read > (0 if self.info.frames_exact else 1 + expected // 50)
        if self.reached_end and expected > 0 and short:
            msgs.append(f"truncated: {self.frames_read} of {expected} frames could be decoded")
        return "; ".join(msgs) or None

    def __iter__(self) -> Iterator[tuple[int, float, np.ndarray]]:
        limit = self.max_frames if self.max_frames is not None else float("inf")
        frames = self._frames_cv2() if av is None else self._frames_av()
        for pts, rgb in frames:
            if self.frames_read >= limit:
                return
            self.frames_read += 1
            yield self.frames_read - 1, pts, rgb
        self.reached_end = True

    def _frames_av(self) -> Iterator[tuple[float, np.ndarray]]:
        stream = self._src.streams.video[0]
        stream.thread_type = "AUTO"
        packets = self._src.demux(stream)
        while True:
            try:
                packet = next(packets)
            except StopIteration:
                return
            except av.FFmpegError as exc:
                self.error = f"reading stopped at a damaged part of the file ({exc})"
                return
            try:
                decoded = packet.decode()
            except av.FFmpegError:
                self.skipped_packets += 1
                continue
            for frame in decoded:
                pts = frame.time if frame.time is not None else self.frames_read / self.info.fps
                yield float(pts), frame.to_ndarray(format="rgb24")

    def _frames_cv2(self) -> Iterator[tuple[float, np.ndarray]]:
        while True:
            ok, bgr = self._src.read()
            if not ok:
                return
            yield self.frames_read / float(self.info.fps), cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def iter_frames(path: str | os.PathLike, max_frames: int | None = None) -> Iterator[tuple[int, float, np.ndarray]]:
    """Generator of ``(index, pts_seconds, rgb)`` for each frame (see :class:`VideoReader`).

    Raises :class:`VideoError` when the file cannot be opened; warns with
    :class:`VideoWarning` when frames were missing (truncated or corrupt file).
    """
    with VideoReader(path, max_frames) as reader:
        yield from reader
        if reader.problem:
            warnings.warn(f"{reader.path}: {reader.problem}", VideoWarning, stacklevel=2)


def _audio_fits(codec: str, suffix: str) -> bool:
    """Whether an audio stream of ``codec`` can be copied into a ``suffix`` container."""
    if suffix in (".mp4", ".m4v", ".mov"):
        return codec in MP4_AUDIO
    return suffix in (".mkv", ".nut", ".mka") or codec in MP4_AUDIO


class VideoWriter:
    """Encodes ``(H, W, 3)`` uint8 RGB frames into a video file, copying audio from a source.

    Args:
        path: output file; the suffix picks the container (``.mp4``, ``.mkv``, ...).
        width, height: frame size of every frame written.
        fps: exact frame rate; frame ``i`` gets timestamp ``start_pts + i / fps`` (in
            ``time_base``, default ``1 / fps``): constant frame rate.
        codec: FFmpeg encoder, default ``libx264`` at ``crf`` (16: visually lossless)
            and ``preset``; pix_fmt ``yuv420p`` (plays everywhere), or ``yuv444p`` when
            the size is odd (4:2:0 needs even sizes) or when asked for. YUV output is
            converted with the BT.709 matrix (limited range) and tagged as such.
        lossless: FFV1 with ``bgr0`` pixels, bit-exact RGB; needs ``.mkv``/``.avi``/``.nut``.
        audio_from: a video whose first audio stream is copied packet by packet (no
            re-encode), interleaved up to the time of the frames written. An audio
            codec the container cannot hold is dropped; :attr:`audio` says what happened.
    Without PyAV, OpenCV writes MPEG-4 ``mp4v`` (no audio, codec options ignored).
    """

    def __init__(self, path: str | os.PathLike, width: int, height: int, fps: Fraction | float, *,
                 codec: str = "libx264", crf: int = 16, preset: str = "medium", pix_fmt: str | None = None,
                 lossless: bool = False, audio_from: str | os.PathLike | None = None,
                 time_base: Fraction | None = None, start_pts: int = 0) -> None:
        self.path = Path(path)
        self.width, self.height = int(width), int(height)
        self.fps = Fraction(fps).limit_denominator(1_000_000)
        self.frames_written = 0
        self.audio = "none"
        self._closed = False
        self._audio_in = self._audio_packets = self._pending = None
        if lossless and self.path.suffix.lower() not in LOSSLESS_SUFFIXES:
            raise ValueError(f"lossless FFV1 needs one of {LOSSLESS_SUFFIXES}, not {self.path.suffix!r}")
        if av is None:
            self._open_cv2(audio_from)
            return
        if lossless:
            codec, pix_fmt = "ffv1", "bgr0"
        elif pix_fmt is None:
            pix_fmt = "yuv444p" if codec.startswith("libx264") and (width % 2 or height % 2) else "yuv420p"
        self._tb = Fraction(time_base) if time_base else 1 / self.fps
        self._start = int(start_pts)
        if not self.path.parent.is_dir():
            raise VideoError(self.path, "the output folder does not exist")
        try:
            self._out = av.open(str(self.path), mode="w")
        except (av.FFmpegError, OSError, ValueError) as exc:  # ValueError: unknown suffix
            raise VideoError(self.path, f"cannot create the output ({exc})") from exc
        try:
            self._stream = self._out.add_stream(codec, rate=self.fps)
            self._stream.width, self._stream.height, self._stream.pix_fmt = self.width, self.height, pix_fmt
            self._stream.codec_context.time_base = self._tb
            if codec.startswith("libx264"):
                self._stream.options = {"crf": str(crf), "preset": preset}
            self._yuv = pix_fmt.startswith("yuv")
            if self._yuv:  # convert with BT.709 and say so: untagged files play with 601 or 709 colours
                cc = self._stream.codec_context
                cc.colorspace = cc.color_primaries = cc.color_trc = BT709
                cc.color_range = MPEG_RANGE
            if audio_from is not None:
                self._add_audio(Path(audio_from))
        except Exception:
            self._out.close()
            raise

    def _open_cv2(self, audio_from) -> None:
        self._cv2 = cv2.VideoWriter(str(self.path), cv2.VideoWriter_fourcc(*"mp4v"), float(self.fps),
                                    (self.width, self.height))
        if not self._cv2.isOpened():
            raise VideoError(self.path, "OpenCV cannot create this video (install PyAV: pip install av)")
        if audio_from is not None:
            self.audio = "dropped (copying audio needs PyAV: pip install av)"

    def _add_audio(self, src: Path) -> None:
        container = _open_input(src)
        if not container.streams.audio:
            container.close()
            return
        a_in = container.streams.audio[0]
        if not _audio_fits(a_in.codec_context.name, self.path.suffix.lower()):
            self.audio = f"dropped ({a_in.codec_context.name} audio does not fit in {self.path.suffix})"
            container.close()
            return
        self._audio_in, self._a_out = container, self._out.add_stream_from_template(a_in)
        self._audio_packets = container.demux(a_in)
        self.audio = f"copied ({a_in.codec_context.name})"

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(self, exc_type, *exc) -> None:
        self.close(complete=exc_type is None)

    def write(self, rgb: np.ndarray) -> None:
        """Append one ``(height, width, 3)`` uint8 RGB frame."""
        if self._closed:
            raise RuntimeError("write() on a closed VideoWriter")
        if rgb.shape != (self.height, self.width, 3) or rgb.dtype != np.uint8:
            raise ValueError(f"expected a ({self.height}, {self.width}, 3) uint8 frame, got {rgb.shape} {rgb.dtype}")
        if av is None:
            self._cv2.write(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
            self.frames_written += 1
            return
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
        if self._yuv:
            frame = frame.reformat(format=self._stream.pix_fmt, dst_colorspace="ITU709",
                                   dst_color_range=MPEG_RANGE)
        frame.pts = self._start + round(self.frames_written / (self.fps * self._tb))
        frame.time_base = self._tb
        for packet in self._stream.encode(frame):
            self._out.mux(packet)
        self.frames_written += 1
        self._mux_audio(until=self._start * self._tb + self.frames_written / self.fps)

    def _mux_audio(self, until: Fraction | None) -> None:
        """Copy audio packets that start before ``until`` seconds (all when None)."""
        while self._audio_packets is not None:
            packet = self._pending
            self._pending = None
            if packet is None:
                try:
                    packet = next(self._audio_packets)
                except (StopIteration, av.FFmpegError):
                    self._audio_packets = None
                    return
            if packet.dts is None:  # the demuxer's empty flush packet
                continue
            if until is not None and packet.pts is not None and packet.pts * packet.time_base >= until:
                self._pending = packet
                return
            packet.stream = self._a_out
            self._out.mux(packet)

    def close(self, complete: bool = True) -> None:
        """Flush the encoder and finish the file (idempotent).

        ``complete``: also copy the audio left after the last frame; False (cancel) ends
        the audio with the video.
        """
        if self._closed:
            return
        self._closed = True
        if av is None:
            self._cv2.release()
            return
        try:
            for packet in self._stream.encode():
                self._out.mux(packet)
            if complete:
                self._mux_audio(until=None)
        finally:
            self._out.close()
            if self._audio_in is not None:
                self._audio_in.close()


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
                  scene_cut: float | None = 20.0, **writer_options) -> VideoReport:
    """Restore every face of ``src`` frame by frame and write ``dst``.

    Each frame is decoded, faces are detected every ``detect_every``-th frame and
    tracked (smoothed, bridged over short misses) in between, restored with
    ``restorer.enhance(frame, detections=tracked, upscale=upscale)`` and encoded; audio
    is copied. Decoding and encoding run in their own threads, at most ``max_queue``
    frames ahead/behind. See the module docstring for timestamps and partial output.

    Args:
        progress: ``progress(fraction, message)`` after every frame; the message has
            the frame count, speed and ETA.
        should_stop: polled before every frame and between SR batches; True cancels.
        max_frames: process only the first frames (previews, tests, benchmarks).
        tracker: default ``FaceTracker()`` keeping a missed face for ~0.25 s.
        scene_cut: :class:`SceneCutDetector` threshold; at a cut the tracks are dropped
            and the frame is detected. None: no cut detection.
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
    reader = VideoReader(src, max_frames)
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
            try:
                result = restorer.enhance(rgb, detections=tracked.detections, upscale=upscale, should_stop=stop)
            except InterruptedError:
                report.cancelled = True
                break
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
