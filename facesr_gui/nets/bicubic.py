"""Bicubic interpolation baseline behind the same interface as the learned networks."""
from __future__ import annotations

from torch import Tensor

from ._base import SRNet
from ._blocks import bicubic_upsample
from ._registry import NetInfo, register_net
from .outputs import SROutput


class Bicubic(SRNet):
    MAP_DOCS = {}

    def __init__(self, scale: int = 8):
        super().__init__(scale=scale)

    def forward(self, lr: Tensor) -> SROutput:
        up = bicubic_upsample(lr, self.scale)
        return SROutput(up, {})


register_net(NetInfo(
    name="bicubic", paper="baseline", scale=8, builder=Bicubic,
    description="Bicubic interpolation (no learned parameters).", trainable=False,
))
