"""The training thread: runs :func:`facesr_gui.train.loop.train` and forwards its events as signals.

One :class:`TrainingWorker` per Training tab; each :meth:`TrainingWorker.start` runs one
``train(cfg)`` generator on a fresh QThread. Pause and cancel act *between steps*: the
engine's ``should_stop`` callback blocks on a ``threading.Event`` while paused (no busy
wait) and returns True once cancelled, after which the engine writes ``state.pt`` and the
weights so the run can be resumed or registered.

Also here: the trainable-network list (:func:`trainable_nets`), known checkpoints per network
(the catalogue's), reading a run's ``state.pt`` (:func:`describe_state`) and registering
trained weights as a user model (:func:`register_model`, written to
``user_data_dir()/models/manifest.json``). The Training tab reaches them through its worker's
methods of the same names, so the UI never imports this (torch-importing) module.
"""
from __future__ import annotations

import json
import re
import shutil
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
import torch
from PySide6.QtCore import QObject, Signal

from ..atomic import atomic_path
from ..catalog import list_models
from ..checkpoints import CheckpointError, load_checkpoint, read_header
from ..manifest import ModelCard, read_manifest, sha256_file, write_manifest
from ..errors import describe
from ..nets import get_info, list_nets, paper_config
from ..paths import user_data_dir
from ..train.loop import TrainConfig, TrainEvent, train
from ..train.recipes import recipe_for
from ._thread import LoopThread

__all__ = ["TrainConfig", "TrainEvent", "TrainSummary", "TrainableNet", "TrainingWorker", "RunState",
           "default_run_dir", "degradation_choices", "degraded_samples", "describe_state", "known_checkpoints", "register_model", "sanitize_model_id",
           "trainable_nets", "training_devices", "user_models_dir"]

TrainFn = Callable[..., Iterator[TrainEvent]]


# --- catalogue ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class TrainableNet:
    """A registered network with a training recipe, as the Training tab lists it.

    ``options``: the builder's keyword arguments and their paper defaults (what a custom
    network config may set); ``tiny_cfg``: the registry's quick-test configuration.
    """

    name: str
    scale: int
    paper: str
    description: str = ""
    tiny_cfg: dict = field(default_factory=dict)
    options: dict = field(default_factory=dict)
    paper_lr: float = 1e-4
    needs_parsing: bool = False
    has_gan: bool = False


def trainable_nets() -> list[TrainableNet]:
    """Every registered network that has parameters to train (all but ``bicubic``)."""
    out = []
    for name in list_nets():
        try:
            recipe = recipe_for(name)
        except ValueError:      # e.g. bicubic: nothing to train
            continue
        info = get_info(name)
        out.append(TrainableNet(name, info.scale, info.paper, info.description, dict(info.tiny_cfg),
                                paper_config(name), recipe.lr, recipe.needs_parsing,
                                recipe.gan_weight > 0 and info.discriminator is not None))
    return out


def degradation_choices() -> list[tuple[str, str]]:
    """``(name, one-line summary)`` of every LR pipeline (:mod:`facesr_gui.train.degradations`)."""
    from ..train.degradations import DEGRADATIONS

    return [(d.name, d.summary) for d in DEGRADATIONS.values()]


def degraded_samples(folder: str | Path, net: str, degradation: str, jitter: float = 0.0, count: int = 6,
                     seed: int = 0, tile: int = 96) -> np.ndarray:
    """Preview of what a run will train on: ``(2 * tile, count * tile, 3)`` uint8 RGB, the HR faces of
    ``folder`` (top row) over the LR inputs ``degradation`` makes of them (bottom row, pixel-repeated),
    drawn as the first faces of epoch 0 of a run with ``seed``. Raises ``ValueError`` for an unusable
    folder (no faces, CelebA crop on small images)."""
    from PIL import Image

    from ..train.dataset import FaceFolder
    from ..train.face_metrics import to_uint8_hwc

    scale = get_info(net).scale
    ds = FaceFolder(folder, hr_size=128, scale=scale, augment=True, with_edges=False, degradation=degradation,
                    jitter=jitter, seed=seed, validate=False)
    tiles = []
    for i in range(min(count, len(ds))):
        item = ds[i]
        pair = []
        for key, resample in (("hr", Image.Resampling.BICUBIC), ("lr", Image.Resampling.NEAREST)):
            pair.append(np.asarray(Image.fromarray(to_uint8_hwc(item[key])).resize((tile, tile), resample)))
        tiles.append(np.vstack(pair))
    return np.hstack(tiles)


def training_devices() -> list[str]:
    return ["cuda", "cpu"] if torch.cuda.is_available() else ["cpu"]


