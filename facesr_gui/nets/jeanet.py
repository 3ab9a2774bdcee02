"""JEANet: Joint Edge Information and Attention Aggregation Network (Gao et al., T-ITS 2022), x8.

Generator (Sec. III-A, Fig. 2), channel widths ``C_l = clip(min_ch * 2**l, min_ch, max_ch)``
(32, 64, 128, 128 at 128, 64, 32, 16 px for the default ``min_ch=32, max_ch=128``)::

    lr (3, 16x16) -> bicubic x8 (I_LR-UP, 128x128) -> head conv 3x3 -> C_0        e_1 (128x128)
    FAAM 00 down   C_0 -> C_1   64x64                                            e_2
    FAAM 01 down   C_1 -> C_2   32x32                                            e_3
    FAAM 02 down   C_2 -> C_3   16x16
    FAAM 03..12    C_3 -> C_3   16x16   (ten "middle" FAAMs)
    FAAM 13 up     C_3  -> C_2   32x32;  alpha_1 * u + beta_1 * e_3;  edge block (s=5)  -> 2 C_2   edge/x2
    FAAM 14 up     2C_2 -> C_1   64x64;  alpha_2 * u + beta_2 * e_2;  edge block (s=7)  -> 2 C_1   edge/x4
    FAAM 15 up     2C_1 -> C_0  128x128; alpha_3 * u + beta_3 * e_1;  edge block (s=10) -> 2 C_0   edge/x8
    tail conv 3x3  2C_0 -> 3   (the SR image, predicted directly, no bicubic residual)

FAAM (Sec. III-B, Fig. 3, eqs. 1-5), input ``x`` with ``cin`` channels:

* feature branch ``f = F_feat(x)``: BN-PReLU, conv3x3, BN-PReLU, conv3x3, BN; a down FAAM
  makes its second conv stride 2, an up FAAM puts a nearest x2 upsampling before its first
  (that pair, and the up shortcut's, computed as one transposed convolution: :class:`NearestUpConv`).
* an hourglass (``_blocks.Hourglass``) on ``f`` feeds two parallel attention branches:
  channel ``mu = sigmoid(MLP(avgpool) + MLP(maxpool))`` (CBAM, eq. 2, map ``faam_channel/{i}``)
  and spatial ``nu = sigmoid(conv3x3(hourglass(f)))`` (eq. 3, map ``faam_spatial/{i}``).
* fusion ``x_j = S(x) + conv1x1([f * mu, f * nu])`` (eqs. 4-5).

Edge block (Sec. III-C, Fig. 4; EIPNet's block [42]): high = PReLU(x - AvgPool_s(x));
a 1x1 conv maps ``high`` to the one-channel edge map (regressed onto Canny edges, eq. 7);
``[x, high]`` is passed on. Pool kernels s = (5, 7, 10) as in EIPNet.

Adaptive shortcuts (Sec. III-A, Fig. 2): learnable scalars ``alpha_k, beta_k`` (k = 1, 2, 3,
both initialised to 1) weight the decoder branch and the shallow encoder feature of the
same scale: ``z_k = alpha_k * u_k + beta_k * e_k``.

Ambiguities and choices (the paper gives no widths, depths, or shortcut equations; its
layout (3 down / 10 middle / 3 up attention residual units on the bicubic-upsampled
128x128 face, nearest-upsampling and stride-2 convs) is SPARNet's [10], so we follow
SPARNet where the paper is silent):

* Widths 32..128 and hourglass depths chosen so that every hourglass bottoms out at
  ``hg_bottleneck = 4`` px (depths 4,3,2 | 2 x 10 | 3,4,5), as in SPARNet.
* Eq. 5 uses an identity shortcut, which cannot work where a FAAM changes resolution or
  width; there ``S`` is a (nearest-upsample +) conv3x3 (stride 2 for down), as in SPARNet.
* The spatial branch is a conv on the hourglass output (the paper criticises CBAM's pooled
  spatial attention, Sec. II-B); the channel branch is CBAM's, on the hourglass output too
  ("the hourglass before the attention branches", Sec. III-B).
* Fig. 2 (not legible) holds the shortcut wiring: we merge each shortcut before the edge
  block so the channel counts match without extra layers; k = 1 is the 32x32 scale.
* The edge block's PReLU (Sec. III-C) is applied to the high-pass features (where EIPNet's
  released code has a ReLU); both the edge map and the concatenation read the activated ones.
* The image is predicted directly by the tail conv (no bicubic residual), as in SPARNet.
* CBAM's channel-MLP reduction 16 is capped so the MLP keeps >= 16 hidden units (effective
  reduction 8/4/2 at 128/64/32 ch): with 2 ReLUs ~30% of random inits had a dead branch.
* The hourglass is the shared Newell-style one (pre-activation bottleneck units), not
  SPARNet's plain conv-BN-PReLU units.
"""
from __future__ import annotations

