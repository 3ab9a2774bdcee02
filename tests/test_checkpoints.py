from __future__ import annotations

import json

import pytest
import torch

from facesr_gui.checkpoints import CheckpointError, load_checkpoint, load_state_strict, read_state, save_checkpoint
from facesr_gui.manifest import ModelCard, read_manifest, sha256_file, verify_card, write_manifest
from facesr_gui.nets import create_net, get_info


def _tiny(name="eipnet"):
    return create_net(name, **get_info(name).tiny_cfg)


def test_round_trip_restores_identical_outputs(tmp_path):
    net = _tiny().eval()
    path = save_checkpoint(tmp_path / "m.safetensors", net, meta={"steps": 3})
    loaded, header = load_checkpoint(path)
    assert header["net"] == "eipnet" and header["meta"]["steps"] == 3
    x = torch.rand(1, 3, 16, 16)
    with torch.no_grad():
        assert torch.equal(net(x).image, loaded(x).image)


def test_fp16_round_trip_is_close(tmp_path):
    net = _tiny().eval()
    path = save_checkpoint(tmp_path / "m16.safetensors", net, dtype=torch.float16)
    state, _ = read_state(path)
    assert all(v.dtype == torch.float16 for v in state.values() if v.is_floating_point())
    loaded, _ = load_checkpoint(path)
    x = torch.rand(1, 3, 16, 16)
    with torch.no_grad():
        assert torch.allclose(net(x).image, loaded(x).image, atol=1e-2)


def test_corrupted_checkpoint_gives_clear_error(tmp_path):
    path = save_checkpoint(tmp_path / "m.safetensors", _tiny())
    data = bytearray(path.read_bytes())
    path.write_bytes(bytes(data[: len(data) // 2]))
    with pytest.raises(CheckpointError, match="not a valid safetensors"):
        load_checkpoint(path)
    garbage = tmp_path / "g.safetensors"
    garbage.write_bytes(b"\x00garbage" * 10)
    with pytest.raises(CheckpointError):
        load_checkpoint(garbage)


def test_missing_file(tmp_path):
    with pytest.raises(CheckpointError, match="not found"):
        load_checkpoint(tmp_path / "nope.safetensors")


def test_strict_load_lists_missing_and_unexpected_keys():
    net = _tiny()
    state = dict(net.state_dict())
    removed = next(iter(state))
    state.pop(removed)
    state["bogus.weight"] = torch.zeros(1)
    with pytest.raises(CheckpointError) as err:
        load_state_strict(net, state)
    assert removed in str(err.value) and "bogus.weight" in str(err.value)


def test_prefixes_from_ddp_and_compile_are_stripped():
    net = _tiny()
    state = {f"module._orig_mod.{k}": v for k, v in net.state_dict().items()}
    load_state_strict(net, state)


def test_wrong_architecture_reports_shape_mismatch(tmp_path):
    small = create_net("eipnet", **get_info("eipnet").tiny_cfg)
    path = save_checkpoint(tmp_path / "m.safetensors", small)
    state, _ = read_state(path)
    other = create_net("eipnet")
    with pytest.raises(CheckpointError, match="shape mismatch"):
        load_state_strict(other, state)


def test_pth_is_loaded_without_unpickling_code(tmp_path):
    net = _tiny()
    good = tmp_path / "good.pth"
    torch.save(net.state_dict(), good)
    state, header = read_state(good)
    assert header == {} and set(state) == set(net.state_dict())

    class Evil:
        def __reduce__(self):
            return (exec, ("import os; os.environ['FACESR_PWNED']='1'",))

    bad = tmp_path / "bad.pth"
    torch.save({"x": Evil()}, bad)
    with pytest.raises(CheckpointError):
        read_state(bad)
    import os

    assert "FACESR_PWNED" not in os.environ


def test_manifest_round_trip_and_sha(tmp_path):
    path = save_checkpoint(tmp_path / "m.safetensors", _tiny())
    card = ModelCard(id="eipnet-tiny", net="eipnet", file=path.name, sha256=sha256_file(path), scale=8,
                     training={"data": "synthetic"}, metrics={"psnr": 1.0})
    write_manifest(tmp_path / "manifest.json", [card])
    cards = read_manifest(tmp_path / "manifest.json")
    assert cards == [card]
    assert verify_card(cards[0], tmp_path) == path
    path.write_bytes(path.read_bytes() + b"x")
    with pytest.raises(CheckpointError, match="sha256"):
        verify_card(cards[0], tmp_path)
    assert json.loads((tmp_path / "manifest.json").read_text())["version"] == 1


def test_checkpoint_names_the_registered_net_it_was_built_as(tmp_path):
    """priorsr_gan shares priorsr's class; its weights must still say priorsr_gan."""
    net = create_net("priorsr_gan", **get_info("priorsr_gan").tiny_cfg)
    _, header = read_state(save_checkpoint(tmp_path / "g.safetensors", net))
    assert header["net"] == "priorsr_gan"
    assert load_checkpoint(tmp_path / "g.safetensors")[1]["net"] == "priorsr_gan"
