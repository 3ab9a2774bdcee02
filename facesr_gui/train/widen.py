"""Function-preserving widening of a trained EIPNet (Net2WiderNet, Chen et al., ICLR 2016).

A small network that has stopped gaining can be given more channels without starting over: each new
channel of a layer is a copy of a randomly chosen existing one, and every layer reading that channel
group divides the weights of a channel and its copies by the number of copies, so the wider network
computes the same function (up to float rounding). A little noise on the copies' incoming weights
breaks the symmetry so that they can learn something else; fine-tuning then goes on from the
narrower network's quality (``facesr train --init``) instead of from scratch.

EIPNet (Table 1) has these channel groups at width ``C`` (``G`` groups are shared by a residual
block's skip and output, ``H`` groups are inside a block; an edge block's output is its group twice,
``[x, x - avgpool(x)]``)::

    conv0: 3 -> G0 (C)        res1: G0 -> H1 (C) -> G0        t_conv1: G0 -> G1 (C/2)
    res2: [G1,G1] -> H2 (C) -> G1      t_conv2: G1 -> G2 (C/4)
    res3: [G2,G2] -> H3 (C/2) -> G2    t_conv3: G2 -> G3 (C/8)      conv4: [G3,G3] -> 3
    edge block k's 1x1 conv: Gk -> 1

ReLU, average pooling and the residual sums act channel by channel, so copying a channel copies
its whole path.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from ..nets.eipnet import EIPNet

__all__ = ["widen_eipnet"]


class _Group:
    """Old-to-new channel map of one group: new channel ``j`` copies old channel ``src[j]``."""

    def __init__(self, old: int, new: int, rng: np.random.Generator):
        if new < old:
            raise ValueError(f"cannot narrow a group from {old} to {new} channels")
        extra = rng.choice(old, size=new - old, replace=new - old > old)
        self.src = np.concatenate([np.arange(old), extra])
        self.count = np.bincount(self.src, minlength=old).astype(np.float32)
        self.old, self.new = old, new

    def twice(self) -> "_Group":
        """The edge block's concatenation ``[x, high]``: the same map on both halves."""
        g = object.__new__(_Group)
        g.src = np.concatenate([self.src, self.src + self.old])
        g.count = np.concatenate([self.count, self.count])
        g.old, g.new = 2 * self.old, 2 * self.new
        return g

    @staticmethod
    def same(n: int) -> "_Group":
        g = object.__new__(_Group)
        g.src, g.count, g.old, g.new = np.arange(n), np.ones(n, np.float32), n, n
        return g


def _widen_weight(w: Tensor, out_g: _Group, in_g: _Group, transposed: bool) -> Tensor:
    """Conv weight ``(out, in, k, k)`` (transposed conv: ``(in, out, k, k)``) on the new channels."""
    if transposed:
        w = w.transpose(0, 1)
    w = w[torch.as_tensor(out_g.src)][:, torch.as_tensor(in_g.src)]
    w = w / torch.as_tensor(in_g.count[in_g.src], dtype=w.dtype).view(1, -1, 1, 1)
    return w.transpose(0, 1) if transposed else w


def widen_eipnet(net: EIPNet, width: int, noise: float = 0.01, seed: int = 0) -> EIPNet:
    """A new :class:`EIPNet` of ``width`` (a multiple of 8, at least ``net``'s) computing what ``net``
    computes, in float32 on the CPU.

    ``noise``: Gaussian noise on the copied channels' incoming weights, relative to each layer's
    weight standard deviation (0 gives the exact function; the copies then stay identical in
    training, since they receive identical gradients).
    """
    old_w = int(net.config["width"])
    if width < old_w or width % 8:
        raise ValueError(f"width must be a multiple of 8 and at least {old_w}, got {width}")
    rng = np.random.default_rng(seed)
    gen = torch.Generator().manual_seed(seed)
    wide = EIPNet(width=width, pool_kernels=net.config["pool_kernels"])
    old_c = [old_w, old_w // 2, old_w // 4, old_w // 8]
    new_c = [width, width // 2, width // 4, width // 8]
    g = [_Group(o, n, rng) for o, n in zip(old_c, new_c)]          # G0..G3
    h = [_Group(old_c[0], new_c[0], rng), _Group(old_c[0], new_c[0], rng), _Group(old_c[1], new_c[1], rng)]
    rgb = _Group.same(3)
    one = _Group.same(1)
    plan = {   # layer -> (out group, in group, transposed)
        "conv0": (g[0], rgb, False),
        "res_blocks.0.conv_a": (h[0], g[0], False), "res_blocks.0.conv_b": (g[0], h[0], False),
        "res_blocks.1.conv_a": (h[1], g[1].twice(), False), "res_blocks.1.conv_b": (g[1], h[1], False),
        "res_blocks.2.conv_a": (h[2], g[2].twice(), False), "res_blocks.2.conv_b": (g[2], h[2], False),
        "t_convs.0.0": (g[1], g[0], True), "t_convs.1.0": (g[2], g[1], True), "t_convs.2.0": (g[3], g[2], True),
        "edge_blocks.0.to_edge": (one, g[1], False), "edge_blocks.1.to_edge": (one, g[2], False),
        "edge_blocks.2.to_edge": (one, g[3], False),
        "conv4": (rgb, g[3].twice(), False),
    }
    old_state = {k: v.detach().float().cpu() for k, v in net.state_dict().items()}
    new_state = {}
    for layer, (out_g, in_g, transposed) in plan.items():
        w = _widen_weight(old_state[f"{layer}.weight"], out_g, in_g, transposed)
        copies = torch.as_tensor(np.arange(out_g.new) >= out_g.old)
        if noise > 0 and bool(copies.any()):
            std = float(old_state[f"{layer}.weight"].std())
            jitter = torch.randn(w.shape, generator=gen) * (noise * std)
            mask = copies.view(1, -1, 1, 1) if transposed else copies.view(-1, 1, 1, 1)
            w = w + jitter * mask
        new_state[f"{layer}.weight"] = w
        new_state[f"{layer}.bias"] = old_state[f"{layer}.bias"][torch.as_tensor(out_g.src)]
    wide.load_state_dict(new_state, strict=True)
    return wide
