"""W-Net: a facial feature-guided face SR network (Liu, Yang & Liu, 2024).

x8 (16x16 -> 128x128) by default; ``scale=4`` builds the x4 variant (32x32 -> 128x128).
Everything after the Parsing Block runs at the HR size ("working resolution" ``R = h * scale``,
128 in the paper), which is what the paper's sizes imply: the W path peaks at 1024x1024 at x8
(Sec. 3.3) and the encoder fuses parsing maps at 64, 32, 16 and 8.

Architecture (Fig. 1-3, Sec. 3):

* **Parsing Block** (Sec. 3.1, Fig. 2, eq. 2-8) on the native LR face: conv3x3 3->64,
  ReLU residual blocks, a depth-4 hourglass, then the *multi-scale attention unit*
  ``y1 = relu(conv1x1)``, ``y2, y3 = relu(conv3x3)`` (eq. 4), ``y4 = relu(conv3x3([y1,y2,y3]))``,
  ``y5 = relu(conv3x3(y3))`` (eq. 5), ``y6 = CA(z) + SA(z)`` with ``z = [y2, y4, y5]`` (eq. 6),
  ``F_Deep + conv1x1(y6)`` (eq. 7) and a conv3x3 to 3 channels: the parsing map (eq. 8).
* **LPF**, the LR-Parsing map Fusion module (Sec. 3.2, Fig. 3, eq. 9-11; "LPF" is not a
  low-pass filter): ``F_att = conv(CA(F1) + SA(F1))``, pixel attention
  ``s = PA(F2 + P')`` weighting ``F_pixel = s*F2 + (1-s)*P'``, ``F_fuse1 = conv([F_att, P'])``,
  ``F_fuse2 = conv1x1(F_pixel + F_LR + F_P)`` and ``F_fuse1 + F_fuse2 + F2 + P'`` (eq. 11).
* **W path** (Sec. 3.3, eq. 12-19): fusion 1 = ``[bicubic LR, NN parsing]`` at R; then
  conv3x3 + Upsample + LPF at 2R, 4R, 8R (fusions 2-4) and conv3x3 + Downsample + LPF at
  4R, 2R, R (fusions 5-7), each LPF taking the nearest-neighbour resized parsing map.
* **Encoder-decoder** (eq. 20-23): four levels of Downsample -> 2 SCAB -> LPF with the parsing
  map at R/2 .. R/16 (fusions 8-11), then four levels of Upsample -> 2 SCAB back to R.
  **SCAB** = RCAB (conv-ReLU-conv, channel attention; Zhang et al. 2018) plus a convolutional
  multi-head (4 heads) self-attention: ``Q, K, V = conv1x1(dwconv3x3(F))`` (eq. 20),
  ``softmax(Q K^T / sqrt(d)) V`` (eq. 21).

Choices where the paper is silent or ambiguous:

* The Parsing Block runs on the native LR input and predicts the parsing map at LR size, since
  the parsing ground truth is the HR binary mask bicubic-downsampled to 16x16 / 32x32 (Sec. 4.2).
  Its output keeps the paper's 3 channels (eq. 8), each regressing the same binary mask.
* "Upsample = PixelShuffle + BatchNorm", "Downsample = invPixelShuffle + BatchNorm"; to keep the
  paper's 64 channels everywhere the conv before PixelShuffle outputs 4x64 channels, and the
  Downsample ends with a conv1x1 from 4x64 back to 64. No activations there (none in the paper).
* Self-attention is channel-wise ("transposed", Restormer MDTA, which eq. 20 describes): a
  spatial 16384x16384 attention at 128x128 is impractical. So ``d`` in eq. 21 is ``H*W`` (the
  contracted dimension); no output projection (eq. 21 has none). The attention branch is added
  to the RCAB residual: ``x + r + att(r)`` with ``r`` the channel-attended RCAB body.
* Encoder order per level: Downsample, 2 SCAB, LPF at the new size (the text lists fusions at
  64..8). The decoder adds the encoder feature of the same size after each Upsample (U-Net skip;
  the paper shows none, but an 8x8x64 bottleneck alone discards the W-path detail).
* LPF gets the raw parsing map (3 channels); a conv3x3 3->64 embeds it as ``F_P`` so that
  ``F_LR + F_P`` in eq. 10 is defined. Pixel attention = conv1x1 + sigmoid (PAN). CA is CBAM
  (avg+max, reduction 16), SA is CBAM 7x7; RCAB uses SE (reduction 16).
* 3 residual blocks before the hourglass (as FSRNet's prior network); multi-scale unit widths
  32 (y1-y3), "doubled" 64 (y4), "halved" 16 (y5). A conv3x3 64->3 maps the decoder output to RGB,
  added to the bicubic-upsampled LR (the paper does not say residual or direct).

Cost: ~510 GMAC per 16x16 face at x8 (the 1024x1024x64 fusion dominates), 5.54 M parameters,
~4 GB RAM for inference. The hourglass waist is 1x1 at x8, so BatchNorm training needs batch > 1.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ._base import SRNet
from ._blocks import (ChannelAttention, Hourglass, ResBlock, SpatialAttention, SqueezeExcite, bicubic_upsample, conv1x1,
                      conv3x3)
from ._registry import NetInfo, register_net
from .outputs import SROutput

#: Meaning of the channels of the ``parsing`` map: all three regress the same binarised
#: BiSeNet mask (1 = facial skin; 0 = eyes, brows, nose, mouth, hair, background), Sec. 3.1.
PARSING_CHANNELS: tuple[str, ...] = ("skin", "skin", "skin")


def _resize_nearest(p: Tensor, like: Tensor) -> Tensor:
    """Nearest-neighbour resize of a parsing map to the spatial size of ``like`` (eq. 13)."""
    return F.interpolate(p, size=like.shape[-2:], mode="nearest")


def _upsample(cin: int, ch: int) -> nn.Sequential:
    """conv3x3 -> PixelShuffle(2) -> BatchNorm (eq. 14): ``(N, cin, H, W) -> (N, ch, 2H, 2W)``."""
    return nn.Sequential(conv3x3(cin, 4 * ch), nn.PixelShuffle(2), nn.BatchNorm2d(ch))


def _downsample(cin: int, ch: int) -> nn.Sequential:
    """conv3x3 -> PixelUnshuffle(2) -> BatchNorm -> conv1x1 (eq. 18): ``-> (N, ch, H/2, W/2)``."""
    return nn.Sequential(conv3x3(cin, ch), nn.PixelUnshuffle(2), nn.BatchNorm2d(4 * ch), conv1x1(4 * ch, ch))


class MultiScaleAttentionUnit(nn.Module):
    """Eq. 4-7: multi-receptive-field convs, CA + SA, conv1x1 and the residual to ``F_Deep``.

    Returns ``(features (N, ch, h, w), spatial attention (N, 1, h, w) in (0, 1))``.
    """

    def __init__(self, ch: int):
        super().__init__()
        branch = max(ch // 2, 1)
        self.y1 = conv1x1(ch, branch)
        self.y2 = conv3x3(ch, branch)
        self.y3 = conv3x3(ch, branch)
        self.y4 = conv3x3(3 * branch, 2 * branch)        # "doubled channels"
        self.y5 = conv3x3(branch, max(branch // 2, 1))   # "halved channels"
        cat = branch + 2 * branch + max(branch // 2, 1)
        self.ca = ChannelAttention(cat)
        self.sa = SpatialAttention()
        self.y7 = conv1x1(cat, ch)

    def forward(self, deep: Tensor) -> tuple[Tensor, Tensor]:
        y1, y2, y3 = F.relu(self.y1(deep)), F.relu(self.y2(deep)), F.relu(self.y3(deep))
        y4 = F.relu(self.y4(torch.cat([y1, y2, y3], dim=1)))
        y5 = F.relu(self.y5(y3))
        z = torch.cat([y2, y4, y5], dim=1)
        sa = self.sa(z)
        y6 = z * self.ca(z) + z * sa
        return self.y7(y6) + deep, sa


class ParsingBlock(nn.Module):
    """Sec. 3.1, eq. 2-8: LR face ``(N, 3, h, w)`` RGB -> parsing map ``(N, out_ch, h, w)``.

    The parsing map is a raw linear output (no sigmoid), regressed with MSE (eq. 25) against the
    bicubic-downsampled binary skin mask, so values lie nominally in ``[0, 1]``.
    Returns ``(parsing, spatial attention (N, 1, h, w))``.
    """

    def __init__(self, ch: int = 64, n_resblocks: int = 3, hourglass_depth: int = 4, out_ch: int = 3):
        super().__init__()
        self.shallow = conv3x3(3, ch)
        self.res = nn.Sequential(*[ResBlock(ch) for _ in range(n_resblocks)])
        self.hourglass = Hourglass(ch, hourglass_depth)
        self.attention = MultiScaleAttentionUnit(ch)
        self.out = conv3x3(ch, out_ch)

    def forward(self, lr: Tensor) -> tuple[Tensor, Tensor]:
        deep = self.hourglass(self.res(self.shallow(lr)))
        feat, sa = self.attention(deep)
        return self.out(feat), sa


class LPF(nn.Module):
    """LR-Parsing map Fusion module (Sec. 3.2, eq. 9-11).

    ``forward(feat (N, ch, H, W), parsing (N, K, H, W))`` returns ``(fused (N, ch, H, W),
    spatial attention (N, 1, H, W), pixel weight (N, 1, H, W))``; the pixel weight is the
    channel mean of ``sigma`` in eq. 10 (1 = trust the LR features, 0 = the parsing features).
    """

    def __init__(self, ch: int, parsing_ch: int):
        super().__init__()
        self.embed = conv3x3(parsing_ch, ch)  # F_parsing: the parsing map as features
        self.conv_lr1 = conv3x3(ch, ch)
        self.conv_lr2 = conv3x3(ch, ch)
        self.conv_parsing = conv3x3(ch, ch)
        self.ca = ChannelAttention(ch)
        self.sa = SpatialAttention()
        self.conv_att = conv3x3(ch, ch)
        self.pixel_attention = conv1x1(ch, ch)
        self.fuse1 = conv3x3(2 * ch, ch)
        self.fuse2 = conv1x1(ch, ch)

    def forward(self, feat: Tensor, parsing: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        f_parsing = self.embed(parsing)
        f1, f2, p = self.conv_lr1(feat), self.conv_lr2(feat), self.conv_parsing(f_parsing)
        sa = self.sa(f1)
        f_att = self.conv_att(f1 * self.ca(f1) + f1 * sa)
        sigma = torch.sigmoid(self.pixel_attention(f2 + p))
        f_pixel = sigma * f2 + (1 - sigma) * p
        fuse1 = self.fuse1(torch.cat([f_att, p], dim=1))
        fuse2 = self.fuse2(f_pixel + feat + f_parsing)
        return fuse1 + fuse2 + f2 + p, sa, sigma.mean(dim=1, keepdim=True)


class ConvSelfAttention(nn.Module):
    """Eq. 20-21: ``Q, K, V = conv1x1(dwconv3x3(F))``, split into ``heads`` heads of ``ch/heads``
    channels; ``softmax(Q K^T / sqrt(H*W)) V`` with a ``(ch/heads) x (ch/heads)`` attention per head
    (channel-wise, linear in the number of pixels). ``(N, ch, H, W) -> (N, ch, H, W)``."""

    def __init__(self, ch: int, heads: int = 4):
        super().__init__()
        if ch % heads:
            raise ValueError(f"channels ({ch}) must be divisible by heads ({heads})")
        self.heads = heads
        self.q, self.k, self.v = (
            nn.Sequential(nn.Conv2d(ch, ch, 3, padding=1, groups=ch), conv1x1(ch, ch)) for _ in range(3)
        )

    def forward(self, x: Tensor) -> Tensor:
        n, c, h, w = x.shape
        q, k, v = (proj(x).reshape(n, self.heads, c // self.heads, h * w) for proj in (self.q, self.k, self.v))
        attn = torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(h * w), dim=-1)
        return (attn @ v).reshape(n, c, h, w)


class SCAB(nn.Module):
    """RCAB with convolutional self-attention (Sec. 3.3): ``x + r + att(r)``,
    ``r = SE(body(x)) * body(x)``, ``body = conv3x3 -> ReLU -> conv3x3``."""

    def __init__(self, ch: int, heads: int = 4, reduction: int = 16):
        super().__init__()
        self.body = nn.Sequential(conv3x3(ch, ch), nn.ReLU(inplace=True), conv3x3(ch, ch))
        self.channel_attention = SqueezeExcite(ch, reduction)
        self.attention = ConvSelfAttention(ch, heads)

    def forward(self, x: Tensor) -> Tensor:
        r = self.body(x)
        r = r * self.channel_attention(r)
        return x + r + self.attention(r)


class EncoderLevel(nn.Module):
    """Eq. 22, one level: Downsample -> SCAB x n -> LPF with the parsing map at the new size."""

    def __init__(self, ch: int, parsing_ch: int, n_scab: int, heads: int):
        super().__init__()
        self.down = _downsample(ch, ch)
        self.scabs = nn.Sequential(*[SCAB(ch, heads) for _ in range(n_scab)])
        self.lpf = LPF(ch, parsing_ch)

    def forward(self, x: Tensor, parsing: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        x = self.scabs(self.down(x))
        return self.lpf(x, _resize_nearest(parsing, x))


class WNet(SRNet):
    """W-Net generator: ``(N, 3, h, w)`` RGB LR face in ``[0, 1]`` -> :class:`SROutput` with an
    ``(N, 3, h*scale, w*scale)`` RGB image (nominal ``[0, 1]``, unclamped) and ``MAP_DOCS`` maps.

    ``h * scale`` must be divisible by ``2 ** unet_depth``. Keyword config (defaults = paper):
    ``channels`` 64, ``parsing_ch`` 3 (eq. 8), ``n_resblocks`` 3, ``hourglass_depth`` 4,
    ``w_depth`` 3 (W path up to 2**3 x the HR size), ``unet_depth`` 4, ``n_scab`` 2 per level,
    ``heads`` 4.
    """

    MAP_DOCS = {
        "parsing": "(N, 3, h, w) predicted LR parsing map, raw regression (no sigmoid), nominal [0, 1]; "
                   "all 3 channels target the same binary mask: 1 = facial skin, 0 = eyes, brows, nose, "
                   "mouth, hair and background (Sec. 3.1; MSE loss eq. 25)",
        "parsing_block/spatial": "(N, 1, h, w) spatial attention of the Parsing Block's multi-scale unit (eq. 6)",
        "lpf_spatial/{i:02d}": "(N, 1, H_i, W_i) spatial attention of the LPF of fusion i (paper numbering: "
                               "2-4 at 2x/4x/8x the HR size, 5-7 at 4x/2x/1x, 8-11 at 1/2..1/16)",
        "lpf_pixel/{i:02d}": "(N, 1, H_i, W_i) channel mean of the LPF pixel-attention weight sigma of fusion i "
                             "(eq. 10): 1 = LR features, 0 = parsing features",
    }

    def __init__(self, scale: int = 8, channels: int = 64, parsing_ch: int = 3, n_resblocks: int = 3,
                 hourglass_depth: int = 4, w_depth: int = 3, unet_depth: int = 4, n_scab: int = 2, heads: int = 4):
        super().__init__(scale=scale, channels=channels, parsing_ch=parsing_ch, n_resblocks=n_resblocks,
                         hourglass_depth=hourglass_depth, w_depth=w_depth, unet_depth=unet_depth,
                         n_scab=n_scab, heads=heads)
        self.unet_depth = unet_depth
        c = channels
        self.parsing_block = ParsingBlock(c, n_resblocks, hourglass_depth, parsing_ch)
        self.w_up = nn.ModuleList([_upsample(3 + parsing_ch if i == 0 else c, c) for i in range(w_depth)])
        self.w_down = nn.ModuleList([_downsample(c, c) for _ in range(w_depth)])
        self.w_fuse = nn.ModuleList([LPF(c, parsing_ch) for _ in range(2 * w_depth)])
        self.encoder = nn.ModuleList([EncoderLevel(c, parsing_ch, n_scab, heads) for _ in range(unet_depth)])
        self.decoder_up = nn.ModuleList([_upsample(c, c) for _ in range(unet_depth)])
        self.decoder_scabs = nn.ModuleList(
            [nn.Sequential(*[SCAB(c, heads) for _ in range(n_scab)]) for _ in range(unet_depth)])
        self.tail = conv3x3(c, 3)
        # the paper gives no initialisation; a zero tail starts training from the bicubic base instead of
        # from bicubic plus a random correction (MSE ~1 at the default init, ~0.005 at zero)
        nn.init.zeros_(self.tail.weight)
        nn.init.zeros_(self.tail.bias)

    def forward(self, lr: Tensor) -> SROutput:
        side = lr.shape[-2] * self.scale, lr.shape[-1] * self.scale
        if side[0] % 2 ** self.unet_depth or side[1] % 2 ** self.unet_depth:
            raise ValueError(f"SR size {side} must be divisible by 2**unet_depth = {2 ** self.unet_depth}")
        parsing, parsing_sa = self.parsing_block(lr)
        base = bicubic_upsample(lr, self.scale)
        maps = {"parsing": parsing, "parsing_block/spatial": parsing_sa}
        x = torch.cat([base, _resize_nearest(parsing, base)], dim=1)  # fusion 1 (eq. 12)
        stages = list(self.w_up) + list(self.w_down)
        for i, (stage, lpf) in enumerate(zip(stages, self.w_fuse)):  # fusions 2..2*w_depth+1 (eq. 14-19)
            x = stage(x)
            x, maps[f"lpf_spatial/{i + 2:02d}"], maps[f"lpf_pixel/{i + 2:02d}"] = lpf(x, _resize_nearest(parsing, x))
        skips = []
        first = 2 + len(stages)
        for i, level in enumerate(self.encoder):  # eq. 22
            skips.append(x)
            x, maps[f"lpf_spatial/{first + i:02d}"], maps[f"lpf_pixel/{first + i:02d}"] = level(x, parsing)
        for up, scabs, skip in zip(self.decoder_up, self.decoder_scabs, reversed(skips)):  # eq. 23
            x = scabs(up(x) + skip)
        return SROutput(base + self.tail(x), maps)


register_net(NetInfo(
    name="wnet",
    paper="Liu, Yang & Liu, W-Net: A Facial Feature-Guided Face Super-Resolution Network (2024)",
    scale=8,
    builder=WNet,
    description="Parsing Block + LR-parsing fusion (LPF) along a W-shaped up/down path, then an "
                "SCAB encoder-decoder; x8 by default, scale=4 for x4. Heavy: the W path reaches 8x the HR size.",
    tiny_cfg={"channels": 4, "n_resblocks": 1, "hourglass_depth": 2, "w_depth": 1, "unet_depth": 2, "n_scab": 1},
))
