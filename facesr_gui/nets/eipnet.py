"""EIPNet: Edge and Identity Preserving Network for face SR (Kim et al., 2021), x8.

Generator (Sec. 3.5, Fig. 2, Table 1), ``C = width`` (512 in the paper)::

    lr (3, 16x16) -> conv0 3x3 -> C                                   (no ReLU)
    residual block1: conv1_1 C->C, conv1_2 C->C (ReLU each) + conv0   -> C,    16x16
    transpose conv1 4x4/2 + ReLU                                      -> C/2,  32x32
    edge block1 (s=5):  cat[t, t - avgpool(t)]                        -> C,    32x32   edge/x2
    residual block2: conv2_1 C->C, conv2_2 C->C/2 (ReLU each) + t_conv1 -> C/2
    transpose conv2 + ReLU                                            -> C/4,  64x64
    edge block2 (s=7)                                                 -> C/2,  64x64   edge/x4
    residual block3: conv3_1 C/2->C/2, conv3_2 C/2->C/4 + t_conv2      -> C/4
    transpose conv3 + ReLU                                            -> C/8, 128x128
    edge block3 (s=10)                                                -> C/4, 128x128  edge/x8
    conv4 3x3                                                         -> 3 (RGB image, no ReLU)

Table 1's channel counts fix the wiring: each residual block after an edge block reads
the concatenation (2x the transpose-conv channels), its second conv halves the channels
and the skip is the transpose-conv output (``t_conv1 + conv2_2``). This gives
11,915,654 parameters for the paper configuration (Table 9: 11.91M).

Edge block (Sec. 3.1, Fig. 3): high-pass = x - AvgPool_s(x) (stride 1, "same" padding),
concatenated to x; a 1x1 conv maps the high-pass features to a one-channel edge map that
is regressed (MSE, eq. 3) onto Canny edges of the HR image resized to that scale.
Pool kernels s = (5, 7, 10) at x2/x4/x8 (Sec. 3.1).

Discriminator (Table 2): seven 3x3 convs (128,128,256,256,256,512,512; stride 2 on the
2nd, 4th and 6th) each followed by LeakyReLU(0.2), then fc 512 + LeakyReLU and fc 1 (logits).

Ambiguities and choices:
* The image is predicted directly by conv4 (no bicubic residual), input/output in [0, 1]
  RGB, as in the authors' released TensorFlow code (which also converts RGB to YUV for
  the LCE loss, implying [0, 1]).
* conv4 is 3x3 as in Table 1 (the released code uses a 1x1 conv: 11,912,582 params).
* The edge block follows Fig. 3 (plain subtraction, linear 1x1 conv); the released code
  additionally applies ReLU to the high-pass features and to the edge map. The shared
  :class:`~facesr_gui.nets._blocks.EdgeBlock` pads replicate-style instead of TF's
  pad-excluding "SAME" average; both keep the resolution.
* Discriminator padding is not given in the paper; as in the released code the stride-1
  convs pad by 1 and the stride-2 convs are unpadded ("VALID"), so a 128x128 input ends at
  512x15x15 before the fc layers. The paper's caption puts LeakyReLU after conv4 too
  (the released code omits it); we follow the paper.
"""
from __future__ import annotations

from typing import Sequence

import torch.nn.functional as F
from torch import Tensor, nn

from ._base import SRNet
from ._blocks import EdgeBlock, conv3x3
from ._registry import NetInfo, register_net
from .outputs import SROutput

PAPER_POOL_KERNELS = (5, 7, 10)
PAPER_WIDTH = 512


class EIPResidualBlock(nn.Module):
    """Table 1 residual block: conv_a (cin->cin) + ReLU, conv_b (cin->cout) + ReLU, plus a skip.

    The skip is passed explicitly because after an edge block the block's input is the
    concatenation ``(N, cin=2*cout, H, W)`` while the skip is the transpose-conv output
    ``(N, cout, H, W)``.
    """

    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.conv_a = conv3x3(cin, cin)
        self.conv_b = conv3x3(cin, cout)

    def forward(self, x: Tensor, skip: Tensor) -> Tensor:
        return skip + F.relu(self.conv_b(F.relu(self.conv_a(x))))


def _transpose_up(cin: int, cout: int) -> nn.Sequential:
    """4x4 stride-2 transposed conv + ReLU: exact x2 upscaling (TF "SAME")."""
    return nn.Sequential(nn.ConvTranspose2d(cin, cout, 4, stride=2, padding=1), nn.ReLU(inplace=True))


