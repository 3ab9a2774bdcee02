"""Checkpoints: safetensors weights carrying their own network description, plus a manifest.

A weights file written by :func:`save_checkpoint` is self-describing: the safetensors
header metadata key ``facesr`` holds JSON ``{"net": name, "config": {...}, "meta": {...}}``,
so :func:`load_checkpoint` rebuilds the exact network with ``create_net(name, **config)``
and loads the weights strictly. Nothing is ever unpickled: ``.pt``/``.pth`` state dicts
go through ``torch.load(weights_only=True)``.

``models/manifest.json`` lists the bundled checkpoints (:class:`ModelCard`): file,
sha256, network, config, training data and terms, steps, hardware and measured metrics.
"""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Mapping

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import Tensor, nn

from .atomic import atomic_path, write_text_atomic
from .nets import create_net

_META_KEY = "facesr"
_PREFIXES = ("module.", "_orig_mod.")


class CheckpointError(RuntimeError):
    """A checkpoint could not be read or does not fit its network (message says why)."""


def _strip_prefixes(state: Mapping[str, Tensor]) -> dict[str, Tensor]:
    out = {}
    for key, value in state.items():
        changed = True
        while changed:
            changed = False
            for prefix in _PREFIXES:
                if key.startswith(prefix):
                    key, changed = key[len(prefix):], True
        out[key] = value
    return out


def _describe(keys: list[str], limit: int = 8) -> str:
    shown = ", ".join(keys[:limit])
    return shown + (f", ... ({len(keys)} in all)" if len(keys) > limit else "")


def load_state_strict(net: nn.Module, state: Mapping[str, Tensor], source: str = "checkpoint") -> None:
    """Load ``state`` into ``net`` strictly; raise :class:`CheckpointError` listing missing,
    unexpected and shape-mismatched keys (DDP ``module.`` and ``torch.compile`` prefixes are stripped).
    Tensors are cast to the parameter dtype (fp16 checkpoints load into fp32 nets)."""
    state = _strip_prefixes(state)
    own = net.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    mismatched = sorted(k for k in set(own) & set(state) if own[k].shape != state[k].shape)
    if missing or unexpected or mismatched:
        parts = []
        if missing:
            parts.append(f"missing keys: {_describe(missing)}")
        if unexpected:
            parts.append(f"unexpected keys: {_describe(unexpected)}")
        if mismatched:
            parts.append("shape mismatch: " + _describe(
                [f"{k} {tuple(state[k].shape)} vs {tuple(own[k].shape)}" for k in mismatched]))
        raise CheckpointError(f"{source} does not fit {type(net).__name__}: " + "; ".join(parts))
    net.load_state_dict(state, strict=True)


