"""Long videos in parts: split at keyframes, enhance the parts apart (on several workers), join them.

:func:`plan_segments` reads the video's packet index (no decoding) and cuts it at the first keyframe
after every ``seconds``; each part is a :class:`~.video.Segment` that :func:`~.video.enhance_video`
enhances on its own, starting ``warmup_s`` earlier so that face tracks and the stabiliser have settled
by the part's first frame (the warm-up frames are restored but not written; the part's first frame is
detected whole, and its cadence starts there). A warm-up start that is not a keyframe is reached by
decoding from the keyframe before it (decoded, not restored).

:func:`join_segments` concatenates the parts' H.264 streams by **stream copy** (packets muxed as they
are, no second encode: the join is lossless and costs no more than copying the file) and copies the
source's audio into the same container, interleaved, as :class:`~.video_io.VideoWriter` does. Every part
was encoded by the same encoder with the same settings, each starts with a keyframe, and its frames
carry the whole output's timestamps, so the parts' packets form one valid stream. Should two parts'
codec headers differ (another encoder build on another node), the join decodes the parts and encodes
them once more instead (one more lossy generation; the item's message says so).

The joined file has exactly the source's frames (the parts' frame counts are checked against the plan).
Needs PyAV.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from . import video_io
from .video import Segment, VideoReport, partial_path
from .video_io import VideoError, VideoReader, VideoWriter, probe_video

DEFAULT_SEGMENT_S = 60.0   # a part per minute of video: a 1-hour clip keeps 60 workers busy
DEFAULT_WARMUP_S = 1.0     # tracks and the stabiliser settle within a second (tracker: ~0.25 s of misses)


@dataclass(frozen=True)
class Joined:
    """What :func:`join_segments` wrote: ``frames`` video frames, ``audio`` as :attr:`.VideoWriter.audio`
    (``"none"``, ``"copied (aac)"``, ``"dropped (why)"``), ``reencoded``: the stream copy was impossible."""

    frames: int
    audio: str
    reencoded: bool = False


def frame_timestamps(path: str | os.PathLike) -> tuple[list[int], list[int]]:
    """Every video frame's timestamp in presentation order (the stream's time base) and the indices of
    the keyframes in that list, from the packets (nothing is decoded). Raises :class:`VideoError` when a
    packet has no timestamp (raw streams): such a video is not split."""
    av = _need_av(path)
    pts, keys = [], []
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        for packet in container.demux(stream):
            if packet.size == 0:   # the demuxer's empty flush packet
                continue
            if packet.pts is None:
                raise VideoError(path, "a video packet has no timestamp: the video cannot be split")
            pts.append(packet.pts)
            if packet.is_keyframe:
                keys.append(packet.pts)
    pts.sort()
    index = {p: i for i, p in enumerate(pts)}
    return pts, sorted(index[k] for k in keys)


def plan_segments(path: str | os.PathLike, seconds: float = DEFAULT_SEGMENT_S,
                  warmup_s: float = DEFAULT_WARMUP_S) -> list[Segment]:
    """``path`` cut at the first keyframe after every ``seconds`` (no part shorter than half of that at
    the end); one segment for a video shorter than ``seconds`` or without timestamps. Each part but the
    first gets ``warmup_s`` of warm-up frames before it."""
    info = probe_video(path)
    if info.duration and info.duration < seconds:
        return [Segment(0, info.frames, 0, info.start_pts)]
    try:
        pts, keys = frame_timestamps(path)
    except VideoError:
        return [Segment(0, info.frames, 0, info.start_pts)]
    length, warmup = max(1, round(seconds * info.fps)), max(0, round(warmup_s * info.fps))
    cuts = [0]
    for k in keys:
        if k - cuts[-1] >= length and len(pts) - k >= length / 2:
            cuts.append(k)
    ends = cuts[1:] + [len(pts)]
    return [Segment(a, b - a, min(warmup, a), pts[a - min(warmup, a)]) for a, b in zip(cuts, ends)]


def join_segments(parts: list[Path], dst: str | os.PathLike, audio_from: str | os.PathLike | None = None,
                  expected_frames: int | None = None, whole_audio: bool = True) -> Joined:
    """Concatenate the video of ``parts`` (in order) into ``dst`` with the first audio stream of
    ``audio_from`` (all of it, or with ``whole_audio`` False only up to the last frame: a video cut
    short); written as ``<stem>.partial<suffix>`` and renamed onto ``dst`` when complete. Raises
    :class:`VideoError` when the parts do not hold ``expected_frames`` frames (nothing is left behind)."""
    av = _need_av(dst)
    dst = Path(dst)
    tmp = partial_path(dst)
    headers = set()
    for part in parts:
        with av.open(str(part)) as c:
            headers.add(bytes(c.streams.video[0].codec_context.extradata or b""))
    try:
        joined = (_copy_join(av, parts, tmp, audio_from, whole_audio) if len(headers) == 1
                  else _reencode_join(parts, tmp, audio_from, whole_audio))
        if expected_frames is not None and joined.frames != expected_frames:
            raise VideoError(dst, f"the parts hold {joined.frames} frames, not the video's {expected_frames}")
        os.replace(tmp, dst)
    finally:
        tmp.unlink(missing_ok=True)
    return joined


def join_done(reports: list[VideoReport], dst: str | os.PathLike, audio_from: str | os.PathLike | None = None
              ) -> tuple[Path | None, int]:
    """A video in parts that was cancelled: the parts done from its start (every finished one, then the
    first one cut short, whose ``.partial`` file holds its first frames), in order, joined into ``dst``'s
    ``.partial`` file with the audio up to their last frame, as a cancelled single run keeps it.
    Returns ``(that file, its frames)``, or ``(None, 0)`` when the first part wrote nothing."""
    done: list[Path] = []
    for report in reports:
        if report.output is None:
            break
        done.append(Path(report.output))
        if report.cancelled:
            break
    if not done:
        return None, 0
    partial = partial_path(dst)
    joined = join_segments(done, partial, audio_from, whole_audio=False)
    return partial, joined.frames


def _copy_join(av, parts: list[Path], tmp: Path, audio_from, whole_audio: bool = True) -> Joined:
    frames = 0
    with av.open(str(parts[0])) as first, av.open(str(tmp), mode="w") as out:
        v_out = out.add_stream_from_template(first.streams.video[0])
        audio = video_io.AudioCopy(out, audio_from, tmp.suffix.lower())
        for part in parts:
            with av.open(str(part)) as c:
                for packet in c.demux(c.streams.video[0]):
                    if packet.dts is None:
                        continue
                    audio.until(packet.pts * packet.time_base if packet.pts is not None else None)
                    packet.stream = v_out
                    out.mux(packet)
                    frames += 1
        if whole_audio:
            audio.until(None)
        audio.close()
    return Joined(frames, audio.state)


def _reencode_join(parts: list[Path], tmp: Path, audio_from, whole_audio: bool = True) -> Joined:
    first = probe_video(parts[0])
    writer = VideoWriter(tmp, first.width, first.height, first.fps, audio_from=audio_from, time_base=first.time_base,
                         start_pts=first.start_pts)
    complete = False
    try:
        for part in parts:
            with VideoReader(part, max_pixels=0) as reader:
                for _i, _t, rgb in reader:
                    writer.write(rgb)
        complete = whole_audio   # an incomplete close ends the audio with the video
    finally:
        writer.close(complete=complete)
    return Joined(writer.frames_written, writer.audio, reencoded=True)


def merge_reports(reports: list[VideoReport]) -> VideoReport:
    """One :class:`~.video.VideoReport` of the parts (a part's tracks leave out those its warm-up
    started: the part before counted them)."""
    rep = VideoReport(frames_expected=reports[0].frames_expected, fps_video=reports[0].fps_video)
    backends = sorted({r.backend for r in reports if r.backend})
    rep.backend = " / ".join(backends)      # the parts may run on different machines
    for r in reports:
        for name in ("frames_in", "frames_out", "faces_total", "frames_with_faces", "tracks", "scene_cuts",
                     "full_detections", "gated_detections"):
            setattr(rep, name, getattr(rep, name) + getattr(r, name))
        rep.faces_max = max(rep.faces_max, r.faces_max)
        rep.cancelled |= r.cancelled
        rep.problem = rep.problem or r.problem
        for stage, seconds in r.timings.items():
            rep.timings[stage] += seconds
    return rep


def _need_av(path):
    if video_io.av is None:
        raise VideoError(path, "splitting and joining videos needs PyAV (pip install av)")
    return video_io.av
