"""The one model catalogue: resolve, default_model, sizes from the registry, degradation from the card."""
from __future__ import annotations

import pytest

from facesr_gui.catalog import ModelUnavailable, default_model, list_models, load_net, load_restorer, resolve
from facesr_gui.checkpoints import save_checkpoint
from facesr_gui.manifest import ModelCard, sha256_file, write_manifest
from facesr_gui.nets import create_net, get_info


@pytest.fixture
def models(tmp_path, monkeypatch):
    """Bundled models dir with two tiny models (eipnet first, a 'realistic' jeanet second)."""
    root = tmp_path / "models"
    cards = []
    for model_id, net, training in (("eip-tiny", "eipnet", {}), ("jea-real", "jeanet", {"degradation": "realistic"})):
        weights = save_checkpoint(root / f"{model_id}.safetensors", create_net(net, **get_info(net).tiny_cfg))
        cards.append(ModelCard(model_id, net, weights.name, sha256_file(weights), 8, get_info(net).tiny_cfg,
                               training=training))
    write_manifest(root / "manifest.json", cards)
    monkeypatch.setenv("FACESR_MODELS_DIR", str(root))
    monkeypatch.setenv("FACESR_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("FACESR_CHECKPOINTS", raising=False)
    return root


def test_default_model_is_the_manifests_first_else_bicubic(models, monkeypatch, tmp_path):
    assert default_model().id == "eip-tiny"
    monkeypatch.setenv("FACESR_MODELS_DIR", str(tmp_path / "empty"))
    assert default_model().id == "bicubic"


def test_resolve_by_id_net_name_file_and_bicubic_scale(models):
    assert resolve("jea-real").net == "jeanet"
    assert resolve("eipnet").id == "eip-tiny"                 # a net name: its first checkpoint
    file = resolve(str(models / "jea-real.safetensors"))
    assert file.source == "file" and file.net == "jeanet" and file.checkpoint.name == "jea-real.safetensors"
    assert resolve("bicubic", scale=4).scale == 4 and resolve("bicubic", scale=4).sr_size == 128
    with pytest.raises(ValueError, match="x8 model, not x4"):
        resolve("eip-tiny", scale=4)
    with pytest.raises(ValueError, match="neither a checkpoint file"):
        resolve("no-such-model")
    with pytest.raises(ModelUnavailable, match="no bundled checkpoint"):
        load_net(resolve("wnet"))                             # listed, untrained


def test_entries_carry_sizes_and_degradation(models):
    by_id = {e.id: e for e in list_models()}
    assert by_id["jea-real"].degradation == "realistic" and by_id["eip-tiny"].degradation == "bicubic"
    assert (by_id["eip-tiny"].lr_size, by_id["eip-tiny"].sr_size) == (16, 128)
    assert (by_id["cagface"].lr_size, by_id["cagface"].sr_size) == (64, 256)
    assert "realistic" in by_id["jea-real"].tooltip()
    # the picker says what each trained model was trained for
    assert by_id["jea-real"].label == "jea-real (x8, real camera)"
    assert by_id["eip-tiny"].label == "eip-tiny (x8, clean inputs)"
    assert by_id["bicubic"].label == "bicubic (x8)"
    restorer = load_restorer("eip-tiny")
    assert (restorer.lr_size, restorer.sr_size, restorer.net_name) == (16, 128, "eip-tiny")
