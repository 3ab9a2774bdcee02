"""Batch engine: input collection, output naming, auto upscale, and a batch that keeps
going past bad inputs (images and videos)."""
from __future__ import annotations

import weakref

import numpy as np
import pytest
from PIL import Image

from facesr_gui.pipeline import engine
from facesr_gui.pipeline.detect import Detections, from_boxes
from facesr_gui.pipeline.engine import BatchReport, collect_inputs, enhance_paths, face_sheet, output_suffix, plan_outputs
from facesr_gui.pipeline.imageio import load_image, save_image
from facesr_gui.pipeline.sizing import MIN_FACE_PX, auto_upscale, crop_sides, face_range, is_large


def _touch(path, data=b"x"):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def test_collect_inputs(tmp_path):
    root = tmp_path / "in"
    for rel in ["b.jpg", "a/z.PNG", "a/clip.mp4", "a/notes.txt", ".hidden/x.jpg", "a/.y.png", "b_facesr.jpg"]:
        _touch(root / rel)
    single = _touch(tmp_path / "single.txt")
    got = collect_inputs([root, single, tmp_path / "missing.jpg", root / "b.jpg"])
    assert got == [root / "a/clip.mp4", root / "a/z.PNG", root / "b.jpg", single, tmp_path / "missing.jpg"]


def test_plan_outputs(tmp_path):
    a, b, c = tmp_path / "p/x.png", tmp_path / "q/sub/x.png", tmp_path / "p/x.gif"
    assert plan_outputs([a], None) == [tmp_path / "p/x_facesr.png"]
    out = tmp_path / "out"
    assert plan_outputs([a, b, c], out) == [out / "p/x_facesr.png", out / "q/sub/x_facesr.png",
                                            out / "p/x_facesr_2.png"]     # GIF -> PNG, name taken
    taken = tmp_path / "p/x_facesr.png"                                   # an input with the output's name
    assert plan_outputs([a, taken], None) == [tmp_path / "p/x_facesr_2.png", tmp_path / "p/x_facesr_facesr.png"]
    assert output_suffix(tmp_path / "v.MOV", "video") == ".mov" and output_suffix(tmp_path / "v.avi", "video") == ".mkv"


def test_plan_outputs_never_takes_an_existing_file(tmp_path):
    a = _touch(tmp_path / "x.jpg")
    mine = _touch(tmp_path / "x_facesr.jpg")                            # the user's own file
    notes: dict[int, str] = {}
    assert plan_outputs([a], None, notes) == [tmp_path / "x_facesr_2.jpg"]
    assert notes == {0: "x_facesr.jpg exists already, not overwritten"}
    skipped: list = []
    assert collect_inputs([tmp_path], skipped) == [a]
    assert skipped[0][0] == mine and "earlier run" in skipped[0][1]


def test_auto_upscale_rule():
    assert auto_upscale(100, 100, Detections.empty(), 128) == 1
    assert auto_upscale(100, 100, [32.0], 128) == 4                  # 32 px crop -> 128 px SR crop
    assert auto_upscale(100, 100, [20, 30, 64], 128) == 4            # the median face decides
    assert auto_upscale(100, 100, [4.0], 128, max_scale=8) == 8      # never beyond the net's factor
    assert auto_upscale(1500, 1000, [16.0], 128) == 2                # long side stays <= 4096
    assert auto_upscale(5000, 3000, [16.0], 128) == 1
    assert auto_upscale(500, 500, [200.0], 128) == 1                 # already large
    # detections: a 20 px box frames a ~31 px aligned crop (CelebA field of view)
    box_only = from_boxes([[10, 10, 30, 30]], estimate_landmarks=False)
    assert crop_sides(box_only)[0] == pytest.approx(20 / 0.6444, abs=0.05)
    assert auto_upscale(100, 100, box_only, 128) == 4


def test_large_face_rule_and_the_face_range_it_implies():
    assert not is_large(160, 1, 128) and is_large(161, 1, 128)     # 1.25x the SR crop in the output
    assert is_large(41, 4, 128) and not is_large(40, 4, 128)
    low, high = face_range(128)
    assert low == MIN_FACE_PX and high == 103                        # a 160 px crop frames a 103 px box
    assert face_range(128, 4)[1] == 25 and face_range(256)[1] == 206


