"""Checkpoints: safetensors weights carrying their own network description, plus a manifest.

A weights file written by :func:`save_checkpoint` is self-describing: the safetensors
header metadata key ``facesr`` holds JSON ``{"net": name, "config": {...}, "meta": {...}}``,
so :func:`load_checkpoint` rebuilds the exact network with ``create_net(name, **config)``
and loads the weights strictly. Nothing is ever unpickled: ``.pt``/``.pth`` state dicts
go through ``torch.load(weights_only=True)``.

``models/manifest.json`` lists the bundled checkpoints: :mod:`facesr_gui.manifest`.

Every file is checked before use, with one :class:`CheckpointError` line naming the file:
a header's network description against a schema (:func:`check_net_config`: a registered
network, known keys, JSON scalars in a sane range) and its size, estimated on PyTorch's
``meta`` device (no memory) before anything is built: over :data:`MAX_PARAMS` parameters
it is refused, so a 1.5 MB file asking for ``width: 8192`` never allocates gigabytes; a
training state (``--resume``) with
:func:`read_training_state`; weights to fine-tune from (``--init``) with :func:`read_init_weights`.
"""
from __future__ import annotations

import functools
import json
import math
import os
import re
import warnings
from pathlib import Path
from typing import Any, Mapping

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import Tensor, nn

from .atomic import atomic_path
from .nets import create_net

_META_KEY = "facesr"
_PREFIXES = ("module.", "_orig_mod.")
#: Largest network a checkpoint header or ``--net-cfg`` may describe (800 MB of float32 weights;
#: the largest paper configuration, CAGFace, has 61 M). Raise it here for a bigger network.
MAX_PARAMS = 200_000_000
_MAX_INT = 1 << 16          # no config integer is larger (widths, depths, kernel sizes)
_MAX_LIST = 16


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


def _check_file(path: Path, what: str = "checkpoint") -> None:
    if not path.exists():
        raise CheckpointError(f"{what} not found: {path}")
    if not path.is_file():
        raise CheckpointError(f"{path}: not a file")
    if path.stat().st_size == 0:
        raise CheckpointError(f"{path}: empty file (0 bytes), not a {what}")


def _config_value_ok(value: Any, default: Any) -> bool:
    """JSON scalars (or short lists of numbers) of the paper value's type, in a sane range; ints at
    most 64x their paper value."""
    if not _same_kind(value, default):
        return False
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return not isinstance(value, str) or len(value) <= 64
    if isinstance(value, int):
        bound = max(64 * abs(default), 1024) if isinstance(default, int) and not isinstance(default, bool) else _MAX_INT
        return abs(value) <= min(bound, _MAX_INT)
    if isinstance(value, float):
        return math.isfinite(value) and abs(value) <= _MAX_INT
    if isinstance(value, (list, tuple)):
        return len(value) <= _MAX_LIST and all(isinstance(v, (int, float)) and not isinstance(v, bool)
                                               and _config_value_ok(v, None) for v in value)
    return False


