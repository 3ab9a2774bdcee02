"""The one model catalogue: which models exist, what each takes and gives, and how to load one.

Every front-end (GUI workers, ``facesr enhance``/``eval``, the Training tab, the self-test)
finds models here:

* :func:`list_models`: bundled models (``models/manifest.json``), then models registered
  from the Training tab (``<user data dir>/models/manifest.json``), then checkpoint files
  named in ``FACESR_CHECKPOINTS``, then ``bicubic`` and every other registered net
  (untrained). The first entry of an id wins.
* :func:`resolve`: a model id, a network name (its best checkpoint: the first card of that
  net), a checkpoint file, or ``bicubic`` -> one :class:`ModelEntry`.
* :func:`default_model`: the manifest's first model, else ``bicubic``.
* :func:`load_net` / :func:`load_restorer`: the network (sha256 checked, strict load) or a
  :class:`~facesr_gui.pipeline.restore.FaceRestorer` around it.

Sizes: a net takes ``(lr_size, lr_size)`` aligned face crops and returns ``sr_size = lr_size
* scale`` px crops (16 -> 128 for the x8 nets); the LR side comes from the registry
(:func:`facesr_gui.nets.lr_side`) and the checkpoint's own config.
"""
from __future__ import annotations

import os
import warnings
from dataclasses import dataclass, field, replace
from pathlib import Path

import torch
from torch import nn

from .checkpoints import CheckpointError, load_checkpoint, read_header
from .manifest import ModelCard, read_manifest, sha256_file
from .nets import create_net, get_info, list_nets, lr_side
from .pipeline.provenance import ModelFacts
from .paths import models_dir, user_data_dir

CHECKPOINTS_ENV = "FACESR_CHECKPOINTS"
CHECKPOINT_SUFFIXES = (".safetensors", ".pt", ".pth")
SOURCES = ("bundled", "user", "file", "net")


class ModelUnavailable(RuntimeError):
    """The chosen model cannot be loaded (message is shown to the user as is)."""


#: what the picker says a model was trained for, per degradation pipeline (train/degradations.py)
DEGRADATION_LABELS = {"bicubic": "clean inputs", "realistic": "real camera", "surveillance": "CCTV / video"}


@dataclass(frozen=True)
class ModelEntry:
    """One model: network ``net`` at ``scale``, taking ``lr_size`` px face crops and giving
    ``sr_size`` px ones (0: worked out from the registry), trained on LR faces made by
    ``degradation`` (``"bicubic"``, ``"realistic"``...: the card's ``training.degradation``).

    ``card``: the manifest card (bundled and user models) or one built from a checkpoint's
    header (files); None for a bare registered net. ``source``: one of :data:`SOURCES`.
    """

    id: str
    net: str
    scale: int
    lr_size: int = 0
    sr_size: int = 0
    degradation: str = "bicubic"
    card: ModelCard | None = field(default=None, hash=False)
    checkpoint: Path | None = None
    source: str = "net"
    title: str = ""

    def __post_init__(self) -> None:
        config = self.card.config if self.card is not None else {}
        if not self.lr_size:
            object.__setattr__(self, "lr_size", lr_side(self.net, config, self.scale))
        if not self.sr_size:
            object.__setattr__(self, "sr_size", self.lr_size * self.scale)

    @property
    def available(self) -> bool:
        return self.checkpoint is not None or self.net == "bicubic"

    @property
    def name(self) -> str:
        """Short display name (the id, or the title of a checkpoint file)."""
        return self.title or self.id

    @property
    def label(self) -> str:
        """Short picker text: name, scale and, for trained models, the inputs they were trained for,
        e.g. ``"eipnet_w128_real (x8, real camera)"``, ``"jeanet (x8) - untrained"``; the paper goes in
        the tooltip."""
        inputs = DEGRADATION_LABELS.get(self.degradation, self.degradation)
        text = f"{self.name} (x{self.scale}, {inputs})" if self.checkpoint is not None else f"{self.name} (x{self.scale})"
        return text if self.available else f"{text} - untrained"

    @property
    def paper(self) -> str:
        return get_info(self.net).paper if self.net in list_nets() else ""

    @property
    def description(self) -> str:
        if self.card is not None and self.card.notes:
            return self.card.notes
        return get_info(self.net).description if self.net in list_nets() else ""

    @property
    def metrics(self) -> dict:
        return dict(self.card.metrics) if self.card is not None else {}

    @property
    def sha256(self) -> str:
        return self.card.sha256 if self.card is not None and self.source != "file" else ""

    def facts(self) -> ModelFacts:
        """What a provenance record says of this model (:mod:`facesr_gui.pipeline.provenance`): a
        checkpoint file is named ``net:file name`` (its id is its path, which may be private)."""
        trained = self.card is not None
        return ModelFacts(
            id=f"{self.net}:{self.checkpoint.name}" if self.source == "file" and self.checkpoint else self.id,
            net=self.net, scale=self.scale, lr_size=self.lr_size, checkpoint=self.checkpoint,
            checkpoint_sha256=self.sha256 or None, config=dict(self.card.config) if trained else None,
            degradation=self.degradation if trained else None,
            note=None if trained else f"{self.net}: no checkpoint, no learned weights")

    def tooltip(self) -> str:
        """Paper, where the weights come from and the PSNR/SSIM measured for them."""
        lines = [self.paper] if self.paper else []
        if self.source == "user":
            lines.append("fine-tuned in the Training tab")
        elif self.source == "file":
            lines.append(f"checkpoint {self.checkpoint}")
        if self.degradation != "bicubic":
            lines.append(f"trained on {self.degradation} degradations")
        for data, m in self.metrics.items():
            if isinstance(m, dict) and "psnr" in m:
                text = f"measured on {data}: PSNR {m['psnr']:.2f} dB"
                text += f", SSIM {m['ssim']:.4f}" if "ssim" in m else ""
                text += f" (bicubic {m['bicubic_psnr']:.2f} dB)" if "bicubic_psnr" in m else ""
                lines.append(text)
        if not self.available:
            lines.append(f"no trained weights for {self.id}")
        return "\n".join(lines)