def test_batch_continues_past_bad_inputs(tmp_path, restorer, face_frame):
    src = tmp_path / "in"
    save_image(src / "face.png", face_frame)
    save_image(src / "flat.png", np.full((48, 64, 3), 128, np.uint8))
    _touch(src / "corrupt.jpg", b"\xff\xd8\xff\xe0 not really a jpeg" * 10)
    _touch(src / "empty.png", b"")
    _touch(src / "notes.txt", b"hello")
    rgba = np.dstack([face_frame, np.full(face_frame.shape[:2], 200, np.uint8)])
    Image.fromarray(rgba, "RGBA").save(src / "alpha.png")
    inputs = [src / "corrupt.jpg", src / "face.png", src / "empty.png", tmp_path / "missing.png",
              src / "notes.txt", src / "flat.png", src / "alpha.png"]
    seen, fractions = [], []
    report = enhance_paths(inputs, tmp_path / "out", restorer, upscale="auto", on_item=seen.append,
                           progress=lambda f, m: fractions.append(f))
    status = {r.path.name: r for r in report.items}
    assert [r.status for r in report.items] == ["error", "ok", "error", "error", "error", "no-face", "ok"]
    assert seen == report.items and not report.ok and not report.cancelled
    assert fractions == sorted(fractions) and fractions[-1] == pytest.approx(1.0)
    assert "corrupt" in status["corrupt.jpg"].message and "empty file" in status["empty.png"].message
    assert "file not found" in status["missing.png"].message and "unsupported file type '.txt'" in status["notes.txt"].message
    face = status["face.png"]
    assert face.faces == 1 and face.upscale >= 3 and face.output.name == "face_facesr.png"
    assert load_image(face.output).rgb.shape == (72 * face.upscale, 128 * face.upscale, 3)
    flat = status["flat.png"]
    assert flat.faces == 0 and flat.upscale == 1 and load_image(flat.output).rgb.shape == (48, 64, 3)
    out = load_image(status["alpha.png"].output)
    assert out.alpha is not None and out.alpha.shape == out.rgb.shape[:2] and out.alpha.min() == 200
    # sub-folders relative to the inputs' common parent (tmp_path: missing.png is there) are mirrored
    assert sorted(p.name for p in (tmp_path / "out/in").iterdir()) == ["alpha_facesr.png", "face_facesr.png",
                                                                       "flat_facesr.png"]
    assert report.as_dict()["counts"] == {"ok": 2, "no-face": 1, "error": 4, "cancelled": 0}


def test_fixed_upscale_and_too_large_output(tmp_path, restorer):
    save_image(tmp_path / "a.png", np.full((40, 50, 3), 90, np.uint8))
    report = enhance_paths([tmp_path / "a.png"], tmp_path / "o", restorer, upscale=3)
    assert report.items[0].status == "no-face" and load_image(report.items[0].output).rgb.shape == (120, 150, 3)
    report = enhance_paths([tmp_path / "a.png"], tmp_path / "o2", restorer, upscale=3000)
    assert report.items[0].status == "error" and "smaller --upscale" in report.items[0].message
    with pytest.raises(ValueError, match="upscale"):
        enhance_paths([], tmp_path, restorer, upscale=0)


def test_cancel_between_and_inside_items(tmp_path, restorer, face_frame, monkeypatch):
    paths = [save_image(tmp_path / f"{i}.png", face_frame) for i in range(3)]
    def stop():      # requested once the first output is written
        return (tmp_path / "out/0_facesr.png").exists()

    report = enhance_paths(paths, tmp_path / "out", restorer, should_stop=stop)
    assert [r.status for r in report.items] == ["ok", "cancelled", "cancelled"]
    assert report.cancelled and report.items[1].message == "not started" and report.items[1].output is None
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["0_facesr.png"]

    def interrupted(*a, **k):
        raise InterruptedError("cancelled")
    monkeypatch.setattr(restorer, "enhance", interrupted)
    report = enhance_paths(paths[:1], tmp_path / "out2", restorer)
    assert report.items[0].status == "cancelled" and not (tmp_path / "out2").exists()