class EIPNet(SRNet):
    """EIPNet generator (Table 1).

    ``forward(lr)``: ``lr`` is ``(N, 3, h, w)`` RGB in ``[0, 1]`` (h = w = 16 in the paper);
    returns an :class:`SROutput` with the image ``(N, 3, 8h, 8w)`` RGB, nominal ``[0, 1]``,
    unclamped, and the three edge maps of ``MAP_DOCS``.

    ``width`` is the channel count of conv0 (512 in the paper); every other layer scales
    with it (C, C/2, C/4, C/8), so it must be divisible by 8. ``pool_kernels`` are the
    average-pool sizes of the three edge blocks.
    """

    MAP_DOCS = {
        "edge/x2": "(N,1,2h,2w) edge map of edge block 1 (pool 5), raw regression output vs Canny edges (eq. 3)",
        "edge/x4": "(N,1,4h,4w) edge map of edge block 2 (pool 7), raw regression output vs Canny edges (eq. 3)",
        "edge/x8": "(N,1,8h,8w) edge map of edge block 3 (pool 10), raw regression output vs Canny edges (eq. 3)",
    }

    def __init__(self, width: int = PAPER_WIDTH, pool_kernels: Sequence[int] = PAPER_POOL_KERNELS, scale: int = 8):
        if scale != 8:
            raise ValueError(f"EIPNet has three x2 stages (scale 8), got scale={scale}")
        if width < 8 or width % 8:
            raise ValueError(f"width must be a positive multiple of 8, got {width}")
        pool_kernels = [int(k) for k in pool_kernels]
        if len(pool_kernels) != 3:
            raise ValueError(f"need three pool kernels (x2, x4, x8), got {pool_kernels}")
        super().__init__(scale=8, width=int(width), pool_kernels=pool_kernels)
        chans = [width, width // 2, width // 4, width // 8]
        self.conv0 = conv3x3(3, chans[0])
        # block1 reads conv0; blocks 2 and 3 read the edge-block concatenation (2 * chans[i])
        self.res_blocks = nn.ModuleList(
            [EIPResidualBlock(chans[0], chans[0])]
            + [EIPResidualBlock(2 * chans[i], chans[i]) for i in (1, 2)]
        )
        self.t_convs = nn.ModuleList(_transpose_up(chans[i], chans[i + 1]) for i in range(3))
        self.edge_blocks = nn.ModuleList(EdgeBlock(chans[i + 1], k) for i, k in enumerate(pool_kernels))
        self.conv4 = conv3x3(2 * chans[3], 3)

    def forward(self, lr: Tensor) -> SROutput:
        x = self.conv0(lr)
        feat = self.res_blocks[0](x, x)
        maps: dict[str, Tensor] = {}
        for i in range(3):
            t = self.t_convs[i](feat)
            feat, edge = self.edge_blocks[i](t)
            maps[f"edge/x{2 ** (i + 1)}"] = edge
            if i < 2:
                feat = self.res_blocks[i + 1](feat, t)
        return SROutput(self.conv4(feat), maps)


def _disc_out_side(hr_size: int) -> int:
    """Spatial side after the three unpadded stride-2 3x3 convs (stride-1 convs keep it)."""
    side = hr_size
    for _ in range(3):
        side = (side - 3) // 2 + 1
    if side < 1:
        raise ValueError(f"hr_size={hr_size} is too small for the discriminator (need >= 15)")
    return side


class EIPDiscriminator(nn.Module):
    """Table 2 discriminator.

    ``forward(hr)``: ``(N, 3, hr_size, hr_size)`` RGB in ``[0, 1]`` -> logits ``(N, 1)``
    (no sigmoid; use ``BCEWithLogits`` for eq. 10). ``width`` scales the conv channels
    (128 in the paper: 128, 256, 512); ``fc_dim`` is the hidden fc size (512).
    """

    def __init__(self, hr_size: int = 128, width: int = 128, fc_dim: int = 512):
        super().__init__()
        w1, w2, w4 = width, 2 * width, 4 * width
        plan = [(3, w1, 1), (w1, w1, 2), (w1, w2, 1), (w2, w2, 2), (w2, w2, 1), (w2, w4, 2), (w4, w4, 1)]
        layers: list[nn.Module] = []
        for cin, cout, stride in plan:
            layers += [nn.Conv2d(cin, cout, 3, stride=stride, padding=1 if stride == 1 else 0),
                       nn.LeakyReLU(0.2, inplace=True)]
        self.features = nn.Sequential(*layers)
        self.hr_size = int(hr_size)
        side = _disc_out_side(self.hr_size)
        self.classifier = nn.Sequential(
            nn.Flatten(), nn.Linear(w4 * side * side, fc_dim), nn.LeakyReLU(0.2, inplace=True), nn.Linear(fc_dim, 1),
        )

    def forward(self, hr: Tensor) -> Tensor:
        if hr.shape[-2:] != (self.hr_size, self.hr_size):
            raise ValueError(f"expected {self.hr_size}x{self.hr_size} input, got {tuple(hr.shape[-2:])}")
        return self.classifier(self.features(hr))


register_net(NetInfo(
    name="eipnet",
    paper="Kim et al., Edge and Identity Preserving Network for Face Super-Resolution, Neurocomputing 2021",
    scale=8,
    builder=EIPNet,
    description="x8 residual/transpose-conv generator with multi-scale edge blocks (Canny-supervised edge maps).",
    discriminator=EIPDiscriminator,
    tiny_cfg={"width": 16},
    lr_size=16,   # fully convolutional, but trained on 16x16 faces (pool kernels are tuned to that face scale)
    edge_scales=(2, 4, 8),
))
