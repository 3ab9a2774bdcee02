"""The headless CLI over the engine: eval, bench, train, models, labels."""
from __future__ import annotations

import json
import shutil

import pytest

from facesr_gui.cli import main
from facesr_gui.train.dataset import list_images


@pytest.fixture(scope="module")
def dev_faces(tmp_path_factory, shared_data):
    root = tmp_path_factory.mktemp("dev")
    for p in list_images(shared_data / "celeba_dev")[::27][:20]:
        shutil.copy(p, root / p.name)
    return root


def test_eval_bicubic_reproduces_baseline(dev_faces, capsys):
    assert main(["eval", "--model", "bicubic", "--hr", str(dev_faces), "--scale", "8", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["images"] == 20 and out["scale"] == 8
    # x8 bicubic on 128x128 CelebA: ~23 dB on Y (the papers' protocol), ~21.7 dB on RGB
    assert 22.0 < out["psnr"] < 24.0 and 20.5 < out["psnr_rgb"] < 23.0
    assert 0.55 < out["ssim"] < 0.72


def test_eval_plain_output_and_bad_model(dev_faces, capsys):
    assert main(["eval", "--model", "bicubic", "--hr", str(dev_faces), "--limit", "3"]) == 0
    assert "psnr=" in capsys.readouterr().out
    assert main(["eval", "--model", "nope", "--hr", str(dev_faces)]) == 2
    assert "neither a checkpoint" in capsys.readouterr().err


def test_eval_by_bundled_id_and_by_network(dev_faces, capsys):
    from facesr_gui.manifest import read_manifest
    from facesr_gui.paths import models_dir

    card = read_manifest(models_dir() / "manifest.json")[0]
    results = {}
    for spec in (card.id, card.net):      # the id, and the network name (its best bundled checkpoint)
        assert main(["eval", "--model", spec, "--hr", str(dev_faces), "--limit", "4", "--json"]) == 0
        results[spec] = json.loads(capsys.readouterr().out)
    assert results[card.id]["model"] == card.id and results[card.id]["psnr"] == results[card.net]["psnr"]
    assert main(["eval", "--model", card.id, "--scale", "4", "--hr", str(dev_faces)]) == 2
    assert f"x{card.scale} model" in capsys.readouterr().err


def test_eval_flip_ensemble(dev_faces, capsys):
    from facesr_gui.manifest import read_manifest
    from facesr_gui.paths import models_dir

    card = read_manifest(models_dir() / "manifest.json")[0]
    runs = {}
    for extra in ([], ["--flip-ensemble"]):
        assert main(["eval", "--model", card.id, "--hr", str(dev_faces), "--limit", "8", "--json", *extra]) == 0
        runs[bool(extra)] = json.loads(capsys.readouterr().out)
    assert runs[True]["flip_ensemble"] is True and "flip_ensemble" not in runs[False]
    assert runs[True]["psnr"] != runs[False]["psnr"] and abs(runs[True]["psnr"] - runs[False]["psnr"]) < 0.5


def test_eval_unbundled_model_says_so(dev_faces, capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("FACESR_MODELS_DIR", str(tmp_path))
    assert main(["eval", "--model", "jeanet", "--hr", str(dev_faces)]) == 2
    assert "no bundled checkpoint" in capsys.readouterr().err


def test_bench_tiny_table(capsys):
    assert main(["bench", "--nets", "eipnet,bicubic", "--tiny", "--repeats", "1", "--batch", "2"]) == 0
    out = capsys.readouterr().out
    assert "eipnet" in out and "GMACs" in out and "bicubic" in out


def test_train_then_eval_checkpoint(dev_faces, tmp_path, capsys):
    args = ["train", "--model", "eipnet", "--data", str(dev_faces), "--val", str(dev_faces), "--steps", "3",
            "--batch", "2", "--out", str(tmp_path), "--net-cfg", '{"width": 16}', "--val-every", "3", "--val-limit", "4"]
    assert main(args) == 0
    ckpt = tmp_path / "eipnet.safetensors"
    assert ckpt.is_file() and (tmp_path / "state.pt").is_file()
    capsys.readouterr()
    assert main(["eval", "--model", str(ckpt), "--hr", str(dev_faces), "--limit", "4", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["images"] == 4


@pytest.mark.parametrize("flag, rotate", [([], False), (["--rotate"], True), (["--preload"], False)])
def test_train_keeps_faces_upright_unless_asked(dev_faces, tmp_path, flag, rotate):
    import torch

    args = ["train", "--model", "eipnet", "--data", str(dev_faces), "--steps", "1", "--batch", "1",
            "--out", str(tmp_path), "--net-cfg", '{"width": 8}', *flag]
    assert main(args) == 0
    state = torch.load(tmp_path / "state.pt", weights_only=True)
    config = json.loads(state["config"])
    assert config["rotate"] is rotate and config["preload"] is ("--preload" in flag)


def test_models_lists_registry(capsys):
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    for name in ("jeanet", "eipnet", "cagface", "wnet", "priorsr", "priorsr_gan", "bicubic"):
        assert name in out


def test_models_lists_bundled_cards_with_measured_psnr(capsys, tmp_path, monkeypatch):
    from facesr_gui.manifest import ModelCard, write_manifest

    metrics = {"celeba_dev": {"psnr": 25.5, "ssim": 0.71, "bicubic_psnr": 23.3, "images": 534}}
    write_manifest(tmp_path / "manifest.json", [ModelCard("best", "eipnet", "best.safetensors", "0" * 64, 8,
                                                          metrics=metrics),
                                                ModelCard("other", "priorsr", "o.safetensors", "0" * 64, 8)])
    monkeypatch.setenv("FACESR_MODELS_DIR", str(tmp_path))
    assert main(["models"]) == 0
    lines = capsys.readouterr().out.splitlines()
    best = next(line for line in lines if line.strip().startswith("best"))
    assert "25.50 dB" in best and "bicubic 23.30 dB" in best and "[default]" in best
    assert "not measured" in next(line for line in lines if line.strip().startswith("other"))


def test_eval_face_region_and_identity(dev_faces, capsys):
    pytest.importorskip("dlib")
    assert main(["eval", "--model", "bicubic", "--hr", str(dev_faces), "--limit", "6", "--face", "--json",
                 "--per-image"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["fr_count"] >= 4
    assert 18.0 < out["fr_psnr"] < 28.0 and 0.5 < out["identity"] < 1.0
    assert any("identity" in row for row in out["per_image"])


def test_every_subcommand_help_renders(capsys):
    """argparse %-formats help texts: a bare '%' in one (as in "12% clean") broke ``--help``."""
    import argparse

    from facesr_gui.cli import build_parser

    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    for name, subparser in sub.choices.items():
        text = subparser.format_help()
        assert name in text and "%%" not in text
    assert "12% clean" in sub.choices["train"].format_help()


def test_train_loss_weight_drops_a_term_and_is_recorded(dev_faces, tmp_path, capsys):
    from facesr_gui.checkpoints import read_header

    args = ["train", "--model", "eipnet", "--data", str(dev_faces), "--steps", "2", "--batch", "2",
            "--out", str(tmp_path / "run"), "--net-cfg", '{"width": 16}', "--no-gan", "--loss-weight", "edge=0"]
    assert main(args) == 0
    meta = read_header(tmp_path / "run" / "eipnet.safetensors")["meta"]
    assert meta["loss_weights"] == {"edge": 0.0} and "weights changed: edge=0" in meta["recipe"]
    capsys.readouterr()
    bad = args[:-1] + ["edgy=0"]
    bad[bad.index("--out") + 1] = str(tmp_path / "bad")
    assert main(bad) == 2
    err = capsys.readouterr().err
    assert "unknown loss term edgy" in err and "Traceback" not in err
    assert main(args[:-1] + ["edge=-1"]) == 2
    assert "TERM=WEIGHT" in capsys.readouterr().err


def test_recipe_with_weights_keeps_only_active_terms():
    from facesr_gui.train.recipes import recipe_for, with_weights

    recipe = with_weights(recipe_for("eipnet"), {"edge": 0.0, "lce": 0.5})
    assert set(recipe.terms) == set(recipe.weights) == {"rgb", "lce"} and recipe.weights["lce"] == 0.5
    plain = recipe_for("jeanet")
    assert with_weights(plain, {}) is plain
    with pytest.raises(ValueError, match="at least one"):
        with_weights(recipe_for("jeanet"), {"pixel": 0, "edge": 0})