def is_number(value: Any) -> bool:
    """An int or float, not a bool."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _same_kind(value: Any, default: Any) -> bool:
    if default is None or value is None:
        return True
    if isinstance(default, bool):
        return isinstance(value, bool)
    if isinstance(default, (int, float)):
        return is_number(value) and (isinstance(default, float) or isinstance(value, int))
    if isinstance(default, (list, tuple)):
        return isinstance(value, (list, tuple))
    return isinstance(value, type(default))


def estimate_params(net: str, config: Mapping[str, Any]) -> int:
    """Parameters of ``create_net(net, **config)``, counted on the ``meta`` device (no memory used)."""
    return _estimate(net, json.dumps(config, sort_keys=True))


@functools.lru_cache(maxsize=64)
def _estimate(net: str, config_json: str) -> int:
    with torch.device("meta"):
        model = create_net(net, **json.loads(config_json))
    return sum(p.numel() for p in model.parameters())


def check_net_config(net: Any, config: Any, source: str) -> dict[str, Any]:
    """Check a network description (from a checkpoint header, a training state or ``--net-cfg``)
    against the schema and :data:`MAX_PARAMS` before anything is built; return the config.

    Raises :class:`CheckpointError` naming ``source`` and what is wrong."""
    from .nets import list_nets, paper_config

    if not isinstance(net, str) or net not in list_nets():
        raise CheckpointError(f"{source}: unknown network {net!r} (known: {', '.join(list_nets())})")
    if config is None:
        config = {}
    if not isinstance(config, dict) or not all(isinstance(k, str) for k in config):
        raise CheckpointError(f"{source}: the network config must be a JSON object, got {type(config).__name__}")
    defaults = paper_config(net)
    for key, value in config.items():
        if key != "scale" and defaults and key not in defaults:
            raise CheckpointError(f"{source}: {net} has no setting {key!r} (it has {', '.join(sorted(defaults))})")
        if not _config_value_ok(value, defaults.get(key)):
            raise CheckpointError(f"{source}: {net} setting {key}={short_text(value)} is out of range or of the wrong type")
    try:
        n = estimate_params(net, config)
    except Exception as exc:  # noqa: BLE001 - any builder complaint is a bad config
        raise CheckpointError(f"{source}: cannot build {net} with {short_text(config)}: {type(exc).__name__}: "
                              f"{short_text(exc)}") from exc
    if n > MAX_PARAMS:
        raise CheckpointError(f"{source}: {net} with {short_text(config)} would have {n / 1e6:,.0f} M parameters "
                              f"({n * 4 / 1e9:.1f} GB), over the {MAX_PARAMS / 1e6:.0f} M limit "
                              "(checkpoints.MAX_PARAMS); refusing to build it")
    return dict(config)


def short_text(value: Any, limit: int = 120) -> str:
    """``value`` as one line of at most ``limit`` characters (for error messages)."""
    text = " ".join(str(value).split())
    return text if len(text) <= limit else text[:limit - 3] + "..."


def check_header(header: Any, source: str) -> dict[str, Any]:
    """Schema of the ``facesr`` header: ``{"net": str, "config": {...}, "meta": {...}}``
    (``config`` checked by :func:`check_net_config`); returns the header."""
    if not isinstance(header, dict):
        raise CheckpointError(f"{source}: the FaceSR header must be a JSON object, got {type(header).__name__}")
    if "meta" in header and not isinstance(header["meta"], dict):
        raise CheckpointError(f"{source}: header 'meta' must be a JSON object")
    if "net" in header:
        header = {**header, "config": check_net_config(header["net"], header.get("config"), source)}
    return header


def read_state(path: str | os.PathLike) -> tuple[dict[str, Tensor], dict[str, Any]]:
    """Read a state dict and its ``facesr`` header (empty for plain files). Never unpickles."""
    path = Path(path)
    _check_file(path)
    if path.suffix in (".pt", ".pth"):
        try:
            obj = _torch_load(path)
        except Exception as exc:  # noqa: BLE001 - corrupt file or pickled code objects
            raise CheckpointError(f"cannot read {path.name}: {_unpickle_problem(exc)}") from exc
        if isinstance(obj, dict) and "state_dict" in obj:
            obj = obj["state_dict"]
        if not isinstance(obj, dict) or not all(isinstance(v, Tensor) for v in obj.values()):
            raise CheckpointError(f"{path.name} does not hold a state dict of tensors")
        return dict(obj), {}
    header = read_header(path)   # checked before the tensors are read
    return _load_tensors(path), header


def _load_tensors(path: Path) -> dict[str, Tensor]:
    try:
        return load_file(str(path), device="cpu")
    except (SafetensorError, OSError, ValueError) as exc:
        raise CheckpointError(f"cannot read {path.name}: not a valid safetensors file ({exc})") from exc


def read_header(path: str | os.PathLike) -> dict[str, Any]:
    """The ``facesr`` header of a safetensors checkpoint without reading its tensors ({} if it has
    none, and for ``.pt``/``.pth`` state dicts), checked by :func:`check_header`."""
    path = Path(path)
    if path.suffix in (".pt", ".pth"):
        return {}
    _check_file(path)
    try:
        from safetensors import safe_open

        with safe_open(str(path), framework="pt") as fh:
            raw = (fh.metadata() or {}).get(_META_KEY)
    except (SafetensorError, OSError, ValueError) as exc:
        raise CheckpointError(f"cannot read {path.name}: not a valid safetensors file ({exc})") from exc
    try:
        header = json.loads(raw) if raw else {}
    except (json.JSONDecodeError, RecursionError) as exc:
        raise CheckpointError(f"{path.name}: corrupt metadata header ({short_text(exc)})") from exc
    return check_header(header, path.name)


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
    path = Path(path)
    header = read_header(path)   # checked (schema, size) before the tensors are read
    if "net" not in header:
        raise CheckpointError(f"{path.name} has no FaceSR header; load it with load_state_strict "
                              "into a network you build yourself")
    state = _load_tensors(path)
    try:
        net = create_net(header["net"], **header.get("config", {}))
    except (KeyError, TypeError, ValueError) as exc:
        raise CheckpointError(f"{Path(path).name}: cannot build network {header['net']!r}: {exc}") from exc
    load_state_strict(net, state, source=Path(path).name)
    return net.to(device).eval(), header


_STATE_KEYS = ("step", "config", "net_config", "net", "ema", "opt")


def _is_safetensors(path: Path) -> bool:
    """A safetensors file starts with its header length (8 bytes, little endian) and a JSON object."""
    with open(path, "rb") as fh:
        head = fh.read(9)
    return len(head) == 9 and head[8:9] == b"{" and 2 <= int.from_bytes(head[:8], "little") <= path.stat().st_size


def _torch_load(path: Path) -> Any:
    """``torch.load`` that never unpickles code (``weights_only``) and keeps its warnings quiet."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return torch.load(path, map_location="cpu", weights_only=True)


