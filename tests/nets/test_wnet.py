"""W-Net (Liu, Yang & Liu 2024): paper structure, x8/x4 shapes, parsing map, 4-head SCAB attention.

The paper configuration's W path reaches 1024x1024x64 features (~20-30 s per face on CPU), so its
shapes and counts are checked on the ``meta`` device (no compute); real numbers use the tiny config.
"""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from facesr_gui.nets import create_net, get_info, net_lr_side
from facesr_gui.nets.wnet import LPF, SCAB, ConvSelfAttention, WNet

PAPER_PARAMS = 5_535_670  # the paper gives no count; exact count of this wiring (64 channels)
TINY = get_info("wnet").tiny_cfg


def paper_sides(lr_side: int, scale: int) -> dict[str, int]:
    """Expected map sides: parsing at LR size, fusions 2-7 at 2R, 4R, 8R, 4R, 2R, R, 8-11 at R/2..R/16."""
    r = lr_side * scale
    sides = {"parsing": lr_side, "parsing_block/spatial": lr_side}
    for i, side in zip(range(2, 12), (2 * r, 4 * r, 8 * r, 4 * r, 2 * r, r, r // 2, r // 4, r // 8, r // 16)):
        sides[f"lpf_spatial/{i:02d}"] = sides[f"lpf_pixel/{i:02d}"] = side
    return sides


@pytest.fixture(scope="module")
def paper_meta() -> WNet:
    with torch.device("meta"):
        return create_net("wnet").eval()


@pytest.fixture()
def tiny_net() -> WNet:
    return create_net("wnet", **TINY)


def test_registry_entry():
    info = get_info("wnet")
    assert info.scale == 8 and info.builder is WNet and info.discriminator is None
    assert TINY == {"channels": 4, "n_resblocks": 1, "hourglass_depth": 2, "w_depth": 1, "unet_depth": 2, "n_scab": 1}


def test_paper_structure(paper_meta):
    assert sum(p.numel() for p in paper_meta.parameters()) == PAPER_PARAMS
    pb = paper_meta.parsing_block
    assert (pb.shallow.in_channels, pb.shallow.out_channels, pb.shallow.kernel_size) == (3, 64, (3, 3))  # eq. 2
    assert len(pb.res) == 3 and pb.hourglass.depth == 4  # eq. 3
    assert (pb.out.in_channels, pb.out.out_channels, pb.out.kernel_size) == (64, 3, (3, 3))  # eq. 8
    unit = pb.attention  # eq. 4-5: 1x1 / 3x3 / 3x3 branches, doubled y4, halved y5
    assert [(c.out_channels, c.kernel_size) for c in (unit.y1, unit.y2, unit.y3, unit.y4, unit.y5)] == [
        (32, (1, 1)), (32, (3, 3)), (32, (3, 3)), (64, (3, 3)), (16, (3, 3))]
    # 6 LPFs on the W path (fusions 2-7) + 4 in the encoder (fusions 8-11)
    assert len(paper_meta.w_fuse) == 6 and len(paper_meta.encoder) == 4
    assert sum(isinstance(m, LPF) for m in paper_meta.modules()) == 10
    # two cascaded SCABs per encoder and decoder level
    assert sum(isinstance(m, SCAB) for m in paper_meta.modules()) == 16
    assert [len(s) for s in paper_meta.decoder_scabs] == [2, 2, 2, 2]
    ps = [m for m in paper_meta.modules() if isinstance(m, nn.PixelShuffle)]
    assert len(ps) == 3 + 4 and all(m.upscale_factor == 2 for m in ps)


def test_attention_heads_is_four(paper_meta):
    attns = [m for m in paper_meta.modules() if isinstance(m, ConvSelfAttention)]
    assert len(attns) == 16 and all(a.heads == 4 for a in attns)
    # eq. 20: each of Q, K, V is a depthwise 3x3 conv followed by a 1x1 conv
    for proj in (attns[0].q, attns[0].k, attns[0].v):
        assert proj[0].groups == proj[0].in_channels == 64 and proj[0].kernel_size == (3, 3)
        assert proj[1].kernel_size == (1, 1)
    with pytest.raises(ValueError, match="divisible by heads"):
        ConvSelfAttention(6, heads=4)


def test_heads_do_not_mix_channels():
    """With identity projections, a change in one head's channels only changes that head's output."""
    attn = ConvSelfAttention(8, heads=4)
    with torch.no_grad():
        for proj in (attn.q, attn.k, attn.v):
            proj[0].weight.zero_(); proj[0].weight[:, 0, 1, 1] = 1; proj[0].bias.zero_()
            proj[1].weight.copy_(torch.eye(8)[:, :, None, None]); proj[1].bias.zero_()
        x = torch.randn(1, 8, 6, 6)
        y = x.clone(); y[:, 0] += 1.0  # head 0 owns channels 0-1
        diff = (attn(x) - attn(y)).abs().amax(dim=(0, 2, 3))
    assert diff[:2].gt(0).all() and diff[2:].eq(0).all()


@pytest.mark.parametrize("scale,lr_side", [(8, 16), (4, 32)])
def test_paper_shapes(scale, lr_side, paper_meta):
    with torch.device("meta"):
        net = paper_meta if scale == 8 else create_net("wnet", scale=scale).eval()
        out = net(torch.rand(1, 3, lr_side, lr_side))
    assert net.scale == scale and net_lr_side(net) == lr_side
    assert out.image.shape == (1, 3, 128, 128)
    sides = paper_sides(lr_side, scale)
    assert set(out.maps) == set(sides)
    for key, side in sides.items():
        channels = 3 if key == "parsing" else 1
        assert out.maps[key].shape == (1, channels, side, side), key


@pytest.mark.parametrize("scale", [8, 4])
def test_tiny_forward_backward(scale):
    net = create_net("wnet", **dict(TINY, scale=scale)).train()
    out = net(torch.rand(2, 3, 16, 16))
    r = 16 * scale
    assert out.image.shape == (2, 3, r, r) and torch.isfinite(out.image).all()
    assert out.maps["parsing"].shape == (2, 3, 16, 16)
    assert {k: v.shape[-1] for k, v in out.maps.items() if k.startswith("lpf_spatial")} == {
        "lpf_spatial/02": 2 * r, "lpf_spatial/03": r, "lpf_spatial/04": r // 2, "lpf_spatial/05": r // 4}
    loss = out.image.mean() + sum(m.float().mean() for m in out.maps.values())
    loss.backward()
    dead = [n for n, p in net.named_parameters() if p.grad is None or not torch.isfinite(p.grad).all()]
    assert not dead


def test_attention_maps_are_weights(tiny_net):
    with torch.no_grad():
        out = tiny_net.eval()(torch.rand(1, 3, 16, 16))
    for key, m in out.maps.items():
        if key != "parsing":
            assert m.min() >= 0 and m.max() <= 1, key


def test_parsing_map_is_the_parsing_block_output(tiny_net):
    lr = torch.rand(1, 3, 16, 16)
    with torch.no_grad():
        out = tiny_net.eval()(lr)
        parsing, _ = tiny_net.parsing_block(lr)
    torch.testing.assert_close(out.maps["parsing"], parsing)


def test_image_is_residual_over_bicubic(tiny_net):
    with torch.no_grad():
        tiny_net.tail.weight.zero_(); tiny_net.tail.bias.zero_()
        lr = torch.rand(1, 3, 16, 16)
        out = tiny_net.eval()(lr)
    torch.testing.assert_close(out.image, F.interpolate(lr, scale_factor=8, mode="bicubic", align_corners=False))


def test_parsing_guides_the_sr_path(tiny_net):
    """The predicted parsing map feeds the fusions: changing it changes the SR image."""
    lr = torch.rand(1, 3, 16, 16)
    tiny_net.eval()
    with torch.no_grad():
        torch.nn.init.normal_(tiny_net.tail.weight, std=0.1)   # as after training (the tail starts at zero)
        ref = tiny_net(lr).image
        tiny_net.parsing_block.out.bias.add_(1.0)
        moved = tiny_net(lr).image
    assert not torch.allclose(ref, moved)


def test_config_round_trip_x4():
    net = create_net("wnet", **dict(TINY, scale=4))
    again = create_net("wnet", **net.config)
    assert again.config == net.config and again.scale == 4
    assert [(k, v.shape) for k, v in net.state_dict().items()] == [(k, v.shape) for k, v in again.state_dict().items()]


def test_rejects_sizes_the_encoder_cannot_halve(paper_meta):
    with torch.device("meta"), pytest.raises(ValueError, match="divisible"):
        paper_meta(torch.rand(1, 3, 15, 15))  # 120x120 SR: not a multiple of 2**4


def test_untrained_net_is_exactly_bicubic():
    """The tail starts at zero, so training starts from the bicubic base (not a random correction)."""
    lr = torch.rand(2, 3, 16, 16)
    with torch.no_grad():
        out = create_net("wnet", **TINY).eval()(lr)
    bicubic = torch.nn.functional.interpolate(lr, scale_factor=8, mode="bicubic", align_corners=False)
    assert torch.allclose(out.image, bicubic, atol=1e-6)
