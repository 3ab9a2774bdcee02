"""Video reader/writer and enhance_video on the shared clips: frame count, fps, audio,
cancel with a playable partial output, unreadable and truncated files."""
from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

av = pytest.importorskip("av")

from facesr_gui.pipeline import video, video_io
from facesr_gui.catalog import load_restorer
from facesr_gui.pipeline.track import SceneCutDetector
from facesr_gui.pipeline.video import (
    VideoError,
    VideoReader,
    VideoWarning,
    VideoWriter,
    enhance_video,
    iter_frames,
    partial_path,
    probe_video,
)

HALLWAY = "face-demographics-walking.mp4"   # 480x270, 12.5 fps, 35 frames, two walking people, no audio
AUDIO = "short_hamilton_clip.mp4"           # 640x360, 29.97 fps, 275 frames, AAC audio, two hard cuts
LONG = "one-by-one-person-detection-139s.mp4"  # 768x432, 10 fps, 1394 frames, index (moov) at the start


@pytest.fixture(scope="module")
def videos(shared_data) -> Path:
    d = shared_data / "videos"
    if not (d / HALLWAY).is_file():
        pytest.skip(f"{d / HALLWAY} missing")
    return d


@pytest.fixture(scope="module")
def restorer():
    return load_restorer("bicubic", keep_maps=False)


def _decode(path) -> tuple[list[int], list[np.ndarray]]:
    with av.open(str(path)) as c:
        frames = list(c.decode(video=0))
    return [f.pts for f in frames], [f.to_ndarray(format="rgb24") for f in frames]


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float(10 * np.log10(255 ** 2 / max(mse, 1e-10)))


def test_probe_shared_clips(videos):
    info = probe_video(videos / HALLWAY)
    assert (info.width, info.height, info.fps, info.frames) == (480, 270, Fraction(25, 2), 35)
    assert info.frames_exact and not info.has_audio and info.codec == "h264"
    assert info.duration == pytest.approx(2.8)
    a = probe_video(videos / AUDIO)
    assert a.has_audio and a.fps == Fraction(2997, 100) and a.frames == 275


def test_iter_frames_streams_rgb_frames_with_timestamps(videos):
    got = [(i, pts, rgb.shape, rgb.dtype) for i, pts, rgb in iter_frames(videos / HALLWAY, max_frames=5)]
    assert [g[0] for g in got] == [0, 1, 2, 3, 4]
    np.testing.assert_allclose([g[1] for g in got], np.arange(5) / 12.5)
    assert all(g[2] == (270, 480, 3) and g[3] == np.uint8 for g in got)
    assert sum(1 for _ in iter_frames(videos / HALLWAY)) == 35


def test_enhance_hallway_keeps_frames_fps_and_timestamps_and_finds_faces(videos, restorer, tmp_path):
    src, dst = videos / HALLWAY, tmp_path / "out.mp4"
    calls = []
    report = enhance_video(src, dst, restorer, detect_every=3, progress=lambda f, m: calls.append((f, m)))
    assert report.output == dst and dst.is_file() and not partial_path(dst).exists()
    assert report.frames_in == report.frames_out == report.frames_expected == 35
    assert not report.cancelled and report.problem is None and report.audio == "none"
    info = probe_video(dst)
    assert (info.width, info.height, info.fps, info.frames) == (480, 270, Fraction(25, 2), 35)
    src_pts, src_frames = _decode(src)
    out_pts, out_frames = _decode(dst)
    assert out_pts == src_pts  # constant-rate source: every timestamp kept
    # two people walk through the whole clip; the tracker bridges the detector's misses
    assert report.frames_with_faces == 35 and report.faces_max == 2 and report.faces_mean > 1.8
    assert report.tracks <= 3
    # bicubic restorer + the default crf: the frames are the source frames up to coding noise
    assert min(_psnr(a, b) for a, b in zip(src_frames, out_frames)) > 33
    fractions = [f for f, _ in calls]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0 and len(calls) >= 35
    assert "ETA" in calls[10][1] and "frame 11/35" in calls[10][1]
    assert set(report.timings) == {"decode", "detect", "sr", "paste", "encode"}