import math
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ._base import SRNet
from ._blocks import ChannelAttention, EdgeBlock, Hourglass, bicubic_upsample, conv1x1, conv3x3
from ._registry import NetInfo, register_net
from .outputs import SROutput

PAPER_POOL_KERNELS = (5, 7, 10)
LR_SIZE = 16  # the paper's 16x16 LR faces: the hourglass depths are sized for them
N_DOWN = 3  # = N_UP = log2(8): three x2 stages each way (Sec. III-A)
MIN_CA_HIDDEN = 16  # smallest hidden width of the CBAM channel MLP


class NearestUpConv(nn.Sequential):
    """Nearest x2 upsampling followed by a 3x3 convolution (padding 1), computed as one stride-2
    transposed 4x4 convolution of the input: the same function, without the upsampled copy and with
    4 instead of 9 multiply-adds per output pixel and input channel.

    Why it is the same: a nearest x2 upsampling is a zero-insertion followed by a 2x2 box filter, so
    the pair is a zero-insertion followed by one 4x4 filter, the 3x3 kernel summed over the box's four
    offsets; a zero-insertion followed by a filter is a transposed convolution. Outputs match the
    naive pair within 1e-6 in float32 (tests/nets/test_jeanet.py). The parameters are the 3x3
    convolution's, kept in the same place (``[1].weight``, ``[1].bias``), so checkpoints are unchanged.

    JEANet's up FAAMs (13-15) run two of these each (feature branch and shortcut), the last at 128 px:
    OpenVINO bf16, one thread, 6 faces of 16 px: ``jeanet_s`` 97 -> 84 ms; eager PyTorch 197 -> 165 ms
    (bf16) and a training step 20% shorter (``benchmarks/README.md``)."""

    def __init__(self, cin: int, cout: int, bias: bool = False) -> None:
        super().__init__(nn.Upsample(scale_factor=2, mode="nearest"), conv3x3(cin, cout, bias=bias))

    def forward(self, x: Tensor) -> Tensor:
        conv = self[1]
        w = conv.weight
        k = F.pad(w, (0, 1, 0, 1)) + F.pad(w, (1, 0, 0, 1)) + F.pad(w, (0, 1, 1, 0)) + F.pad(w, (1, 0, 1, 0))
        return F.conv_transpose2d(x, k.flip(-1, -2).transpose(0, 1), conv.bias, stride=2, padding=1)


def _resample_conv(cin: int, cout: int, mode: str, bias: bool = False) -> nn.Module:
    """conv3x3 that keeps (``"same"``), halves (``"down"``, stride 2) or doubles
    (``"up"``, nearest upsampling first) the spatial size."""
    if mode == "down":
        return conv3x3(cin, cout, stride=2, bias=bias)
    if mode == "up":
        return NearestUpConv(cin, cout, bias=bias)
    if mode == "same":
        return conv3x3(cin, cout, bias=bias)
    raise ValueError(f"mode must be 'down', 'up' or 'same', got {mode!r}")


def _feature_branch(cin: int, cout: int, mode: str) -> nn.Sequential:
    """F_feat (eq. 1): BN-PReLU-conv-BN-PReLU-conv-BN; resampling in the first conv for
    ``"up"`` and in the second for ``"down"`` (SPARNet's residual unit)."""
    first, second = {"down": ("same", "down"), "up": ("up", "same"), "same": ("same", "same")}[mode]
    return nn.Sequential(
        nn.BatchNorm2d(cin), nn.PReLU(cin), _resample_conv(cin, cout, first),
        nn.BatchNorm2d(cout), nn.PReLU(cout), _resample_conv(cout, cout, second),
        nn.BatchNorm2d(cout),
    )