def user_models_dir() -> Path:
    """Where registered (user-trained) models live, next to their ``manifest.json``."""
    return user_data_dir() / "models"


def default_run_dir(net: str) -> Path:
    """``user_data_dir()/runs/<net>-<YYYYmmdd-HHMMSS>`` (not created)."""
    return user_data_dir() / "runs" / f"{net}-{time.strftime('%Y%m%d-%H%M%S')}"


def known_checkpoints(net: str) -> list[tuple[str, Path]]:
    """``(label, weights path)`` of bundled and user-registered checkpoints of ``net`` (the catalogue's)."""
    return [(f"{e.id} ({e.source})", e.checkpoint) for e in list_models(checkpoints=[])
            if e.net == net and e.source in ("bundled", "user") and e.checkpoint.is_file()]


def checkpoint_config(path: str | Path) -> dict | None:
    """The network config a weights file was saved with; None without a FaceSR header or if unreadable."""
    try:
        cfg = read_header(path).get("config")
    except CheckpointError:
        return None
    return dict(cfg) if isinstance(cfg, dict) else None


@dataclass(frozen=True)
class RunState:
    """What a ``state.pt`` says about its run: network, config and how far it got."""

    path: Path
    net: str
    step: int
    total: int
    net_cfg: dict
    config: dict


def describe_state(path: str | Path) -> RunState:
    """Read a training state written by the engine; raises ``ValueError`` saying why it cannot."""
    path = Path(path)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
        config = json.loads(state["config"])
        return RunState(path, config["net"], int(state["step"]), int(config.get("steps", 0)),
                        json.loads(state.get("net_config", "{}")), config)
    except (OSError, KeyError, TypeError, ValueError, RuntimeError) as exc:
        raise ValueError(f"{path.name} is not a training state written by FaceSR Studio ({exc})") from exc


# --- registration ---------------------------------------------------------------------------------
def sanitize_model_id(text: str) -> str:
    """Letters, digits, ``.``, ``_`` and ``-`` only (the id is also the weights file name)."""
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text.strip()).strip("-.") or "model"


def register_model(checkpoint: str | Path, model_id: str, training: dict | None = None,
                   metrics: dict | None = None, notes: str = "", root: str | Path | None = None) -> ModelCard:
    """Copy ``checkpoint`` to ``<root>/<id>.safetensors`` and add/replace its card in ``<root>/manifest.json``.

    ``root`` defaults to :func:`user_models_dir`. The weights are loaded strictly first, so
    only a file that rebuilds its network is registered; ids of bundled models are refused
    (``ValueError``), bundled entries would shadow them. Returns the card written.
    """
    root = Path(root) if root is not None else user_models_dir()
    model_id = sanitize_model_id(model_id)
    if model_id in {e.id for e in list_models(checkpoints=[]) if e.source == "bundled"}:
        raise ValueError(f"{model_id!r} is the id of a bundled model; choose another id")
    net, header = load_checkpoint(checkpoint)           # raises CheckpointError if it does not fit
    dtype = next((str(t.dtype).removeprefix("torch.") for t in net.state_dict().values()
                  if t.is_floating_point()), "float32")
    target = root / f"{model_id}.safetensors"
    with atomic_path(target) as tmp:
        shutil.copyfile(checkpoint, tmp)
    card = ModelCard(id=model_id, net=header["net"], file=target.name, sha256=sha256_file(target),
                     scale=int(net.scale), config=dict(header.get("config", {})), dtype=dtype,
                     training=dict(training or {}), metrics=dict(metrics or {}), notes=notes)
    manifest = root / "manifest.json"
    cards = [c for c in read_manifest(manifest) if c.id != model_id]
    write_manifest(manifest, cards + [card])
    return card


# --- the worker -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class TrainSummary:
    """End of a run (completed or cancelled): where its files are and how far it got."""

    net: str
    out_dir: Path
    checkpoint: Path | None     # EMA weights (.safetensors), also written on cancel
    state: Path | None          # state.pt to resume from
    step: int
    total: int
    val: dict | None            # last validation metrics, e.g. {"psnr", "ssim", "bicubic_psnr"}
    cancelled: bool
    elapsed_s: float
    config: TrainConfig


