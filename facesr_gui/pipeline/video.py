"""Video in, video out: a streaming reader, a writer with audio pass-through, and
:func:`enhance_video` (read -> detect/track -> restore -> write).

Frames are ``(H, W, 3)`` uint8 **RGB** numpy arrays, one at a time: no call holds the
whole video in memory (bounded queues of ``max_queue`` frames between the decode, the
detect, the restore and the encode thread: :mod:`.video_stages`).

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
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING

from .track import FaceTracker
from .video_io import (
    LOSSLESS_SUFFIXES, STAGES, VideoError, VideoInfo, VideoReader, VideoWarning, VideoWriter, iter_frames,
    probe_video,
)
from .video_stages import FrameRestorer, FrameTracker, Pipeline

__all__ = ["DEFAULT_DETECT_EVERY", "LOSSLESS_SUFFIXES", "STAGES", "Segment", "VideoError", "VideoInfo", "VideoReader",
           "VideoReport", "VideoWarning", "VideoWriter", "enhance_video", "iter_frames", "partial_path", "probe_video"]

if TYPE_CHECKING:
    from .restore import EnhanceResult, FaceRestorer
    from .stabilise import FaceStabiliser

# Full-frame detection every this many frames by default (the CLI, the Video tab, the benchmark), up
# to twice as far apart while they find no new face (video_stages.BACKOFF): between them faces are
# detected around their tracks (regions.py) and new faces, or faces lost around their tracks, wait
# for the next one (0.16-0.32 s at 25 fps). On the 480p street clip, where faces
# come and go all the time, every 4th frame finds more of them (recall 0.969, averaged over three
# cadence phases) for the same detection time as every 10th plus a whole frame whenever a face was
# missed twice (0.955; such a detection rarely found the lost face, mostly new ones, at odd times);
# see benchmarks/README.md. Every 3rd since 2026-12-04: those figures were measured on a test clip that
# libx264 encoded differently on every run; on one encoded the same every run (benchmarks/bench_pipeline.py)
# every 4th restores 0.939 of the faces per-frame detection finds, every 3rd 0.966, for 5% of the default
# model's frame rate (8.9 -> 8.5 frames/s).
DEFAULT_DETECT_EVERY = 3

Progress = Callable[[float, str], None]


@dataclass
class VideoReport:
    """What :func:`enhance_video` did.

    frames_in: frames decoded and taken in for processing (every decodable frame unless
    cancelled); frames_out: frames written (== frames_in, but for a frame cancelled
    halfway); frames_expected: the count the file announced; faces_*: faces restored per
    frame (total, max, frames with at least one); tracks: distinct faces tracked;
    scene_cuts: hard cuts seen; full_detections: frames detected whole (the others were
    detected around their tracked faces or only tracked); gated_detections: those of them detected only
    where the frame changed and around the tracks (:mod:`.motion`); seconds: wall time; output: the
    finished file, the ``.partial`` file when cancelled or failed, None when nothing was written; problem:
    why frames were missing from the source (truncated/corrupt), else None; audio:
    ``"none"``, ``"copied (aac)"`` or ``"dropped (why)"``; fps_video: the frame rate of
    source and output; timings: seconds per stage (:data:`STAGES`); backend: what ran the SR network
    and the detector (:mod:`.accel`), e.g. ``"openvino"`` or ``"torch (SR), openvino (MTCNN)"``.
    """

    frames_in: int = 0
    frames_out: int = 0
    frames_expected: int = 0
    faces_total: int = 0
    faces_max: int = 0
    frames_with_faces: int = 0
    tracks: int = 0
    scene_cuts: int = 0
    full_detections: int = 0
    gated_detections: int = 0
    seconds: float = 0.0
    cancelled: bool = False
    output: Path | None = None
    problem: str | None = None
    audio: str = "none"
    fps_video: Fraction = Fraction(0)
    timings: dict[str, float] = field(default_factory=lambda: dict.fromkeys(STAGES, 0.0))
    backend: str = ""

    @property
    def fps(self) -> float:
        """Processing speed in frames per second."""
        return self.frames_out / self.seconds if self.seconds > 0 else 0.0

    @property
    def faces_mean(self) -> float:
        return self.faces_total / self.frames_out if self.frames_out else 0.0

    def stage_line(self) -> str:
        """Milliseconds per frame of each stage, and how many frames were detected whole. Decode and
        encode run in their own threads, overlapping the others: the stages do not add up to the wall time."""
        n = max(self.frames_out, 1)
        stages = ", ".join(f"{k} {1000 * self.timings[k] / n:.0f}" for k in STAGES)
        line = f"ms/frame: {stages}; {self.full_detections} of {self.frames_in} frames detected whole"
        if self.gated_detections:
            line += f" ({self.gated_detections} of them only where the picture changed)"
        return line + (f"; networks on {self.backend}" if self.backend else "")

    def summary(self) -> str:
        state = "cancelled" if self.cancelled else "done"
        text = (f"{state}: {self.frames_out}/{self.frames_in} frames written in {self.seconds:.1f} s "
                f"({self.fps:.2f} fps), {self.faces_mean:.2f} faces/frame (max {self.faces_max}, "
                f"{self.tracks} tracks), audio {self.audio}; {self.stage_line()}")
        return text + (f"; source: {self.problem}" if self.problem else "")


@dataclass(frozen=True)
class Segment:
    """A part of a video enhanced on its own (:mod:`.segments`): ``count`` frames from frame ``first``
    (presentation order, counted in the whole video), after ``warmup`` frames that are restored, so that
    tracks and the stabiliser settle, but not written. ``seek_pts``: the first warm-up frame's timestamp
    (the stream's time base). The output holds only the video of the ``count`` frames, timed as in the
    whole video's output."""

    first: int
    count: int
    warmup: int
    seek_pts: int


def _backends(restorer) -> str:
    """What ran the restorer's SR network and its detector (when it has one built)."""
    sr = getattr(restorer, "backend", "torch")
    detector = getattr(getattr(restorer, "_detector", None), "backend", sr)
    return sr if detector == sr else f"{sr} (SR), {detector} (MTCNN)"


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


FrameHook = Callable[[int, "EnhanceResult"], None]


def enhance_video(src: str | os.PathLike, dst: str | os.PathLike, restorer: FaceRestorer, upscale: int = 1,
                  detect_every: int = 1, progress: Progress | None = None,
                  should_stop: Callable[[], bool] | None = None, max_queue: int = 8,
                  max_frames: int | None = None, tracker: FaceTracker | None = None,
                  scene_cut: float | None = 20.0, max_pixels: int | None = None, on_frame: FrameHook | None = None,
                  regions: bool = True, stabiliser: FaceStabiliser | None = None, segment: Segment | None = None,
                  detect_phase: int = 0, motion_gate: bool = True, **writer_options) -> VideoReport:
    """Restore every face of ``src`` frame by frame and write ``dst``.

    Each frame is decoded, faces are detected in the whole frame every ``detect_every``-th
    frame and at scene cuts (the pyramid from the face sizes seen, :mod:`.video_stages`); in between, with
    ``regions``, each tracked face is detected only around where it is expected (:mod:`.regions`:
    a few ms instead of hundreds); without, the tracks are moved on by their velocity. Tracks are smoothed and bridged
    over short misses (:class:`~.track.FaceTracker`). Each frame is restored with
    ``restorer.enhance(frame, detections=tracked, upscale=upscale)`` and encoded; audio
    is copied. Decoding and encoding run in their own threads, at most ``max_queue``
    frames ahead/behind. See the module docstring for timestamps and partial output.

    Args:
        progress: ``progress(fraction, message)`` after every frame; the message has
            the frame count, speed and ETA.
        should_stop: polled before every frame; True cancels after the current frame.
        max_frames: process only the first frames (previews, tests, benchmarks).
        tracker: default ``FaceTracker()`` keeping a missed face for ~0.25 s.
        regions: detect around the tracked faces between full-frame detections.
        motion_gate: whole-frame detections other than every few (:data:`.video_stages.FULL_PYRAMID_EVERY`)
            look only where the picture changed since the previous one and around the tracked faces
            (:mod:`.motion`: a fixed camera's background is not searched again and again); False, or
            ``detect_every`` 1: always the whole frame.
        stabiliser: a :class:`~.stabilise.FaceStabiliser` blending each tracked face's SR crop with
            its previous one where the input did not change (less flicker); reset at scene cuts.
        scene_cut: :class:`~.track.SceneCutDetector` threshold; at a cut the tracks are dropped
            and the frame is detected. None: no cut detection.
        max_pixels: refuse frames over this many pixels (see :class:`VideoReader`).
        on_frame: ``on_frame(index, result)`` with each restored frame's
            :class:`~.restore.EnhanceResult` (``result.image``: the output frame, ``(H, W, 3)``
            uint8 RGB), before it is encoded (the GUI's previews).
        segment: enhance only this :class:`Segment` (no audio; detection cadence as in the whole video).
        detect_phase: the whole-frame cadence starts at this frame (the first frame is detected whole
            anyway); benchmarks average over it, since which frames are detected whole decides which
            faces wait for the next one.
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
    if segment is not None:
        max_frames = segment.warmup + segment.count
    # refuses oversized frames before decoding
    reader = VideoReader(src, max_frames, max_pixels, None if segment is None else segment.seek_pts)
    info = reader.info
    report.frames_expected, report.fps_video = info.frames, info.fps
    if tracker is None:
        # misses are counted per detected frame: with regions every frame is one
        tracker = FaceTracker(max_missed=max(1, round(float(info.fps) / 4 / (1 if regions else detect_every))))
    tmp = partial_path(dst)
    writer = _open_writer(tmp, dst, reader, upscale, writer_options, segment)
    report.audio = writer.audio
    stop = should_stop or (lambda: False)
    total = min(info.frames, max_frames) if max_frames is not None else info.frames
    warmup, offset = (0, 0) if segment is None else (segment.warmup, segment.first - segment.warmup)
    track = FrameTracker(restorer, tracker, detect_every, scene_cut, report, regions, offset, detect_phase,
                         motion_gate)
    restore = FrameRestorer(restorer, upscale, report, stabiliser)
    pipe = Pipeline(reader, track, writer, report, max_queue)
    warm_tracks = 0   # tracks started in the warm-up: faces the part before counted
    tracks_started = 0   # ... and by the last frame restored (the detect stage may be a few frames ahead)
    error: BaseException | None = None
    try:
        for item in pipe.frames():
            if stop():
                report.cancelled = True
                break
            index = item.index - offset
            report.frames_in += index >= warmup
            try:
                result = restore(item)
            except InterruptedError:
                report.cancelled = True
                break
            tracks_started = item.tracks_started
            if index < warmup:   # a warm-up frame: only the tracks and the stabiliser keep it
                report.faces_total = report.faces_max = report.frames_with_faces = 0
                warm_tracks = item.tracks_started
                continue
            if on_frame is not None:
                on_frame(index + offset, result)
            if not pipe.write(result.image):
                break  # the encoder failed: its error is raised below
            if progress is not None:
                done, n = index + 1 - warmup, total - warmup
                progress(min(done / n, 1.0) if n > 0 else 0.0, _eta_message(done, n, time.perf_counter() - t_start))
    except BaseException as exc:  # noqa: BLE001 - cleaned up below, then re-raised
        error = exc
    finally:
        error = pipe.close(complete=error is None and not report.cancelled and reader.reached_end, error=error)
    report.frames_out = writer.frames_written
    report.tracks = tracks_started - warm_tracks
    report.backend = _backends(restorer)
    # a part stops before the end: only the join can tell missing frames (it counts them)
    report.problem = None if report.cancelled or segment is not None else reader.problem
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


def _open_writer(tmp: Path, dst: Path, reader: VideoReader, upscale: int, options: dict,
                 segment: Segment | None = None) -> VideoWriter:
    """The encoder of the ``.partial`` file (the reader is closed if it cannot be made); a segment's
    frames keep the whole output's timestamps and get no audio."""
    info = reader.info
    start, audio = info.start_pts, reader.path if info.has_audio else None
    if segment is not None:
        tb = info.time_base or 1 / info.fps
        start, audio = start + round(segment.first / (info.fps * tb)), None
    try:
        tmp.parent.mkdir(parents=True, exist_ok=True)
        return VideoWriter(tmp, info.width * upscale, info.height * upscale, info.fps, audio_from=audio,
                           time_base=info.time_base, start_pts=start, **options)
    except BaseException as exc:
        reader.close()
        if isinstance(exc, OSError):
            raise VideoError(dst, f"cannot create the output ({exc})") from exc
        raise


def _keep_partial(tmp: Path, report: VideoReport) -> None:
    """Keep a partial output that has frames; remove an empty one."""
    if report.frames_out > 0 and tmp.is_file():
        report.output = tmp
    else:
        tmp.unlink(missing_ok=True)
