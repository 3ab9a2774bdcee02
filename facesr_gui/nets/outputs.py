"""Typed network output shared by every face SR network.

Every registered network maps a low-resolution face batch to an :class:`SROutput`.
Conventions at this boundary:

* ``image``: ``(N, 3, H, W)`` float tensor, **RGB**, nominal range ``[0, 1]``
  (not clamped during training so the losses see the raw prediction; call
  :meth:`SROutput.clamped` for display/export).
* ``maps``: ``dict[str, Tensor]`` of internal maps, each ``(N, C, h, w)``.
  Spatial maps (``h, w > 1``) can be overlaid by the GUI after resizing to the
  SR image; non-spatial entries (``h == w == 1``, e.g. channel attention
  vectors or learned shortcut weights broadcast to ``(N, K, 1, 1)``) are
  reported as numbers. Names use ``group/item`` (e.g. ``edge/x8``,
  ``faam_spatial/07``); each network documents its names in ``MAP_DOCS``.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import Tensor


@dataclass
class SROutput:
    image: Tensor
    maps: dict[str, Tensor] = field(default_factory=dict)

    def clamped(self) -> Tensor:
        """The SR image clamped to ``[0, 1]`` (for display, export and metrics)."""
        return self.image.clamp(0.0, 1.0)

    def spatial_maps(self) -> dict[str, Tensor]:
        """Only the maps with a spatial extent (``h > 1`` and ``w > 1``)."""
        return {k: v for k, v in self.maps.items() if v.dim() == 4 and v.shape[-1] > 1 and v.shape[-2] > 1}

    def detach(self) -> "SROutput":
        return SROutput(self.image.detach(), {k: v.detach() for k, v in self.maps.items()})

    def to(self, device: torch.device | str) -> "SROutput":
        return SROutput(self.image.to(device), {k: v.to(device) for k, v in self.maps.items()})
