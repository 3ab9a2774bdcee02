"""JEANet (Gao et al., T-ITS 2022): architecture facts, shapes, maps and adaptive shortcuts."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from facesr_gui.nets import create_net, get_info, lr_side
from facesr_gui.nets.jeanet import FAAM, JEAEdgeBlock, JEANet, NearestUpConv

PAPER_PARAMS = 10_811_100  # our reading of the paper (widths/depths after SPARNet, see module docstring)


@pytest.fixture(scope="module")
def paper_net() -> JEANet:
    torch.manual_seed(0)
    return create_net("jeanet").eval()


@pytest.fixture(scope="module")
def paper_out(paper_net):
    with torch.no_grad():
        return paper_net(torch.rand(1, 3, 16, 16))


def tiny_net() -> JEANet:
    torch.manual_seed(0)
    return create_net("jeanet", **get_info("jeanet").tiny_cfg)


@pytest.fixture(scope="module")
def tiny_run():
    """One training-mode forward of the tiny config (the graph is kept for the gradient tests)."""
    net = tiny_net()
    return net, net(torch.rand(2, 3, 16, 16))


def test_registry_entry():
    info = get_info("jeanet")
    assert info.scale == 8 and info.builder is JEANet
    assert lr_side("jeanet") == 16 and get_info("jeanet").edge_scales == (2, 4, 8)


def test_paper_parameter_count(paper_net):
    assert sum(p.numel() for p in paper_net.parameters()) == PAPER_PARAMS
    assert paper_net.config == {"scale": 8, "min_ch": 32, "max_ch": 128, "n_middle": 10, "hg_bottleneck": 4,
                                "reduction": 16, "pool_kernels": [5, 7, 10]}


def test_sixteen_faams_split_3_10_3(paper_net):
    faams = list(paper_net.faams)
    assert len(faams) == 16 and all(isinstance(f, FAAM) for f in faams)
    assert [f.mode for f in faams] == ["down"] * 3 + ["same"] * 10 + ["up"] * 3
    # every hourglass bottoms out at 4x4 px for a 16x16 LR face
    assert [f.hourglass.depth for f in faams] == [4, 3, 2] + [2] * 10 + [3, 4, 5]
    # CBAM MLP: reduction 16, but never fewer than 16 hidden units
    assert [f.channel_att.mlp[0].out_channels for f in faams] == [16] * 16


def test_paper_output_and_map_shapes(paper_net, paper_out):
    assert paper_out.image.shape == (1, 3, 128, 128)
    assert torch.isfinite(paper_out.image).all()
    sides = [64, 32, 16] + [16] * 10 + [32, 64, 128]
    widths = [64, 128, 128] + [128] * 10 + [128, 64, 32]
    expected = {f"faam_spatial/{i:02d}": (1, 1, s, s) for i, s in enumerate(sides)}
    expected.update({f"faam_channel/{i:02d}": (1, c, 1, 1) for i, c in enumerate(widths)})
    expected.update({"edge/x2": (1, 1, 32, 32), "edge/x4": (1, 1, 64, 64), "edge/x8": (1, 1, 128, 128),
                     "shortcut/alpha": (1, 3, 1, 1), "shortcut/beta": (1, 3, 1, 1)})
    assert {k: tuple(v.shape) for k, v in paper_out.maps.items()} == expected


def test_attention_maps_are_sigmoid_weights(paper_out):
    for key, value in paper_out.maps.items():
        if key.startswith("faam_"):
            assert value.min() > 0 and value.max() < 1, key


def test_edge_maps_follow_up_faams_at_32_64_128(paper_net, tiny_run):
    assert len(paper_net.edge_blocks) == 3
    assert all(isinstance(b, JEAEdgeBlock) for b in paper_net.edge_blocks)
    assert [b.pool_kernel for b in paper_net.edge_blocks] == [5, 7, 10]
    out = tiny_run[1]
    assert [out.maps[f"edge/x{s}"].shape[-1] for s in (2, 4, 8)] == [32, 64, 128]


def test_edge_block_concatenates_high_pass():
    block = JEAEdgeBlock(4, 5)
    x = torch.rand(2, 4, 12, 12)
    feats, edge = block(x)
    assert feats.shape == (2, 8, 12, 12) and edge.shape == (2, 1, 12, 12)
    assert torch.equal(feats[:, :4], x)
    flat = torch.full((1, 4, 12, 12), 0.3)
    assert torch.allclose(block(flat)[0][:, 4:], torch.zeros(1, 4, 12, 12), atol=1e-6)  # no edges in a flat map


def test_alpha_beta_are_learnable_and_reported(paper_net, paper_out, tiny_run):
    params = dict(paper_net.named_parameters())
    for name in ("alpha", "beta"):
        p = params[name]
        assert isinstance(p, torch.nn.Parameter) and p.requires_grad and p.shape == (3,)
        assert torch.equal(paper_out.maps[f"shortcut/{name}"].flatten(), p.detach())
    net, out = tiny_run  # the image alone already trains every alpha_k and beta_k
    grads = torch.autograd.grad(out.image.mean(), [net.alpha, net.beta], retain_graph=True)
    assert all(g.abs().min() > 0 for g in grads)


def test_shortcut_weights_scale_the_branches():
    net = tiny_net().eval()
    lr = torch.rand(1, 3, 16, 16)
    with torch.no_grad():
        base = net(lr).image
        net.beta.zero_()  # drop the shallow features: output must change
        assert not torch.allclose(net(lr).image, base)


def test_bicubic_upsampling_inside_forward():
    net = tiny_net().eval()
    seen = {}

    def record(module, inputs, output):
        seen["x"] = inputs[0]

    net.head.register_forward_hook(record)
    lr = torch.rand(2, 3, 16, 16)
    with torch.no_grad():
        net(lr)
    # within float rounding: computed as two matrix products (nets/_blocks.bicubic_upsample)
    assert torch.allclose(seen["x"], F.interpolate(lr, scale_factor=8, mode="bicubic", align_corners=False), atol=1e-5)


@pytest.mark.parametrize("bias", [False, True])
def test_up_conv_is_nearest_upsampling_then_a_3x3_conv(bias):
    """The transposed-convolution form computes exactly what the paper's pair does, values and gradients,
    with the 3x3 convolution's parameters where they always were."""
    torch.manual_seed(0)
    up = NearestUpConv(5, 4, bias=bias)
    assert [k for k, _ in up.named_parameters()] == ["1.weight"] + (["1.bias"] if bias else [])
    for shape in ((2, 5, 8, 8), (1, 5, 7, 11)):
        x = torch.randn(*shape, requires_grad=True)
        naive = F.conv2d(F.interpolate(x, scale_factor=2, mode="nearest"), up[1].weight, up[1].bias, padding=1)
        fast = up(x)
        assert fast.shape == naive.shape == (shape[0], 4, 2 * shape[2], 2 * shape[3])
        assert torch.allclose(fast, naive, atol=1e-5)
        g = torch.randn_like(naive)
        grads_naive = torch.autograd.grad(naive, [x, up[1].weight], g)
        grads_fast = torch.autograd.grad(fast, [x, up[1].weight], g)
        for a, b in zip(grads_fast, grads_naive):
            assert torch.allclose(a, b, atol=1e-4)


def test_up_faams_use_the_fast_up_conv(paper_net):
    ups = [m for m in paper_net.modules() if isinstance(m, NearestUpConv)]
    assert len(ups) == 6   # three up FAAMs: feature branch and shortcut each
    assert not any(isinstance(m, torch.nn.Upsample) for m in paper_net.modules() if m not in [u[0] for u in ups])


def test_tiny_forward_backward_reaches_every_parameter(tiny_run):
    net, out = tiny_run
    assert out.image.shape == (2, 3, 128, 128)
    assert len([k for k in out.maps if k.startswith("faam_spatial/")]) == 3 + 1 + 3
    loss = out.image.mean() + sum(m.float().mean() for m in out.maps.values())
    loss.backward(retain_graph=True)
    dead = [n for n, p in net.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert not dead


def test_rejects_other_scales():
    with pytest.raises(ValueError):
        JEANet(scale=4)