def _unpickle_problem(exc: BaseException) -> str:
    """torch.load's several-paragraph refusal, in a few words."""
    text = str(exc)
    match = re.search(r"WeightsUnpickler error:\s*([^\n]*)", text)
    if match and "GLOBAL" in match.group(1):
        return f"it holds pickled Python objects, refused unopened: {short_text(match.group(1), 80)}"
    if match:
        return f"not a PyTorch tensor file: {short_text(match.group(1), 80)}"
    return short_text(text, 100) or type(exc).__name__


def read_training_state(path: str | os.PathLike, net: str, net_cfg: Mapping[str, Any] | None = None
                        ) -> tuple[dict[str, Any], dict[str, Any]]:
    """Read a training state written by ``facesr train`` (``state.pt``) to resume network ``net``.

    Checks, before anything is built, that the file is such a state (not weights, not another
    pickle: loaded with ``weights_only=True``), of network ``net``, that an explicit ``net_cfg``
    does not contradict the state's config (a resumed run keeps its layout: never silently
    overridden) and that this config passes :func:`check_net_config`.
    Returns ``(state, the state's network config)``; raises :class:`CheckpointError` naming the file."""
    path = Path(path)
    _check_file(path, "training state")
    if _is_safetensors(path):
        raise CheckpointError(f"{path}: a weights file (safetensors), not a training state; to fine-tune from "
                              f"weights use --init {path}")
    try:
        obj = _torch_load(path)
    except Exception as exc:  # noqa: BLE001 - random bytes, pickled code, a truncated file ...
        raise CheckpointError(f"{path}: not a training state written by facesr train "
                              f"({_unpickle_problem(exc)})") from exc
    if not isinstance(obj, dict) or any(k not in obj for k in _STATE_KEYS):
        bare = isinstance(obj, dict) and obj and all(isinstance(v, Tensor) for v in obj.values())
        raise CheckpointError(f"{path}: " + ("bare weights (a state dict), not a training state; use --init to "
                                             "fine-tune from weights" if bare else
                                             "not a training state written by facesr train (no step, network "
                                             "and optimiser)"))
    try:
        run = json.loads(obj["config"])
        saved = json.loads(obj["net_config"])
        int(obj["step"])
    except (TypeError, ValueError) as exc:
        raise CheckpointError(f"{path}: corrupt training state ({short_text(exc)})") from exc
    theirs = run.get("net") if isinstance(run, dict) else None
    if theirs != net:
        raise CheckpointError(f"{path}: a training state of {theirs!r}, not {net!r}; resume it with --model {theirs}")
    if not isinstance(saved, dict):
        raise CheckpointError(f"{path}: corrupt training state (network config is not an object)")
    clash = {k: v for k, v in (net_cfg or {}).items() if saved.get(k, v) != v}
    if clash:
        raise CheckpointError(f"{path}: the state was trained with {({k: saved[k] for k in clash})}, not {clash}; "
                              "a resumed run keeps its network layout (drop --net-cfg or match it)")
    return obj, check_net_config(net, saved, str(path))


def read_init_weights(path: str | os.PathLike, net: str) -> tuple[dict[str, Tensor], dict[str, Any]]:
    """:func:`read_state` for fine-tuning network ``net`` (``--init``): refuses, naming the file,
    weights whose header names another network, and training states (use ``--resume``)."""
    from .nets import get_info

    path = Path(path)
    if path.suffix in (".pt", ".pth") and path.is_file() and not _is_safetensors(path):
        try:
            obj = _torch_load(path)
        except Exception:  # noqa: BLE001 - read_state below says why
            obj = None
        if isinstance(obj, dict) and all(k in obj for k in _STATE_KEYS):
            raise CheckpointError(f"{path}: a training state, not weights; continue a run with --resume {path}")
    state, header = read_state(path)
    theirs = header.get("net")
    if theirs and theirs != net and get_info(theirs).builder is not get_info(net).builder:
        raise CheckpointError(f"{path}: holds {theirs} weights, not {net}; --init needs weights of the network "
                              f"being trained (--model {theirs})")
    return state, header
