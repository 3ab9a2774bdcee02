"""Bundling a checkpoint: measured metrics, fp16 choice, a card that verifies and loads strictly."""
from __future__ import annotations

import numpy as np
import torch
from PIL import Image

import pytest

from facesr_gui.checkpoints import load_checkpoint, save_checkpoint
from facesr_gui.manifest import read_manifest, verify_card, write_manifest
from facesr_gui.nets import create_net, get_info
from facesr_gui.train.bundle import bundle_model, measure_realistic


def test_bundle_writes_a_verified_card(tmp_path):
    dev = tmp_path / "dev"
    dev.mkdir()
    rng = np.random.default_rng(0)
    for i in range(3):
        Image.fromarray(rng.integers(0, 255, (128, 128, 3), dtype=np.uint8)).save(dev / f"{i}.png")
    net = create_net("eipnet", **get_info("eipnet").tiny_cfg)
    ckpt = save_checkpoint(tmp_path / "run.safetensors", net, meta={"steps": 5, "val": {"psnr": 99.0}})
    models = tmp_path / "models"
    card = bundle_model(ckpt, "eipnet-test", models, dev, {"data": "synthetic", "steps": 5})
    cards = read_manifest(models / "manifest.json")
    assert [c.id for c in cards] == ["eipnet-test"] and cards[0].sha256 == card.sha256
    m = card.metrics["dev"]
    assert m["images"] == 3 and "bicubic_psnr" in m and m["psnr"] != 99.0   # measured, not copied
    loaded, header = load_checkpoint(verify_card(cards[0], models))
    assert header["net"] == "eipnet" and "val" not in header["meta"]
    assert card.dtype in ("float16", "float32") and "non-commercial" in card.training["terms"]
    bundle_model(ckpt, "eipnet-test", models, dev, {"data": "synthetic", "steps": 5})   # replaces, not appends
    assert len(read_manifest(models / "manifest.json")) == 1


def test_manifest_puts_the_best_x8_model_first(tmp_path):
    dev = tmp_path / "dev"
    dev.mkdir()
    for i in range(2):   # 256 px: the tiny CAGFace (lr_size 64, x4) is measured on 256 px HR faces
        y, x = np.mgrid[0:256, 0:256]
        Image.fromarray(np.stack([x, y, (x + y) // 2], -1).astype(np.uint8)).save(dev / f"{i}.png")
    models = tmp_path / "models"
    x4 = create_net("cagface", **get_info("cagface").tiny_cfg)
    bundle_model(save_checkpoint(tmp_path / "x4.safetensors", x4), "cag", models, dev, {"steps": 1})
    for model_id, seed in (("a", 0), ("b", 1)):
        torch.manual_seed(seed)
        net = create_net("eipnet", **get_info("eipnet").tiny_cfg)
        bundle_model(save_checkpoint(tmp_path / f"{model_id}.safetensors", net), model_id, models, dev, {"steps": 1})
    cards = read_manifest(models / "manifest.json")
    assert cards[-1].id == "cag"
    psnrs = [c.metrics["dev_realistic"]["psnr"] for c in cards[:2]]   # what serves camera-like inputs best
    assert psnrs == sorted(psnrs, reverse=True)


def test_cards_record_degradation_and_the_camera_like_set(tmp_path):
    dev = tmp_path / "dev"
    dev.mkdir()
    y, x = np.mgrid[0:128, 0:128]
    for i in range(2):
        Image.fromarray(np.stack([x * 2, y * 2, (x + y) // (i + 1)], -1).astype(np.uint8)).save(dev / f"{i}.png")
    models = tmp_path / "models"
    net = create_net("eipnet", **get_info("eipnet").tiny_cfg)
    ckpt = save_checkpoint(tmp_path / "r.safetensors", net, meta={"degradation": "realistic"})
    card = bundle_model(ckpt, "real", models, dev, {"steps": 1})
    assert card.training["degradation"] == "realistic"
    real = card.metrics["dev_realistic"]
    assert real["images"] == 2 and "bicubic_psnr" in real and "realistic" in real["protocol"]
    # measure_realistic renews that set of a bundled card without touching its weights
    before = read_manifest(models / "manifest.json")[0]
    del before.metrics["dev_realistic"]
    write_manifest(models / "manifest.json", [before])
    again = measure_realistic("real", models, dev)
    assert again.sha256 == card.sha256 and again.metrics["dev_realistic"]["psnr"] == real["psnr"]
    with pytest.raises(ValueError, match="no model 'nope'"):
        measure_realistic("nope", models, dev)


def test_bundle_measures_cagface_components_on_parsing_labels(tmp_path, labelled_faces):
    lab = np.ones((128, 128), np.uint8)   # skin, hair on the top quarter
    lab[:32] = 13
    dev, parsing = labelled_faces(2, lab)
    net = create_net("cagface", **get_info("cagface").tiny_cfg, lr_size=32)
    card = bundle_model(save_checkpoint(tmp_path / "c.safetensors", net), "cag", tmp_path / "models", dev,
                        {"steps": 1}, parsing_dev=parsing)
    m = card.metrics["dev"]
    assert m["images"] == 2 and "128 px HR" in m["protocol"]       # lr_size 32: measured 32 -> 128
    assert m["components"]["images"] == 2 and 0.0 <= m["components"]["miou"] <= 1.0
    assert "pseudo labels" in m["components"]["labels"]