class TrainingWorker(QObject):
    """Runs one training at a time on its own QThread; never touches widgets.

    Signals are emitted from the training thread (queued to GUI slots): ``progressed``
    carries :class:`TrainEvent`s, at most ``max_rate`` per second except validation,
    preview, checkpoint and final events, which are always forwarded; ``finished`` a
    :class:`TrainSummary` (also after cancel); ``errored`` a message; ``paused_changed``
    True once the run is actually parked between steps, False when it goes on.
    """

    progressed = Signal(object)     # TrainEvent
    finished = Signal(object)       # TrainSummary
    errored = Signal(str)
    paused_changed = Signal(bool)

    def __init__(self, train_fn: TrainFn = train, max_rate: float = 10.0, parent: QObject | None = None):
        super().__init__(parent)
        self._train_fn = train_fn
        self._min_interval = 1.0 / max_rate if max_rate > 0 else 0.0
        self._gate = threading.Event()       # set = may run; cleared = paused
        self._cancel = threading.Event()
        self._thread: LoopThread | None = None
        self._cfg: TrainConfig | None = None
        self._held: TrainEvent | None = None  # newest event not yet forwarded (throttled)
        self._last_emit = 0.0

    # --- what the Training tab needs (it never imports this module) -----------------------------------
    trainable_nets = staticmethod(trainable_nets)
    training_devices = staticmethod(training_devices)
    user_models_dir = staticmethod(user_models_dir)
    default_run_dir = staticmethod(default_run_dir)
    known_checkpoints = staticmethod(known_checkpoints)
    checkpoint_config = staticmethod(checkpoint_config)
    describe_state = staticmethod(describe_state)
    sanitize_model_id = staticmethod(sanitize_model_id)
    register_model = staticmethod(register_model)
    degradation_choices = staticmethod(degradation_choices)
    degraded_samples = staticmethod(degraded_samples)

    @staticmethod
    def make_config(**fields) -> TrainConfig:
        """A :class:`TrainConfig` (``net``, ``data``, ... as its fields)."""
        return TrainConfig(**fields)

    # --- control (GUI thread) ---------------------------------------------------------------------
    def start(self, cfg: TrainConfig) -> None:
        if self.is_running():
            raise RuntimeError("a training run is already in progress")
        self._cfg = cfg
        self._gate.set()
        self._cancel.clear()
        self._held, self._last_emit = None, 0.0
        if self._thread is not None:
            self._thread.deleteLater()
        self._thread = LoopThread(self._run, self)
        self._thread.start()

    def pause(self) -> None:
        """Park the run after the current step (blocks the training thread, no busy wait)."""
        self._gate.clear()

    def resume(self) -> None:
        self._gate.set()

    def cancel(self) -> None:
        """Stop after the current step; the engine then writes state.pt and the weights."""
        self._cancel.set()
        self._gate.set()

    def is_running(self) -> bool:
        return self._thread is not None and self._thread.isRunning()

    def is_paused(self) -> bool:
        return self.is_running() and not self._gate.is_set()

    def wait(self, ms: int = 5000) -> bool:
        """Wait for the run's thread to end; True if it has (or none was started)."""
        return self._thread is None or self._thread.wait(ms)

    # --- training thread ----------------------------------------------------------------------------
    def _should_stop(self) -> bool:
        if not self._gate.is_set() and not self._cancel.is_set():
            self._flush()               # show the step we stop at
            self.paused_changed.emit(True)
            self._gate.wait()
            self.paused_changed.emit(False)
        return self._cancel.is_set()

    def _forward(self, event: TrainEvent) -> None:
        important = (event.val is not None or event.preview is not None or event.checkpoint is not None
                     or event.finished)
        if important or time.monotonic() - self._last_emit >= self._min_interval:
            self._held = event
            self._flush()
        else:
            self._held = event

    def _flush(self) -> None:
        if self._held is not None:
            event, self._held = self._held, None
            self._last_emit = time.monotonic()
            self.progressed.emit(event)

    def _run(self) -> None:
        cfg = self._cfg
        t0 = time.monotonic()
        step, last_val, checkpoint = 0, None, None
        try:
            for event in self._train_fn(cfg, should_stop=self._should_stop):
                step = event.step
                last_val = event.val if event.val is not None else last_val
                checkpoint = event.checkpoint or checkpoint
                self._forward(event)
            self._flush()
        except Exception as exc:  # noqa: BLE001 - anything the engine raises goes to the UI
            self._held = None
            self.errored.emit(describe(exc))
            return
        out = Path(cfg.out)
        weights = out / f"{cfg.net}.safetensors"   # rewritten on cancel, so newer than event.checkpoint
        state = out / "state.pt"
        self.finished.emit(TrainSummary(
            cfg.net, out, weights if weights.is_file() else (Path(checkpoint) if checkpoint else None),
            state if state.is_file() else None, step, cfg.steps, last_val,
            self._cancel.is_set() and step < cfg.steps, time.monotonic() - t0, cfg))