def test_upscale_and_lossless_output(videos, restorer, tmp_path):
    dst = tmp_path / "x2.mkv"
    seen = []
    report = enhance_video(videos / HALLWAY, dst, restorer, upscale=2, detect_every=100, max_frames=4,
                           lossless=True, on_frame=lambda i, result: seen.append((i, result.image.shape)))
    assert report.frames_out == 4 and report.problem is None
    assert seen == [(i, (540, 960, 3)) for i in range(4)]     # the explicit per-frame hook
    info = probe_video(dst)
    assert (info.width, info.height, info.codec, info.fps) == (960, 540, "ffv1", Fraction(25, 2))
    with pytest.raises(ValueError, match="lossless"):
        enhance_video(videos / HALLWAY, tmp_path / "x.mp4", restorer, max_frames=2, lossless=True)


def test_audio_is_copied_and_kept_in_sync(videos, restorer, tmp_path):
    src, dst = videos / AUDIO, tmp_path / "audio.mp4"
    report = enhance_video(src, dst, restorer, detect_every=1000, max_frames=45)
    assert report.audio == "copied (aac)" and report.frames_out == 45
    assert report.scene_cuts == 1  # the cut at frame 20
    with av.open(str(dst)) as c:
        v, a = c.streams.video[0], c.streams.audio[0]
        assert a.codec_context.name == "aac" and a.sample_rate == 44100
        v_start, v_end = float(v.start_time * v.time_base), float((v.start_time + v.duration) * v.time_base)
        a_start, a_end = float(a.start_time * a.time_base), float((a.start_time + a.duration) * a.time_base)
        n_audio = sum(1 for _ in c.decode(audio=0))  # the copied packets decode
    with av.open(str(src)) as c:
        s = c.streams.video[0]
        assert v_start == pytest.approx(float(s.start_time * s.time_base))  # same start as the source
        s_a = c.streams.audio[0]
        assert a_start == pytest.approx(float(s_a.start_time * s_a.time_base))
    assert v_end - v_start == pytest.approx(45 / 29.97, abs=1e-3)
    assert abs(a_end - v_end) < 0.05  # max_frames: the audio ends with the video
    assert n_audio > 40


def test_audio_from_synthetic_clip_is_copied_whole(tmp_path, restorer):
    """A clip with an audio stream longer than the video: all of it is copied."""
    src = tmp_path / "tone.mkv"
    with av.open(str(src), "w") as c:
        vs = c.add_stream("libx264", rate=10)
        vs.width, vs.height, vs.pix_fmt = 64, 48, "yuv420p"
        a = c.add_stream("aac", rate=16000)
        a.layout = "mono"
        for i in range(10):
            frame = av.VideoFrame.from_ndarray(np.full((48, 64, 3), 20 * i, np.uint8), format="rgb24")
            frame.pts = i
            for p in vs.encode(frame):
                c.mux(p)
        t = np.arange(16000 * 2) / 16000  # 2 s of tone; the video lasts 1 s
        samples = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
        for k in range(0, len(samples), 1024):
            af = av.AudioFrame.from_ndarray(samples[None, k:k + 1024], format="fltp", layout="mono")
            af.sample_rate, af.pts = 16000, k
            for p in a.encode(af):
                c.mux(p)
        for s in (vs, a):
            for p in s.encode():
                c.mux(p)
    assert probe_video(src).has_audio
    dst = tmp_path / "tone_out.mp4"
    report = enhance_video(src, dst, restorer, detect_every=100)
    assert report.frames_out == 10 and report.audio == "copied (aac)"
    with av.open(str(dst)) as c:
        a = c.streams.audio[0]
        assert float(a.duration * a.time_base) == pytest.approx(2.0, abs=0.1)


