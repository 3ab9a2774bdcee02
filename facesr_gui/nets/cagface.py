"""CAGFace: Component Attention Guided Face Super-Resolution (Kalarot, Li, Porikli, WACV 2020), x4.

Architecture (Fig. 2, Sec. 3, Table 1):

* **Component network** (Sec. 3.1). The paper uses an off-line trained BiSeNet fine-tuned on
  CelebAMask-HQ, which is not available offline. :class:`ComponentNet` is a small U-Net (~0.5M
  parameters) that predicts the paper's three components -- ``hair``, ``skin`` and ``parts``
  ("other parts": eyes, brows, nose, mouth, ears; Sec. 1) -- as sigmoid probabilities at LR
  resolution. It is owned by the generator as ``parser`` and is meant to be trained *separately*
  on pseudo labels (e.g. an offline face parser run on the HR training faces, merged to the three
  components and downsampled to LR) through the ``component/*`` maps. The SR path sees a detached
  copy (``detach_parser=True``) so, as in the paper, the SR losses do not move the parser;
  ``detach_parser=False`` trains end to end (the paper's future work, Sec. 5).
* **Attention block** (Sec. 3.1-3.2): the component probabilities are smoothed by a fixed Gaussian
  ("spatial pooling with fixed Gaussian kernels"), multiplied with the grey-level LR image to give
  three grey attention maps (Fig. 3), stacked with the RGB image into 6 channels and mapped to
  ``[-1, 1]``.
* **Stage 1** (x2): stem 3x3x6x256, 16 residual units (conv-ReLU-conv + identity, Sec. 3.3), a
  closing 3x3x256x256 conv with the backbone's direct skip, conv 256->1024 + pixel shuffle, and
  conv 256->3 giving the x2 intermediate image.
* **Stage 2** (x4 from LR): the x2 image is space-to-depth converted into 12 LR-sized channels
  (Sec. 3.2), 3x3x12x256 conv, stem 3x3x256x256, 16 residual units + closing conv with direct
  skip; the stage-wise skip concatenates the stage-1 stem features (512 channels) "just before
  the final 4x upsampling layers"; two (conv 512->2048 + pixel shuffle) steps, conv 512->3 and
  a final 3x3x3x3 mixing conv.

Parameter counts (paper config, ``n_feats=256, n_blocks=16``): ``stage1`` 21,853,955 and
``stage2`` 38,982,999 (Table 1: 21,881,859 and 38,952,791). Table 1 lists the 12->256 conv
(27,904 incl. bias) inside stage 1's block; here it belongs to stage 2, which is the only stage
that uses it (stage 1 is trained first on its own, Sec. 3.4). With Table 1's grouping the counts
are 21,881,859 (exact) and 38,952,791 + 2,304: Table 1's "Stem 2" entry 587,520 = 3*3*255*256
contradicts its own kernel shape 3x3x256x256 (589,824), which we follow.

Ambiguities and choices: images are predicted directly (no bicubic residual) in the ``[-1, 1]``
domain of Sec. 3.2 and mapped back to ``[0, 1]``; grey level = BT.601 luma; Gaussian sigma 1 LR
pixel (unspecified); a ReLU separates the two stage-2 stem convs (unspecified); the closing
3x3x256x256 conv listed under "Spatial Upsampling" is placed before the backbone skip (EDSR).
``residual=True`` (not the paper's; off by default) makes both stages predict corrections of the
bicubic upsampled LR input (global residual learning, as VDSR), which converges in far fewer
steps, as a CPU-trained variant needs. ``lr_size`` (default 64, the paper's 256x256 HR patches)
is the LR face side the pipeline crops to; a variant trained on 128x128 CelebA faces says 32.
Patch-based inference (Sec. 1, 4.3): the paper samples 256x256 HR patches (64x64 LR, the
``lr_size``) from the block built on the whole face; :func:`patch_forward` runs the parser on the
whole LR image, then tiles the SR stages with overlap and blends with linear ramps (the overlap
is unspecified; default 16 LR pixels). Training (Sec. 3.4): Huber loss (delta = 1) on both the
``stage1`` x2 image and the x4 output.
"""
from __future__ import annotations

