"""`facesr enhance`: real photos in, files out, one line per input, exit codes, --json, --demo."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from facesr_gui.checkpoints import save_checkpoint
from facesr_gui.manifest import ModelCard, read_manifest, sha256_file, write_manifest
from facesr_gui.cli import main
from facesr_gui.nets import create_net, get_info
from facesr_gui.paths import models_dir
from facesr_gui.pipeline import engine
from facesr_gui.selftest import degrade, load_sample

SELFIE = "photos/deepface_tests/selfie-many-people.jpg"


pytestmark = pytest.mark.usefixtures("one_thread")


def _json(capsys) -> dict:
    return json.loads(capsys.readouterr().out)


def test_real_photo_with_json(shared_data, tmp_path, capsys):
    src = shared_data / SELFIE
    code = main(["enhance", str(src), "--model", "bicubic", "--out", str(tmp_path), "--upscale", "2", "--json"])
    report = _json(capsys)
    assert code == 0 and report["exit_code"] == 0 and report["model"] == "bicubic"
    item, = report["items"]
    assert item["status"] == "ok" and item["faces"] >= 3 and item["upscale"] == 2
    w, h = Image.open(src).size
    assert item["output"] == str(tmp_path / "selfie-many-people_facesr.jpg")
    assert Image.open(item["output"]).size == (2 * w, 2 * h)
    assert report["counts"] == {"ok": 1, "no-face": 0, "error": 0, "cancelled": 0}


def test_text_lines_and_exit_code_1_on_a_bad_input(tmp_path, capsys):
    src = tmp_path / "in"
    src.mkdir()
    Image.fromarray(degrade(load_sample())).save(src / "face.jpg", quality=95)
    Image.new("RGB", (40, 30), (120, 120, 120)).save(src / "wall.png")
    (src / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(64))
    code = main(["enhance", str(src), "--model", "bicubic", "--out", str(tmp_path / "out")])
    out = capsys.readouterr()
    lines = out.out.strip().splitlines()
    assert code == 1 and len(lines) == 4
    assert lines[0].startswith("error") and "broken.png" in lines[0] and "not an image" in lines[0]
    assert lines[1].startswith("ok") and "face_facesr.jpg" in lines[1] and "1 face(s)" in lines[1]
    assert lines[2].startswith("no-face") and "wall_facesr.png" in lines[2]
    assert lines[3] == "3 input(s): 1 ok, 1 no-face, 1 error"
    assert "warning" not in out.err and "[" in out.err                  # the progress bar went to stderr
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["face_facesr.jpg", "wall_facesr.png"]


def test_provenance_sidecars_listed_in_json(tmp_path, capsys):
    src = tmp_path / "in"
    src.mkdir()
    Image.fromarray(degrade(load_sample())).save(src / "face.png")
    Image.new("RGB", (40, 30), (120, 120, 120)).save(src / "wall.jpg")
    (src / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(64))
    code = main(["enhance", str(src), "--model", "bicubic", "--out", str(tmp_path / "out"), "--provenance", "--json"])
    items = {os.path.basename(i["path"]): i for i in _json(capsys)["items"]}
    assert code == 1 and items["broken.png"]["provenance"] is None
    for name, status in (("face.png", "ok"), ("wall.jpg", "no-face")):
        item = items[name]
        assert item["status"] == status and item["provenance"] == item["output"] + ".json"
        record = json.loads(open(item["provenance"]).read())
        assert record["output"]["name"] == os.path.basename(item["output"]) and len(record["faces"]) == item["faces"]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "face_facesr.png", "face_facesr.png.json", "wall_facesr.jpg", "wall_facesr.jpg.json"]
    assert main(["enhance", str(src / "face.png"), "--model", "bicubic", "--out", str(tmp_path / "out")]) == 0
    assert "(+ " not in capsys.readouterr().out       # off by default: no sidecar named
    assert not (tmp_path / "out/face_facesr_2.png.json").exists()


def test_ctrl_c_stops_after_the_current_input_with_130(tmp_path, capsys, monkeypatch):
    frame = degrade(load_sample())
    for i in range(3):
        Image.fromarray(frame).save(tmp_path / f"{i}.png")
    original = engine.enhance_image

    def interrupted_once(*args, **kwargs):
        if (tmp_path / "out").exists():             # Ctrl-C while the second input is processed:
            signal.raise_signal(signal.SIGINT)      # it stops at the restorer's next check
        return original(*args, **kwargs)
    monkeypatch.setattr(engine, "enhance_image", interrupted_once)
    code = main(["enhance", *(str(tmp_path / f"{i}.png") for i in range(3)), "--model", "bicubic",
                 "--out", str(tmp_path / "out"), "--json"])
    report = _json(capsys)
    assert code == 130 and [i["status"] for i in report["items"]] == ["ok", "cancelled", "cancelled"]
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["0_facesr.png"]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler   # handler restored


def test_demo_with_bicubic(tmp_path, capsys):
    out = tmp_path / "demo"
    assert main(["enhance", "--demo", "--model", "bicubic", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "degraded" in text and str(out / "demo_faces.png") in text
    lr = Image.open(out / "demo_input.png")
    assert lr.size == (128, 72)
    sr = Image.open(out / "demo_enhanced.png")
    assert sr.size[0] % 128 == 0 and sr.size[0] // 128 >= 3 and sr.size[1] == 72 * sr.size[0] // 128
    faces = np.asarray(Image.open(out / "demo_faces.png"))
    assert faces.shape[1] == 3 * 128 + 16 and faces.shape[0] >= 128
    # a second demo into the same folder keeps the first one's files
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    (out / "demo_faces_2.png").write_bytes(b"the user's own file")
    assert main(["enhance", "--demo", "--model", "bicubic", "--out", str(out)]) == 0
    assert str(out / "demo_faces_3.png") in capsys.readouterr().out
    assert all((out / name).read_bytes() == data for name, data in before.items())
    assert (out / "demo_faces_2.png").read_bytes() == b"the user's own file"
    assert {p.name for p in out.iterdir()} >= {"demo_input_3.png", "demo_enhanced_3.png", "demo_faces_3.png"}


def test_demo_provenance(tmp_path, capsys):
    out = tmp_path / "demo"
    out.mkdir()
    (out / "demo_enhanced.png.json").write_text("the user's own notes")
    assert main(["enhance", "--demo", "--model", "bicubic", "--out", str(out), "--provenance"]) == 0
    assert str(out / "demo_enhanced_2.png.json") in capsys.readouterr().out
    record = json.loads((out / "demo_enhanced_2.png.json").read_text())
    assert record["input"] == {"name": "demo_input_2.png", "sha256": sha256_file(out / "demo_input_2.png")}
    assert record["output"]["sha256"] == sha256_file(out / "demo_enhanced_2.png") and len(record["faces"]) == 1
    assert (out / "demo_enhanced.png.json").read_text() == "the user's own notes"
    assert "model bicubic" in Image.open(out / "demo_enhanced_2.png").text["facesr"]


def test_default_model_is_the_first_bundled_one(tmp_path, capsys, monkeypatch):
    net = create_net("eipnet", **get_info("eipnet").tiny_cfg)
    save_checkpoint(tmp_path / "tiny.safetensors", net)
    card = ModelCard(id="tiny-eip", net="eipnet", file="tiny.safetensors",
                     sha256=sha256_file(tmp_path / "tiny.safetensors"), scale=8)
    write_manifest(tmp_path / "manifest.json", [card])
    monkeypatch.setenv("FACESR_MODELS_DIR", str(tmp_path))
    code = main(["enhance", "--demo", "--out", str(tmp_path / "demo"), "--json"])
    out = capsys.readouterr()
    report = json.loads(out.out)
    assert code == 0 and report["model"] == "tiny-eip" and report["faces"] == 1 and "warning" not in out.err
    monkeypatch.setenv("FACESR_MODELS_DIR", str(tmp_path / "none"))
    assert main(["enhance", "--demo", "--out", str(tmp_path / "demo2"), "--json"]) == 0
    out = capsys.readouterr()
    assert json.loads(out.out)["model"] == "bicubic" and "using 'bicubic'" in out.err


def test_demo_with_the_first_bundled_model(tmp_path, capsys):
    cards = read_manifest(models_dir() / "manifest.json")
    if not cards:
        pytest.skip("no bundled model in models/manifest.json")
    assert main(["enhance", "--demo", "--model", cards[0].id, "--out", str(tmp_path), "--json"]) == 0
    assert _json(capsys)["faces"] == 1 and (tmp_path / "demo_faces.png").is_file()
    plain = np.asarray(Image.open(tmp_path / "demo_enhanced.png"))
    assert main(["enhance", "--demo", "--model", cards[0].id, "--out", str(tmp_path), "--json", "--flip-ensemble"]) == 0
    report = _json(capsys)
    assert report["faces"] == 1 and report["files"]["enhanced"].endswith("demo_enhanced_2.png")
    assert not np.array_equal(np.asarray(Image.open(tmp_path / "demo_enhanced_2.png")), plain)


def test_usage_errors(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    assert main(["enhance", str(tmp_path / "empty"), "--model", "bicubic"]) == 2
    assert "no images or videos found" in capsys.readouterr().err
    assert main(["enhance", "--model", "bicubic"]) == 2
    assert main(["enhance", "--demo", str(tmp_path)]) == 2
    assert main(["enhance", "--demo", "--model", "no-such-model", "--out", str(tmp_path)]) == 2
    assert "no bundled or registered model" in capsys.readouterr().err
    assert main(["enhance", "x.png", "--upscale", "0"]) == 2
    assert capsys.readouterr().err.startswith("error: facesr enhance: argument --upscale:")


def test_subprocess_smoke(tmp_path):
    Image.fromarray(degrade(load_sample())).save(tmp_path / "face.png")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, "-m", "facesr_gui.cli", "enhance", str(tmp_path / "face.png"),
                           "--model", "bicubic", "--json"], capture_output=True, text=True, timeout=120, env=env,
                          check=False)
    assert proc.returncode == 0, proc.stderr
    item, = json.loads(proc.stdout)["items"]
    assert item["status"] == "ok" and item["output"] == str(tmp_path / "face_facesr.png")
    assert (tmp_path / "face_facesr.png").is_file()


def test_out_of_gpu_memory_goes_on_on_the_cpu(tmp_path, capsys, monkeypatch):
    """``--device cuda`` on a GPU that runs out of memory: one line says so and the inputs are enhanced on the
    CPU (no GPU needed: CUDA's availability and a full GPU are stood in for)."""
    import dataclasses

    import torch

    from facesr_gui import catalog

    frame = degrade(load_sample())
    paths = [tmp_path / "in" / f"{i}.png" for i in range(2)]
    for p in paths:
        p.parent.mkdir(exist_ok=True)
        Image.fromarray(frame).save(p)
    build = catalog.RestorerSpec.build

    def on(spec, checkpoint=None):
        real = build(dataclasses.replace(spec, device="cpu"), checkpoint)
        if not str(spec.device).startswith("cuda"):
            return real

        class OutOfMemory:
            def __getattr__(self, name):
                return getattr(real, name)

            def enhance(self, *args, **kwargs):
                raise torch.cuda.OutOfMemoryError("CUDA out of memory")
        return OutOfMemory()

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(catalog.RestorerSpec, "build", on)
    code = main(["enhance", *map(str, paths), "--model", "bicubic", "--device", "cuda", "--out", str(tmp_path / "out"),
                 "--json"])
    captured = capsys.readouterr()
    report = json.loads(captured.out)
    assert code == 0 and [i["status"] for i in report["items"]] == ["ok", "ok"] and report["device"] == "cpu"
    assert captured.err.count("GPU out of memory") == 1
