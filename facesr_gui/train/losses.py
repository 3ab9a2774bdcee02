"""Training losses of the five face SR papers, written as each paper defines them.

Conventions at this boundary: images are ``(N, 3, H, W)`` float tensors, **RGB**, nominal
range ``[0, 1]`` (SR predictions are not clamped, so gradients survive overshoot); edge maps
are ``(N, 1, h, w)``; parsing maps ``(N, K, h, w)``. Every loss returns a scalar tensor.

Which paper uses what (weights as published; "n/p" = not published):

* JEANet eq. 8: ``1 * l1_loss + 0.01 * edge_loss(form="jeanet")``.
* EIPNet eq. 11: ``rgb_context_loss + gamma*edge_loss(form="eipnet") + lce_loss
  + alpha*IdentityLoss + beta*g_adv_loss`` (gamma, alpha, beta n/p; beta = 0 for the
  first 1.2M of 1.32M iterations).
* CAGFace eq. 1: ``huber_loss`` (delta = 1) on each stage's output.
* W-Net eq. 29: ``1 * mse_loss + 1 * parsing_mse + 0.5 * wnet_keypoint_loss``.
* Prior-guided thesis eq. 3.8 / 3.10: ``mse(coarse) + parsing_mse + mse(fine)``, plus VGG
  and ``g_adv_loss`` terms for its GAN variant.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = [
    "l1_loss", "mse_loss", "huber_loss", "rgb_context_loss",
    "EIPNET_CANNY_THRESHOLDS", "adaptive_canny_thresholds", "canny_edges", "edge_targets", "edge_loss",
    "YUV_FROM_RGB", "rgb_to_yuv", "lce_loss",
    "parsing_mse", "WNET_COMPONENTS", "component_masks_from_labels", "wnet_keypoint_loss",
    "d_loss", "g_adv_loss", "js_divergence_from_logits", "IdentityLoss", "LossTerms",
]


def _same_shape(a: Tensor, b: Tensor) -> None:
    if a.shape != b.shape:
        raise ValueError(f"shape mismatch: {tuple(a.shape)} vs {tuple(b.shape)}")


# ---------------------------------------------------------------- pixel losses

def l1_loss(sr: Tensor, hr: Tensor) -> Tensor:
    """JEANet eq. 6, ``||I_HR - I_SR||_1``, taken as the mean absolute error (PyTorch's
    ``L1Loss``) so its scale does not depend on image size."""
    _same_shape(sr, hr)
    return F.l1_loss(sr, hr)


def mse_loss(sr: Tensor, hr: Tensor) -> Tensor:
    """Mean squared error over N, C, H, W: W-Net eq. 24 (``1/CHW ||.||^2``) and the prior-guided
    thesis eqs. 3.5 / 3.7 (coarse and fine SR losses)."""
    _same_shape(sr, hr)
    return F.mse_loss(sr, hr)


def huber_loss(sr: Tensor, hr: Tensor, delta: float = 1.0) -> Tensor:
    """CAGFace eq. 1: ``d^2/2`` for ``|d| <= delta`` else ``delta*|d| - delta^2/2`` with
    ``d = I_HR - I_SR`` (eq. 2) and ``delta = 1``; averaged over all elements."""
    _same_shape(sr, hr)
    return F.huber_loss(sr, hr, delta=delta)


def _channel_sum_mse(a: Tensor, b: Tensor) -> Tensor:
    """``1/(wh) sum_c sum_xy (a - b)^2`` (squared error summed over channels, mean over pixels
    and batch), the normalisation of EIPNet eqs. 8 and 9."""
    _same_shape(a, b)
    return (a - b).pow(2).sum(dim=1).mean()


def rgb_context_loss(sr: Tensor, hr: Tensor) -> Tensor:
    """EIPNet eq. 9 context loss: channel-summed squared RGB error, mean over pixels
    (= 3 x ``mse_loss`` for RGB)."""
    return _channel_sum_mse(sr, hr)


# ---------------------------------------------------------------- Canny edge ground truth

#: The thresholds EIPNet reports having set "empirically ... by applying adaptive threshold
#: selection" (Sec. 3.1); pass them as ``low, high`` to reproduce the paper's fixed setting.
EIPNET_CANNY_THRESHOLDS: tuple[float, float] = (100.0, 255.0)


def _gray_uint8(img: Tensor) -> np.ndarray:
    """``(3, H, W)`` RGB ``[0, 1]`` tensor -> ``(H, W)`` uint8 grayscale (BT.601 weights)."""
    rgb = (img.detach().float().clamp(0, 1) * 255.0).round().byte().permute(1, 2, 0).cpu().numpy()
    return cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2GRAY)


def adaptive_canny_thresholds(gray: np.ndarray, k_low: float = 1.2, k_high: float = 1.6) -> tuple[float, float]:
    """EIPNet Sec. 3.1 adaptive threshold selection (after Rong et al. [30]) for a uint8 image.

    The gradient magnitude ``sqrt(gx^2 + gy^2)`` comes from 3x3 Sobel filters (the
    "3 x 3 gradient filters"; the same gradient ``cv2.Canny(..., L2gradient=True)`` thresholds).
    With its mean ``m`` and standard deviation ``sigma``, eq. (1) gives ``T_h = m + k*sigma``
    and eq. (2) ``T_l = T_h / 2``; the paper sets "k to be 1.2 and 1.6 to obtain T_l and T_h,
    respectively", so ``T_high = m + 1.6*sigma`` and ``T_low = (m + 1.2*sigma) / 2``.
    Returns ``(low, high)``; ``low < high`` whenever the image is not constant.
    """
    g = gray.astype(np.float32)
    gx = cv2.Sobel(g, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(g, cv2.CV_32F, 0, 1, ksize=3)
    mag = np.sqrt(gx * gx + gy * gy)
    m, sigma = float(mag.mean()), float(mag.std())
    return (m + k_low * sigma) / 2.0, m + k_high * sigma


def canny_edges(hr: Tensor, low: float | None = None, high: float | None = None) -> Tensor:
    """Canny edge maps ``C(I_HR)`` of ``hr`` ``(N, 3, H, W)`` RGB ``[0, 1]``.

    Each image is converted to uint8 grayscale and passed to ``cv2.Canny`` (3x3 Sobel, L2
    gradient, no pre-blur). With ``low``/``high`` None the thresholds are chosen per image by
    :func:`adaptive_canny_thresholds`. Returns ``(N, 1, H, W)`` float in ``{0, 1}`` on
    ``hr``'s device; no gradient (it is a target).
    """
    if hr.dim() != 4 or hr.shape[1] != 3:
        raise ValueError(f"expected (N, 3, H, W) RGB, got {tuple(hr.shape)}")
    if (low is None) != (high is None):
        raise ValueError("give both Canny thresholds or neither")
    maps = []
    for img in hr:
        gray = _gray_uint8(img)
        lo, hi = (low, high) if low is not None else adaptive_canny_thresholds(gray)
        maps.append(cv2.Canny(gray, float(lo), float(hi), L2gradient=True) > 0)
    out = torch.from_numpy(np.stack(maps)[:, None].astype(np.float32))
    return out.to(device=hr.device, dtype=hr.dtype if hr.is_floating_point() else torch.float32)


def edge_targets(
    hr: Tensor,
    scales: Sequence[int] = (2, 4, 8),
    lr_size: int | tuple[int, int] = 16,
    low: float | None = None,
    high: float | None = None,
) -> dict[str, Tensor]:
    """Ground-truth edge maps for the multi-scale edge blocks, keyed like ``SROutput.maps``.

    ``edge/x{s}`` has the size ``s * lr_size`` (EIPNet eq. 3 sums ``C(I_HR)`` over ``rw x rh``
    pixels, r in {2, 4, 8}; JEANet's three upscale edge blocks sit at the same 32/64/128 sizes).
    Neither paper says how ``C(I_HR)`` is brought to the smaller sizes; we resize the HR image
    (area averaging) and run Canny there, so every target stays a binary Canny map.
    ``hr``: ``(N, 3, H, W)`` RGB ``[0, 1]``. Returns ``{"edge/x{s}": (N, 1, s*h, s*w)}``.
    """
    lh, lw = (lr_size, lr_size) if isinstance(lr_size, int) else lr_size
    out = {}
    for s in scales:
        size = (s * lh, s * lw)
        img = hr if tuple(hr.shape[-2:]) == size else F.interpolate(hr, size=size, mode="area")
        out[f"edge/x{s}"] = canny_edges(img, low, high)
    return out


def edge_loss(maps: Mapping[str, Tensor], targets: Mapping[str, Tensor], form: str = "eipnet") -> Tensor:
    """Multi-scale edge loss between predicted ``maps[name]`` and ``targets[name]`` for every
    name in ``targets`` (e.g. from :func:`edge_targets`), each ``(N, 1, h, w)``; predictions are
    raw (no sigmoid) regressions of the ``{0, 1}`` Canny map. Summed over scales.

    * ``"eipnet"`` (EIPNet eq. 3): ``1/(r^2 wh) sum ||C(I_HR) - E(I_LR)||^2``, i.e. the mean
      squared error at each scale.
    * ``"jeanet"`` (JEANet eq. 7): ``1/r ||C(I_HR) - E(I_LR)||_2``, the (unsquared) L2 norm of
      each image's residual, averaged over the batch; ``r`` in {1, 2, 4} counts up from the
      smallest edge map (``r = s / min(s)``), which makes the norms of different sizes comparable.
    """
    if form not in ("eipnet", "jeanet"):
        raise ValueError(f"unknown edge-loss form {form!r}")
    missing = [k for k in targets if k not in maps]
    if missing:
        raise KeyError(f"prediction has no edge maps {missing}; has {sorted(maps)}")
    if not targets:
        raise ValueError("no edge targets given")
    scale = {k: int(k.rsplit("x", 1)[-1]) for k in targets}
    smallest = min(scale.values())
    total = next(iter(maps.values())).new_zeros(())
    for k, target in targets.items():
        pred = maps[k]
        _same_shape(pred, target)
        if form == "eipnet":
            total = total + F.mse_loss(pred, target)
        else:
            r = scale[k] / smallest
            total = total + torch.linalg.vector_norm((target - pred).flatten(1), dim=1).mean() / r
    return total


# ---------------------------------------------------------------- luminance-chrominance error

#: EIPNet eq. 7 RGB -> YUV conversion matrix (rows Y, U, V).
YUV_FROM_RGB: Tensor = torch.tensor([
    [0.299, 0.587, 0.114],
    [-0.14713, -0.28886, 0.436],
    [0.615, -0.51499, -0.10001],
])


def rgb_to_yuv(img: Tensor) -> Tensor:
    """EIPNet eq. 7: ``(N, 3, H, W)`` RGB -> ``(N, 3, H, W)`` YUV (Y in [0, 1], U/V signed)."""
    m = YUV_FROM_RGB.to(device=img.device, dtype=img.dtype)
    return torch.einsum("ij,njhw->nihw", m, img)


def lce_loss(sr: Tensor, hr: Tensor) -> Tensor:
    """EIPNet eq. 8 luminance-chrominance error: ``1/(wh) sum_{c in YUV} sum_xy
    ||M(I_HR) - M(I_SR)||^2`` (channel-summed, mean over pixels and batch)."""
    return _channel_sum_mse(rgb_to_yuv(sr), rgb_to_yuv(hr))


# ---------------------------------------------------------------- parsing priors

def parsing_mse(pred: Tensor, target: Tensor) -> Tensor:
    """Parsing-map MSE, ``(N, K, h, w)`` both: prior-guided thesis eq. 3.6 (prior loss) and
    W-Net eq. 25 (``1/CHW ||Parsing_SR - Parsing_HR||^2``). Sizes must already match."""
    _same_shape(pred, target)
    return F.mse_loss(pred, target)


#: W-Net's four key components (Sec. 3.4) as CelebAMask-HQ label ids
#: (see shared/data/parsing_samples/LABELS.txt); "mouth" includes both lips.
WNET_COMPONENTS: dict[str, tuple[int, ...]] = {
    "eyes": (4, 5), "eyebrows": (6, 7), "nose": (2,), "mouth": (10, 11, 12),
}


def component_masks_from_labels(labels: Tensor, components: Mapping[str, Sequence[int]] = WNET_COMPONENTS) -> dict[str, Tensor]:
    """``(N, H, W)`` integer CelebAMask-HQ label map -> ``{name: (N, 1, H, W) float {0, 1}}``."""
    return {name: torch.isin(labels, torch.tensor(ids, device=labels.device)).unsqueeze(1).float()
            for name, ids in components.items()}


def wnet_keypoint_loss(sr: Tensor, hr: Tensor, masks: Mapping[str, Tensor], feature_net: nn.Module | None = None) -> Tensor:
    """W-Net eqs. 27-28: ``L_key = sum over components c of (L_mse^c + L_per^c)``, equal weights.

    ``sr``, ``hr``: ``(N, 3, H, W)`` RGB ``[0, 1]``; ``masks``: ``{name: (N, 1, H, W)}`` 0-1
    masks at the image size (e.g. :func:`component_masks_from_labels` of the HR parsing).
    Per component, the 0-1 mask is applied to both images and eq. 24 (``1/CHW ||.||^2``)
    gives ``L_mse^c``; with a ``feature_net`` (W-Net: VGG-19 layer k, eq. 26; its ImageNet
    weights are not shipped, so by default None) ``L_per^c`` is the MSE of its features of the
    masked images, else it is omitted.
    """
    _same_shape(sr, hr)
    total = sr.new_zeros(())
    for name, mask in masks.items():
        if mask.shape[-2:] != sr.shape[-2:]:
            raise ValueError(f"mask {name!r} is {tuple(mask.shape[-2:])}, image is {tuple(sr.shape[-2:])}")
        m_sr, m_hr = sr * mask, hr * mask
        total = total + F.mse_loss(m_sr, m_hr)
        if feature_net is not None:
            with torch.no_grad():
                f_hr = feature_net(m_hr)
            total = total + F.mse_loss(feature_net(m_sr), f_hr)
    return total


# ---------------------------------------------------------------- adversarial

def d_loss(real_logits: Tensor, fake_logits: Tensor) -> Tensor:
    """Standard GAN discriminator loss on logits (thesis eq. 2.2, EIPNet eq. 10, SRGAN):
    ``-E[log D(x)] - E[log(1 - D(G(z)))]`` with ``D = sigmoid(logits)``, via BCE-with-logits."""
    real = F.binary_cross_entropy_with_logits(real_logits, torch.ones_like(real_logits))
    fake = F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits))
    return real + fake


def g_adv_loss(fake_logits: Tensor) -> Tensor:
    """Non-saturating generator loss ``-E[log D(G(z))]`` (thesis eq. 3.12, SRGAN), batch mean."""
    return F.binary_cross_entropy_with_logits(fake_logits, torch.ones_like(fake_logits))


# ---------------------------------------------------------------- identity

def js_divergence_from_logits(p_logits: Tensor, q_logits: Tensor) -> Tensor:
    """EIPNet eqs. 5-6: Jensen-Shannon divergence (natural log) between ``softmax(p_logits)``
    and ``softmax(q_logits)``, both ``(N, K)``. Returns ``(N,)``, symmetric, in ``[0, ln 2]``."""
    _same_shape(p_logits, q_logits)
    log_p, log_q = F.log_softmax(p_logits, dim=1), F.log_softmax(q_logits, dim=1)
    log_m = torch.logaddexp(log_p, log_q) - torch.log(torch.tensor(2.0, dtype=log_p.dtype, device=log_p.device))
    kl_pm = (log_p.exp() * (log_p - log_m)).sum(dim=1)
    kl_qm = (log_q.exp() * (log_q - log_m)).sum(dim=1)
    return 0.5 * kl_pm + 0.5 * kl_qm


class IdentityLoss(nn.Module):
    """EIPNet Sec. 3.2 identity loss: JS divergence (eq. 6) between the softmax-normalised
    class-encoded vectors an identity network gives for HR and SR images, batch mean.

    ``identity_net`` maps ``(N, 3, H, W)`` RGB ``[0, 1]`` to class logits ``(N, K)``; it is
    frozen (eval mode, no parameter gradients) but gradients flow through it to the SR image.
    The paper uses InceptionV1 (FaceNet) pretrained on VGGFace2 with 512 bins; those weights
    cannot be obtained offline, so the project plugs in its own identity network (to be
    trained on the CelebA identities). With ``identity_net=None`` the loss is disabled:
    ``enabled`` is False and ``forward`` returns 0.
    """

    def __init__(self, identity_net: nn.Module | None = None):
        super().__init__()
        self.identity_net = identity_net
        if identity_net is not None:
            identity_net.requires_grad_(False)
            identity_net.eval()

    @property
    def enabled(self) -> bool:
        return self.identity_net is not None

    def train(self, mode: bool = True) -> "IdentityLoss":
        super().train(mode)
        if self.identity_net is not None:
            self.identity_net.eval()  # a fixed feature extractor: BN/dropout stay in eval mode
        return self

    def forward(self, sr: Tensor, hr: Tensor) -> Tensor:
        """``sr``, ``hr``: ``(N, 3, H, W)`` RGB ``[0, 1]``. Returns the scalar ``L_id``."""
        if self.identity_net is None:
            return sr.new_zeros(())
        with torch.no_grad():
            p_logits = self.identity_net(hr)
        return js_divergence_from_logits(p_logits, self.identity_net(sr)).mean()


# ---------------------------------------------------------------- weighted sum

class LossTerms:
    """Weighted sum of named loss terms, e.g. ``LossTerms({"l1": 1.0, "edge": 0.01})``.

    Calling it with ``{name: scalar tensor}`` returns ``(total, log)`` where ``total`` is
    ``sum(weights[name] * term)`` over terms with a nonzero weight and ``log`` holds every
    term's float value plus ``"total"``. A term without a weight is an error (a typo would
    otherwise silently drop it); weights without a term are ignored. Zero-weight terms are
    skipped (so a NaN there cannot poison the total); if every weight is zero the total is a
    constant 0 without a graph.
    """

    def __init__(self, weights: Mapping[str, float]):
        self.weights = {k: float(v) for k, v in weights.items()}

    def __call__(self, terms: Mapping[str, Tensor]) -> tuple[Tensor, dict[str, float]]:
        unknown = [k for k in terms if k not in self.weights]
        if unknown:
            raise KeyError(f"no weight for loss terms {unknown}; weights are {sorted(self.weights)}")
        if not terms:
            raise ValueError("no loss terms given")
        weighted = [self.weights[k] * v for k, v in terms.items() if self.weights[k] != 0.0]
        total = torch.stack(weighted).sum() if weighted else next(iter(terms.values())).new_zeros(())
        log = {k: float(v.detach()) for k, v in terms.items()}
        log["total"] = float(total.detach())
        return total, log