def test_cancel_leaves_a_playable_partial_file(videos, restorer, tmp_path):
    dst = tmp_path / "cancelled.mp4"
    dst.write_bytes(b"an older result that must survive")
    calls = []
    report = enhance_video(videos / HALLWAY, dst, restorer, detect_every=100,
                           progress=lambda f, m: calls.append(f), should_stop=lambda: len(calls) >= 12)
    assert report.cancelled and report.output == partial_path(dst) == tmp_path / "cancelled.partial.mp4"
    assert dst.read_bytes() == b"an older result that must survive"
    assert report.frames_out == 12 and report.problem is None
    info = probe_video(report.output)
    assert info.frames == 12 and info.fps == Fraction(25, 2)
    pts, frames = _decode(report.output)
    assert len(frames) == 12 and pts == _decode(videos / HALLWAY)[0][:12]


def test_cancel_before_the_first_frame_writes_nothing(videos, restorer, tmp_path):
    report = enhance_video(videos / HALLWAY, tmp_path / "none.mp4", restorer, should_stop=lambda: True)
    assert report.cancelled and report.frames_out == 0 and report.output is None
    assert list(tmp_path.iterdir()) == []


def test_unreadable_video_gives_a_clear_error(tmp_path, restorer):
    bad = tmp_path / "random.mp4"
    bad.write_bytes(np.random.default_rng(0).integers(0, 256, 50_000, dtype=np.uint8).tobytes())
    for call in (lambda: probe_video(bad), lambda: list(iter_frames(bad)),
                 lambda: enhance_video(bad, tmp_path / "o.mp4", restorer)):
        with pytest.raises(VideoError, match="not a readable video") as err:
            call()
        assert isinstance(err.value, ValueError) and err.value.path == bad and str(bad) in str(err.value)
    with pytest.raises(VideoError, match="file not found"):
        probe_video(tmp_path / "missing.mp4")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["random.mp4"]


def test_truncated_mp4_without_index_is_a_clear_error(videos, tmp_path):
    data = (videos / HALLWAY).read_bytes()  # its index (moov) is at the end of the file
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(VideoError, match="truncated"):
        probe_video(cut)


