"""EIPNet (Kim et al. 2021): Table 1 generator, Table 2 discriminator, edge maps."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from facesr_gui.nets import create_discriminator, create_net, get_info
from facesr_gui.nets.eipnet import EIPDiscriminator, EIPNet

PAPER_PARAMS = 11.91e6  # Table 9
EDGE_SIDES = {"edge/x2": 32, "edge/x4": 64, "edge/x8": 128}


def n_params(m: nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())


@pytest.fixture(scope="module")
def paper_net() -> EIPNet:
    torch.manual_seed(0)
    return create_net("eipnet").eval()


@pytest.fixture(scope="module")
def tiny_net() -> EIPNet:
    torch.manual_seed(0)
    return create_net("eipnet", **get_info("eipnet").tiny_cfg)


def test_registry_entry():
    info = get_info("eipnet")
    assert info.scale == 8
    assert info.discriminator is EIPDiscriminator
    assert info.tiny_cfg == {"width": 16}


def test_paper_param_count(paper_net):
    n = n_params(paper_net)
    assert abs(n - PAPER_PARAMS) / PAPER_PARAMS < 0.02
    assert n == 11_915_654  # exact count of the Table 1 wiring


def test_table1_channels(paper_net):
    convs = [m for m in paper_net.modules() if isinstance(m, nn.Conv2d) and m.kernel_size == (3, 3)]
    # conv0, conv1_1, conv1_2, conv2_1, conv2_2, conv3_1, conv3_2, conv4 (module order)
    assert [(c.in_channels, c.out_channels) for c in convs] == [
        (3, 512), (512, 512), (512, 512), (512, 512), (512, 256), (256, 256), (256, 128), (128, 3),
    ]
    tconvs = [m for m in paper_net.modules() if isinstance(m, nn.ConvTranspose2d)]
    assert [(t.in_channels, t.out_channels) for t in tconvs] == [(512, 256), (256, 128), (128, 64)]
    assert all(t.kernel_size == (4, 4) and t.stride == (2, 2) for t in tconvs)


def test_edge_blocks_pool_kernels(paper_net):
    blocks = list(paper_net.edge_blocks)
    assert [b.pool_kernel for b in blocks] == [5, 7, 10]
    # 1x1 conv from the high-pass features (t_conv channels) to one edge channel
    assert [(b.to_edge.in_channels, b.to_edge.out_channels, b.to_edge.kernel_size) for b in blocks] == [
        (256, 1, (1, 1)), (128, 1, (1, 1)), (64, 1, (1, 1)),
    ]
    assert paper_net.config["pool_kernels"] == [5, 7, 10]


@pytest.mark.parametrize("kernel", [5, 7, 10])
def test_edge_block_high_pass_is_x_minus_square_average(kernel):
    """The separable pooling equals Fig. 3's s x s "same" average (replicate-padded)."""
    from facesr_gui.nets._blocks import EdgeBlock

    torch.manual_seed(0)
    x = torch.rand(2, 4, 20, 24)
    block = EdgeBlock(4, kernel)
    feats, edge = block(x)
    lo, hi = kernel // 2 - (1 - kernel % 2), kernel // 2
    padded = torch.nn.functional.pad(x, (lo, hi, lo, hi), mode="replicate")
    high = x - torch.nn.functional.avg_pool2d(padded, kernel, stride=1)
    assert torch.allclose(feats, torch.cat([x, high], dim=1), atol=1e-6)
    assert torch.allclose(edge, block.to_edge(high), atol=1e-6)


def test_paper_forward_shapes(paper_net):
    with torch.no_grad():
        out = paper_net(torch.rand(1, 3, 16, 16))
    assert out.image.shape == (1, 3, 128, 128)
    assert torch.isfinite(out.image).all()
    assert set(out.maps) == set(EIPNet.MAP_DOCS) == set(EDGE_SIDES)
    for key, side in EDGE_SIDES.items():
        assert out.maps[key].shape == (1, 1, side, side)
        assert torch.isfinite(out.maps[key]).all()


def test_tiny_forward_backward_reaches_all_params(tiny_net):
    out = tiny_net(torch.rand(2, 3, 16, 16))
    assert out.image.shape == (2, 3, 128, 128)
    assert {k: v.shape[-1] for k, v in out.maps.items()} == EDGE_SIDES
    loss = out.image.mean() + sum(m.float().mean() for m in out.maps.values())
    loss.backward()
    dead = [n for n, p in tiny_net.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert not dead


def test_tiny_is_small_and_fully_convolutional(tiny_net):
    assert n_params(tiny_net) < 50_000
    with torch.no_grad():
        out = tiny_net(torch.rand(1, 3, 12, 20))
    assert out.image.shape == (1, 3, 96, 160)
    assert out.maps["edge/x4"].shape == (1, 1, 48, 80)


def test_config_rebuilds_same_architecture(tiny_net):
    clone = EIPNet(**tiny_net.config)
    clone.load_state_dict(tiny_net.state_dict())  # strict
    assert clone.config == tiny_net.config


@pytest.mark.parametrize("kwargs", [{"width": 12}, {"scale": 4}, {"pool_kernels": (5, 7)}])
def test_invalid_config_rejected(kwargs):
    with pytest.raises(ValueError):
        EIPNet(**kwargs)


def test_paper_discriminator():
    torch.manual_seed(0)
    disc = create_discriminator("eipnet")
    convs = [m for m in disc.modules() if isinstance(m, nn.Conv2d)]
    assert [c.out_channels for c in convs] == [128, 128, 256, 256, 256, 512, 512]
    assert [c.stride[0] for c in convs] == [1, 2, 1, 2, 1, 2, 1]
    assert sum(isinstance(m, nn.LeakyReLU) and m.negative_slope == 0.2 for m in disc.modules()) == 8
    fcs = [m for m in disc.modules() if isinstance(m, nn.Linear)]
    assert [(f.in_features, f.out_features) for f in fcs] == [(512 * 15 * 15, 512), (512, 1)]
    assert n_params(disc) == 64_149_889
    with torch.no_grad():
        logits = disc(torch.rand(2, 3, 128, 128))
    assert logits.shape == (2, 1) and torch.isfinite(logits).all()


@pytest.mark.parametrize("hr_size", [64, 96])
def test_discriminator_other_sizes(hr_size):
    disc = EIPDiscriminator(hr_size=hr_size, width=8, fc_dim=16)
    logits = disc(torch.rand(2, 3, hr_size, hr_size))
    assert logits.shape == (2, 1)
    logits.sum().backward()
    assert all(p.grad is not None for p in disc.parameters())
    with pytest.raises(ValueError):
        disc(torch.rand(1, 3, hr_size + 8, hr_size + 8))
