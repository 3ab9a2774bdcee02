"""Layers shared by several papers.

All blocks take and return ``(N, C, H, W)`` feature tensors unless stated.
Paper-specific blocks live in the paper's own module.
"""
from __future__ import annotations

import contextlib
import functools

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn


@functools.lru_cache(maxsize=32)
def _bicubic_matrix(n_in: int, scale: int) -> np.ndarray:
    """``(n_in * scale, n_in)`` float32: row ``o`` holds the weights PyTorch's bicubic upsampling
    (``a = -0.75``, ``align_corners=False``, indices clamped at the border) gives each input pixel."""
    a = -0.75

    def weight(t: float) -> float:
        t = abs(t)
        if t <= 1:
            return ((a + 2) * t - (a + 3)) * t * t + 1
        return ((a * t - 5 * a) * t + 8 * a) * t - 4 * a if t < 2 else 0.0

    m = np.zeros((n_in * scale, n_in), np.float64)
    for o in range(n_in * scale):
        src = (o + 0.5) / scale - 0.5
        i0 = int(np.floor(src))
        for k in range(-1, 3):
            m[o, min(max(i0 + k, 0), n_in - 1)] += weight(k - (src - i0))
    return m.astype(np.float32)


def bicubic_upsample(x: Tensor, scale: int) -> Tensor:
    """``F.interpolate(x, scale_factor=scale, mode="bicubic", align_corners=False)`` for an integer
    ``scale``, computed as two small matrix products in float32 (the same values within 1e-6).

    Why: OpenVINO's CPU Interpolate took 31 ms for six 16 px faces at x8 (a fifth of JEANet's
    time), the products 0.2 ms. The matrices are constants, so a converted model holds them."""
    h, w = int(x.shape[-2]), int(x.shape[-1])
    rows = torch.from_numpy(_bicubic_matrix(h, int(scale))).to(x.device)
    cols = torch.from_numpy(_bicubic_matrix(w, int(scale))).to(x.device)
    # float32 also inside a bf16 autocast region (it would run the products in bf16); none on "meta"
    device = x.device.type
    plain = torch.autocast(device, enabled=False) if device in ("cpu", "cuda") else contextlib.nullcontext()
    with plain:
        return torch.matmul(torch.matmul(rows, x.float()), cols.t()).to(x.dtype)


def conv3x3(cin: int, cout: int, stride: int = 1, bias: bool = True, dilation: int = 1) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, 3, stride=stride, padding=dilation, dilation=dilation, bias=bias)


def conv1x1(cin: int, cout: int, bias: bool = True) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, 1, bias=bias)


class ResBlock(nn.Module):
    """conv3x3 -> ReLU -> conv3x3, plus identity (EDSR-style, optional residual scaling)."""

    def __init__(self, ch: int, res_scale: float = 1.0, bn: bool = False):
        super().__init__()
        layers: list[nn.Module] = [conv3x3(ch, ch, bias=not bn)]
        if bn:
            layers.append(nn.BatchNorm2d(ch))
        layers.append(nn.ReLU(inplace=True))
        layers.append(conv3x3(ch, ch, bias=not bn))
        if bn:
            layers.append(nn.BatchNorm2d(ch))
        self.body = nn.Sequential(*layers)
        self.res_scale = res_scale

    def forward(self, x: Tensor) -> Tensor:
        return x + self.res_scale * self.body(x)