def test_truncated_file_decodes_what_it_can_and_says_how_much(videos, tmp_path):
    long = videos / LONG
    if not long.is_file():
        pytest.skip(f"{long} missing")
    data = long.read_bytes()  # index at the start: the first half of the frames still decodes
    cut = tmp_path / "half.mp4"
    cut.write_bytes(data[: len(data) // 2])
    with VideoReader(cut) as reader:
        n = sum(1 for _ in reader)
    assert 500 < n < 900 and reader.frames_read == n
    assert reader.problem == f"truncated: {n} of 1394 frames could be decoded"
    with pytest.warns(VideoWarning, match="truncated"):
        for _ in iter_frames(cut):
            pass


def test_enhance_truncated_clip_processes_the_frames_that_decode(videos, restorer, tmp_path):
    whole = tmp_path / "clip.mkv"
    with VideoWriter(whole, 480, 270, Fraction(25, 2)) as w:
        for _, _, rgb in iter_frames(videos / HALLWAY):
            w.write(rgb)
    data = whole.read_bytes()
    cut = tmp_path / "cut.mkv"
    cut.write_bytes(data[: len(data) // 2])
    report = enhance_video(cut, tmp_path / "out.mp4", restorer, detect_every=100)
    assert 5 < report.frames_in < 35 and report.frames_out == report.frames_in  # no frame dropped
    assert "truncated" in report.problem and f"{report.frames_in} of 35" in report.problem
    assert report.output == tmp_path / "out.mp4" and probe_video(report.output).frames == report.frames_out


def test_writer_odd_size_and_lossless_roundtrip(tmp_path):
    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 256, (37, 51, 3), dtype=np.uint8) for _ in range(3)]
    with VideoWriter(tmp_path / "odd.mp4", 51, 37, 24) as w:  # 4:2:0 needs even sizes: yuv444p
        for f in frames:
            w.write(f)
    assert probe_video(tmp_path / "odd.mp4").frames == 3
    with VideoWriter(tmp_path / "exact.mkv", 51, 37, Fraction(30000, 1001), lossless=True) as w:
        for f in frames:
            w.write(f)
        with pytest.raises(ValueError, match="uint8"):
            w.write(frames[0][:10])
    got = [rgb for _, _, rgb in iter_frames(tmp_path / "exact.mkv")]
    assert len(got) == 3 and all(np.array_equal(a, b) for a, b in zip(frames, got))
    assert probe_video(tmp_path / "exact.mkv").fps == Fraction(30000, 1001)


def test_opencv_fallback_without_pyav(videos, restorer, tmp_path, monkeypatch):
    monkeypatch.setattr(video_io, "av", None)
    assert probe_video(videos / HALLWAY).fps == Fraction(25, 2)
    report = enhance_video(videos / HALLWAY, tmp_path / "cv.mp4", restorer, detect_every=100, max_frames=6)
    assert report.frames_out == 6 and report.output == tmp_path / "cv.mp4"
    assert sum(1 for _ in iter_frames(tmp_path / "cv.mp4")) == 6
    with pytest.raises(VideoError, match="not a readable video"):
        probe_video(Path(__file__))


def test_scene_cut_detector_on_real_clips(videos):
    cuts = SceneCutDetector()
    assert [i for i, _, rgb in iter_frames(videos / AUDIO, max_frames=60) if cuts(rgb)] == [20]
    cuts = SceneCutDetector()
    assert not any(cuts(rgb) for _, _, rgb in iter_frames(videos / HALLWAY))


def test_bad_arguments(videos, restorer, tmp_path):
    with pytest.raises(ValueError, match="overwrite"):
        enhance_video(videos / HALLWAY, videos / HALLWAY, restorer)
    with pytest.raises(ValueError):
        enhance_video(videos / HALLWAY, tmp_path / "o.mp4", restorer, detect_every=0)


class _FailingRestorer:
    """Delegates to a real restorer but fails on one frame (a crash mid-video)."""

    def __init__(self, restorer, fail_at: int) -> None:
        self._restorer, self._fail_at, self.calls = restorer, fail_at, 0

    def detect(self, rgb, min_face=None):
        return self._restorer.detect(rgb, min_face=min_face)

    def detect_in(self, rgb, rects, min_face=None):
        return self._restorer.detect_in(rgb, rects, min_face=min_face)

    def detect_near(self, rgb, boxes):
        return self._restorer.detect_near(rgb, boxes)

    def enhance(self, rgb, **kwargs):
        if self.calls == self._fail_at:
            raise RuntimeError("out of memory (simulated)")
        self.calls += 1
        return self._restorer.enhance(rgb, **kwargs)


def test_error_mid_video_keeps_the_frames_done_and_reraises(videos, restorer, tmp_path):
    dst = tmp_path / "crash.mp4"
    with pytest.raises(RuntimeError, match="simulated") as err:
        enhance_video(videos / HALLWAY, dst, _FailingRestorer(restorer, 7), detect_every=100)
    assert not dst.exists() and probe_video(partial_path(dst)).frames == 7
    assert str(partial_path(dst)) in "".join(getattr(err.value, "__notes__", [str(partial_path(dst))]))


def test_unwritable_output_is_a_clear_error(videos, restorer, tmp_path):
    (tmp_path / "a_file").write_text("x")
    with pytest.raises(VideoError, match="cannot create the output"):
        enhance_video(videos / HALLWAY, tmp_path / "a_file" / "out.mp4", restorer)
    with pytest.raises(VideoError, match="cannot create the output"):
        enhance_video(videos / HALLWAY, tmp_path / "out.unknown_suffix", restorer)
    with pytest.raises(VideoError, match="folder does not exist"):
        VideoWriter(tmp_path / "missing" / "out.mp4", 64, 48, 25)


def test_encoder_failure_does_not_hang(videos, restorer, tmp_path, monkeypatch):
    write = VideoWriter.write

    def failing_write(self, rgb):
        if self.frames_written == 3:
            raise OSError(28, "No space left on device (simulated)")
        write(self, rgb)

    monkeypatch.setattr(VideoWriter, "write", failing_write)
    with pytest.raises(OSError, match="No space left"):
        enhance_video(videos / HALLWAY, tmp_path / "full.mp4", restorer, detect_every=100, max_queue=1)
    assert not (tmp_path / "full.mp4").exists()


def test_a_stop_inside_a_frame_finishes_that_frame(videos, restorer, tmp_path):
    """A stop request (Ctrl-C, SIGTERM, Cancel) while a frame is restored ends the video after that
    frame: every frame taken in is written."""
    calls = []

    class SignalledDuringFrame6:
        def __getattr__(self, name):
            return getattr(restorer, name)

        def enhance(self, *args, **kwargs):
            calls.append(1)
            return restorer.enhance(*args, **kwargs)

    report = enhance_video(videos / HALLWAY, tmp_path / "c.mp4", SignalledDuringFrame6(), detect_every=100,
                           should_stop=lambda: len(calls) >= 6)
    assert report.cancelled and report.frames_in == 6 and report.frames_out == 6
    assert probe_video(report.output).frames == 6


def test_yuv_output_is_tagged_bt709_and_decodes_to_the_same_colours(tmp_path):
    rng = np.random.default_rng(1)
    img = np.repeat(np.repeat(rng.integers(0, 256, (12, 16, 3), dtype=np.uint8), 8, 0), 8, 1)  # flat 8x8 blocks
    with VideoWriter(tmp_path / "c.mp4", 128, 96, 25, pix_fmt="yuv444p", crf=0) as w:
        w.write(img)
    with av.open(str(tmp_path / "c.mp4")) as c:
        frame = next(c.decode(video=0))
        assert (frame.colorspace, frame.color_range) == (1, 1)  # BT.709, limited range
        assert np.abs(frame.to_ndarray(format="rgb24").astype(int) - img).mean() < 1.0


def test_detection_runs_in_its_own_thread_bounded_ahead_of_restoring(videos, restorer, tmp_path):
    """Frame t + 1 is detected while frame t is restored (video_stages), never more than the queues
    hold ahead, and a failure in detection ends the video with that error (no hang), keeping the
    frames done."""
    import threading
    import time

    detected, restored, ahead = [], [], []

    class Watched:
        def __getattr__(self, name):
            return getattr(restorer, name)

        def _seen(self):
            detected.append(threading.current_thread().name)
            if len(detected) == 12:
                raise RuntimeError("detector failed (simulated)")

        def detect(self, rgb, min_face=None):
            self._seen()
            return restorer.detect(rgb, min_face=min_face)

        def detect_near(self, rgb, boxes):
            self._seen()
            return restorer.detect_near(rgb, boxes)

        def enhance(self, rgb, **kwargs):
            time.sleep(0.02)   # a slow restorer: the detect stage runs ahead until its queue is full
            restored.append(threading.current_thread().name)
            ahead.append(len(detected) - len(restored))
            return restorer.enhance(rgb, **kwargs)

    dst = tmp_path / "d.mp4"
    with pytest.raises(RuntimeError, match="detector failed"):
        enhance_video(videos / HALLWAY, dst, Watched(), detect_every=100, max_queue=2)
    assert set(detected) == {"video-detect"} and threading.current_thread().name in set(restored)
    assert len(restored) == 11 and 2 <= max(ahead) <= 2 + 2   # the tracked queue plus the frame in hand
    assert not dst.exists() and probe_video(partial_path(dst)).frames == 11
    assert not any(t.name.startswith("video-") for t in threading.enumerate())


def test_pipelined_output_is_the_sequential_one(videos, restorer, tmp_path):
    """Detecting in its own thread changes nothing: the same faces, boxes and frames as restoring
    each frame right after detecting it (one queue slot: the stages take turns)."""
    boxes = {}
    for q in (1, 8):
        seen = {}
        enhance_video(videos / HALLWAY, tmp_path / f"q{q}.mp4", restorer, detect_every=5, max_queue=q,
                      on_frame=lambda i, r: seen.__setitem__(i, [tuple(f.box) for f in r.faces]))
        boxes[q] = seen
    assert boxes[1] == boxes[8] and len(boxes[1]) == 35
    assert [np.array_equal(a, b) for a, b in zip(_decode(tmp_path / "q1.mp4")[1], _decode(tmp_path / "q8.mp4")[1])] \
        == [True] * 35
