"""scripts/device_bench.py: pack a short clip (wheels left out here), then run the video benchmark on it
as the device call does and find its JSON report under $OUT."""
from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

from facesr_gui.pipeline.video import DEFAULT_DETECT_EVERY

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "scripts" / "device_bench.py"


def test_pack_and_run_write_the_report(tmp_path, shared_data):
    clip = shared_data / "videos" / "facenet_street_1080p.mp4"
    spec = importlib.util.spec_from_file_location("device_bench", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    devbench = tmp_path / "devbench"
    assert mod.main(["pack", "--video", str(clip), "--frames", "3", "--no-wheels", "--out", str(devbench)]) == 0
    assert sorted(p.name for p in devbench.iterdir()) == ["street_480p.mp4"]

    out = tmp_path / "out"
    env = dict(os.environ, OUT=str(out), OMP_NUM_THREADS="1")
    proc = subprocess.run([sys.executable, str(SCRIPT), "run", "--devbench", str(devbench), "--frames", "3",
                           "--device", "cpu", "--models", "bicubic"], env=env, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    report = json.loads((out / "bench_gpu.json").read_text())
    assert report["half"] is False and report["size"] == [854, 480]
    assert [r["detect_every"] for r in report["rows"]] == [1, DEFAULT_DETECT_EVERY]   # the per-frame reference, then the tested
    assert all(r["frames"] == 3 for r in report["rows"])
