"""The manifest of bundled models: ``models/manifest.json`` lists the checkpoints (:class:`ModelCard`):
file, sha256, network, config, training data and terms, degradation, steps, hardware and measured
metrics. It is checked against a schema (:func:`check_manifest`) on every read, with one
:class:`~facesr_gui.checkpoints.CheckpointError` line naming the file and the bad field, and
written atomically. Which card serves which request is :mod:`facesr_gui.catalog`'s business.
"""
from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .atomic import sha256_file, write_text_atomic
from .checkpoints import CheckpointError, is_number, short_text

__all__ = ["ModelCard", "check_manifest", "read_manifest", "sha256_file", "verify_card", "write_manifest"]


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


_CARD_TYPES = {"id": str, "net": str, "file": str, "sha256": str, "scale": int, "config": dict, "dtype": str,
               "training": dict, "metrics": dict, "notes": str}
_CARD_REQUIRED = ("id", "net", "file", "sha256", "scale")


def check_manifest(data: Any, source: str) -> list[dict[str, Any]]:
    """Schema of ``manifest.json``: ``{"version": 1, "models": [card, ...]}``, each card with the
    :class:`ModelCard` fields and types, every metric named ``*psnr``/``*ssim``/``*iou``/``images`` a
    number. Returns the card dicts; raises :class:`CheckpointError` naming the first bad field."""
    if not isinstance(data, dict) or not isinstance(data.get("models", []), list):
        raise CheckpointError(f"{source}: invalid manifest: expected an object with a \"models\" list, "
                              f"got {type(data).__name__}")
    cards = data.get("models", [])
    for i, card in enumerate(cards):
        where = f"{source}: invalid manifest: models[{i}]"
        if not isinstance(card, dict):
            raise CheckpointError(f"{where} is a {type(card).__name__}, not an object")
        missing = [k for k in _CARD_REQUIRED if k not in card]
        unknown = sorted(set(card) - set(_CARD_TYPES))
        if missing or unknown:
            raise CheckpointError(f"{where}: " + "; ".join(
                ([f"missing {', '.join(missing)}"] if missing else []) + ([f"unknown {', '.join(unknown)}"] if unknown else [])))
        for key, value in card.items():
            if not isinstance(value, _CARD_TYPES[key]) or (key == "scale" and (isinstance(value, bool) or value < 1)):
                raise CheckpointError(f"{where}.{key} is {short_text(repr(value), 40)}, expected {_CARD_TYPES[key].__name__}")
        for split, values in card.get("metrics", {}).items():   # {"celeba_dev": {"psnr": ..}} or {"psnr": ..}
            for name, value in (values.items() if isinstance(values, dict) else [(None, values)]):
                key = f"{split}.{name}" if name else split
                if str(key).endswith(("psnr", "ssim", "iou", "images")) and not is_number(value):
                    raise CheckpointError(f"{where}.metrics.{key} is {short_text(repr(value), 40)}, expected a number")
    return cards


def read_manifest(path: str | os.PathLike) -> list[ModelCard]:
    """The cards of ``path`` ([] when there is no file), checked by :func:`check_manifest`."""
    path = Path(path)
    if not path.is_file():
        return []
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as exc:
        raise CheckpointError(f"{path}: invalid manifest (not JSON: {short_text(exc)})") from exc
    except OSError as exc:
        raise CheckpointError(f"{path}: cannot read the manifest ({exc.strerror or exc})") from exc
    return [ModelCard(**entry) for entry in check_manifest(data, str(path))]


def write_manifest(path: str | os.PathLike, cards: list[ModelCard]) -> None:
    data = {"version": 1, "models": [asdict(c) for c in cards]}
    write_text_atomic(path, json.dumps(data, indent=2, sort_keys=False) + "\n")


def verify_card(card: ModelCard, root: str | os.PathLike) -> Path:
    """Return the card's weights path after checking it exists and its sha256 matches."""
    path = Path(root) / card.file
    if not path.is_file():
        raise CheckpointError(f"bundled model {card.id}: missing file {card.file}")
    actual = sha256_file(path)
    if actual != card.sha256:
        raise CheckpointError(f"bundled model {card.id}: sha256 mismatch ({actual[:12]} != {card.sha256[:12]})")
    return path
