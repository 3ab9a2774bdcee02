"""CAGFace (Kalarot et al. 2020): Table 1 stage sizes, component attention, patch-based inference."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from facesr_gui.nets import SRNet, SROutput, create_net, get_info, lr_side, net_lr_side
from facesr_gui.nets._blocks import ResBlock
from facesr_gui.nets.cagface import COMPONENTS, CAGFace, ComponentNet, patch_forward

TABLE1_STAGE1, TABLE1_STAGE2 = 21_881_859, 38_952_791
TINY = {"n_feats": 8, "n_blocks": 1, "parser_width": 4, "parser_depth": 2}


def n_params(m: nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())


@pytest.fixture(scope="module")
def paper_net() -> CAGFace:
    torch.manual_seed(0)
    return create_net("cagface").eval()


@pytest.fixture(scope="module")
def tiny_net() -> CAGFace:
    torch.manual_seed(0)
    return create_net("cagface", **TINY).eval()


def test_registry_entry():
    info = get_info("cagface")
    assert info.scale == 4 and info.discriminator is None and info.tiny_cfg == TINY
    assert lr_side("cagface") == 64  # 256x256 HR patches at x4 (Sec. 4.3)
    with pytest.raises(ValueError):
        CAGFace(scale=8)


def test_table1_stage_param_counts(paper_net):
    s1, s2 = n_params(paper_net.stage1), n_params(paper_net.stage2)
    assert abs(s1 - TABLE1_STAGE1) / TABLE1_STAGE1 < 0.02
    assert abs(s2 - TABLE1_STAGE2) / TABLE1_STAGE2 < 0.02
    assert (s1, s2) == (21_853_955, 38_982_999)
    # Table 1 books the 12->256 space-to-depth conv under stage 1; with that grouping stage 1 is exact
    # and stage 2 differs only by Table 1's 3x3x255x256 "Stem 2" typo (3*3*256 = 2304 weights).
    s2d = n_params(paper_net.stage2.s2d_stem)
    assert s1 + s2d == TABLE1_STAGE1
    assert s2 - s2d == TABLE1_STAGE2 + 3 * 3 * 256
    assert 100_000 <= n_params(paper_net.parser) <= 1_000_000


def test_table1_kernel_shapes(paper_net):
    def shapes(m: nn.Module) -> list[tuple[int, int]]:
        return [(c.in_channels, c.out_channels) for c in m.modules() if isinstance(c, nn.Conv2d)]

    res = [(256, 256)] * 32
    assert shapes(paper_net.stage1) == [(6, 256), *res, (256, 256), (256, 1024), (256, 3)]
    assert shapes(paper_net.stage2) == [(12, 256), (256, 256), *res, (256, 256),
                                        (512, 2048), (512, 2048), (512, 3), (3, 3)]
    for stage in (paper_net.stage1, paper_net.stage2):
        assert sum(isinstance(m, ResBlock) for m in stage.modules()) == 16
        assert all(c.kernel_size == (3, 3) for c in stage.modules() if isinstance(c, nn.Conv2d))


def test_paper_config_x4_maps(paper_net):
    with torch.no_grad():
        out = paper_net(torch.rand(1, 3, 16, 16))
    assert out.image.shape == (1, 3, 64, 64) and torch.isfinite(out.image).all()
    expected = {f"component/{n}": (1, 1, 16, 16) for n in COMPONENTS}
    expected |= {f"attention/{n}": (1, 1, 16, 16) for n in COMPONENTS}
    expected["stage1"] = (1, 3, 32, 32)
    assert {k: tuple(v.shape) for k, v in out.maps.items()} == expected


def test_stage2_runs_at_lr_size_on_space_to_depth(tiny_net):
    seen: list[tuple[int, ...]] = []
    hook = tiny_net.stage2.s2d_stem.register_forward_hook(lambda m, i, o: seen.append(tuple(i[0].shape)))
    try:
        with torch.no_grad():
            out = tiny_net(torch.rand(2, 3, 12, 10))
    finally:
        hook.remove()
    assert seen[0] == (2, 12, 12, 10)  # 4 LR-sized copies of the x2 RGB image (Sec. 3.2)
    assert out.image.shape == (2, 3, 48, 40) and out.maps["stage1"].shape == (2, 3, 24, 20)


def test_component_net_probabilities_any_size():
    net, x = ComponentNet(width=4, depth=3), torch.rand(2, 3, 37, 23)
    p = net(x)
    assert p.shape == (2, 3, 37, 23) and ((p > 0) & (p < 1)).all()
    assert torch.allclose(p, torch.sigmoid(net.logits(x)))
    assert net(torch.rand(1, 3, 3, 5)).shape == (1, 3, 3, 5)


def test_attention_is_luma_times_smoothed_component(tiny_net):
    lr = torch.rand(1, 3, 16, 16)
    probs = torch.full((1, 3, 16, 16), 0.5)
    probs[:, 2] = 1.0
    with torch.no_grad():
        out = tiny_net(lr, attention=probs)
    luma = 0.299 * lr[:, :1] + 0.587 * lr[:, 1:2] + 0.114 * lr[:, 2:]
    assert torch.allclose(out.maps["attention/hair"], 0.5 * luma, atol=1e-6)  # constant survives smoothing
    assert torch.allclose(out.maps["attention/parts"], luma, atol=1e-6)
    assert torch.equal(out.maps["component/skin"], probs[:, 1:2])  # supplied maps are reported as given
    with pytest.raises(ValueError):
        tiny_net(lr, attention=probs[:, :2])


def test_parser_detached_from_sr_path_by_default():
    torch.manual_seed(0)
    for detach in (True, False):
        net = CAGFace(**TINY, detach_parser=detach)
        out = net(torch.rand(2, 3, 16, 16))
        (out.image.mean() + out.maps["stage1"].mean()).backward()
        parser_grads = [p.grad for p in net.parser.parameters()]
        assert all(g is None for g in parser_grads) == detach
        assert all(p.grad is not None for p in net.stage1.parameters())


class _Pointwise(SRNet):
    """Per-pixel net: patch inference must reproduce whole-image inference exactly."""

    def __init__(self):
        super().__init__(scale=4)

    def forward(self, lr: Tensor) -> SROutput:
        return SROutput(F.interpolate(lr * 2.0, scale_factor=4, mode="nearest"),
                        {"half": F.interpolate(lr[:, :1], scale_factor=2, mode="nearest"), "lr": lr[:, 1:2],
                         "scalar": torch.ones(lr.shape[0], 2, 1, 1)})


@pytest.mark.parametrize("hw,patch,overlap", [((37, 23), 16, 4), ((40, 40), 16, 12), ((9, 30), 16, 6)])
def test_patch_blending_is_exact_for_pointwise_net(hw, patch, overlap):
    net, lr = _Pointwise(), torch.rand(2, 3, *hw)
    whole, tiled = net(lr), patch_forward(net, lr, patch=patch, overlap=overlap)
    assert torch.allclose(tiled.image, whole.image, atol=1e-6)
    for key, value in whole.maps.items():
        assert tiled.maps[key].shape == value.shape and torch.allclose(tiled.maps[key], value, atol=1e-6), key


def test_patch_forward_odd_size_shapes(tiny_net):
    calls: list[float] = []
    out = patch_forward(tiny_net, torch.rand(1, 3, 37, 23), patch=16, overlap=4, progress=calls.append)
    assert out.image.shape == (1, 3, 148, 92) and torch.isfinite(out.image).all()
    assert out.maps["stage1"].shape == (1, 3, 74, 46)
    assert all(out.maps[f"component/{n}"].shape == (1, 1, 37, 23) for n in COMPONENTS)
    assert len(calls) == 3 * 2 and calls[-1] == 1.0


def test_patch_forward_smaller_than_patch_equals_whole(tiny_net):
    lr = torch.rand(1, 3, 10, 13)
    with torch.no_grad():
        whole = tiny_net(lr)
    tiled = patch_forward(tiny_net, lr, patch=64, overlap=16)
    assert torch.allclose(tiled.image, whole.image, atol=1e-6)


def test_patch_forward_matches_whole_image(tiny_net):
    lr = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        whole = tiny_net(lr)
    tiled = patch_forward(tiny_net, lr, patch=40, overlap=24)
    scale = whole.image.std().item()
    assert (tiled.image - whole.image).abs().max().item() < 1e-3 * scale
    assert torch.allclose(tiled.maps["component/hair"], whole.maps["component/hair"], atol=1e-6)
    with pytest.raises(ValueError):
        patch_forward(tiny_net, lr, patch=16, overlap=16)


def test_residual_variant_starts_from_bicubic():
    """residual=True: with both stages' last convs zeroed the net is exactly bicubic; default is the paper's."""
    assert CAGFace(**TINY).config["residual"] is False
    net = CAGFace(**TINY, residual=True).eval()
    for head in (net.stage1.to_rgb, net.stage2.mix):
        torch.nn.init.zeros_(head.weight)
        torch.nn.init.zeros_(head.bias)
    lr = torch.rand(2, 3, 12, 12)
    out = net(lr)
    assert torch.allclose(out.image, F.interpolate(lr, scale_factor=4, mode="bicubic", align_corners=False), atol=1e-5)
    assert torch.allclose(out.maps["stage1"], F.interpolate(lr, scale_factor=2, mode="bicubic", align_corners=False),
                          atol=1e-5)


def test_lr_size_sets_the_crop_side_and_is_kept_in_the_config():
    net = CAGFace(**TINY, lr_size=32)
    assert net_lr_side(net) == 32 and net.config["lr_size"] == 32
    assert net_lr_side(create_net("cagface", **TINY)) == 64
    with pytest.raises(ValueError):
        CAGFace(**TINY, lr_size=0)