class FAAM(nn.Module):
    """Face Attention Aggregation Module (Fig. 3, eqs. 1-5).

    ``forward(x)`` with ``x`` ``(N, cin, H, W)`` returns ``(x_j, mu, nu)``: ``x_j`` is
    ``(N, cout, H', W')`` with ``H' = H/2`` (down), ``2H`` (up) or ``H`` (same); ``mu`` the
    channel attention ``(N, cout, 1, 1)`` and ``nu`` the spatial attention ``(N, 1, H', W')``,
    both in ``(0, 1)``.
    """

    def __init__(self, cin: int, cout: int, mode: str = "same", hg_depth: int = 2, reduction: int = 16):
        super().__init__()
        self.mode = mode
        self.feature = _feature_branch(cin, cout, mode)
        self.hourglass = Hourglass(cout, depth=hg_depth)
        # keep >= MIN_CA_HIDDEN ReLUs in the CBAM MLP (else it is often fully dead at init)
        self.channel_att = ChannelAttention(cout, max(1, min(reduction, cout // MIN_CA_HIDDEN)))
        self.spatial_att = conv3x3(cout, 1)
        self.fuse = conv1x1(2 * cout, cout)
        self.shortcut = nn.Identity() if mode == "same" and cin == cout else _resample_conv(cin, cout, mode, bias=True)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        f = self.feature(x)
        h = self.hourglass(f)
        mu = self.channel_att(h)
        nu = torch.sigmoid(self.spatial_att(h))
        out = self.shortcut(x) + self.fuse(torch.cat([f * mu, f * nu], dim=1))
        return out, mu, nu


class JEAEdgeBlock(EdgeBlock):
    """EIPNet edge block with JEANet's PReLU (Fig. 4) on the high-pass features.

    ``forward(x)`` with ``x`` ``(N, C, H, W)`` returns ``(features (N, 2C, H, W), edge (N, 1, H, W))``;
    the edge map is a raw regression output (eq. 7, MSE against {0, 1} Canny edges).
    """

    def __init__(self, ch: int, pool_kernel: int):
        super().__init__(ch, pool_kernel)
        self.act = nn.PReLU(ch)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        high = self.act(x - self.smooth(x))
        return torch.cat([x, high], dim=1), self.to_edge(high)


def _hg_depth(side: int, bottleneck: int) -> int:
    """Hourglass depth whose innermost level is ``bottleneck`` px for a ``side`` px feature (>= 1)."""
    return max(1, round(math.log2(max(side // bottleneck, 1))))


class JEANet(SRNet):
    """JEANet generator.

    ``forward(lr)``: ``lr`` is ``(N, 3, h, w)`` RGB in ``[0, 1]`` (h = w = 16 in the paper); it is
    bicubic-upsampled x8 inside (I_LR-UP). Returns an :class:`SROutput` whose image is
    ``(N, 3, 8h, 8w)`` RGB, nominal ``[0, 1]``, unclamped, with the maps of ``MAP_DOCS``.

    ``min_ch``/``max_ch`` bound the widths ``C_l = min_ch * 2**l``; ``n_middle`` is the number of
    middle FAAMs (10); ``hg_bottleneck`` the innermost hourglass side for a 16x16 LR input (4);
    ``reduction`` the CBAM channel-MLP reduction (16); ``pool_kernels`` the edge-block pool sizes.
    """

    MAP_DOCS = {
        "edge/x2": "(N,1,2h,2w) edge map of edge block 1 (pool 5), raw regression output vs Canny edges (eq. 7)",
        "edge/x4": "(N,1,4h,4w) edge map of edge block 2 (pool 7), raw regression output vs Canny edges (eq. 7)",
        "edge/x8": "(N,1,8h,8w) edge map of edge block 3 (pool 10), raw regression output vs Canny edges (eq. 7)",
        "faam_spatial/{i}": "(N,1,h',w') spatial attention nu_j of FAAM i (00-02 down, 03-12 middle, "
                            "13-15 up; eq. 3), sigmoid in (0,1), at the FAAM's output resolution",
        "faam_channel/{i}": "(N,C,1,1) channel attention mu_j of FAAM i (CBAM max+avg, eq. 2), sigmoid in (0,1)",
        "shortcut/alpha": "(N,3,1,1) learned weights alpha_k of the decoder branch (k=1..3 at 2h, 4h, 8h)",
        "shortcut/beta": "(N,3,1,1) learned weights beta_k of the shallow-feature shortcut (k=1..3 at 2h, 4h, 8h)",
    }

    def __init__(
        self,
        min_ch: int = 32,
        max_ch: int = 128,
        n_middle: int = 10,
        hg_bottleneck: int = 4,
        reduction: int = 16,
        pool_kernels: Sequence[int] = PAPER_POOL_KERNELS,
        scale: int = 8,
    ):
        if scale != 8:
            raise ValueError(f"JEANet has three x2 stages (scale 8), got scale={scale}")
        pool_kernels = [int(k) for k in pool_kernels]
        if len(pool_kernels) != N_DOWN:
            raise ValueError(f"need three pool kernels (x2, x4, x8), got {pool_kernels}")
        if not 1 <= min_ch <= max_ch:
            raise ValueError(f"need 1 <= min_ch <= max_ch, got {min_ch}, {max_ch}")
        super().__init__(scale=8, min_ch=int(min_ch), max_ch=int(max_ch), n_middle=int(n_middle),
                         hg_bottleneck=int(hg_bottleneck), reduction=int(reduction), pool_kernels=pool_kernels)
        ch = [min(min_ch * 2 ** lvl, max_ch) for lvl in range(N_DOWN + 1)]  # at 128, 64, 32, 16 px
        side = [LR_SIZE * self.scale // 2 ** lvl for lvl in range(N_DOWN + 1)]

        def depth(lvl: int) -> int:
            return _hg_depth(side[lvl], hg_bottleneck)

        self.head = conv3x3(3, ch[0])
        down = [FAAM(ch[i], ch[i + 1], "down", depth(i + 1), reduction) for i in range(N_DOWN)]
        middle = [FAAM(ch[-1], ch[-1], "same", depth(N_DOWN), reduction) for _ in range(n_middle)]
        up = []
        for k in range(N_DOWN):  # k-th up FAAM goes from level N_DOWN - k to N_DOWN - k - 1
            lvl = N_DOWN - k - 1
            cin = ch[-1] if k == 0 else 2 * ch[lvl + 1]  # after an edge block the width doubles
            up.append(FAAM(cin, ch[lvl], "up", depth(lvl), reduction))
        self.faams = nn.ModuleList(down + middle + up)
        self.n_down, self.n_middle = N_DOWN, int(n_middle)
        self.edge_blocks = nn.ModuleList(JEAEdgeBlock(ch[N_DOWN - k - 1], s) for k, s in enumerate(pool_kernels))
        self.alpha = nn.Parameter(torch.ones(N_DOWN))
        self.beta = nn.Parameter(torch.ones(N_DOWN))
        self.tail = conv3x3(2 * ch[0], 3)

    def forward(self, lr: Tensor) -> SROutput:
        up_lr = bicubic_upsample(lr, self.scale)
        x = self.head(up_lr)
        shallow: list[Tensor] = []  # e_1 (8h), e_2 (4h), e_3 (2h): inputs of the down FAAMs
        maps: dict[str, Tensor] = {}
        for i, faam in enumerate(self.faams):
            if i < self.n_down:
                shallow.append(x)
            x, mu, nu = faam(x)
            maps[f"faam_channel/{i:02d}"], maps[f"faam_spatial/{i:02d}"] = mu, nu
            k = i - self.n_down - self.n_middle  # index of the up stage, < 0 before it
            if k >= 0:
                x = self.alpha[k] * x + self.beta[k] * shallow[N_DOWN - 1 - k]
                x, maps[f"edge/x{2 ** (k + 1)}"] = self.edge_blocks[k](x)
        n = lr.shape[0]
        maps["shortcut/alpha"] = self.alpha.view(1, -1, 1, 1).expand(n, -1, -1, -1)
        maps["shortcut/beta"] = self.beta.view(1, -1, 1, 1).expand(n, -1, -1, -1)
        return SROutput(self.tail(x), maps)


register_net(NetInfo(
    name="jeanet",
    paper="Gao et al., Joint Edge Information and Attention Aggregation Network for Face "
          "Super-Resolution, IEEE T-ITS 2022",
    scale=8,
    builder=JEANet,
    description="x8 encoder/decoder of 16 FAAMs (hourglass + parallel channel/spatial attention) on the "
                "bicubic-upsampled face, with multi-scale edge blocks and learnable adaptive shortcuts.",
    tiny_cfg={"min_ch": 16, "max_ch": 16, "n_middle": 1, "hg_bottleneck": 64},
    lr_size=LR_SIZE,
    edge_scales=(2, 4, 8),
))
