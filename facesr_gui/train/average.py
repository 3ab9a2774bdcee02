"""Weight averaging of fine-tuned networks ("model soup", Wortsman et al., ICML 2022).

Networks fine-tuned from the same weights with different settings usually stay in one basin of the
loss, so the mean of their weights is a network too, often better than each (the soup's gain comes
without any extra inference cost, unlike an ensemble of outputs). Only networks of the same kind and
configuration average; integer buffers (counters) must agree and are taken as they are.
"""
from __future__ import annotations

import copy
from collections.abc import Sequence

import torch
from torch import nn

__all__ = ["average_nets", "normalised_shares"]


def normalised_shares(weights: Sequence[float] | None, count: int, what: str) -> list[float]:
    """``weights``, one per ``what`` (default: equal), scaled to sum to 1. Raises ``ValueError`` unless
    there is one number >= 0 per ``what`` and not all are 0 (none for a count of 0)."""
    values = [1.0] * count if weights is None else [float(w) for w in weights]
    if len(values) != count:
        raise ValueError(f"{len(values)} {what} weights for {count} {what}s: give one per {what}")
    if values and (any(not w >= 0 for w in values) or sum(values) <= 0):
        raise ValueError(f"{what} weights must be >= 0 and not all 0, got {values}")
    total = sum(values)
    return [w / total for w in values]


def average_nets(nets: Sequence[nn.Module], weights: Sequence[float] | None = None) -> nn.Module:
    """A copy of ``nets[0]`` (float32) holding the weighted mean of all ``nets``' floating-point
    parameters and buffers (``weights``: one per net, default equal; normalised to sum 1).
    Raises ``ValueError`` for fewer than two nets, different kinds, configurations or keys."""
    if len(nets) < 2:
        raise ValueError(f"averaging needs at least two networks, got {len(nets)}")
    shares = normalised_shares(weights, len(nets), "network")
    first = nets[0]
    for i, net in enumerate(nets[1:], 1):
        if type(net) is not type(first) or getattr(net, "config", None) != getattr(first, "config", None):
            raise ValueError(f"network {i} is a {type(net).__name__} {getattr(net, 'config', {})}, "
                             f"network 0 a {type(first).__name__} {getattr(first, 'config', {})}: only the same "
                             "network in the same configuration averages")
    states = [net.state_dict() for net in nets]
    keys = list(states[0])
    for i, state in enumerate(states[1:], 1):
        if list(state) != keys:
            raise ValueError(f"network {i} holds other weights than network 0")
    merged = {}
    for key in keys:
        values = [state[key] for state in states]
        if values[0].is_floating_point():
            merged[key] = sum(w * v.detach().float() for w, v in zip(shares, values))
        else:
            if any(not torch.equal(values[0], v) for v in values[1:]):
                raise ValueError(f"{key}: an integer buffer that differs between the networks")
            merged[key] = values[0].clone()
    out = copy.deepcopy(first).float()
    out.load_state_dict(merged, strict=True)
    return out