class PreActResidual(nn.Module):
    """Bottleneck residual unit used inside hourglasses (BN-ReLU-conv, Newell et al.)."""

    def __init__(self, cin: int, cout: int):
        super().__init__()
        mid = max(cout // 2, 1)
        self.body = nn.Sequential(
            nn.BatchNorm2d(cin), nn.ReLU(inplace=True), conv1x1(cin, mid),
            nn.BatchNorm2d(mid), nn.ReLU(inplace=True), conv3x3(mid, mid),
            nn.BatchNorm2d(mid), nn.ReLU(inplace=True), conv1x1(mid, cout),
        )
        self.skip = nn.Identity() if cin == cout else conv1x1(cin, cout)

    def forward(self, x: Tensor) -> Tensor:
        return self.skip(x) + self.body(x)


class Hourglass(nn.Module):
    """Recursive hourglass (Newell et al. 2016): ``depth`` max-pool/upsample levels.

    Input and output have the same shape; H and W should be divisible by ``2**depth``
    (odd sizes are handled by resizing the upsampled branch to the skip branch).
    """

    def __init__(self, ch: int, depth: int = 4, block: type[nn.Module] | None = None):
        super().__init__()
        make = block or (lambda c: PreActResidual(c, c))
        self.depth = depth
        self.skip = make(ch)
        self.down = make(ch)
        self.inner = Hourglass(ch, depth - 1, block) if depth > 1 else make(ch)
        self.up = make(ch)

    def forward(self, x: Tensor) -> Tensor:
        skip = self.skip(x)
        y = F.max_pool2d(x, 2, ceil_mode=True)
        y = self.up(self.inner(self.down(y)))
        y = F.interpolate(y, size=skip.shape[-2:], mode="nearest")
        return skip + y


class ChannelAttention(nn.Module):
    """CBAM channel attention: shared MLP over global max- and average-pooled features.

    ``forward`` returns the attention weights ``(N, C, 1, 1)`` in ``(0, 1)`` (not the product).
    """

    def __init__(self, ch: int, reduction: int = 16):
        super().__init__()
        hidden = max(ch // reduction, 1)
        self.mlp = nn.Sequential(conv1x1(ch, hidden), nn.ReLU(inplace=True), conv1x1(hidden, ch))

    def forward(self, x: Tensor) -> Tensor:
        avg = self.mlp(F.adaptive_avg_pool2d(x, 1))
        mx = self.mlp(F.adaptive_max_pool2d(x, 1))
        return torch.sigmoid(avg + mx)


class SpatialAttention(nn.Module):
    """CBAM spatial attention: conv over channel-wise [max, mean]; returns ``(N, 1, H, W)`` in ``(0, 1)``."""

    def __init__(self, kernel_size: int = 7):
        super().__init__()
        self.conv = nn.Conv2d(2, 1, kernel_size, padding=kernel_size // 2)

    def forward(self, x: Tensor) -> Tensor:
        pooled = torch.cat([x.amax(dim=1, keepdim=True), x.mean(dim=1, keepdim=True)], dim=1)
        return torch.sigmoid(self.conv(pooled))


class SqueezeExcite(nn.Module):
    """Squeeze-and-excitation weights ``(N, C, 1, 1)``; ``gate`` is ``"sigmoid"`` (Hu et al.)
    or ``"softmax"`` over channels (the prior-guided thesis, eq. 3.3)."""

    def __init__(self, ch: int, reduction: int = 16, gate: str = "sigmoid"):
        super().__init__()
        if gate not in ("sigmoid", "softmax"):
            raise ValueError(f"gate must be 'sigmoid' or 'softmax', got {gate!r}")
        hidden = max(ch // reduction, 1)
        self.fc = nn.Sequential(nn.Linear(ch, hidden), nn.ReLU(inplace=True), nn.Linear(hidden, ch))
        self.gate = gate

    def forward(self, x: Tensor) -> Tensor:
        z = self.fc(x.mean(dim=(2, 3)))
        w = torch.softmax(z, dim=1) if self.gate == "softmax" else torch.sigmoid(z)
        return w[:, :, None, None]


class EdgeBlock(nn.Module):
    """EIPNet edge block (Fig. 3): high-pass = x - AvgPool_s(x); a 1x1 conv maps it to a
    one-channel edge map (supervised by Canny edges); the high-pass features are
    concatenated to the input. Returns ``(features (N, 2C, H, W), edge (N, 1, H, W))``.
    The edge map is a logit-free regression output (trained with MSE against {0,1} Canny maps).
    """

    def __init__(self, ch: int, pool_kernel: int):
        super().__init__()
        self.pool_kernel = pool_kernel
        self.to_edge = conv1x1(ch, 1)

    def smooth(self, x: Tensor) -> Tensor:
        """``AvgPool_s(x)`` with "same" size for odd and even ``s`` (replicate padding, total s-1)."""
        s = self.pool_kernel
        pad = (s // 2 - (1 - s % 2), s // 2, s // 2 - (1 - s % 2), s // 2)
        # separable (s x 1 then 1 x s): the same average, 2s instead of s*s reads per pixel
        # (~3x faster forward+backward for s = 10 on channels-last bf16 CPU tensors)
        padded = F.pad(x, pad, mode="replicate")
        return F.avg_pool2d(F.avg_pool2d(padded, (s, 1), stride=1), (1, s), stride=1)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        high = x - self.smooth(x)
        return torch.cat([x, high], dim=1), self.to_edge(high)


def upsample_pixelshuffle(ch: int, scale: int) -> nn.Sequential:
    """conv -> PixelShuffle(2) repeated log2(scale) times (scale must be a power of two), or x3."""
    layers: list[nn.Module] = []
    if scale & (scale - 1) == 0:
        for _ in range(scale.bit_length() - 1):
            layers += [conv3x3(ch, 4 * ch), nn.PixelShuffle(2)]
    elif scale == 3:
        layers += [conv3x3(ch, 9 * ch), nn.PixelShuffle(3)]
    else:
        raise ValueError(f"unsupported scale {scale}")
    return nn.Sequential(*layers)
