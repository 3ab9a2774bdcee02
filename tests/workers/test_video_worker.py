"""VideoWorker: scrubber frames, detection preview, a real bicubic run, cancel with partial output, errors."""
from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np
import pytest

from facesr_gui.catalog import load_net
from facesr_gui.pipeline.accel import resolve_backend
from facesr_gui.service import ModelService
from facesr_gui.pipeline.video import iter_frames, partial_path, probe_video
from facesr_gui.workers.video import (PREVIEW_PER_SECOND, FrameReader, VideoJob, VideoWorker, default_output,
                                      read_frame, shrink)

SHORT = "videos/head-pose-face-detection-female.mp4"   # 23 frames, 480x270, one face
LONG = "videos/head-pose-face-detection-male.mp4"      # 62 frames, 480x270


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture
def short_clip(shared_data):
    return shared_data / SHORT


@pytest.fixture
def long_clip(shared_data):
    return shared_data / LONG


@pytest.fixture
def worker(qtbot):
    w = VideoWorker()
    w.start()
    yield w
    assert w.stop(10_000)


def test_read_frame_matches_the_decoder(short_clip):
    frames = {i: rgb for i, _, rgb in iter_frames(short_clip, max_frames=12)}
    reader = FrameReader()
    try:
        for index in (0, 1, 2, 11, 5, 6):      # sequential reads and seeks both ways
            assert np.array_equal(reader.read(short_clip, index), frames[index]), index
    finally:
        reader.close()
    assert read_frame(short_clip, 7).shape == (270, 480, 3)
    with pytest.raises(ValueError, match="frame 500"):
        read_frame(short_clip, 500)


def test_helpers(tmp_path):
    assert default_output(tmp_path / "clip.mp4") == tmp_path / "clip_facesr.mkv"
    assert default_output("a/b.avi", ".mp4").name == "b_facesr.mp4"
    assert default_output(tmp_path / "clip.mp4", fallback_dir="/x") == tmp_path / "clip_facesr.mkv"  # writable


def test_default_output_leaves_a_read_only_folder(tmp_path, monkeypatch):
    import os

    card = tmp_path / "card"
    monkeypatch.setattr(os, "access", lambda p, mode: Path(p) != card)   # as if mounted read-only
    assert default_output(card / "clip.mp4", fallback_dir=tmp_path / "Videos") == tmp_path / "Videos" / "clip_facesr.mkv"
    assert default_output(card / "clip.mp4") == card / "clip_facesr.mkv"   # no fallback given: beside it
    big = np.zeros((1080, 1920, 3), np.uint8)
    assert shrink(big).shape == (540, 960, 3)
    small = np.ones((10, 20, 3), np.uint8)
    out = shrink(small)
    assert out.shape == small.shape and out is not small


def test_latest_frame_request_wins_and_detection_draws_boxes(worker, short_clip, qtbot):
    seen = []
    worker.frame_decoded.connect(seen.append)
    for index in range(20):
        worker.request_frame(short_clip, index)
    qtbot.waitUntil(lambda: bool(seen) and seen[-1].index == 19, timeout=5000)
    assert len(seen) < 20                            # superseded requests were dropped
    assert np.array_equal(seen[-1].rgb, read_frame(short_clip, 19)) and seen[-1].boxes is None
    with qtbot.waitSignal(worker.frame_decoded, timeout=15_000) as blocker:
        worker.request_frame(short_clip, 10, detect=True)
    frame = blocker.args[0]
    assert frame.index == 10 and frame.boxes is not None and len(frame.boxes) == 1
    x0, y0, x1, y1 = frame.boxes[0]
    assert 0 <= x0 < x1 <= 480 and 0 <= y0 < y1 <= 270 and frame.scores[0] > 0.9


def test_unreadable_frame_request_reports_and_the_thread_lives_on(worker, tmp_path, short_clip, qtbot):
    bad = tmp_path / "broken.mp4"
    bad.write_bytes(b"this is not a video" * 100)
    with qtbot.waitSignal(worker.frame_failed, timeout=5000) as blocker:
        worker.request_frame(bad, 0)
    assert "broken.mp4" in blocker.args[0] and "not a readable video" in blocker.args[0]
    with qtbot.waitSignal(worker.frame_decoded, timeout=5000):
        worker.request_frame(short_clip, 3)


def test_bicubic_run_end_to_end(worker, short_clip, tmp_path, qtbot):
    dst = tmp_path / "out.mkv"
    counts, previews, messages = [], [], []
    worker.frames_progressed.connect(lambda done, total, eta: counts.append((done, total, eta, time.perf_counter())))
    worker.frame_previewed.connect(previews.append)
    worker.progressed.connect(lambda f, m: messages.append((f, m)))
    loaded, load = [], worker._load
    worker._load = lambda job: loaded.append(load(job)) or loaded[-1]
    with qtbot.waitSignal(worker.finished, timeout=90_000) as blocker:
        worker.process(VideoJob(short_clip, dst, "bicubic", upscale=2, detect_every=3, flip_ensemble=True))
    report = blocker.args[0]
    assert loaded[-1].flip_ensemble                                          # the job's option ...
    assert not worker.service._restorers[("bicubic", "cpu", False, resolve_backend("auto", "cpu"))].flip_ensemble   # ... not the cached one's
    assert not report.cancelled and report.frames_in == report.frames_out == 23
    assert report.output == dst and dst.is_file() and not partial_path(dst).exists()
    info = probe_video(dst)
    assert (info.width, info.height, info.frames) == (960, 540, 23)
    assert [c[0] for c in counts][:23] == list(range(1, 24)) and all(c[1] == 23 for c in counts)
    assert counts[-1][2] == 0.0 and all(c[2] >= 0 for c in counts)
    assert messages[-1][0] == 1.0 and "ETA" in messages[-2][1]
    # throttled previews: the first frame, then at most PREVIEW_PER_SECOND a second
    assert previews and previews[0].index == 0 and previews[0].rgb.shape == (540, 960, 3)
    span = counts[-1][3] - counts[0][3]
    assert len(previews) <= 2 + span * PREVIEW_PER_SECOND
    assert not worker.is_processing()


