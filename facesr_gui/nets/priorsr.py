"""Prior-guided face SR network based on attention (Yun Liu, Waseda master's thesis, 2023).

Two registered names share one generator (:class:`PriorSR`):

* ``priorsr``     -- proposed method 1 (Sec. 3.1), trained with the content loss
  ``L_c + L_p + L_f`` (eq. 3.5-3.8, all MSE).
* ``priorsr_gan`` -- proposed method 2 (Sec. 3.2): the same generator plus the SRGAN
  discriminator of Table 3.4 (:class:`SRGANDiscriminator`), eq. 3.9-3.12.

Architecture (x8, 16x16 LR -> 128x128 HR; Fig. 3.1):

* **SR branch** (Fig. 3.2, Table 3.1): SRResNet with its residual block replaced by the
  *basic block* (Fig. 3.3): ``F' = F_3x3 + F_5x5`` (eq. 3.1, the "5x5" is a 3x3 conv with
  dilation 2, Fig. 3.4), softmax squeeze-excitation ``F_scale = softmax(fc2(fc1(GAP(F'))))``
  (eq. 3.2-3.3), ``F_out = conv(ReLU(F' * F_scale))`` (eq. 3.4). conv1 3->64, 16 basic
  blocks at 64 channels, conv2 64->64, three ``conv -> PixelShuffle(2)`` stages at 64
  channels (16->32->64->128), a last conv 64->3 giving the *coarse SR image*.
* **Prior branch** (Sec. 3.1.1.2, Fig. 3.5-3.7): an independent branch on the LR input:
  conv 3->64, residual blocks, an hourglass block, the same x8 PixelShuffle upsampling,
  conv 64->11 giving the 11 parsing maps at HR (128x128), see :data:`PARSING_CLASSES`.
* **Fusing module** (Fig. 3.8, Table 3.3): ``concat[coarse SR (3), parsing (11)]`` -> conv
  14->64 -> residual block -> conv 64->3 = final SR image.

Choices where the thesis is silent or ambiguous (our copy of the thesis lacks the text of
Sec. 3.1.1.2 and Table 3.2, and the figures):

* The basic block keeps the identity skip of the SRResNet res-block it replaces
  ("we ... modify its res-block"), i.e. ``out = F_in + F_out``; SRResNet's long skip
  (conv1 features + conv2 output) is kept too. No BatchNorm in the SR branch (eq. 3.4 has none).
* Kernel sizes follow SRResNet: 9x9 for the first and last conv of the SR branch, 3x3
  elsewhere; PReLU after conv1 and after each PixelShuffle (SRResNet). SE reduction 16 (SENet).
* The last row of the extracted Table 3.1 (``128x128x64 -> 128x128x11``) is the prior
  branch's output layer (Table 3.2); the SR branch ends in 3 channels because the fusing
  module concatenates a 128x128x3 coarse image (Table 3.3).
* Prior branch: 2 residual blocks (two 3x3 convs + BN + ReLU + skip, as Sec. 2.3.1 describes
  the residual block) and one hourglass (the text says "an hourglass structure") of depth 3
  at LR (16 -> 2 at the waist), then upsampled like the SR branch.
* Parsing maps are a raw linear output regressed with MSE against binary masks (eq. 3.6):
  neither softmax probabilities nor logits; values approximate per-class membership in [0, 1].
* The coarse and final SR images are predicted directly (no bicubic residual), as SRResNet.
  ``residual=True`` (not the paper's; off by default) instead predicts the coarse image as a
  correction of the bicubic upsampled input and the final image as a correction of the coarse
  one (global residual learning, as VDSR): the same layers, but it converges in far fewer steps,
  which is what a CPU-trained bundled variant needs.
* Discriminator: SRGAN conv blocks are conv -> BN -> LeakyReLU(0.2); the final Sigmoid of
  Table 3.4 is left to the loss (``BCEWithLogits``), so the module returns logits.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ._base import SRNet
from ._blocks import Hourglass, ResBlock, SqueezeExcite, bicubic_upsample, conv3x3
from ._registry import NetInfo, register_net
from .outputs import SROutput

#: Channel order of the ``parsing`` map: the 11 CelebAMask-HQ components the thesis lists
#: ("jawline [face skin], eyebrows, eyes, nose, mouth and ears", Sec. 4.1), in the order of
#: CelebAMask-HQ's own annotation list (eyeglasses, hair, hat, earring, necklace, neck, cloth
#: and background are not predicted).
PARSING_CLASSES: tuple[str, ...] = (
    "skin", "nose", "l_eye", "r_eye", "l_brow", "r_brow", "l_ear", "r_ear", "mouth", "u_lip", "l_lip",
)

_PAPER = "Y. Liu, A Prior-Guided Face Image Super-Resolution Network Based on Attention Mechanism (Waseda MEng thesis / IWAIT 2023)"


def _upsampler(ch: int, scale: int) -> nn.Sequential:
    """SRResNet upsampling: ``[conv3x3 ch->4ch, PixelShuffle(2), PReLU] * log2(scale)``."""
    if scale < 2 or scale & (scale - 1):
        raise ValueError(f"scale must be a power of two >= 2, got {scale}")
    layers: list[nn.Module] = []
    for _ in range(scale.bit_length() - 1):
        layers += [conv3x3(ch, 4 * ch), nn.PixelShuffle(2), nn.PReLU()]
    return nn.Sequential(*layers)


class BasicBlock(nn.Module):
    """Attentional multi-scale block of the SR branch (Fig. 3.3, eq. 3.1-3.4).

    ``forward(x)`` with ``x`` ``(N, C, H, W)`` returns ``(x + conv(ReLU(F' * w)), w)`` where
    ``F' = conv3x3(x) + conv3x3_dilated2(x)`` and ``w`` ``(N, C, 1, 1)`` are the softmax channel
    weights (positive, summing to 1 over C).
    """

    def __init__(self, ch: int, reduction: int = 16):
        super().__init__()
        self.conv3 = conv3x3(ch, ch)               # F_3x3
        self.conv5 = conv3x3(ch, ch, dilation=2)   # F_5x5: 5x5 receptive field (Fig. 3.4)
        self.se = SqueezeExcite(ch, reduction, gate="softmax")
        self.conv_out = conv3x3(ch, ch)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        fused = self.conv3(x) + self.conv5(x)                 # eq. 3.1
        weights = self.se(fused)                              # eq. 3.2-3.3
        return x + self.conv_out(F.relu(fused * weights)), weights  # eq. 3.4 + res-block skip


class SRBranch(nn.Module):
    """SR branch (Fig. 3.2, Table 3.1): LR ``(N, 3, h, w)`` RGB [0, 1] -> coarse SR
    ``(N, 3, h*scale, w*scale)`` RGB nominal [0, 1], plus the per-block SE weights."""

    def __init__(self, ch: int, n_blocks: int, reduction: int, outer_kernel: int, scale: int):
        super().__init__()
        pad = outer_kernel // 2
        self.head = nn.Sequential(nn.Conv2d(3, ch, outer_kernel, padding=pad), nn.PReLU())  # conv1
        self.blocks = nn.ModuleList(BasicBlock(ch, reduction) for _ in range(n_blocks))
        self.body_tail = conv3x3(ch, ch)                                                  # conv2
        self.upsample = _upsampler(ch, scale)                                             # pixelshuffle 1-3
        self.to_rgb = nn.Conv2d(ch, 3, outer_kernel, padding=pad)

    def forward(self, lr: Tensor) -> tuple[Tensor, list[Tensor]]:
        head = self.head(lr)
        x, weights = head, []
        for block in self.blocks:
            x, w = block(x)
            weights.append(w)
        x = head + self.body_tail(x)   # SRResNet long skip
        return self.to_rgb(self.upsample(x)), weights


class PriorBranch(nn.Module):
    """Prior prediction branch (Fig. 3.5): LR ``(N, 3, h, w)`` -> parsing maps
    ``(N, n_parsing, h*scale, w*scale)`` (raw regression output, see :data:`PARSING_CLASSES`)."""

    def __init__(self, ch: int, n_res: int, n_hourglass: int, hg_depth: int, n_parsing: int, scale: int):
        super().__init__()
        self.head = nn.Sequential(conv3x3(3, ch), nn.ReLU(inplace=True))
        body: list[nn.Module] = [ResBlock(ch, bn=True) for _ in range(n_res)]
        body += [Hourglass(ch, depth=hg_depth) for _ in range(n_hourglass)]
        self.body = nn.Sequential(*body)
        self.upsample = _upsampler(ch, scale)
        self.to_parsing = conv3x3(ch, n_parsing)

    def forward(self, lr: Tensor) -> Tensor:
        return self.to_parsing(self.upsample(self.body(self.head(lr))))


class FusingModule(nn.Module):
    """Fusing module (Fig. 3.8, Table 3.3): ``concat[coarse (N,3,H,W), parsing (N,K,H,W)]``
    -> conv -> residual block -> conv -> final SR ``(N, 3, H, W)`` RGB nominal [0, 1]."""

    def __init__(self, ch: int, n_parsing: int):
        super().__init__()
        self.body = nn.Sequential(
            conv3x3(3 + n_parsing, ch), nn.ReLU(inplace=True),   # conv1
            ResBlock(ch, bn=True),                               # residual block
            conv3x3(ch, 3),                                      # conv2
        )

    def forward(self, coarse: Tensor, parsing: Tensor) -> Tensor:
        return self.body(torch.cat([coarse, parsing], dim=1))   # concat, 3 + K channels


class PriorSR(SRNet):
    """Prior-guided attention generator (method 1; also the generator of method 2).

    ``forward(lr)``: ``lr`` ``(N, 3, h, w)`` RGB in [0, 1] (paper: h = w = 16) -> :class:`SROutput`
    with the final SR image ``(N, 3, 8h, 8w)`` RGB nominal [0, 1] (unclamped) and the maps of
    ``MAP_DOCS``. Keyword config (defaults = paper configuration):

    * ``channels`` (64), ``n_blocks`` (16 basic blocks), ``se_reduction`` (16),
      ``outer_kernel`` (9, SRResNet's first/last conv), ``prior_res_blocks`` (2),
      ``prior_hourglasses`` (1), ``hourglass_depth`` (3), ``n_parsing`` (11), ``scale`` (8),
      ``residual`` (False; True: bicubic + coarse correction, coarse + final correction).
    """

    MAP_DOCS = {
        "coarse_sr": "(N,3,H,W) coarse SR image of the SR branch, RGB nominal [0,1]; target of the coarse SR loss (eq. 3.5)",
        "parsing": "(N,11,H,W) predicted face parsing maps at HR, raw regression output (MSE vs binary masks, "
                   "eq. 3.6; ~[0,1], not softmaxed); channels " + ", ".join(PARSING_CLASSES),
        "se/{i}": "(N,C,1,1) softmax channel weights of SR basic block i (00-15), positive, sum to 1 over C (eq. 3.3)",
    }

    def __init__(
        self,
        channels: int = 64,
        n_blocks: int = 16,
        se_reduction: int = 16,
        outer_kernel: int = 9,
        prior_res_blocks: int = 2,
        prior_hourglasses: int = 1,
        hourglass_depth: int = 3,
        n_parsing: int = 11,
        scale: int = 8,
        residual: bool = False,
    ):
        super().__init__(
            scale=scale, channels=channels, n_blocks=n_blocks, se_reduction=se_reduction,
            outer_kernel=outer_kernel, prior_res_blocks=prior_res_blocks,
            prior_hourglasses=prior_hourglasses, hourglass_depth=hourglass_depth, n_parsing=n_parsing,
            residual=bool(residual),
        )
        self.residual = bool(residual)
        self.sr_branch = SRBranch(channels, n_blocks, se_reduction, outer_kernel, scale)
        self.prior_branch = PriorBranch(channels, prior_res_blocks, prior_hourglasses, hourglass_depth, n_parsing, scale)
        self.fusing = FusingModule(channels, n_parsing)

    def forward(self, lr: Tensor) -> SROutput:
        coarse, se_weights = self.sr_branch(lr)
        if self.residual:
            coarse = coarse + bicubic_upsample(lr, self.scale)
        parsing = self.prior_branch(lr)
        final = self.fusing(coarse, parsing)
        if self.residual:
            final = final + coarse
        maps = {"coarse_sr": coarse, "parsing": parsing}
        maps.update({f"se/{i:02d}": w for i, w in enumerate(se_weights)})
        return SROutput(final, maps)


class SRGANDiscriminator(nn.Module):
    """SRGAN discriminator (Table 3.4; Ledig et al. 2017, Fig. 2.7).

    ``forward(hr)``: ``hr`` ``(N, 3, hr_size, hr_size)`` RGB in [0, 1] -> logits ``(N, 1)``
    (the Sigmoid of Table 3.4 belongs to the loss). conv1 + LReLU, 7 conv blocks
    (conv3x3 -> BN -> LReLU(0.2), strides 2,1,2,1,2,1,2, widths w,2w,2w,4w,4w,8w,8w), flatten,
    Dense(8w * (hr_size/16)^2 -> dense) + LReLU, Dense(dense -> 1). Paper: hr_size=128, w=64,
    dense=1024 (8x8x512 -> 1024). Other HR sizes (multiples of 16) via ``hr_size``.
    """

    def __init__(self, hr_size: int = 128, width: int = 64, dense: int = 1024):
        super().__init__()
        if hr_size % 16:
            raise ValueError(f"hr_size must be a multiple of 16, got {hr_size}")
        self.hr_size = hr_size
        w = width
        layers: list[nn.Module] = [nn.Conv2d(3, w, 3, padding=1), nn.LeakyReLU(0.2, inplace=True)]
        specs = [(w, w, 2), (w, 2 * w, 1), (2 * w, 2 * w, 2), (2 * w, 4 * w, 1),
                 (4 * w, 4 * w, 2), (4 * w, 8 * w, 1), (8 * w, 8 * w, 2)]
        for cin, cout, stride in specs:
            layers += [nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False),
                       nn.BatchNorm2d(cout), nn.LeakyReLU(0.2, inplace=True)]
        self.features = nn.Sequential(*layers)
        side = hr_size // 16
        self.classifier = nn.Sequential(
            nn.Flatten(), nn.Linear(8 * w * side * side, dense), nn.LeakyReLU(0.2, inplace=True), nn.Linear(dense, 1),
        )

    def forward(self, hr: Tensor) -> Tensor:
        if hr.shape[-2:] != (self.hr_size, self.hr_size):
            raise ValueError(f"expected HR images of {self.hr_size}x{self.hr_size}, got {tuple(hr.shape[-2:])}")
        return self.classifier(self.features(hr))


_TINY = dict(channels=8, n_blocks=2, se_reduction=2, outer_kernel=3, prior_res_blocks=1, hourglass_depth=2)

register_net(NetInfo(
    name="priorsr", paper=_PAPER + ", method 1", scale=8, builder=PriorSR,
    description="SRResNet with 16 dilated multi-scale softmax-SE blocks + hourglass parsing-prior branch "
                "(11 maps at HR) + fusing module; MSE on coarse SR, parsing and final SR.",
    tiny_cfg=dict(_TINY),
    lr_size=16,
))

register_net(NetInfo(
    name="priorsr_gan", paper=_PAPER + ", method 2", scale=8, builder=PriorSR,
    description="Method 1 generator trained adversarially with the SRGAN discriminator (Table 3.4) "
                "and VGG19 + content losses.",
    discriminator=SRGANDiscriminator,
    tiny_cfg=dict(_TINY),
    lr_size=16,
))
