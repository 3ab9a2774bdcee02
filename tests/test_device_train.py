"""scripts/device_train.py: pack the data, train a recipe with only the GPU machine's packages, bring the
weights back in parts under the device tool's file limit, and unpack them into a loadable checkpoint."""
from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from facesr_gui.checkpoints import load_checkpoint
from facesr_gui.train.dataset import list_images

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "scripts" / "device_train.py"
# what the GPU machine lacks (its image has torch, numpy, opencv-python-headless, pillow, safetensors, scipy)
ABSENT_THERE = ["av", "dlib", "face_recognition", "face_recognition_models", "facenet_pytorch", "mediapipe",
                "PySide6", "qtawesome", "shiboken6"]


def _module():
    spec = importlib.util.spec_from_file_location("device_train", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture()
def data(tmp_path, shared_data):
    """12 training and 3 dev CelebA faces with label maps, laid out as ../shared/data and runs/parsing_train."""
    root = tmp_path / "data"
    for split, n in (("celeba_train", 12), ("celeba_dev", 3)):
        (root / split).mkdir(parents=True)
        for p in list_images(shared_data / split)[:n]:
            (root / split / p.name).write_bytes(p.read_bytes())
    parsing = tmp_path / "parsing"
    parsing.mkdir()
    for i, p in enumerate(list_images(root / "celeba_train")):
        labels = np.zeros((128, 128), np.uint8)
        labels[40:100, 30:100] = 1 + i % 2
        np.savez_compressed(parsing / f"{p.stem}.npz", parsing=labels, priorsr=np.zeros((11, 128, 128), np.uint8))
    return root, parsing


def test_split_parts_stay_under_the_file_limit(tmp_path):
    mod = _module()
    blob = tmp_path / "w.safetensors"
    blob.write_bytes(os.urandom(mod.PART_BYTES * 2 + 5))
    (tmp_path / "out").mkdir()
    parts = mod._split(blob, tmp_path / "out")
    assert [p.name for p in parts] == [f"w.safetensors.part0{k}" for k in range(3)]
    assert max(p.stat().st_size for p in parts) <= 16 * 2**20
    assert b"".join(p.read_bytes() for p in parts) == blob.read_bytes()


def test_pack_run_unpack_round_trip(data, tmp_path):
    root, parsing = data
    mod = _module()
    devdata = tmp_path / "devdata"
    assert mod.main(["pack", "--data", str(root), "--parsing", str(parsing), "--out", str(devdata)]) == 0
    pngs = sorted((devdata / "parsing_train").glob("*.png"))
    assert len(pngs) == 12 and len(list((devdata / "celeba_dev").iterdir())) == 3
    with np.load(parsing / f"{pngs[0].stem}.npz") as z:
        assert np.array_equal(np.asarray(Image.open(pngs[0])), z["parsing"])   # lossless

    # the run, as on the device: a fresh interpreter where the GUI/video/identity packages do not exist
    blocker = tmp_path / "blocker"
    blocker.mkdir()
    (blocker / "sitecustomize.py").write_text(
        "import sys\n"
        f"ABSENT = {ABSENT_THERE!r}\n"
        "class _Absent:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] in ABSENT:\n"
        "            raise ModuleNotFoundError(f'No module named {name!r} (not on the device)')\n"
        "sys.meta_path.insert(0, _Absent())\n")
    out = tmp_path / "out"
    env = dict(os.environ, OUT=str(out), OMP_NUM_THREADS="1",
               PYTHONPATH=os.pathsep.join([str(blocker), str(REPO)]))
    proc = subprocess.run([sys.executable, str(SCRIPT), "run", "--minutes", "0.15", "--device", "cpu",
                           "--data", str(devdata), "--runs", str(tmp_path / "runs_there"), "device_smoke"],
                          env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    returned = sorted(p.name for p in out.iterdir())
    assert returned == ["device_smoke__eipnet.fp16.safetensors.part00", "logs.tar.gz"]

    runs = tmp_path / "runs_here"
    assert mod.main(["unpack", str(out), "--runs", str(runs)]) == 0
    net, header = load_checkpoint(runs / "device_smoke" / "eipnet.safetensors")
    assert header["net"] == "eipnet" and net.config["width"] == 16
    assert next(net.parameters()).dtype.is_floating_point
    summary = json.loads((runs / "device_logs" / "summary.json").read_text())
    assert summary["device_smoke"]["returncode"] == 0
    log = (runs / "device_logs" / "device_smoke.log").read_text()
    assert "checkpoint:" in log
