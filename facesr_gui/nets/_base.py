"""Common base class of every registered SR generator."""
from __future__ import annotations

from typing import Any, ClassVar

from torch import Tensor, nn

from .outputs import SROutput


class SRNet(nn.Module):
    """Base class: ``forward(lr)`` maps ``(N, 3, h, w)`` RGB in ``[0, 1]`` to an :class:`SROutput`
    whose image is ``(N, 3, h*scale, w*scale)``.

    Subclasses call ``super().__init__(scale=..., **cfg)`` with the keyword configuration
    they were built from; it is kept in ``self.config`` (JSON-serialisable) so a checkpoint
    can rebuild the exact network. ``MAP_DOCS`` documents the keys of ``SROutput.maps``
    (``{i}`` stands for a module index, ``{s}`` for a scale). Facts the pipeline and training
    need about a network (LR face side, edge scales) are in its registry entry
    (:class:`~facesr_gui.nets.NetInfo`, :func:`~facesr_gui.nets.lr_side`), not on the instance.
    """

    MAP_DOCS: ClassVar[dict[str, str]] = {}

    def __init__(self, scale: int, **config: Any):
        super().__init__()
        self.scale = int(scale)
        self.config: dict[str, Any] = {"scale": self.scale, **config}

    def forward(self, lr: Tensor) -> SROutput:  # pragma: no cover - abstract
        raise NotImplementedError
