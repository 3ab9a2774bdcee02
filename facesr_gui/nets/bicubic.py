"""Bicubic interpolation baseline behind the same interface as the learned networks."""
from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor

from ._base import SRNet
from ._registry import NetInfo, register_net
from .outputs import SROutput


class Bicubic(SRNet):
    MAP_DOCS = {}

    def __init__(self, scale: int = 8):
        super().__init__(scale=scale)

    def forward(self, lr: Tensor) -> SROutput:
        up = F.interpolate(lr, scale_factor=self.scale, mode="bicubic", align_corners=False)
        return SROutput(up, {})


register_net(NetInfo(
    name="bicubic", paper="baseline", scale=8, builder=Bicubic,
    description="Bicubic interpolation (no learned parameters).", trainable=False,
))