def _entry(card: ModelCard, checkpoint: Path, source: str, title: str = "") -> ModelEntry:
    return ModelEntry(card.id, card.net, int(card.scale), degradation=str(card.training.get("degradation") or "bicubic"),
                      card=card, checkpoint=checkpoint, source=source, title=title)


def _card_entries(manifest: Path, source: str, strict: bool = False) -> list[ModelEntry]:
    try:
        cards = read_manifest(manifest)
    except CheckpointError as exc:
        if strict:
            raise
        warnings.warn(str(exc), stacklevel=3)
        return []
    return [_entry(c, manifest.parent / c.file, source) for c in cards if c.net in list_nets()]


def file_entry(path: str | os.PathLike) -> ModelEntry:
    """The entry of a checkpoint file (its header names the net); raises :class:`CheckpointError`."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}")
    header = read_header(path)
    net = header.get("net")
    if net not in list_nets():
        reason = "it has no FaceSR header" if net is None else f"unknown network {net!r}"
        raise CheckpointError(f"{path.name}: {reason}")
    meta = header.get("meta") or {}
    val = meta.get("val") or {}
    config = dict(header.get("config") or {})
    card = ModelCard(id=str(path), net=net, file=path.name, sha256="",
                     scale=int(config.get("scale") or get_info(net).scale), config=config,
                     training={k: meta[k] for k in ("degradation", "steps", "data") if k in meta},
                     metrics={"validation (training log)": val} if "psnr" in val else {})
    return _entry(card, path, "file", title=f"{net} ({path.parent.name})")


def _file_entries(paths: list[str]) -> list[ModelEntry]:
    entries = []
    for text in paths:
        try:
            entries.append(file_entry(text))
        except (CheckpointError, OSError) as exc:   # a bad file on the command line is reported, not fatal
            warnings.warn(f"ignoring checkpoint {text}: {exc}", stacklevel=3)
    return entries


def net_entry(name: str, scale: int | None = None) -> ModelEntry:
    """A registered net without weights (``bicubic`` needs none), at ``scale`` (default its own)."""
    return ModelEntry(name, name, int(scale or get_info(name).scale))


def list_models(manifest: str | Path | None = None, user_manifest: str | Path | None = None,
                checkpoints: list[str] | None = None, strict: bool = False) -> list[ModelEntry]:
    """Every model, in picker order (see the module docstring). ``checkpoints`` default: the
    ``FACESR_CHECKPOINTS`` environment variable, ``os.pathsep``-separated. A broken manifest is
    a warning (the GUI stays usable) or, with ``strict`` (the CLI), a :class:`CheckpointError`."""
    manifest = Path(manifest) if manifest is not None else models_dir() / "manifest.json"
    user_manifest = Path(user_manifest) if user_manifest is not None else user_data_dir() / "models" / "manifest.json"
    if checkpoints is None:
        checkpoints = [p for p in os.environ.get(CHECKPOINTS_ENV, "").split(os.pathsep) if p]
    entries = (_card_entries(manifest, "bundled", strict) + _card_entries(user_manifest, "user", strict)
               + _file_entries(checkpoints))
    with_weights = {e.net for e in entries}
    for name in ["bicubic"] + [n for n in list_nets() if n != "bicubic"]:
        if name == "bicubic" or name not in with_weights:
            entries.append(net_entry(name))
    unique: dict[str, ModelEntry] = {}
    for e in entries:
        unique.setdefault(e.id, e)
    return list(unique.values())


def resolve(spec: str, scale: int | None = None, entries: list[ModelEntry] | None = None) -> ModelEntry:
    """The entry ``spec`` names: a checkpoint file, a model id, or a network name (its first
    checkpoint in :func:`list_models` order, else the untrained net, which :func:`load_net`
    refuses). ``scale``: the factor wanted (``bicubic`` adapts; any other model must have it).
    Raises ``ValueError`` for a name nothing matches, :class:`CheckpointError` for a broken manifest."""
    path = Path(spec)
    if path.suffix in CHECKPOINT_SUFFIXES or path.is_file():
        entry = file_entry(path)
    else:
        entries = list_models(strict=True) if entries is None else entries
        entry = next((e for e in entries if e.id == spec), None) or next(
            (e for e in entries if e.net == spec and e.available and scale in (None, e.scale)), None) or next(
            (e for e in entries if e.net == spec), None)
        if entry is None:
            ids = ", ".join(e.id for e in entries if e.source != "net")
            raise ValueError(f"no bundled or registered model {spec!r}: it is neither a checkpoint file, a network "
                             f"({', '.join(list_nets())}) nor a model id ({ids or 'none'}); run `facesr models`")
    if scale is not None and entry.scale != scale:
        if entry.net == "bicubic":
            return net_entry("bicubic", scale)
        raise ValueError(f"{spec} is a x{entry.scale} model, not x{scale}")
    return entry


def default_model(manifest: str | Path | None = None) -> ModelEntry:
    """The manifest's first model (the best bundled one), else ``bicubic``."""
    manifest = Path(manifest) if manifest is not None else models_dir() / "manifest.json"
    bundled = _card_entries(manifest, "bundled")
    return bundled[0] if bundled else net_entry("bicubic")


