"""One training loop for every network, driven by its paper recipe; yields :class:`TrainEvent`s.

``train(cfg)`` is a generator: the CLI prints its events, the GUI's worker forwards them as
signals, and stopping iteration (``gen.close()``) or ``should_stop()`` returning True ends
the run between steps after writing the training state. Everything is resumable: the state
file ``<out>/state.pt`` (plain tensors and numbers, loaded with ``weights_only=True``) holds
the network, EMA, optimiser(s) and step; the data order is a pure function of
``(seed, step)``, so a resumed run continues exactly where the first one stopped.

Multi-GPU: launch with ``torchrun --nproc-per-node N -m facesr_gui.cli train ...``; each rank
takes its slice of every global batch and gradients are averaged by DDP.
"""
from __future__ import annotations

import copy
import json
import math
import os
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
import torch
import torch.distributed as dist
from torch import Tensor, nn
from torch.utils.data import DataLoader

from ..atomic import atomic_path
from ..checkpoints import (check_net_config, load_checkpoint, load_state_strict, read_init_weights, read_training_state,
                           save_checkpoint)
from ..metrics import psnr, ssim
from ..nets import create_discriminator, create_net, get_info, net_lr_side
from ..nets import ensemble
from ..nets.outputs import SROutput
from ..precision import use_bf16
from . import losses as L
from .average import normalised_shares
from .cache import PreloadedFaces
from .dataset import FaceFolder
from .degrade import upscale_bicubic
from .recipes import Recipe, recipe_for, with_weights
from .sampling import BatchNumbers, SampleStream


@dataclass
class TrainConfig:
    net: str
    data: str
    val: str | None = None
    steps: int = 1000
    batch_size: int = 16
    lr: float | None = None                 # None: the recipe's (paper) learning rate
    out: str = "runs"
    resume: str | None = None               # state.pt of an earlier run
    init: str | None = None                 # weights (.safetensors) to fine-tune from
    device: str = "cpu"
    val_every: int = 200
    val_limit: int = 64
    preview_count: int = 4
    net_cfg: dict = field(default_factory=dict)
    hr_size: int | None = None              # default: net LR size * scale (128 for x8 nets)
    crop: str = "celeba"
    parsing_dir: str | None = None
    seed: int = 0
    workers: int = 0
    ema_decay: float = 0.999
    amp: bool = True                        # bf16 autocast on CUDA, and on CPUs with native bf16 (see use_bf16)
    channels_last: bool = True              # NHWC tensors: ~1.4x faster convolutions on CPU (oneDNN)
    save_every: int = 500
    gan: bool = True                        # False: skip the recipe's GAN phase (PSNR-oriented run)
    gan_weight: float | None = None         # adversarial weight; None: the recipe's (papers' or SRGAN's 1e-3)
    schedule: str = "constant"              # "constant" or "cosine" (warm-up, then cosine decay to 1% of lr)
    warmup: int = 0                         # linear warm-up steps of the cosine schedule
    time_budget_s: float | None = None      # fit the run into this many seconds (see fit_steps)
    preload: bool = False                   # decode every training face once and keep it in memory (cache.py)
    rotate: bool = False                    # quarter-turn augmentation (EIPNet 4.2, JEANet); off: the
                                            # nets only ever see upright aligned faces (see README)
    degradation: str = "bicubic"            # LR pipeline (train/degradations.py); validation uses it too
    jitter: float = 0.0                     # framing jitter (dataset.py): zoom and shift up to this share
    clean_share: float = 0.0                # extra share of clean bicubic LR faces in training (dataset.py)
    loss_weights: dict = field(default_factory=dict)   # {term: weight} overriding the recipe's (0 drops a term)
    teachers: tuple = ()                    # checkpoints whose mean output the net also learns (distillation)
    teacher_weights: tuple = ()             # their shares of that mean (default equal; scaled to sum to 1)
    teacher_flip: bool = False              # each teacher's output is its flip ensemble (nets/ensemble.py)
    distill_weight: float = 1.0             # the distillation term's weight, times the recipe's first term's


@dataclass
class TrainEvent:
    """Progress of a training run, emitted after every step.

    ``losses``: float per term plus ``total``; ``val``: ``{"psnr", "ssim", ...}`` on
    validation steps (EMA weights, Y channel), else None; ``preview``: uint8 ``(H, W, 3)`` RGB
    grid of LR (nearest) | SR | HR rows on validation steps; ``checkpoint``: path of the
    weights file written at this step, if any.
    """

    step: int
    total: int
    losses: dict[str, float]
    lr: float
    elapsed_s: float
    eta_s: float
    phase: str = "pixel"
    val: dict[str, float] | None = None
    preview: np.ndarray | None = None
    checkpoint: str | None = None
    skipped_terms: tuple[str, ...] = ()
    finished: bool = False