def test_cancel_stops_promptly_and_keeps_the_partial_output(worker, long_clip, tmp_path, qtbot):
    dst = tmp_path / "long.mp4"
    done = []
    worker.frames_progressed.connect(lambda d, t, e: done.append(d))
    finished = []
    worker.finished.connect(finished.append)
    worker.process(VideoJob(long_clip, dst, "bicubic", detect_every=2))
    qtbot.waitUntil(lambda: bool(done) and done[-1] >= 3, timeout=30_000)
    t0 = time.perf_counter()
    with qtbot.waitSignal(worker.cancelled, timeout=5000) as blocker:
        worker.cancel()
    assert time.perf_counter() - t0 < 3.0
    report = blocker.args[0]
    assert report.cancelled and not finished and not dst.exists()
    assert 3 <= report.frames_out < 62
    assert report.output == partial_path(dst) and report.output.is_file()
    assert probe_video(report.output).frames == report.frames_out


def test_cancel_while_the_model_loads_writes_nothing(short_clip, tmp_path, qtbot):
    started, gate = threading.Event(), threading.Event()

    def slow_loader(entry, device):
        started.set()
        gate.wait(5)
        return load_net(entry, device)

    w = VideoWorker(ModelService(loader=slow_loader))
    w.start()
    try:
        dst = tmp_path / "none.mkv"
        w.process(VideoJob(short_clip, dst))
        assert started.wait(5)
        with qtbot.waitSignal(w.cancelled, timeout=5000) as blocker:
            w.cancel()
            gate.set()
        assert blocker.args[0] is None and not dst.exists() and not partial_path(dst).exists()
    finally:
        gate.set()
        assert w.stop(5000)


def test_unreadable_video_errors_clearly(worker, tmp_path, qtbot):
    bad = tmp_path / "garbage.mp4"
    bad.write_bytes(np.random.default_rng(0).integers(0, 256, 5000, dtype=np.uint8).tobytes())
    with qtbot.waitSignal(worker.errored, timeout=5000) as blocker:
        worker.process(VideoJob(bad, tmp_path / "out.mkv"))
    assert "garbage.mp4" in blocker.args[0] and "not a readable video" in blocker.args[0]
    with qtbot.waitSignal(worker.errored, timeout=5000) as blocker:
        worker.process(VideoJob(tmp_path / "missing.mp4", tmp_path / "out.mkv"))
    assert "file not found" in blocker.args[0]
    assert not (tmp_path / "out.mkv").exists()


def test_unwritable_output_errors(worker, short_clip, tmp_path, qtbot):
    blocker_file = tmp_path / "not_a_folder"
    blocker_file.write_text("x")
    with qtbot.waitSignal(worker.errored, timeout=15_000) as blocker:
        worker.process(VideoJob(short_clip, blocker_file / "out.mkv"))
    assert "not_a_folder" in blocker.args[0]
    with qtbot.waitSignal(worker.errored, timeout=5000) as blocker:
        worker.process(VideoJob(short_clip, short_clip))
    assert "must not overwrite" in blocker.args[0]


def test_stop_during_a_run_cancels_and_waits(long_clip, tmp_path, qtbot):
    w = VideoWorker()
    w.start()
    done = []
    w.frames_progressed.connect(lambda d, t, e: done.append(d))
    w.process(VideoJob(long_clip, tmp_path / "o.mkv", detect_every=4))
    qtbot.waitUntil(lambda: bool(done), timeout=30_000)
    t0 = time.perf_counter()
    assert w.stop(5000) and not w.is_running()
    assert time.perf_counter() - t0 < 3.0
    assert not (tmp_path / "o.mkv").exists() and partial_path(tmp_path / "o.mkv").is_file()


def test_out_of_gpu_memory_runs_the_video_again_on_the_cpu(short_clip, tmp_path, qtbot, out_of_memory):
    """A video job on the GPU that runs out of memory mid-run tells the window, moves the shared service to
    the CPU and runs the video again there from its first frame: a complete output, no .partial left."""
    import torch

    class FullGpuService(ModelService):
        """A GPU (none needed) whose restorers run out of memory on the 5th frame."""
        def restorer(self, model_id, device, half=False, on_load=None, backend="torch"):
            real = super().restorer(model_id, torch.device("cpu"), False, on_load, backend)
            return out_of_memory(real, fail_on=5) if device.type == "cuda" else real

    w = VideoWorker(FullGpuService(device="cpu"))
    w.start()
    notes, labels = [], []
    w.notified.connect(notes.append)
    w.device_changed.connect(labels.append)
    try:
        dst = tmp_path / "out.mkv"
        with qtbot.waitSignal(w.finished, timeout=90_000) as blocker:
            w.process(VideoJob(short_clip, dst, "bicubic", device="cuda", detect_every=3))
        report = blocker.args[0]
        assert report.frames_out == 23 and report.output == dst and not partial_path(dst).exists()
        assert probe_video(dst).frames == 23
        qtbot.waitUntil(lambda: len(labels) == 1, timeout=5000)
        assert len(notes) == 1 and "out of memory" in notes[0] and "first frame" in notes[0]
        assert labels[0].startswith("CPU") and w.service.device()[0].type == "cpu"
    finally:
        assert w.stop(10_000)
