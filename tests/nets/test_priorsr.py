"""Tests of the prior-guided attention network (thesis methods 1 and 2)."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from facesr_gui.nets._registry import get_info
from facesr_gui.nets.priorsr import PARSING_CLASSES, BasicBlock, PriorSR, SRGANDiscriminator

TINY = get_info("priorsr").tiny_cfg


@pytest.fixture(scope="module")
def paper_net() -> PriorSR:
    torch.manual_seed(0)
    return PriorSR().eval()


@pytest.fixture(scope="module")
def paper_out(paper_net):
    with torch.no_grad():
        return paper_net(torch.rand(1, 3, 16, 16))


def _n_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def test_paper_config_architecture(paper_net):
    blocks = list(paper_net.sr_branch.blocks)
    assert len(blocks) == 16 and all(isinstance(b, BasicBlock) for b in blocks)
    for b in blocks:
        assert b.conv3.kernel_size == (3, 3) and b.conv3.dilation == (1, 1)
        assert b.conv5.kernel_size == (3, 3) and b.conv5.dilation == (2, 2)   # 5x5 receptive field
        assert b.conv3.out_channels == 64 and b.se.gate == "softmax"
    assert paper_net.prior_branch.to_parsing.out_channels == 11
    assert paper_net.fusing.body[0].in_channels == 3 + 11        # Table 3.3: concat 3 + 11 = 14
    assert paper_net.fusing.body[-1].out_channels == 3
    # Pinned for our reading of Tables 3.1-3.3 (sr 2,293,063 + prior 736,206 + fusing 83,843).
    assert _n_params(paper_net) == 3_113_112


def test_paper_output_shapes_and_maps(paper_out):
    assert paper_out.image.shape == (1, 3, 128, 128)
    expected = {"coarse_sr", "parsing"} | {f"se/{i:02d}" for i in range(16)}
    assert set(paper_out.maps) == expected
    assert paper_out.maps["coarse_sr"].shape == (1, 3, 128, 128)
    assert paper_out.maps["parsing"].shape == (1, 11, 128, 128)
    for i in range(16):
        assert paper_out.maps[f"se/{i:02d}"].shape == (1, 64, 1, 1)
    assert all(torch.isfinite(v).all() for v in [paper_out.image, *paper_out.maps.values()])
    assert set(PriorSR.MAP_DOCS) == {"coarse_sr", "parsing", "se/{i}"}


def test_softmax_se_weights_sum_to_one(paper_out):
    for i in range(16):
        w = paper_out.maps[f"se/{i:02d}"]
        assert (w > 0).all()
        torch.testing.assert_close(w.sum(dim=1), torch.ones_like(w.sum(dim=1)))


def test_parsing_classes():
    assert len(PARSING_CLASSES) == 11 == len(set(PARSING_CLASSES))
    assert {"skin", "nose", "l_eye", "r_eye", "l_brow", "r_brow", "mouth", "l_ear", "r_ear"} <= set(PARSING_CLASSES)


def test_branches_are_independent_and_fused():
    torch.manual_seed(0)
    net = PriorSR(**TINY)
    out = net(torch.rand(2, 3, 16, 16))
    sr_params = list(net.sr_branch.parameters())
    prior_params = list(net.prior_branch.parameters())
    # the prior branch sees only the LR input, the SR branch never sees the parsing maps
    g = torch.autograd.grad(out.maps["parsing"].sum(), sr_params, allow_unused=True, retain_graph=True)
    assert all(x is None for x in g)
    g = torch.autograd.grad(out.maps["coarse_sr"].sum(), prior_params, allow_unused=True, retain_graph=True)
    assert all(x is None for x in g)
    # the final image depends on both branches through the fusing module
    g = torch.autograd.grad(out.image.sum(), [out.maps["coarse_sr"], out.maps["parsing"]])
    assert all(x.abs().sum() > 0 for x in g)


def test_tiny_forward_backward_reaches_every_parameter():
    torch.manual_seed(0)
    net = PriorSR(**TINY)
    out = net(torch.rand(2, 3, 16, 16))
    assert out.image.shape == (2, 3, 128, 128)
    assert out.maps["parsing"].shape == (2, 11, 128, 128)
    assert out.maps["se/00"].shape == (2, TINY["channels"], 1, 1)
    loss = out.image.mean() + sum(m.float().mean() for m in out.maps.values())
    loss.backward()
    dead = [n for n, p in net.named_parameters() if p.grad is None or not torch.isfinite(p.grad).all()]
    assert not dead
    # every module except an SE MLP whose hidden ReLUs happen to be off for this input gets a non-zero gradient
    zero = [n for n, p in net.named_parameters() if not p.grad.abs().sum() > 0 and ".se.fc." not in n]
    assert not zero


def test_config_round_trip_and_other_scale():
    net = PriorSR(**TINY)
    assert PriorSR(**net.config).config == net.config
    assert net.config["scale"] == 8
    x4 = PriorSR(**TINY, scale=4)
    assert x4(torch.rand(1, 3, 16, 16)).image.shape == (1, 3, 64, 64)
    with pytest.raises(ValueError):
        PriorSR(**TINY, scale=3)


def test_registry_entries():
    m1, m2 = get_info("priorsr"), get_info("priorsr_gan")
    assert m1.scale == m2.scale == 8
    assert m1.discriminator is None and m2.discriminator is SRGANDiscriminator
    assert m1.builder is m2.builder is PriorSR      # method 2 uses method 1's generator


def test_paper_discriminator_table_3_4():
    torch.manual_seed(0)
    d = SRGANDiscriminator().eval()
    convs = [m for m in d.features if isinstance(m, nn.Conv2d)]
    assert len(convs) == 8                                     # conv1 + 7 conv blocks
    assert [c.stride[0] for c in convs[1:]] == [2, 1, 2, 1, 2, 1, 2]
    assert [c.out_channels for c in convs] == [64, 64, 128, 128, 256, 256, 512, 512]
    dense1, dense2 = [m for m in d.classifier if isinstance(m, nn.Linear)]
    assert (dense1.in_features, dense1.out_features, dense2.out_features) == (8 * 8 * 512, 1024, 1)
    with torch.no_grad():
        hr = torch.rand(2, 3, 128, 128)
        assert d.features(hr).shape == (2, 512, 8, 8)
        assert d(hr).shape == (2, 1)


def test_discriminator_other_hr_size():
    d = SRGANDiscriminator(hr_size=64, width=4, dense=16)
    assert d(torch.rand(2, 3, 64, 64)).shape == (2, 1)
    with pytest.raises(ValueError):
        d(torch.rand(2, 3, 128, 128))
    with pytest.raises(ValueError):
        SRGANDiscriminator(hr_size=100)


def test_residual_variant_starts_from_bicubic():
    """residual=True: with the correction layers zeroed the net is exactly bicubic; default is the paper's."""
    assert PriorSR(**TINY).config["residual"] is False
    net = PriorSR(**TINY, residual=True).eval()
    for head in (net.sr_branch.to_rgb, net.fusing.body[-1]):
        torch.nn.init.zeros_(head.weight)
        torch.nn.init.zeros_(head.bias)
    lr = torch.rand(2, 3, 16, 16)
    out = net(lr)
    bicubic = torch.nn.functional.interpolate(lr, scale_factor=8, mode="bicubic", align_corners=False)
    assert torch.allclose(out.image, bicubic, atol=1e-6)
    assert torch.allclose(out.maps["coarse_sr"], bicubic, atol=1e-6)