def _to(batch: dict, device: torch.device) -> dict:
    out = {}
    for k, v in batch.items():
        if isinstance(v, Tensor):
            out[k] = v.to(device, non_blocking=True)
        elif isinstance(v, dict):
            out[k] = {kk: vv.to(device, non_blocking=True) for kk, vv in v.items()}
        else:
            out[k] = v
    return out


def _ema_update(ema: nn.Module, net: nn.Module, decay: float) -> None:
    with torch.no_grad():
        for e, p in zip(ema.parameters(), net.parameters()):
            e.lerp_(p.detach(), 1.0 - decay)
        for e, b in zip(ema.buffers(), net.buffers()):
            e.copy_(b)


def _compute_terms(recipe: Recipe, out: SROutput, batch: dict) -> tuple[dict[str, Tensor], list[str]]:
    terms, skipped = {}, []
    for name, fn in recipe.terms.items():
        value = fn(out, batch)
        if value is None:
            skipped.append(name)
        else:
            terms[name] = value
    return terms, skipped


@torch.no_grad()
def validate(net: nn.Module, loader_items: list[dict], device: torch.device, preview_count: int = 4
             ) -> tuple[dict[str, float], np.ndarray | None]:
    """Mean Y-PSNR/SSIM of ``net`` (eval mode) and bicubic on pre-loaded validation items."""
    net.eval()
    p, s, pb = [], [], []
    rows = []
    for i in range(0, len(loader_items), 16):
        chunk = loader_items[i:i + 16]
        hr = torch.stack([c["hr"] for c in chunk]).to(device)
        lr = torch.stack([c["lr"] for c in chunk]).to(device)
        sr = net(lr).clamped().float()
        p.append(psnr(sr, hr).cpu())
        s.append(ssim(sr, hr).cpu())
        pb.append(psnr(upscale_bicubic(lr, hr.shape[-1] // lr.shape[-1]).clamp(0, 1), hr).cpu())
        if len(rows) < preview_count:
            for j in range(min(preview_count - len(rows), len(chunk))):
                lr_up = torch.nn.functional.interpolate(lr[j:j + 1], size=hr.shape[-2:], mode="nearest")[0]
                rows.append(torch.cat([lr_up, sr[j], hr[j]], dim=2))
    metrics = {"psnr": float(torch.cat(p).mean()), "ssim": float(torch.cat(s).mean()),
               "bicubic_psnr": float(torch.cat(pb).mean())}
    preview = None
    if rows:
        grid = torch.cat(rows, dim=1).clamp(0, 1).mul(255).round().byte().permute(1, 2, 0).cpu().numpy()
        preview = np.ascontiguousarray(grid)
    return metrics, preview


def _save_state(path: Path, step: int, cfg: TrainConfig, net, ema, opt, disc, d_opt) -> None:
    state = {"step": step, "config": json.dumps(asdict(cfg)), "net_config": json.dumps(_unwrap(net).config),
             "net": _unwrap(net).state_dict(), "ema": ema.state_dict(), "opt": opt.state_dict()}
    if disc is not None:
        state["disc"] = _unwrap(disc).state_dict()
        state["d_opt"] = d_opt.state_dict()
    with atomic_path(path) as tmp:
        torch.save(state, tmp)


def lr_factor(step: int, total: int, schedule: str = "constant", warmup: int = 0) -> float:
    """Multiplier of the base learning rate at ``step`` (0-based): a pure function of the step,
    so a resumed run follows the same schedule exactly."""
    if schedule == "constant":
        return 1.0
    if schedule != "cosine":
        raise ValueError(f"schedule must be 'constant' or 'cosine', got {schedule!r}")
    if step < warmup:
        return (step + 1) / warmup
    t = min(1.0, (step - warmup) / max(1, total - warmup))
    return 0.01 + 0.99 * 0.5 * (1.0 + math.cos(math.pi * t))


def fit_steps(step: int, total: int, pace_s: float, left_s: float, margin: float = 0.92) -> int:
    """The run's new length once its pace is known: the steps ``margin * left_s`` seconds hold at
    ``pace_s`` per step after ``step``, never more than ``total`` nor fewer than ``step``.

    With ``time_budget_s`` the loop measures its pace over the first ``max(warmup, 12)`` steps, whose
    learning rate does not depend on the length yet, then fixes the length once; the state records it,
    so the schedule stays a pure function of the step and a resumed run follows it exactly."""
    return max(step, min(total, step + int(margin * max(left_s, 0.0) / max(pace_s, 1e-9))))


def _unwrap(m: nn.Module) -> nn.Module:
    return m.module if hasattr(m, "module") else m


def _dist_info() -> tuple[int, int, bool]:
    """``(rank, world size, whether this call started the process group)``."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    started = world > 1 and not dist.is_initialized()
    if started:
        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    return (dist.get_rank(), world, started) if world > 1 else (0, 1, False)


def _init_config(cfg: TrainConfig, header: dict) -> dict:
    """Fine-tuning keeps the architecture of the weights: their header's config, which an explicit
    ``net_cfg`` may restate but not contradict (an empty one means "whatever the weights are")."""
    saved = header.get("config")
    if not saved:
        return dict(cfg.net_cfg)
    clash = {k: v for k, v in cfg.net_cfg.items() if saved.get(k, v) != v}
    if clash:
        theirs = {k: saved[k] for k in clash}
        raise ValueError(f"{Path(cfg.init).name} was trained with {theirs}, not {clash}: fine-tuning keeps the "
                         "network's layout (leave the config empty to use the checkpoint's)")
    return dict(saved)


class SetupStopped(Exception):
    """``should_stop()`` said stop while the run was being set up (before its first step)."""


class Trainer:
    """One training run in named steps, like BasicSR's model classes: :meth:`setup` builds the
    nets, data, optimisers and resume state; :meth:`step` optimises on one batch and returns its
    :class:`TrainEvent`; :meth:`validate` measures the EMA weights; :meth:`save` writes the
    resumable state and the weights; :meth:`close` saves what a stopped run learned and ends a
    process group it started. :func:`train` drives them."""

    def __init__(self, cfg: TrainConfig) -> None:
        self.cfg = cfg

    # --- setup ----------------------------------------------------------------------------------
    def setup(self, should_stop: Callable[[], bool] | None = None) -> None:
        """``should_stop`` is also asked while the training faces are decoded (``--preload``: a minute
        or more); when it says stop, :class:`SetupStopped` is raised before anything is written."""
        cfg = self.cfg
        self._setup_should_stop = should_stop
        self.rank, self.world, self.own_group = _dist_info()
        self.device = torch.device(cfg.device if cfg.device != "cuda" or self.world == 1
                                   else f"cuda:{int(os.environ.get('LOCAL_RANK', 0))}")
        self.info, self.recipe = get_info(cfg.net), with_weights(recipe_for(cfg.net), cfg.loss_weights)
        self.out_dir = Path(cfg.out)
        if not cfg.resume:   # a fresh run never overwrites an earlier run's state or weights
            earlier = [p.name for p in (self.out_dir / "state.pt", self.out_dir / f"{cfg.net}.safetensors")
                       if os.path.lexists(p)]
            if earlier:
                raise ValueError(f"{self.out_dir} already holds a training run ({', '.join(earlier)}): continue it "
                                 f"with --resume {self.out_dir / 'state.pt'}, or choose another --out")
        self.out_dir.mkdir(parents=True, exist_ok=True)
        torch.manual_seed(cfg.seed)
        net_cfg = check_net_config(cfg.net, cfg.net_cfg, "--net-cfg")   # schema and size, before any build
        resume_state, fitted = None, False
        if cfg.resume:   # a state of this network whose layout --net-cfg does not contradict
            resume_state, net_cfg = read_training_state(cfg.resume, cfg.net, cfg.net_cfg)
            saved = json.loads(resume_state["config"])
            fitted = bool(saved.get("time_budget_s"))
            if fitted:   # a time-budgeted run goes on with the length it was fitted to
                cfg = self.cfg = replace(cfg, steps=int(saved["steps"]), time_budget_s=saved["time_budget_s"])
        self._build_net(net_cfg)
        self._build_teachers()
        self._build_data()
        self._build_optimisers()
        self.start = self._resume(resume_state)
        if self.world > 1:
            ids = [self.device.index] if self.device.type == "cuda" else None
            self.net = nn.parallel.DistributedDataParallel(self.net, device_ids=ids)
            if self.disc is not None:
                self.disc = nn.parallel.DistributedDataParallel(self.disc, device_ids=ids)
        self.loader = DataLoader(SampleStream(self.train_ds, cfg.seed),
                                 batch_sampler=BatchNumbers(self.start, cfg.steps, cfg.batch_size, self.rank, self.world),
                                 num_workers=cfg.workers, pin_memory=self.device.type == "cuda", persistent_workers=False)
        self.terms_sum = L.LossTerms(dict(self.recipe.weights, adv=self.recipe.gan_weight, **self.distill_weights))
        self.use_amp = use_bf16(cfg.amp, self.device)
        self.gan_from = int(self.recipe.gan_start * cfg.steps)
        self.t0 = time.monotonic()
        self.step_no = self.saved_at = self.start
        self.n_steps = cfg.steps
        # fitted once (a run resumed from a fitted state keeps the length it was fitted to, whatever --steps says)
        self.fit_at = self.start + max(cfg.warmup, 12) if cfg.time_budget_s and not fitted else None
        self.paced_from: float | None = None
        self.state_path = self.out_dir / "state.pt"
        self.meta = {"net": cfg.net, "data": str(cfg.data), "recipe": self.recipe.notes, "degradation": cfg.degradation,
                     **({"clean_share": cfg.clean_share} if cfg.clean_share else {}),
                     **({"loss_weights": dict(cfg.loss_weights)} if cfg.loss_weights else {}),
                     **({"teachers": [Path(t).name for t in cfg.teachers], "teacher_weights": self.teacher_shares,
                         "teacher_flip": cfg.teacher_flip, "distill_weight": cfg.distill_weight}
                        if self.teachers else {})}

    def _build_net(self, net_cfg: dict) -> None:
        cfg = self.cfg
        init_state = None
        if cfg.init and not cfg.resume:
            init_state, header = read_init_weights(cfg.init, cfg.net)
            net_cfg = _init_config(cfg, header)
        net = create_net(cfg.net, **net_cfg).to(self.device)
        if init_state is not None:
            load_state_strict(net, init_state, source=Path(cfg.init).name)
        self.memory_format = torch.channels_last if cfg.channels_last else torch.contiguous_format
        self.net = net.to(memory_format=self.memory_format)
        self.hr_size = cfg.hr_size or net_lr_side(net) * net.scale

    def _build_teachers(self) -> None:
        """Distillation (``cfg.teachers``): each teacher checkpoint, frozen in eval mode; the net then also learns
        their mean output (weighted by ``teacher_weights``; with ``teacher_flip`` each teacher's flip ensemble)
        with the recipe's first (pixel) term, weighted ``distill_weight`` times that term's weight. An ensemble
        of two different networks scores above either, and its output is a target a single net of either's cost
        can learn from (Hinton et al. 2015; for SR e.g. Gao et al. 2018). A teacher must take the net's LR faces
        and give its HR size."""
        cfg = self.cfg
        self.teachers: list[nn.Module] = []
        self.teacher_shares: list[float] = []
        self.distill_weights: dict[str, float] = {}
        if cfg.distill_weight < 0:
            raise ValueError(f"the distillation weight must be >= 0, got {cfg.distill_weight}")
        shares = normalised_shares(cfg.teacher_weights or None, len(cfg.teachers), "teacher")
        if not cfg.teachers or cfg.distill_weight == 0:
            return
        lr_side = net_lr_side(self.net)   # (called before the net is wrapped for DDP)
        for path in cfg.teachers:
            teacher, _header = load_checkpoint(path, self.device)
            if teacher.scale != self.net.scale or net_lr_side(teacher) != lr_side:
                raise ValueError(f"teacher {Path(path).name} is x{teacher.scale} from {net_lr_side(teacher)} px faces; "
                                 f"the net being trained is x{self.net.scale} from {lr_side} px")
            teacher = teacher.float().eval().to(memory_format=self.memory_format)
            for p in teacher.parameters():
                p.requires_grad_(False)
            self.teachers.append(teacher)
        self.teacher_shares = shares
        self.distill_term = next(iter(self.recipe.weights))
        self.distill_weights = {"distill": cfg.distill_weight * self.recipe.weights[self.distill_term]}

    @torch.no_grad()
    def _teacher_image(self, lr: Tensor) -> Tensor:
        """The teachers' weighted mean SR image of ``lr`` (their forward passes in bf16 where the net's is),
        float32, each clamped to ``[0, 1]``."""
        run = ensemble.flip_ensemble if self.cfg.teacher_flip else (lambda t, x: t(x))
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.use_amp):
            return sum(w * run(t, lr).image.float().clamp(0, 1) for t, w in zip(self.teachers, self.teacher_shares))

    def _preload_progress(self, done: int, total: int) -> None:
        stop = getattr(self, "_setup_should_stop", None)
        if stop is not None and (done % 8 == 0 or done == total) and stop():
            raise SetupStopped(f"stopped while decoding the training faces ({done} of {total} forms)")

    def _build_data(self) -> None:
        cfg, scale, edge_scales = self.cfg, self.net.scale, self.info.edge_scales
        parsing_dir = cfg.parsing_dir if self.recipe.needs_parsing else None
        self.train_ds = FaceFolder(cfg.data, hr_size=self.hr_size, scale=scale, augment=True, crop=cfg.crop,
                                   edge_scales=edge_scales, with_edges=bool(edge_scales), parsing_dir=parsing_dir,
                                   seed=cfg.seed, rotate=cfg.rotate, degradation=cfg.degradation, jitter=cfg.jitter,
                                   clean_share=cfg.clean_share)
        if cfg.preload:
            self.train_ds = PreloadedFaces(self.train_ds, progress=self._preload_progress)
        self.val_items: list[dict] = []
        if cfg.val and self.rank == 0:
            val_ds = FaceFolder(cfg.val, hr_size=self.hr_size, scale=scale, augment=False, crop=cfg.crop,
                                with_edges=False, degradation=cfg.degradation, seed=cfg.seed)
            self.val_items = [val_ds[i] for i in range(min(cfg.val_limit, len(val_ds)))]

    def _build_optimisers(self) -> None:
        cfg = self.cfg
        self.lr = cfg.lr or self.recipe.lr
        if cfg.gan_weight is not None:
            if cfg.gan_weight < 0:
                raise ValueError(f"the adversarial weight must be >= 0, got {cfg.gan_weight}")
            self.recipe = replace(self.recipe, gan_weight=float(cfg.gan_weight))
        lr_factor(0, cfg.steps, cfg.schedule, cfg.warmup)   # reject an unknown schedule before any work
        self.opt = torch.optim.Adam(self.net.parameters(), lr=self.lr, betas=self.recipe.betas)
        self.ema = copy.deepcopy(self.net).eval()
        for p in self.ema.parameters():
            p.requires_grad_(False)
        self.disc = self.d_opt = None
        if cfg.gan and self.recipe.gan_weight > 0 and self.info.discriminator is not None:
            self.disc = create_discriminator(cfg.net, hr_size=self.hr_size).to(self.device, memory_format=self.memory_format)
            self.d_opt = torch.optim.Adam(self.disc.parameters(), lr=self.recipe.d_lr, betas=self.recipe.d_betas)

    def _resume(self, state: dict | None) -> int:
        """Load a saved state into the nets and optimisers; returns the step it was saved at (0 if none)."""
        if state is None:
            return 0
        load_state_strict(self.net, state["net"], source=Path(self.cfg.resume).name)
        self.ema.load_state_dict(state["ema"])
        self.opt.load_state_dict(state["opt"])
        if self.disc is not None and "disc" in state:
            self.disc.load_state_dict(state["disc"])
            self.d_opt.load_state_dict(state["d_opt"])
        return int(state["step"])

    # --- one step ---------------------------------------------------------------------------------
    def step(self, batch: dict) -> TrainEvent:
        """Optimise on ``batch`` (generator, then the discriminator in the GAN phase); update the EMA."""
        cfg, device = self.cfg, self.device
        batch = _to(batch, device)
        batch["lr"] = batch["lr"].contiguous(memory_format=self.memory_format)
        for group in self.opt.param_groups:
            group["lr"] = self.lr * lr_factor(self.step_no, self.n_steps, cfg.schedule, cfg.warmup)
        self.net.train()
        gan_on = self.disc is not None and self.step_no >= self.gan_from
        target = self._teacher_image(batch["lr"]) if self.teachers else None
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=self.use_amp):
            out = self.net(batch["lr"])
            terms, skipped = _compute_terms(self.recipe, out, batch)
            if target is not None:
                terms["distill"] = self.recipe.terms[self.distill_term](out, {**batch, "hr": target})
            if gan_on:
                terms["adv"] = L.g_adv_loss(self.disc(out.image))
        total, log = self.terms_sum(terms)
        self.opt.zero_grad(set_to_none=True)
        total.backward()
        self.opt.step()
        if gan_on:
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=self.use_amp):
                d = L.d_loss(self.disc(batch["hr"]), self.disc(out.image.detach()))
            self.d_opt.zero_grad(set_to_none=True)
            d.backward()
            self.d_opt.step()
            log["d"] = float(d.detach())
        self.step_no += 1
        _ema_update(self.ema, _unwrap(self.net), min(cfg.ema_decay, (1 + self.step_no) / (10 + self.step_no)))
        elapsed = time.monotonic() - self.t0
        self._pace(elapsed)
        eta = elapsed / (self.step_no - self.start) * (self.n_steps - self.step_no)
        return TrainEvent(self.step_no, self.n_steps, log, self.opt.param_groups[0]["lr"], elapsed, eta,
                          phase="gan" if gan_on else "pixel", skipped_terms=tuple(skipped))

    def _pace(self, elapsed: float) -> None:
        """With a time budget: measure the pace after warm-up, then fix the run's length once."""
        step = self.step_no
        if step == self.start + 2:
            self.paced_from = elapsed    # the first two steps pay for warm-up (allocations, autotuning)
        if step != self.fit_at:
            return
        n_steps = fit_steps(step, self.n_steps, (elapsed - self.paced_from) / (step - self.start - 2),
                            self.cfg.time_budget_s - elapsed)
        if self.world > 1:           # every rank stops at the same step
            agreed = torch.tensor([n_steps], device=self.device)
            dist.all_reduce(agreed, op=dist.ReduceOp.MIN)
            n_steps = int(agreed)
        self.n_steps = n_steps
        self.cfg = replace(self.cfg, steps=n_steps)     # the state records the length the schedule follows
        self.gan_from = int(self.recipe.gan_start * n_steps)

    # --- validation and saving ----------------------------------------------------------------------
    def validate(self) -> tuple[dict[str, float], np.ndarray | None]:
        """Y-PSNR/SSIM of the EMA weights on the validation faces, and the preview grid."""
        return validate(self.ema, self.val_items, self.device, self.cfg.preview_count)

    def save(self, val: dict | None = None, final: bool = False) -> str:
        """Write ``state.pt`` and the EMA weights (``<net>.safetensors``); returns the weights' path."""
        _save_state(self.state_path, self.step_no, self.cfg, self.net, self.ema, self.opt, self.disc, self.d_opt)
        self.saved_at = self.step_no
        meta = {**self.meta, "steps": self.step_no} if final else {**self.meta, "steps": self.step_no, "val": val}
        return str(save_checkpoint(self.out_dir / f"{self.cfg.net}.safetensors", self.ema, meta=meta))

    def report(self, event: TrainEvent) -> None:
        """Rank 0: validate and save on their steps (and the last), filling ``event``."""
        last = event.step == self.n_steps
        if self.rank == 0:
            if self.val_items and (event.step % self.cfg.val_every == 0 or last):
                event.val, event.preview = self.validate()
            if event.step % self.cfg.save_every == 0 or last:
                event.checkpoint = self.save(event.val)
        event.finished = last

    def close(self, ended: bool) -> None:
        """Cancelled or crashed mid-run: keep what was learned (atomic writes, never a torn file)."""
        if self.rank == 0 and self.step_no > self.saved_at:
            self.save(final=True)
        if self.own_group and ended and dist.is_initialized():
            # a rank that exits while another still holds the gloo group can abort at interpreter
            # exit ("terminate called without an active exception"), failing a finished run: wait
            # for every rank (rank 0 saves last), then close the group. Not after an error, where
            # the other ranks may never reach the barrier (torchrun stops them).
            dist.barrier()
            dist.destroy_process_group()


def train(cfg: TrainConfig, should_stop: Callable[[], bool] | None = None) -> Iterator[TrainEvent]:
    """Train ``cfg.net`` and yield a :class:`TrainEvent` after every step (see module docstring)."""
    trainer = Trainer(cfg)
    try:
        trainer.setup(should_stop)
    except SetupStopped:
        return   # asked to stop before the first step: nothing trained, nothing written
    ended = False   # the loop ran out or stopped on request (not an exception, not a closed generator)
    try:
        for batch in trainer.loader:
            event = trainer.step(batch)
            trainer.report(event)
            yield event
            if event.finished or should_stop is not None and should_stop():
                break
        ended = True
    finally:
        trainer.close(ended)
