"""Behaviour of the paper losses in facesr_gui.train.losses."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from facesr_gui.train import losses as L


def _square(n: int = 1, size: int = 32, lo: int = 8, hi: int = 24) -> torch.Tensor:
    """A white square on black, (n, 3, size, size) RGB [0, 1]."""
    img = torch.zeros(n, 3, size, size)
    img[:, :, lo:hi, lo:hi] = 1.0
    return img


# ---------------------------------------------------------------- pixel losses

@pytest.mark.parametrize("fn", [L.l1_loss, L.mse_loss, L.huber_loss, L.rgb_context_loss, L.lce_loss])
def test_pixel_losses_zero_on_identical_and_grad_flows(fn):
    hr = torch.rand(2, 3, 8, 8)
    assert fn(hr, hr.clone()).item() == 0.0
    sr = torch.rand(2, 3, 8, 8, requires_grad=True)
    loss = fn(sr, hr)
    assert loss.item() > 0
    loss.backward()
    assert sr.grad is not None and sr.grad.abs().sum() > 0


def test_l1_and_mse_known_values():
    hr = torch.zeros(1, 3, 2, 2)
    sr = torch.full((1, 3, 2, 2), 0.5)
    assert L.l1_loss(sr, hr).item() == pytest.approx(0.5)
    assert L.mse_loss(sr, hr).item() == pytest.approx(0.25)
    # EIPNet eq. 9 sums the three channels and averages over pixels
    assert L.rgb_context_loss(sr, hr).item() == pytest.approx(0.75)


def test_huber_quadratic_and_linear_branches():
    hr = torch.zeros(1, 1, 1, 2)
    sr = torch.tensor([[[[0.5, 2.0]]]])
    # |d|=0.5 <= 1: 0.5*0.25 = 0.125 ; |d|=2 > 1: 1*2 - 0.5 = 1.5
    assert L.huber_loss(sr, hr).item() == pytest.approx((0.125 + 1.5) / 2)
    assert L.huber_loss(-sr, hr).item() == pytest.approx((0.125 + 1.5) / 2)


def test_shape_mismatch_raises():
    with pytest.raises(ValueError):
        L.mse_loss(torch.zeros(1, 3, 4, 4), torch.zeros(1, 3, 8, 8))


# ---------------------------------------------------------------- LCE

def test_yuv_matrix_and_lce_by_hand():
    white = torch.ones(1, 3, 1, 1)
    y, u, v = L.rgb_to_yuv(white).flatten().tolist()
    assert y == pytest.approx(1.0) and u == pytest.approx(0.0, abs=1e-4) and v == pytest.approx(0.0, abs=1e-4)

    sr, hr = torch.rand(2, 3, 4, 5), torch.rand(2, 3, 4, 5)
    m = torch.tensor([[0.299, 0.587, 0.114], [-0.14713, -0.28886, 0.436], [0.615, -0.51499, -0.10001]])
    yuv = lambda x: torch.einsum("ij,njhw->nihw", m, x)  # noqa: E731
    by_hand = ((yuv(sr) - yuv(hr)) ** 2).sum(dim=1).mean()  # eq. 8: sum over Y,U,V, mean over pixels
    assert L.lce_loss(sr, hr).item() == pytest.approx(by_hand.item(), rel=1e-6)
    assert L.lce_loss(sr, hr).item() == pytest.approx(3 * torch.mean((yuv(sr) - yuv(hr)) ** 2).item(), rel=1e-6)


# ---------------------------------------------------------------- Canny ground truth

def test_adaptive_thresholds_follow_eipnet_equations():
    gray = np.zeros((32, 32), np.uint8)
    gray[8:24, 8:24] = 200
    low, high = L.adaptive_canny_thresholds(gray)
    g = gray.astype(np.float32)
    import cv2

    mag = np.hypot(cv2.Sobel(g, cv2.CV_32F, 1, 0, ksize=3), cv2.Sobel(g, cv2.CV_32F, 0, 1, ksize=3))
    m, s = mag.mean(), mag.std()
    assert high == pytest.approx(m + 1.6 * s, rel=1e-5)   # eq. 1, k = 1.6
    assert low == pytest.approx((m + 1.2 * s) / 2, rel=1e-5)  # eq. 1 with k = 1.2, then eq. 2
    assert 0 < low < high


def test_canny_binary_and_finds_square_outline():
    hr = _square(2)
    edges = L.canny_edges(hr)
    assert edges.shape == (2, 1, 32, 32) and edges.dtype == torch.float32
    assert set(edges.unique().tolist()) <= {0.0, 1.0}
    e = edges[0, 0]
    assert e[0:5].sum() == 0 and e[12:20, 12:20].sum() == 0  # flat regions: no edges
    # every side of the square is found (edges lie within a pixel of the boundary rows/cols 7-8, 23-24)
    assert e[7:9, 10:22].sum() > 0 and e[23:25, 10:22].sum() > 0
    assert e[10:22, 7:9].sum() > 0 and e[10:22, 23:25].sum() > 0
    assert torch.equal(L.canny_edges(hr, *L.EIPNET_CANNY_THRESHOLDS), edges)
    assert L.canny_edges(torch.full((1, 3, 16, 16), 0.3)).sum() == 0


def test_canny_rejects_one_threshold():
    with pytest.raises(ValueError):
        L.canny_edges(_square(), low=10.0)


def test_edge_targets_sizes_keys_and_binary():
    hr = _square(2, size=64, lo=16, hi=48)
    t = L.edge_targets(hr, scales=(2, 4, 8), lr_size=8)
    assert list(t) == ["edge/x2", "edge/x4", "edge/x8"]
    for s in (2, 4, 8):
        assert t[f"edge/x{s}"].shape == (2, 1, 8 * s, 8 * s)
        assert set(t[f"edge/x{s}"].unique().tolist()) == {0.0, 1.0}
    assert torch.equal(t["edge/x8"], L.canny_edges(hr))  # full size: Canny of HR itself


def test_edge_loss_forms():
    t = {"edge/x2": torch.zeros(2, 1, 4, 4), "edge/x4": torch.zeros(2, 1, 8, 8)}
    assert L.edge_loss(dict(t), t).item() == 0.0
    assert L.edge_loss(dict(t), t, form="jeanet").item() == 0.0
    pred = {"edge/x2": torch.ones(2, 1, 4, 4, requires_grad=True),
            "edge/x4": torch.ones(2, 1, 8, 8, requires_grad=True), "parsing": torch.zeros(2, 3, 8, 8)}
    # EIPNet eq. 3: per-scale MSE, summed: 1 + 1
    assert L.edge_loss(pred, t).item() == pytest.approx(2.0)
    # JEANet eq. 7: ||.||_2 / r with r = 1 (4x4: norm 4) and r = 2 (8x8: norm 8)
    loss = L.edge_loss(pred, t, form="jeanet")
    assert loss.item() == pytest.approx(4.0 / 1 + 8.0 / 2)
    loss.backward()
    assert pred["edge/x2"].grad.abs().sum() > 0 and pred["edge/x4"].grad.abs().sum() > 0


def test_edge_loss_jeanet_grad_finite_at_zero_residual():
    t = {"edge/x2": torch.zeros(1, 1, 4, 4)}
    pred = {"edge/x2": torch.zeros(1, 1, 4, 4, requires_grad=True)}
    L.edge_loss(pred, t, form="jeanet").backward()
    assert torch.isfinite(pred["edge/x2"].grad).all()


def test_edge_loss_missing_map_raises():
    with pytest.raises(KeyError):
        L.edge_loss({"edge/x2": torch.zeros(1, 1, 4, 4)}, {"edge/x8": torch.zeros(1, 1, 16, 16)})


def test_canny_on_real_face_has_sparse_edges(shared_data):
    path = sorted((shared_data / "celeba_train").glob("*.jpg"))[0]
    img = np.array(Image.open(path).convert("RGB").resize((128, 128), Image.BICUBIC))
    hr = torch.from_numpy(img).permute(2, 0, 1)[None].float() / 255.0
    density = L.canny_edges(hr).mean().item()
    assert 0.01 < density < 0.35


# ---------------------------------------------------------------- parsing / W-Net

def test_parsing_mse():
    p = torch.rand(2, 3, 8, 8, requires_grad=True)
    assert L.parsing_mse(p.detach(), p.detach()).item() == 0.0
    assert L.parsing_mse(torch.ones(1, 2, 2, 2), torch.zeros(1, 2, 2, 2)).item() == pytest.approx(1.0)


def test_component_masks_from_labels():
    labels = torch.tensor([[[0, 4, 5, 2], [6, 7, 10, 12]]])
    masks = L.component_masks_from_labels(labels)
    assert masks["eyes"].shape == (1, 1, 2, 4)
    assert masks["eyes"][0, 0].tolist() == [[0, 1, 1, 0], [0, 0, 0, 0]]
    assert masks["nose"].sum() == 1 and masks["eyebrows"].sum() == 2 and masks["mouth"].sum() == 2


def test_wnet_keypoint_loss_only_counts_masked_regions():
    hr = torch.zeros(1, 3, 4, 4)
    sr = torch.zeros(1, 3, 4, 4)
    sr[..., 0, 0] = 1.0  # error inside "eyes"
    sr[..., 3, 3] = 5.0  # error outside every mask
    eyes = torch.zeros(1, 1, 4, 4)
    eyes[..., 0, 0] = 1
    masks = {"eyes": eyes, "nose": torch.zeros(1, 1, 4, 4)}
    # eq. 24 on masked images: 1/CHW * 3 channels * 1^2 = 3/48
    assert L.wnet_keypoint_loss(sr, hr, masks).item() == pytest.approx(3 / 48)
    assert L.wnet_keypoint_loss(hr, hr, masks).item() == 0.0
    sr.requires_grad_(True)
    L.wnet_keypoint_loss(sr, hr, masks, feature_net=nn.Conv2d(3, 2, 3, padding=1)).backward()
    assert sr.grad[..., 0, 0].abs().sum() > 0 and sr.grad[..., 3, 3].abs().sum() == 0


def test_wnet_keypoint_mask_size_checked():
    with pytest.raises(ValueError):
        L.wnet_keypoint_loss(torch.zeros(1, 3, 8, 8), torch.zeros(1, 3, 8, 8), {"eyes": torch.zeros(1, 1, 4, 4)})


# ---------------------------------------------------------------- adversarial

def test_gan_losses_known_values():
    zero = torch.zeros(4, 1)
    assert L.g_adv_loss(zero).item() == pytest.approx(math.log(2))
    assert L.d_loss(zero, zero).item() == pytest.approx(2 * math.log(2))
    big = torch.full((4, 1), 20.0)
    assert L.d_loss(big, -big).item() < 1e-6  # perfect discriminator
    assert L.g_adv_loss(big).item() < 1e-6  # generator fools it
    fake = torch.zeros(4, 1, requires_grad=True)
    L.g_adv_loss(fake).backward()
    assert (fake.grad < 0).all()  # raising fake logits lowers the generator loss


# ---------------------------------------------------------------- identity

def test_js_divergence_properties():
    a, b = torch.randn(5, 7), torch.randn(5, 7)
    assert torch.allclose(L.js_divergence_from_logits(a, a), torch.zeros(5), atol=1e-6)
    assert torch.allclose(L.js_divergence_from_logits(a, b), L.js_divergence_from_logits(b, a), atol=1e-6)
    js = L.js_divergence_from_logits(a * 50, b * 50)
    assert (js >= 0).all() and (js <= math.log(2) + 1e-6).all()
    disjoint = L.js_divergence_from_logits(torch.tensor([[100.0, -100.0]]), torch.tensor([[-100.0, 100.0]]))
    assert disjoint.item() == pytest.approx(math.log(2), abs=1e-5)
    # by hand for p = (0.5, 0.5), q = (1, 0): m = (0.75, 0.25)
    p, q, m = np.array([0.5, 0.5]), np.array([1.0, 0.0]), np.array([0.75, 0.25])
    expected = 0.5 * np.sum(p * np.log(p / m)) + 0.5 * np.log(1.0 / 0.75)
    got = L.js_divergence_from_logits(torch.tensor([[0.0, 0.0]]), torch.tensor([[60.0, -60.0]]))
    assert got.item() == pytest.approx(expected, abs=1e-6)


class _TinyIdNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4), nn.AdaptiveAvgPool2d(1),
                                  nn.Flatten(), nn.Linear(4, 6))

    def forward(self, x):
        return self.body(x)


def test_identity_loss_disabled_returns_zero():
    loss = L.IdentityLoss(None)
    assert not loss.enabled
    assert loss(torch.rand(2, 3, 8, 8), torch.rand(2, 3, 8, 8)).item() == 0.0


def test_identity_loss_frozen_net_and_grad_to_sr():
    net = _TinyIdNet()
    loss_fn = L.IdentityLoss(net).train()
    assert loss_fn.enabled and not net.training
    assert all(not p.requires_grad for p in net.parameters())
    hr = torch.rand(2, 3, 8, 8)
    assert loss_fn(hr, hr).item() == pytest.approx(0.0, abs=1e-7)
    sr = torch.rand(2, 3, 8, 8, requires_grad=True)
    val = loss_fn(sr, hr)
    assert 0 < val.item() <= math.log(2)
    val.backward()
    assert sr.grad.abs().sum() > 0
    assert all(p.grad is None for p in net.parameters())


# ---------------------------------------------------------------- weighted sum

def test_loss_terms_weighted_sum_and_log():
    x = torch.tensor(2.0, requires_grad=True)
    terms = {"l1": x * 1.0, "edge": x * 3.0, "adv": torch.tensor(float("nan"))}
    total, log = L.LossTerms({"l1": 1.0, "edge": 0.01, "adv": 0.0, "unused": 5.0})(terms)
    assert total.item() == pytest.approx(2.0 + 0.06)
    assert log["l1"] == pytest.approx(2.0) and log["edge"] == pytest.approx(6.0)
    assert math.isnan(log["adv"]) and log["total"] == pytest.approx(2.06)
    total.backward()
    assert x.grad.item() == pytest.approx(1.03)


def test_loss_terms_unknown_term_raises():
    with pytest.raises(KeyError):
        L.LossTerms({"l1": 1.0})({"l2": torch.tensor(1.0)})
