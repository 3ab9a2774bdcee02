"""`facesr enhance --ray`: a local Ray runtime started here (2 CPUs, no dashboard) gives the same files,
frame counts and statuses as the local batch; a task that raises is retried, then reported; a long clip
split into parts and joined keeps every frame and its audio. Skipped where Ray is not installed."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from facesr_gui.catalog import load_restorer, resolve
from facesr_gui.cli import main
from facesr_gui.pipeline.engine import enhance_file, enhance_paths
from facesr_gui.pipeline.imageio import save_image
from facesr_gui.pipeline.video_io import av, probe_video
from facesr_gui.selftest import degrade, load_sample

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def ray_local():
    ray = pytest.importorskip("ray")
    if av is None:
        pytest.skip("PyAV not installed")
    from facesr_gui.cluster import connect, disconnect

    assert connect(num_cpus=2)   # a local runtime, no dashboard, no worker logs
    yield ray
    disconnect()


@pytest.fixture(scope="module")
def cluster(ray_local):
    from facesr_gui import cluster

    return cluster


@pytest.fixture(scope="module")
def spec(cluster):
    return cluster.RestorerSpec(resolve("bicubic"), device="cpu")


@pytest.fixture(scope="module")
def face():
    return degrade(load_sample())   # 128x72, one ~17 px face


def _clip(path: Path, face: np.ndarray, frames: int, audio_s: float = 0.0, gop: int = 10) -> Path:
    """A 10 fps H.264 clip of ``face`` moving right (a keyframe every ``gop`` frames), with ``audio_s``
    seconds of AAC tone."""
    h, w = face.shape[:2]
    with av.open(str(path), "w") as c:
        vs = c.add_stream("libx264", rate=10)
        vs.width, vs.height, vs.pix_fmt, vs.options = w, h, "yuv420p", {"g": str(gop)}
        streams = [vs]
        if audio_s:
            a = c.add_stream("aac", rate=16000)
            a.layout = "mono"
            streams.append(a)
        for i in range(frames):
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(np.roll(face, i, axis=1)), format="rgb24")
            frame.pts = i
            for p in vs.encode(frame):
                c.mux(p)
        samples = (0.3 * np.sin(2 * np.pi * 440 * np.arange(int(16000 * audio_s)) / 16000)).astype(np.float32)
        for k in range(0, len(samples), 1024):
            af = av.AudioFrame.from_ndarray(samples[None, k:k + 1024], format="fltp", layout="mono")
            af.sample_rate, af.pts = 16000, k
            for p in a.encode(af):
                c.mux(p)
        for s in streams:
            for p in s.encode():
                c.mux(p)
    return path


def _summary(report, out: Path) -> list:
    rows = []
    for item in report.items:
        frames = probe_video(item.output).frames if item.kind == "video" else Image.open(item.output).size
        rows.append((item.path.name, item.status, item.output.relative_to(out).as_posix(), item.upscale, frames))
    return rows


def test_two_clips_and_two_images_as_the_local_run(cluster, spec, face, tmp_path):
    src = tmp_path / "in"
    (src / "cam2").mkdir(parents=True)
    _clip(src / "cam1.mp4", face, 6)
    _clip(src / "cam2" / "door.mkv", face[:, ::-1].copy(), 4)
    save_image(src / "a.png", face)
    save_image(src / "cam2" / "b.jpg", face[:, ::-1].copy())
    inputs = [src / "a.png", src / "cam1.mp4", src / "cam2" / "b.jpg", src / "cam2" / "door.mkv"]
    local_out, ray_out = tmp_path / "local", tmp_path / "ray"
    for out in (local_out, ray_out):   # a file the program did not write: never overwritten
        save_image(out / "a_facesr.png", face)
    local = enhance_paths(inputs, local_out, load_restorer("bicubic"), upscale=2, detect_every=4, provenance=True)
    seen = []
    ray_report = cluster.enhance_on_ray(inputs, ray_out, spec, upscale=2, detect_every=4, provenance=True,
                                        on_item=seen.append)
    assert _summary(ray_report, ray_out) == _summary(local, local_out)
    assert [r[1] for r in _summary(local, local_out)] == ["ok"] * 4 and len(seen) == 4
    assert _summary(local, local_out)[0][2] == "a_facesr_2.png" and "not overwritten" in ray_report.items[0].message
    assert sorted(p.relative_to(ray_out) for p in ray_out.rglob("*")) == sorted(
        p.relative_to(local_out) for p in local_out.rglob("*"))                       # sidecars too, nothing else
    assert [i.faces for i in ray_report.items] == [i.faces for i in local.items]


def test_a_task_that_raises_is_retried_then_reported(cluster, spec, face, tmp_path):
    tries = tmp_path / "tries"
    tries.mkdir()

    def flaky(path, *args, **kwargs):   # runs in the worker processes (pickled by value)
        (tries / f"{path.name}.{len(list(tries.iterdir()))}").touch()
        if path.name == "bad.png":
            raise RuntimeError("injected failure")
        return enhance_file(path, *args, **kwargs)

    inputs = [save_image(tmp_path / f"{name}.png", face) for name in ("good", "bad", "fine")]
    report = cluster.enhance_on_ray(inputs, tmp_path / "out", spec, upscale=2, retries=2, item_fn=flaky)
    good, bad, fine = report.items
    assert good.status == fine.status == "ok" and bad.status == "error" and bad.output is None
    assert bad.message == "failed 3 times: injected failure"
    assert sorted(p.name.split(".")[0] for p in tries.iterdir()) == ["bad"] * 3 + ["fine", "good"]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["fine_facesr.png", "good_facesr.png"]


def test_a_long_clip_is_split_and_joined_with_every_frame_and_its_audio(cluster, spec, face, tmp_path):
    src = _clip(tmp_path / "long.mp4", face, 30, audio_s=3.5)
    report = cluster.enhance_on_ray([src], tmp_path / "out", spec, upscale=2, detect_every=5, segment_s=1.0,
                                    warmup_s=0.3)
    item, = report.items
    assert item.status == "ok" and item.output == tmp_path / "out" / "long_facesr.mp4"
    assert item.message.endswith("3 parts joined by stream copy") and "30/30 frames" in item.message
    assert item.faces == 1                                 # the face tracked through the cuts is counted once
    with av.open(str(src)) as a, av.open(str(item.output)) as b:
        src_times = [f.time for f in a.decode(video=0)]
        out_times = [f.time for f in b.decode(video=0)]
    with av.open(str(src)) as a, av.open(str(item.output)) as b:
        src_audio = [bytes(p) for p in a.demux(audio=0) if p.size]
        out_audio = [bytes(p) for p in b.demux(audio=0) if p.size]
    assert out_times == pytest.approx(src_times) and len(out_times) == 30
    assert out_audio == src_audio and len(src_audio) > 50  # the audio copied whole, packet for packet
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["long_facesr.mp4"]   # no part left behind


def test_stop_before_start_cancels_everything(cluster, spec, face, tmp_path):
    inputs = [save_image(tmp_path / f"{i}.png", face) for i in range(2)]
    report = cluster.enhance_on_ray(inputs, tmp_path / "out", spec, should_stop=lambda: True)
    assert report.cancelled and all(i.status == "cancelled" and i.output is None for i in report.items)
    assert not list((tmp_path / "out").glob("*.png"))


def test_cli_ray_gives_the_lines_of_the_local_run(ray_local, face, tmp_path, capsys):
    src = tmp_path / "in"
    src.mkdir()
    save_image(src / "a.png", face)
    _clip(src / "cam.mp4", face, 5)
    args = ["enhance", str(src), "--model", "bicubic", "--upscale", "2"]
    assert main([*args, "--out", str(tmp_path / "local")]) == 0
    local = capsys.readouterr().out.splitlines()
    assert main([*args, "--out", str(tmp_path / "ray"), "--ray"]) == 0
    remote = capsys.readouterr().out.splitlines()
    assert ray_local.is_initialized()                       # a runtime it did not start is left running
    strip = [line.split(" -> ")[0] for line in local]
    # the items' lines come as they finish (on_item: in any order), the summary last
    assert sorted(line.split(" -> ")[0] for line in remote) == sorted(strip) and remote[-1] == "2 input(s): 2 ok"


def test_ray_missing_is_one_line(monkeypatch, tmp_path, capsys, face):
    monkeypatch.setitem(sys.modules, "ray", None)            # import ray -> ImportError
    save_image(tmp_path / "a.png", face)
    assert main(["enhance", str(tmp_path / "a.png"), "--model", "bicubic", "--ray"]) == 2
    err = capsys.readouterr().err
    assert err == "error: --ray: install the cluster extra: pip install -e '.[cluster]'\n"
    assert not (tmp_path / "a_facesr.png").exists()


def test_an_output_folder_a_node_cannot_see_is_refused(ray_local, cluster, spec, face, tmp_path, monkeypatch):
    node = next(n for n in ray_local.nodes() if n["Alive"])
    monkeypatch.setattr(ray_local, "nodes", lambda: [node, {**node, "NodeManagerAddress": "10.0.0.7"}])
    monkeypatch.setattr(cluster, "_missing", lambda paths: [str(paths[0])])   # what a node without the mount finds
    image = save_image(tmp_path / "a.png", face)
    with pytest.raises(ValueError, match=r"out: node .* cannot see this output folder: on a cluster the inputs and "
                                         r"--out must be on a filesystem every node mounts"):
        cluster.enhance_on_ray([image], tmp_path / "out", spec)
    assert list((tmp_path / "out").iterdir()) == []                         # no work started, the marker removed


def test_a_cancelled_video_in_parts_keeps_the_frames_done_from_its_start(face, tmp_path):
    """Parts 0 and 2 finished, part 1 cancelled after 4 frames: the finished part and the first 4 frames of
    the next are joined into the target's ``.partial`` file (timestamps as in the source, the audio ending
    with the video); part 2, after the gap, is not in it."""
    from facesr_gui.catalog import load_restorer
    from facesr_gui.pipeline.segments import join_done, plan_segments
    from facesr_gui.pipeline.video import enhance_video, partial_path

    src = _clip(tmp_path / "long.mp4", face, 30, audio_s=3.5)
    segments = plan_segments(src, seconds=1.0, warmup_s=0.3)
    assert [s.count for s in segments] == [10, 10, 10]
    restorer = load_restorer("bicubic", keep_maps=False)
    reports = []
    for k, segment in enumerate(segments):
        written = []
        reports.append(enhance_video(src, tmp_path / f"part{k}.mp4", restorer, segment=segment,
                                     progress=lambda f, m, w=written: w.append(f),
                                     should_stop=(lambda w=written: len(w) >= 4) if k == 1 else None))
    assert [r.cancelled for r in reports] == [False, True, False] and reports[1].frames_out == 4
    dst = tmp_path / "out.mp4"
    kept, frames = join_done(reports, dst, src)
    assert kept == partial_path(dst) and frames == 14 and not dst.exists()
    with av.open(str(src)) as a, av.open(str(kept)) as b:
        src_times = [f.time for f in a.decode(video=0)]
        out_times = [f.time for f in b.decode(video=0)]
    with av.open(str(kept)) as b:
        audio_end = max(float(p.pts * p.time_base) for p in b.demux(audio=0) if p.size)
    assert out_times == pytest.approx(src_times[:14]) and 1.0 < audio_end < 1.6
    nothing = [enhance_video(src, tmp_path / "none.mp4", restorer, segment=segments[0], should_stop=lambda: True)]
    assert join_done(nothing, tmp_path / "none2.mp4", src) == (None, 0)
