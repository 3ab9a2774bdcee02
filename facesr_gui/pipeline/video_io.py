"""Video file I/O: probing, a streaming frame reader and a writer with audio pass-through.

Frames are ``(H, W, 3)`` uint8 **RGB** numpy arrays, one at a time. PyAV (``av``) does the
decoding and encoding; without it, OpenCV's FFmpeg backend is a fallback (MPEG-4 Part 2
``mp4v`` output, no audio). Timestamps and audio handling: see :mod:`.video`.
"""
from __future__ import annotations

import os
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np

try:
    import av
except ImportError:  # pragma: no cover - exercised by monkeypatching av = None in tests
    av = None
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

    def __init__(self, path: str | os.PathLike, max_frames: int | None = None, max_pixels: int | None = None,
                 start_pts: int | None = None) -> None:
        """``max_pixels``: refuse frames larger than this (like images; default
        :func:`~.imageio.default_max_pixels`, 50 MP; 0 = no limit) from the header, before decoding.
        ``start_pts``: begin at the frame with this timestamp (stream time base; PyAV only): seek to the
        keyframe at or before it and drop the frames decoded before it (indices then count from it)."""
        self.path = Path(path)
        self.max_frames, self.start_pts = max_frames, start_pts
        self.frames_read = 0
        self.skipped_packets = 0
        self.error: str | None = None
        self.reached_end = False  # True once the whole stream was read (not stopped by max_frames)
        if av is None:
            if start_pts is not None:
                raise VideoError(self.path, "starting inside a video needs PyAV (pip install av)")
            self._src = _open_cv2(self.path)
            self.info = _info_cv2(self.path, self._src)
        else:
            self._src = _open_input(self.path)
            try:
                self.info = _info_av(self.path, self._src)
            except VideoError:
                self._src.close()
                raise
        self._check_size(max_pixels)

    def _check_size(self, max_pixels: int | None) -> None:
        from .imageio import default_max_pixels, too_large_reason

        limit = default_max_pixels() if max_pixels is None else int(max_pixels)
        w, h = self.info.width, self.info.height
        if limit and w * h > limit:
            self.close()
            raise VideoError(self.path, too_large_reason(w, h, limit, "the video's frame"))

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
        start = self.start_pts
        if start is not None:
            self._src.seek(start, stream=stream, backward=True, any_frame=False)
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
                if start is not None and frame.pts is not None and frame.pts < start:
                    continue   # decoded from the keyframe before the start only to reach it
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


class AudioCopy:
    """The first audio stream of ``src`` copied packet by packet (no re-encode) into the open output
    container ``out``, up to a time at each call (:meth:`until`); ``state`` is what happened:
    ``"none"`` (no source or no audio), ``"copied (codec)"`` or ``"dropped (why)"`` (a codec the
    container cannot hold). Used by :class:`VideoWriter` and by joining video parts (:mod:`.segments`)."""

    def __init__(self, out, src: str | os.PathLike | None, suffix: str) -> None:
        self.out, self.state, self._packets, self._pending, self._in = out, "none", None, None, None
        if src is None:
            return
        container = _open_input(Path(src))
        if not container.streams.audio:
            container.close()
            return
        a_in = container.streams.audio[0]
        if not _audio_fits(a_in.codec_context.name, suffix):
            self.state = f"dropped ({a_in.codec_context.name} audio does not fit in {suffix})"
            container.close()
            return
        self._in, self._stream = container, out.add_stream_from_template(a_in)
        self._packets = container.demux(a_in)
        self.state = f"copied ({a_in.codec_context.name})"

    def until(self, seconds: Fraction | float | None) -> None:
        """Copy the packets that start before ``seconds`` (all when None)."""
        while self._packets is not None:
            packet, self._pending = self._pending, None
            if packet is None:
                try:
                    packet = next(self._packets)
                except (StopIteration, av.FFmpegError):
                    self._packets = None
                    return
            if packet.dts is None:  # the demuxer's empty flush packet
                continue
            if seconds is not None and packet.pts is not None and packet.pts * packet.time_base >= seconds:
                self._pending = packet
                return
            packet.stream = self._stream
            self.out.mux(packet)

    def close(self) -> None:
        if self._in is not None:
            self._in.close()
            self._in = None


class VideoWriter:
    """Encodes ``(H, W, 3)`` uint8 RGB frames into a video file, copying audio from a source.

    Args:
        path: output file; the suffix picks the container (``.mp4``, ``.mkv``, ...).
        width, height: frame size of every frame written.
        fps: exact frame rate; frame ``i`` gets timestamp ``start_pts + i / fps`` (in
            ``time_base``, default ``1 / fps``): constant frame rate.
        codec: FFmpeg encoder, default ``libx264`` at ``crf`` and ``preset``: ``superfast`` at CRF 13 keeps
            more than ``medium`` at CRF 16 (visually lossless) keeps, 3.5x faster on a CPU (re-encoding the
            first 100 frames of the 480p street clip: Y-PSNR 43.84 dB against 43.50 for ``veryfast``/CRF 13,
            the previous default, and 8.6 against 14.6 ms a frame; files 28% larger; ``medium``/CRF 16: 32 ms,
            ``veryfast`` kept what it kept); pix_fmt ``yuv420p`` (plays everywhere), or ``yuv444p`` when
            the size is odd (4:2:0 needs even sizes) or when asked for. YUV output is
            converted with the BT.709 matrix (limited range) and tagged as such.
        lossless: FFV1 with ``bgr0`` pixels, bit-exact RGB; needs ``.mkv``/``.avi``/``.nut``.
        audio_from: a video whose first audio stream is copied packet by packet (no
            re-encode), interleaved up to the time of the frames written. An audio
            codec the container cannot hold is dropped; :attr:`audio` says what happened.
    Without PyAV, OpenCV writes MPEG-4 ``mp4v`` (no audio, codec options ignored).
    """

    def __init__(self, path: str | os.PathLike, width: int, height: int, fps: Fraction | float, *,
                 codec: str = "libx264", crf: int = 13, preset: str = "superfast", pix_fmt: str | None = None,
                 lossless: bool = False, audio_from: str | os.PathLike | None = None,
                 time_base: Fraction | None = None, start_pts: int = 0) -> None:
        self.path = Path(path)
        self.width, self.height = int(width), int(height)
        self.fps = Fraction(fps).limit_denominator(1_000_000)
        self.frames_written = 0
        self.audio = "none"
        self._closed = False
        self._audio: AudioCopy | None = None
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
        self._audio = AudioCopy(self._out, src, self.path.suffix.lower())
        self.audio = self._audio.state

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
        if self._audio is not None:
            self._audio.until(until)

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
            if self._audio is not None:
                self._audio.close()


