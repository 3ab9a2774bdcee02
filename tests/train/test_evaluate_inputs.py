"""How `facesr eval` makes or reads its LR inputs: degradations by seed, paired LR folders, the baseline columns."""
from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from facesr_gui.cli import main
from facesr_gui.nets import create_net
from facesr_gui.train.evaluate import evaluate_folder


def _write_faces(folder, n=3, size=64, ext=".png"):
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:size, 0:size] / size
    for i in range(n):
        img = np.stack([xx, yy, (xx + yy) / 2], -1) * 200 + rng.normal(0, 3, (size, size, 3)) + 20
        Image.fromarray(img.clip(0, 255).astype(np.uint8)).save(folder / f"face{i}{ext}")
    return folder


def test_degraded_eval_is_reproducible_and_reports_the_baseline(tmp_path):
    hr = _write_faces(tmp_path / "hr")
    net = create_net("bicubic", scale=8)
    a = evaluate_folder(net, hr, hr_size=64, degradation="realistic", seed=0)
    b = evaluate_folder(net, hr, hr_size=64, degradation="realistic", seed=0)
    c = evaluate_folder(net, hr, hr_size=64, degradation="realistic", seed=1)
    clean = evaluate_folder(net, hr, hr_size=64)
    assert a.per_image == b.per_image and a.setup == {"degradation": "realistic", "seed": 0, "jitter": 0.0}
    assert a.per_image != c.per_image
    for row in a.per_image:   # the model here *is* bicubic: the baseline columns match it
        assert row["psnr"] == pytest.approx(row["bicubic_psnr"]) and row["ssim"] == pytest.approx(row["bicubic_ssim"])
    assert clean.mean["psnr"] > a.mean["psnr"]


def test_paired_lr_matches_by_stem_any_extension(tmp_path):
    hr = _write_faces(tmp_path / "hr")
    lr = tmp_path / "lr"
    lr.mkdir()
    for p in sorted(hr.iterdir()):   # LR made from the whole HR image, saved as JPEG
        with Image.open(p) as img:
            img.resize((8, 8), Image.Resampling.BICUBIC).save(lr / f"{p.stem}.jpg", quality=95)
    res = evaluate_folder(create_net("bicubic", scale=8), hr, hr_size=64, lr_dir=lr)
    assert [r["name"] for r in res.per_image] == ["face0", "face1", "face2"]
    assert res.setup["degradation"] == "paired" and res.setup["lr_dir"] == str(lr)
    assert 20 < res.mean["psnr"] < 60


def test_eval_lr_refuses_missing_and_ambiguous_pairs(tmp_path, capsys):
    hr = _write_faces(tmp_path / "hr")
    lr = _write_faces(tmp_path / "lr", n=2, size=8)
    code = main(["eval", "--model", "bicubic", "--hr", str(hr), "--lr", str(lr), "--hr-size", "64"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and err.count("\n") == 0 and "Traceback" not in err
    assert "1 of 3 HR face(s) have no LR file of the same stem" in err and "face2" in err
    _write_faces(tmp_path / "lr", n=3, size=8)
    Image.new("RGB", (8, 8)).save(lr / "face0.bmp")
    code = main(["eval", "--model", "bicubic", "--hr", str(hr), "--lr", str(lr), "--hr-size", "64"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and "occur twice" in err and "face0" in err
    (lr / "face0.bmp").unlink()
    Image.new("RGB", (8, 8)).save(lr / "stranger.png")
    assert main(["eval", "--model", "bicubic", "--hr", str(hr), "--lr", str(lr), "--hr-size", "64"]) == 2
    assert "have no HR face of the same stem: stranger" in capsys.readouterr().err
    assert main(["eval", "--model", "bicubic", "--hr", str(hr), "--lr", str(lr), "--degradation", "realistic"]) == 2
    assert "--lr uses the paired LR faces as they are" in capsys.readouterr().err


def test_eval_cli_json_carries_setup_and_baseline(tmp_path, capsys):
    hr = _write_faces(tmp_path / "hr")
    code = main(["eval", "--model", "bicubic", "--hr", str(hr), "--hr-size", "64", "--degradation", "surveillance",
                 "--seed", "4", "--jitter", "0.05", "--json", "--per-image"])
    out = json.loads(capsys.readouterr().out)
    assert code == 0
    assert (out["degradation"], out["seed"], out["jitter"]) == ("surveillance", 4, 0.05)
    assert len(out["per_image"]) == 3 and "bicubic_psnr" in out and "bicubic_psnr" in out["per_image"][0]