def test_video_dispatch_is_routed_to_video_module(tmp_path, restorer, monkeypatch):
    calls = []

    def fake(path, output, restorer_, upscale, progress, stop, detect_every, max_pixels=None, provenance=None,
             stabilise=True):
        calls.append((path.name, output.name, upscale, detect_every, stabilise))
        return engine.ItemReport(path, "video", "ok", output, 2, "fake")
    monkeypatch.setattr(engine, "enhance_video_item", fake)
    _touch(tmp_path / "clip.webm")
    report = enhance_paths([tmp_path / "clip.webm"], None, restorer, upscale=2, detect_every=5)
    assert calls == [("clip.webm", "clip_facesr.mkv", 2, 5, True)] and report.items[0].status == "ok"
    enhance_paths([tmp_path / "clip.webm"], None, restorer, upscale=2, detect_every=5, stabilise=False)
    assert calls[-1][-1] is False


def test_real_video_and_a_broken_one(tmp_path, restorer, face_frame):
    from facesr_gui.pipeline import video, video_io
    if video_io.av is None:
        pytest.skip("PyAV not installed")
    with video.VideoWriter(tmp_path / "clip.mp4", 128, 72, 10) as w:
        for i in range(6):
            w.write(np.roll(face_frame, i, axis=1))
    _touch(tmp_path / "broken.mp4", b"\x00\x00\x00\x18ftypmp42" + bytes(300))
    report = enhance_paths([tmp_path / "broken.mp4", tmp_path / "clip.mp4"], tmp_path / "out", restorer,
                           detect_every=3)
    broken, clip = report.items
    assert broken.status == "error" and "broken.mp4" in broken.message and broken.kind == "video"
    assert clip.status == "ok" and clip.faces >= 1 and clip.output == tmp_path / "out/clip_facesr.mp4"
    info = video.probe_video(clip.output)
    assert info.frames == 6 and (info.width, info.height) == (128 * clip.upscale, 72 * clip.upscale)


def test_face_sheet(restorer, face_frame):
    res = restorer.enhance(face_frame, upscale=2)
    sheet = face_sheet(res)
    s = restorer.sr_size
    assert sheet.dtype == np.uint8 and sheet.shape[1] == 3 * s + 16 and sheet.shape[0] >= len(res.faces) * s
    assert face_sheet(restorer.enhance(face_frame, detections=Detections.empty())).shape[0] > 0
    assert isinstance(BatchReport().as_dict()["items"], list)


def test_cuda_out_of_memory_goes_on_with_the_fallback(tmp_path, restorer, face_frame, out_of_memory):
    """An input that runs out of GPU memory is run again with ``fallback()``'s restorer (asked for once),
    and the rest of the batch goes on with it; without a fallback it is an error like any other."""
    paths = [save_image(tmp_path / f"{i}.png", face_frame) for i in range(3)]
    calls = {"gpu": 0, "fallback": 0}

    class Counted(out_of_memory):        # every input fails the moment it reaches the network
        def enhance(self, *args, **kwargs):
            calls["gpu"] += 1
            return super().enhance(*args, **kwargs)

    gpu = [Counted(restorer)]
    alive = weakref.ref(gpu[0])

    def fallback():
        calls["fallback"] += 1
        calls["gpu_restorer_alive"] = alive() is not None   # freed before fallback() runs: its memory can go
        return restorer

    report = enhance_paths(paths, tmp_path / "out", gpu.pop(), fallback=fallback)
    assert [r.status for r in report.items] == ["ok", "ok", "ok"] and report.ok
    # the first input failed once; the others ran on the fallback
    assert calls == {"gpu": 1, "fallback": 1, "gpu_restorer_alive": False}
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["0_facesr.png", "1_facesr.png", "2_facesr.png"]

    report = enhance_paths(paths[:1], tmp_path / "out2", out_of_memory(restorer))
    assert report.items[0].status == "error" and "out of memory" in report.items[0].message.lower()