def read_state(path: str | os.PathLike) -> tuple[dict[str, Tensor], dict[str, Any]]:
    """Read a state dict and its ``facesr`` header (empty for plain files). Never unpickles."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}")
    if path.suffix in (".pt", ".pth"):
        try:
            obj = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:  # corrupt file or pickled code objects
            raise CheckpointError(f"cannot read {path.name}: {exc}") from exc
        if isinstance(obj, dict) and "state_dict" in obj:
            obj = obj["state_dict"]
        if not isinstance(obj, dict) or not all(isinstance(v, Tensor) for v in obj.values()):
            raise CheckpointError(f"{path.name} does not hold a state dict of tensors")
        return dict(obj), {}
    try:
        state = load_file(str(path), device="cpu")
    except (SafetensorError, OSError, ValueError) as exc:
        raise CheckpointError(f"cannot read {path.name}: not a valid safetensors file ({exc})") from exc
    return state, read_header(path)


def read_header(path: str | os.PathLike) -> dict[str, Any]:
    """The ``facesr`` header of a safetensors checkpoint without reading its tensors ({} if it has
    none, and for ``.pt``/``.pth`` state dicts)."""
    path = Path(path)
    if path.suffix in (".pt", ".pth"):
        return {}
    try:
        from safetensors import safe_open

        with safe_open(str(path), framework="pt") as fh:
            raw = (fh.metadata() or {}).get(_META_KEY)
    except (SafetensorError, OSError, ValueError) as exc:
        raise CheckpointError(f"cannot read {path.name}: not a valid safetensors file ({exc})") from exc
    try:
        return json.loads(raw) if raw else {}
    except json.JSONDecodeError as exc:
        raise CheckpointError(f"{path.name}: corrupt metadata header ({exc})") from exc


def save_checkpoint(path: str | os.PathLike, net: nn.Module, meta: dict[str, Any] | None = None,
                    dtype: torch.dtype | None = None) -> Path:
    """Write ``net``'s weights (optionally cast, e.g. to fp16) atomically as safetensors.

    ``net`` must be a registered network (an ``SRNet`` with ``config``), or an
    ``nn.Module`` with ``net_name``/``config`` attributes.
    """
    name = getattr(net, "net_name", None) or _registered_name(net)
    header = {"net": name, "config": getattr(net, "config", {}), "meta": meta or {}}
    state = {}
    for key, value in _strip_prefixes(net.state_dict()).items():
        value = value.detach().to("cpu")
        if dtype is not None and value.is_floating_point():
            value = value.to(dtype)
        state[key] = value.contiguous()
    with atomic_path(path) as tmp:
        save_file(state, str(tmp), metadata={_META_KEY: json.dumps(header)})
    return Path(path)


def _registered_name(net: nn.Module) -> str:
    from .nets._registry import _REGISTRY

    for name, info in _REGISTRY.items():
        if info.builder is type(net):
            return name
    raise CheckpointError(f"{type(net).__name__} is not a registered network; set net.net_name")


def load_checkpoint(path: str | os.PathLike, device: str | torch.device = "cpu") -> tuple[nn.Module, dict[str, Any]]:
    """Rebuild the network described in the file's header and load its weights strictly.

    Returns ``(net in eval mode on device, header)``.
    """
    state, header = read_state(path)
    if "net" not in header:
        raise CheckpointError(f"{Path(path).name} has no FaceSR header; load it with load_state_strict "
                              "into a network you build yourself")
    try:
        net = create_net(header["net"], **header.get("config", {}))
    except (KeyError, TypeError, ValueError) as exc:
        raise CheckpointError(f"{Path(path).name}: cannot build network {header['net']!r}: {exc}") from exc
    load_state_strict(net, state, source=Path(path).name)
    return net.to(device).eval(), header


def sha256_file(path: str | os.PathLike) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


@dataclass
class ModelCard:
    """One bundled checkpoint as listed in ``models/manifest.json``."""

    id: str
    net: str
    file: str
    sha256: str
    scale: int
    config: dict[str, Any] = field(default_factory=dict)
    dtype: str = "float32"
    training: dict[str, Any] = field(default_factory=dict)   # data, terms, steps, hardware, wall time
    metrics: dict[str, Any] = field(default_factory=dict)    # e.g. {"celeba_dev": {"psnr": .., "ssim": ..}}
    notes: str = ""


def read_manifest(path: str | os.PathLike) -> list[ModelCard]:
    path = Path(path)
    if not path.is_file():
        return []
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return [ModelCard(**entry) for entry in data.get("models", [])]
    except (json.JSONDecodeError, TypeError) as exc:
        raise CheckpointError(f"{path}: invalid manifest ({exc})") from exc


def write_manifest(path: str | os.PathLike, cards: list[ModelCard]) -> None:
    data = {"version": 1, "models": [asdict(c) for c in cards]}
    write_text_atomic(path, json.dumps(data, indent=2, sort_keys=False) + "\n")


def find_card(spec: str, roots: list[Path], scale: int | None = None) -> tuple[ModelCard, Path] | None:
    """``(card, root)`` for a model id or network name: each root's manifest in turn, the card
    whose id is ``spec`` first, else the first (best) card of network ``spec`` (at ``scale`` if
    given; an id match is returned whatever its scale, for the caller to check)."""
    for root in roots:
        cards = read_manifest(Path(root) / "manifest.json")
        card = next((c for c in cards if c.id == spec), None) or next(
            (c for c in cards if c.net == spec and (scale is None or c.scale == scale)), None)
        if card is not None:
            return card, Path(root)
    return None


def verify_card(card: ModelCard, root: str | os.PathLike) -> Path:
    """Return the card's weights path after checking it exists and its sha256 matches."""
    path = Path(root) / card.file
    if not path.is_file():
        raise CheckpointError(f"bundled model {card.id}: missing file {card.file}")
    actual = sha256_file(path)
    if actual != card.sha256:
        raise CheckpointError(f"bundled model {card.id}: sha256 mismatch ({actual[:12]} != {card.sha256[:12]})")
    return path