def load_net(entry: ModelEntry, device: str | torch.device = "cpu") -> nn.Module:
    """``entry``'s network in eval mode on ``device`` (sha256 checked when the card has one);
    raises :class:`ModelUnavailable` saying why it cannot."""
    if entry.checkpoint is not None:
        try:
            if not entry.checkpoint.is_file():
                raise CheckpointError(f"missing file {entry.checkpoint}")
            actual = sha256_file(entry.checkpoint) if entry.sha256 else ""
            if actual != entry.sha256:
                raise CheckpointError(f"{entry.checkpoint.name}: sha256 mismatch with its card "
                                      f"({actual[:12]} != {entry.sha256[:12]})")
            net, _header = load_checkpoint(entry.checkpoint, device)
        except (CheckpointError, OSError) as exc:
            raise ModelUnavailable(f"cannot load {entry.id}: {exc}") from exc
        return net
    if entry.net == "bicubic":
        return create_net("bicubic", scale=entry.scale).to(device).eval()
    raise ModelUnavailable(f"no trained weights for {entry.id} (no bundled checkpoint): train it in the Training "
                           "tab, or pass a checkpoint file")


def load_restorer(model: str | ModelEntry, device: str | torch.device = "cpu", half: bool = False, **kwargs):
    """A :class:`~facesr_gui.pipeline.restore.FaceRestorer` for ``model`` (a :func:`resolve`
    spec or an entry); ``kwargs`` go to the restorer (``mask``, ``detector``, ``bf16``...)."""
    from .pipeline.restore import FaceRestorer

    entry = resolve(model) if isinstance(model, str) else model
    net = load_net(entry, "cpu")
    return FaceRestorer(net, device=device, half=half, net_name=entry.id, lr_size=entry.lr_size, model=entry.facts(),
                        **kwargs)


@dataclass(frozen=True)
class RestorerSpec:
    """The options that build a restorer (:func:`load_restorer`): ``facesr enhance`` builds its own from
    them, and each Ray task the same one (:mod:`facesr_gui.cluster`; the spec travels to the workers).
    ``device``: ``"auto"`` takes a GPU where there is one (a Ray task: where it got one)."""

    entry: ModelEntry
    device: str = "auto"
    half: bool = False
    mask: str = "ellipse"
    bf16: bool | None = None
    flip_ensemble: bool = False
    min_face: int | None = None
    backend: str = "auto"    # what runs the networks on the CPU (pipeline/accel.py)

    def build(self, checkpoint: Path | None = None):
        """The restorer; ``checkpoint``: the entry's weights from another file (a worker's local copy)."""
        device = self.device
        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        entry = self.entry if checkpoint is None else replace(self.entry, checkpoint=checkpoint)
        kwargs = {"mask": self.mask, "bf16": self.bf16, "flip_ensemble": self.flip_ensemble, "backend": self.backend}
        if self.min_face is not None:
            from .pipeline.detect import FaceDetector

            kwargs["detector"] = FaceDetector(device=device, min_face_size=self.min_face, backend=self.backend)
        return load_restorer(entry, device=device, half=self.half, **kwargs)