import math
from typing import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ._base import SRNet
from ._blocks import ResBlock, bicubic_upsample, conv1x1, conv3x3, upsample_pixelshuffle
from ._registry import NetInfo, register_net
from .outputs import SROutput

#: component order of the parser output and of ``attention`` (channel 0, 1, 2)
COMPONENTS: tuple[str, str, str] = ("hair", "skin", "parts")
_LUMA = (0.299, 0.587, 0.114)  # ITU-R BT.601, RGB order


def _double_conv(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(conv3x3(cin, cout), nn.ReLU(inplace=True), conv3x3(cout, cout), nn.ReLU(inplace=True))


class ComponentNet(nn.Module):
    """Light U-Net standing in for the paper's BiSeNet component network (Sec. 3.1).

    ``forward(rgb)``: ``(N, 3, h, w)`` RGB in ``[0, 1]`` (any size) -> ``(N, 3, h, w)`` sigmoid
    probabilities of ``COMPONENTS`` (hair, skin, parts) -- independent sigmoids, not a softmax.
    :meth:`logits` gives the pre-sigmoid values for a BCE-with-logits pseudo-label loss.
    """

    def __init__(self, width: int = 16, depth: int = 3, n_components: int = len(COMPONENTS)):
        super().__init__()
        chs = [width * 2**i for i in range(depth + 1)]
        self.inc = _double_conv(3, chs[0])
        self.downs = nn.ModuleList(_double_conv(chs[i], chs[i + 1]) for i in range(depth))
        self.ups = nn.ModuleList(_double_conv(chs[i + 1] + chs[i], chs[i]) for i in reversed(range(depth)))
        self.head = conv1x1(chs[0], n_components)

    def logits(self, rgb: Tensor) -> Tensor:
        x = self.inc(rgb * 2.0 - 1.0)
        skips = [x]
        for down in self.downs:
            x = down(F.max_pool2d(x, 2, ceil_mode=True))
            skips.append(x)
        skips.pop()
        for up in self.ups:
            skip = skips.pop()
            x = F.interpolate(x, size=skip.shape[-2:], mode="bilinear", align_corners=False)
            x = up(torch.cat([x, skip], dim=1))
        return self.head(x)

    def forward(self, rgb: Tensor) -> Tensor:
        return torch.sigmoid(self.logits(rgb))


class GaussianSmooth(nn.Module):
    """Fixed (non-trainable) depthwise Gaussian blur with replicate padding; sigma 0 = identity."""

    def __init__(self, sigma: float):
        super().__init__()
        self.sigma = float(sigma)
        radius = max(int(math.ceil(2.0 * self.sigma)), 0)
        x = torch.arange(-radius, radius + 1, dtype=torch.float32)
        k = torch.exp(-0.5 * (x / max(self.sigma, 1e-6)) ** 2)
        self.register_buffer("kernel", k / k.sum(), persistent=False)
        self.radius = radius

    def forward(self, x: Tensor) -> Tensor:
        if self.radius == 0:
            return x
        c, r = x.shape[1], self.radius
        k = self.kernel.to(x.dtype)
        x = F.pad(x, (r, r, r, r), mode="replicate")
        x = F.conv2d(x, k.view(1, 1, 1, -1).expand(c, 1, 1, -1), groups=c)
        return F.conv2d(x, k.view(1, 1, -1, 1).expand(c, 1, -1, 1), groups=c)


class Backbone(nn.Module):
    """``n_blocks`` residual units, a closing conv and the direct input->output skip (Sec. 3.3)."""

    def __init__(self, ch: int, n_blocks: int):
        super().__init__()
        self.blocks = nn.Sequential(*[ResBlock(ch) for _ in range(n_blocks)])
        self.close = conv3x3(ch, ch)

    def forward(self, x: Tensor) -> Tensor:
        return x + self.close(self.blocks(x))


class StageOne(nn.Module):
    """x2 stage: 6-channel attention block ``(N, 6, h, w)`` in ``[-1, 1]`` ->
    (x2 image ``(N, 3, 2h, 2w)`` in ``[-1, 1]``, stem features ``(N, F, h, w)`` for the stage-wise skip)."""

    def __init__(self, n_feats: int, n_blocks: int):
        super().__init__()
        self.stem = conv3x3(6, n_feats)
        self.backbone = Backbone(n_feats, n_blocks)
        self.upsample = upsample_pixelshuffle(n_feats, 2)
        self.to_rgb = conv3x3(n_feats, 3)

    def forward(self, block: Tensor) -> tuple[Tensor, Tensor]:
        stem = self.stem(block)
        return self.to_rgb(self.upsample(self.backbone(stem))), stem


class StageTwo(nn.Module):
    """x4 stage working at LR size: space-to-depth of the x2 image ``(N, 3, 2h, 2w)`` in ``[-1, 1]``
    plus the stage-1 stem features ``(N, F, h, w)`` -> x4 image ``(N, 3, 4h, 4w)`` in ``[-1, 1]``."""

    def __init__(self, n_feats: int, n_blocks: int):
        super().__init__()
        self.s2d_stem = conv3x3(12, n_feats)
        self.stem = conv3x3(n_feats, n_feats)
        self.backbone = Backbone(n_feats, n_blocks)
        self.upsample = upsample_pixelshuffle(2 * n_feats, 4)
        self.to_rgb = conv3x3(2 * n_feats, 3)
        self.mix = conv3x3(3, 3)

    def forward(self, x2: Tensor, stem1: Tensor) -> Tensor:
        feats = self.stem(F.relu(self.s2d_stem(F.pixel_unshuffle(x2, 2))))
        feats = torch.cat([self.backbone(feats), stem1], dim=1)  # stage-wise skip
        return self.mix(self.to_rgb(self.upsample(feats)))


class CAGFace(SRNet):
    """CAGFace x4 generator (paper configuration by default).

    ``forward(lr, attention=None)``: ``lr`` is ``(N, 3, h, w)`` RGB in ``[0, 1]``, any ``h, w``.
    ``attention`` optionally supplies the component probabilities ``(N, 3, h, w)`` in ``[0, 1]``
    (channel order ``COMPONENTS``: hair, skin, parts), e.g. from an external face parser; by
    default the owned :class:`ComponentNet` (``self.parser``) predicts them. Returns an
    :class:`SROutput` with the ``(N, 3, 4h, 4w)`` RGB image (nominal ``[0, 1]``, unclamped).
    """

    MAP_DOCS = {
        "component/{name}": "(N,1,h,w) component probability in [0,1] at LR size (name: hair, skin, parts); "
                            "parser sigmoid output, or the supplied attention",
        "attention/{name}": "(N,1,h,w) grey-level attention map in [0,1]: LR luma x Gaussian-smoothed component "
                            "(Fig. 3), the stem input besides RGB",
        "stage1": "(N,3,2h,2w) x2 intermediate RGB image, nominal [0,1], unclamped (mid-stage loss, Sec. 3)",
    }

    def __init__(self, n_feats: int = 256, n_blocks: int = 16, parser_width: int = 16, parser_depth: int = 3,
                 smooth_sigma: float = 1.0, detach_parser: bool = True, scale: int = 4, lr_size: int = 64,
                 residual: bool = False):
        if scale != 4:
            raise ValueError(f"CAGFace is a two-stage x4 network, got scale={scale}")
        if lr_size < 1:
            raise ValueError(f"lr_size must be positive, got {lr_size}")
        super().__init__(scale=4, n_feats=n_feats, n_blocks=n_blocks, parser_width=parser_width,
                         parser_depth=parser_depth, smooth_sigma=smooth_sigma, detach_parser=detach_parser,
                         lr_size=int(lr_size), residual=bool(residual))
        self.residual = bool(residual)
        self.detach_parser = detach_parser
        self.parser = ComponentNet(parser_width, parser_depth)
        self.smooth = GaussianSmooth(smooth_sigma)
        self.register_buffer("luma", torch.tensor(_LUMA).view(1, 3, 1, 1), persistent=False)
        self.stage1 = StageOne(n_feats, n_blocks)
        self.stage2 = StageTwo(n_feats, n_blocks)

    def components(self, lr: Tensor) -> Tensor:
        """Component probabilities ``(N, 3, h, w)`` in ``[0, 1]`` predicted by ``self.parser``."""
        return self.parser(lr)

    def attention_maps(self, lr: Tensor, probs: Tensor) -> Tensor:
        """Grey-level attention maps ``(N, 3, h, w)`` in ``[0, 1]``: luma(lr) x smoothed component."""
        grey = (lr * self.luma.to(lr.dtype)).sum(dim=1, keepdim=True)
        return grey * self.smooth(probs)

    def forward(self, lr: Tensor, attention: Tensor | None = None) -> SROutput:
        probs = self.components(lr) if attention is None else attention
        if probs.shape[0] != lr.shape[0] or probs.shape[1:] != (len(COMPONENTS), *lr.shape[-2:]):
            raise ValueError(f"attention must be (N, 3, h, w) matching lr {tuple(lr.shape)}, got {tuple(probs.shape)}")
        guide = probs.detach() if self.detach_parser and attention is None else probs
        att = self.attention_maps(lr, guide)
        block = torch.cat([lr, att], dim=1) * 2.0 - 1.0  # Sec. 3.2: normalised to [-1, 1]
        x2, stem1 = self.stage1(block)
        if self.residual:   # stage outputs are corrections (in [-1, 1] units) of the bicubic upsampled input
            x2 = x2 + bicubic_upsample(lr, 2) * 2.0 - 1.0
        x4 = self.stage2(x2, stem1)
        if self.residual:
            x4 = x4 + bicubic_upsample(lr, 4) * 2.0 - 1.0
        maps = {f"component/{n}": probs[:, i:i + 1] for i, n in enumerate(COMPONENTS)}
        maps.update({f"attention/{n}": att[:, i:i + 1] for i, n in enumerate(COMPONENTS)})
        maps["stage1"] = (x2 + 1.0) * 0.5
        return SROutput((x4 + 1.0) * 0.5, maps)


# ---------------------------------------------------------------------------------------------
# Patch-based inference (Sec. 1 and 4.3: "we process the LR image patch-wise and aggregate")
# ---------------------------------------------------------------------------------------------

def _tile_starts(size: int, patch: int, overlap: int) -> list[int]:
    """Start offsets covering ``[0, size)`` with tiles of ``min(patch, size)``; last tile flush right."""
    p = min(patch, size)
    starts = list(range(0, size - p, patch - overlap))
    return starts + [size - p]


def _ramp(length: int, left: bool, right: bool, overlap: int) -> Tensor:
    """1-D blending weight on the sides that have a neighbouring tile: 0 over the outer quarter of
    the overlap (where zero padding distorts the tile), a linear ramp over its middle half, else 1."""
    w = torch.ones(length)
    margin = overlap // 4
    span = max(overlap - 2 * margin, 1)
    pos = (torch.arange(length, dtype=torch.float32) + 0.5 - margin).clamp(min=0.0) / span
    if overlap > 0 and left:
        w = torch.minimum(w, pos)
    if overlap > 0 and right:
        w = torch.minimum(w, pos.flip(0))
    return w


class _Blender:
    """Accumulates weighted tiles of every output (image and maps) at its own resolution."""

    def __init__(self, lr_hw: tuple[int, int], overlap: int):
        self.lr_hw, self.overlap = lr_hw, overlap
        self.sums: dict[str, Tensor] = {}
        self.weights: dict[str, Tensor] = {}

    def add(self, key: str, tile: Tensor, box: tuple[int, int, int, int], sides: tuple[bool, ...]) -> None:
        y0, x0, th, tw = box
        if tile.shape[-2:] == (1, 1) and (th, tw) != (1, 1):  # non-spatial output: plain mean over tiles
            y0 = x0 = 0
            th = tw = s = 1
            full_hw, sides = (1, 1), (False,) * 4
        else:
            s = tile.shape[-2] // th
            if s < 1 or tile.shape[-2:] != (th * s, tw * s):
                raise ValueError(f"output {key!r} {tuple(tile.shape)} is not an integer multiple of the tile")
            full_hw = (self.lr_hw[0] * s, self.lr_hw[1] * s)
        wy = _ramp(th * s, sides[0], sides[1], self.overlap * s)
        wx = _ramp(tw * s, sides[2], sides[3], self.overlap * s)
        w = (wy[:, None] * wx[None, :]).to(tile)
        if key not in self.sums:
            self.sums[key] = tile.new_zeros((*tile.shape[:2], *full_hw))
            self.weights[key] = tile.new_zeros(full_hw)
        ys, xs = slice(y0 * s, (y0 + th) * s), slice(x0 * s, (x0 + tw) * s)
        self.sums[key][..., ys, xs] += tile * w
        self.weights[key][ys, xs] += w

    def result(self, key: str) -> Tensor:
        return self.sums[key] / self.weights[key]


@torch.no_grad()
def patch_forward(net: SRNet, lr: Tensor, patch: int = 64, overlap: int = 16, attention: Tensor | None = None,
                  progress: Callable[[float], None] | None = None) -> SROutput:
    """Patch-based inference of any-size LR input (no gradients).

    ``lr``: ``(N, 3, h, w)`` RGB in ``[0, 1]``, any ``h, w`` (smaller than ``patch`` gives a single
    tile). For :class:`CAGFace` the component probabilities are computed once on the whole image
    (or taken from ``attention``) and cropped per tile, as the paper builds the attention block on
    the whole face before sampling patches. Tiles of ``patch`` LR pixels overlap by at least
    ``overlap`` and are blended with linear ramps (each tile's outer quarter of the overlap is
    dropped, the middle half cross-faded); every spatial map is blended at its own scale.
    Returns the full :class:`SROutput` (image ``(N, 3, h*scale, w*scale)``, maps at full size).
    ``progress(fraction)`` is called after each tile.
    """
    if not 0 <= overlap < patch:
        raise ValueError(f"need 0 <= overlap < patch, got patch={patch}, overlap={overlap}")
    h, w = lr.shape[-2:]
    if attention is None and isinstance(net, CAGFace):
        attention = net.components(lr)
    ys, xs = _tile_starts(h, patch, overlap), _tile_starts(w, patch, overlap)
    th, tw = min(patch, h), min(patch, w)
    blender = _Blender((h, w), overlap)
    for n, (y0, x0) in enumerate((y, x) for y in ys for x in xs):
        crop = (..., slice(y0, y0 + th), slice(x0, x0 + tw))
        out = net(lr[crop]) if attention is None else net(lr[crop], attention=attention[crop])
        sides = (y0 > 0, y0 + th < h, x0 > 0, x0 + tw < w)
        for key, tile in {"image": out.image, **out.maps}.items():
            blender.add(key, tile, (y0, x0, th, tw), sides)
        if progress is not None:
            progress((n + 1) / (len(ys) * len(xs)))
    maps = {k: blender.result(k) for k in blender.sums if k != "image"}
    return SROutput(blender.result("image"), maps)


register_net(NetInfo(
    name="cagface",
    paper="Kalarot, Li, Porikli: Component Attention Guided Face Super-Resolution Network: CAGFace (WACV 2020)",
    scale=4,
    builder=CAGFace,
    description="Two x2 stages (16 residual units each, pixel shuffle) guided by hair/skin/parts component "
                "attention; space-to-depth bootstrapping and a stage-wise skip; patch-based inference.",
    tiny_cfg={"n_feats": 8, "n_blocks": 1, "parser_width": 4, "parser_depth": 2},
    lr_size=64,   # 256x256 HR patches / whole faces at x4 (Sec. 4.3); the config's lr_size overrides it
))
