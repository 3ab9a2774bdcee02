"""Face super-resolution networks: one module per paper, explicit registration.

>>> from facesr_gui.nets import create_net, list_nets
>>> net = create_net("eipnet")          # paper configuration
>>> out = net(lr)                       # lr: (N, 3, 16, 16) RGB in [0, 1]
>>> out.image.shape, sorted(out.maps)   # (N, 3, 128, 128), internal maps
"""
from . import bicubic, cagface, eipnet, jeanet, priorsr, wnet  # noqa: F401  (registers the nets)
from ._base import SRNet
from ._registry import (HR_FACE, NetInfo, create_discriminator, create_net, get_info, list_nets, lr_side, net_lr_side,
                        paper_config, register_net)
from .ensemble import flip_ensemble
from .outputs import SROutput

__all__ = [
    "SRNet", "SROutput", "NetInfo", "create_net", "create_discriminator", "get_info", "list_nets", "flip_ensemble",
    "paper_config", "register_net", "HR_FACE", "lr_side", "net_lr_side",
]
