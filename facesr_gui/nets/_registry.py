"""Registry of face SR networks (explicit registration, no filesystem scanning)."""
from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

from torch import nn


@dataclass(frozen=True)
class NetInfo:
    """Static metadata about a registered network.

    ``builder(**cfg)`` returns the generator (an ``nn.Module`` whose ``forward(lr)``
    takes ``(N, 3, h, w)`` RGB in ``[0, 1]`` and returns an ``SROutput`` with an image
    ``scale`` times larger). ``discriminator`` (optional) builds the paper's GAN
    discriminator, which takes ``(N, 3, H, W)`` HR-sized images and returns logits ``(N, 1)``.
    """

    name: str
    paper: str
    scale: int
    builder: Callable[..., nn.Module]
    description: str = ""
    discriminator: Callable[..., nn.Module] | None = None
    tiny_cfg: dict = field(default_factory=dict)
    lr_size: int | None = None
    edge_scales: tuple[int, ...] = ()
    trainable: bool = True


#: side of the HR faces the nets are trained on (CelebA aligned faces at 128 px)
HR_FACE = 128

_REGISTRY: dict[str, NetInfo] = {}


def register_net(info: NetInfo) -> NetInfo:
    if info.name in _REGISTRY:
        raise ValueError(f"network {info.name!r} is already registered")
    _REGISTRY[info.name] = info
    return info


def get_info(name: str) -> NetInfo:
    try:
        return _REGISTRY[name]
    except KeyError:
        raise KeyError(f"unknown network {name!r}; available: {', '.join(sorted(_REGISTRY))}") from None


def list_nets() -> list[str]:
    return sorted(_REGISTRY)


def create_net(name: str, **cfg) -> nn.Module:
    """Build network ``name``; with no ``cfg`` this is the paper configuration.

    The net remembers ``name`` as ``net_name`` (``priorsr_gan`` shares ``priorsr``'s class), so a
    checkpoint saved from it names the registered network it was built as."""
    net = get_info(name).builder(**cfg)
    net.net_name = name
    return net


def paper_config(name: str) -> dict:
    """The keyword defaults of network ``name``'s builder (its paper configuration), ``scale`` aside."""
    try:
        params = inspect.signature(get_info(name).builder).parameters.values()
    except (TypeError, ValueError):
        return {}
    return {p.name: p.default for p in params if p.default is not inspect.Parameter.empty and p.name != "scale"}


def lr_side(name: str | None, config: Mapping[str, Any] | None = None, scale: int | None = None) -> int:
    """Side of the LR face crop network ``name`` built with ``config`` takes: ``config["lr_size"]``
    where the config sets one, else the registry's ``lr_size``, else ``HR_FACE // scale``. An
    unregistered name (a test stand-in) gets ``HR_FACE // scale`` (``scale`` default 8)."""
    config = config or {}
    if config.get("lr_size"):
        return int(config["lr_size"])
    info = _REGISTRY.get(name or "")
    scale = int(config.get("scale") or scale or (info.scale if info else 8))
    if info is not None and info.lr_size:
        return int(info.lr_size)
    return max(1, HR_FACE // scale)


def net_lr_side(net: nn.Module) -> int:
    """:func:`lr_side` of a built network (its ``net_name`` and ``config``)."""
    return lr_side(getattr(net, "net_name", None), getattr(net, "config", None), getattr(net, "scale", None))


def create_discriminator(name: str, **cfg) -> nn.Module:
    info = get_info(name)
    if info.discriminator is None:
        raise ValueError(f"network {name!r} has no discriminator")
    return info.discriminator(**cfg)
