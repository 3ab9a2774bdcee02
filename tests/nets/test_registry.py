"""Registry-wide checks: every network, tiny widths, CPU (timm tests/test_models.py style)."""
from __future__ import annotations

import pytest
import torch

from facesr_gui.nets import SRNet, SROutput, create_discriminator, create_net, get_info, list_nets, register_net
from facesr_gui.nets._registry import NetInfo

EXPECTED = {"bicubic", "jeanet", "eipnet", "cagface", "wnet", "priorsr", "priorsr_gan"}
NETS = list_nets()


def test_registry_lists_every_paper_net():
    assert EXPECTED <= set(NETS)


def test_duplicate_registration_is_refused():
    with pytest.raises(ValueError, match="already registered"):
        register_net(NetInfo(name="jeanet", paper="x", scale=8, builder=lambda: None))


def test_unknown_name_lists_available():
    with pytest.raises(KeyError, match="available"):
        create_net("no-such-net")


@pytest.mark.parametrize("name", NETS)
def test_tiny_forward_backward(name):
    info = get_info(name)
    net = create_net(name, **info.tiny_cfg)
    assert isinstance(net, SRNet)
    net.train()
    lr = torch.rand(2, 3, 16, 16)
    out = net(lr)
    assert isinstance(out, SROutput)
    assert out.image.shape == (2, 3, 16 * info.scale, 16 * info.scale)
    assert torch.isfinite(out.image).all()
    for key, value in out.maps.items():
        assert value.dim() == 4 and value.shape[0] == 2, key
        assert torch.isfinite(value).all(), key
    if name != "bicubic":
        assert out.spatial_maps(), f"{name} exposes no spatial maps"
        loss = out.image.mean() + sum(m.float().mean() for m in out.maps.values())
        loss.backward()
        dead = [n for n, p in net.named_parameters() if p.requires_grad and (p.grad is None or not torch.isfinite(p.grad).all())]
        assert not dead, f"no gradient reaches: {dead[:5]}"


@pytest.mark.parametrize("name", NETS)
def test_config_round_trip_rebuilds_same_architecture(name):
    info = get_info(name)
    net = create_net(name, **info.tiny_cfg)
    again = create_net(name, **net.config)
    assert net.config["scale"] == info.scale == net.scale
    assert [(k, v.shape) for k, v in net.state_dict().items()] == [(k, v.shape) for k, v in again.state_dict().items()]


@pytest.mark.parametrize("name", NETS)
def test_map_docs_cover_maps(name):
    info = get_info(name)
    net = create_net(name, **info.tiny_cfg).eval()
    with torch.no_grad():
        out = net(torch.rand(1, 3, 16, 16))
    import re

    patterns = [re.compile("^" + re.escape(doc).replace(r"\{i\}", r"\d+").replace(r"\{s\}", r"\d+")
                           .replace(r"\{i:02d\}", r"\d+").replace(r"\{name\}", r"[A-Za-z_]+") + "$")
                for doc in type(net).MAP_DOCS]
    undocumented = [k for k in out.maps if not any(p.match(k) for p in patterns)]
    assert not undocumented, f"maps missing from MAP_DOCS: {undocumented}"


@pytest.mark.parametrize("name", [n for n in NETS if n != "bicubic"])
def test_paper_config_x8_shape(name):
    """Done-when of the core issue: paper configuration, (1,3,16,16) face -> x scale, maps non-empty."""
    info = get_info(name)
    net = create_net(name).eval()
    with torch.no_grad():
        out = net(torch.rand(1, 3, 16, 16))
    assert out.image.shape == (1, 3, 16 * info.scale, 16 * info.scale)
    assert out.maps


@pytest.mark.parametrize("name", [n for n in NETS if get_info(n).discriminator is not None])
def test_discriminators(name):
    disc = create_discriminator(name)
    logits = disc(torch.rand(2, 3, 128, 128))
    assert logits.shape == (2, 1)
