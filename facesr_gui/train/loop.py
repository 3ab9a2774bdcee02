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
from torch.utils.data import DataLoader, Dataset

from ..atomic import atomic_path
from ..checkpoints import check_net_config, load_state_strict, read_init_weights, read_training_state, save_checkpoint
from ..metrics import psnr, ssim
from ..nets import create_discriminator, create_net, get_info, net_lr_side
from ..nets.outputs import SROutput
from ..precision import use_bf16
from . import losses as L
from .cache import PreloadedFaces
from .dataset import FaceFolder
from .degrade import upscale_bicubic
from .recipes import Recipe, recipe_for


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


class _Stream(Dataset):
    """Maps a global sample number to (epoch, item) with a per-epoch seeded permutation."""

    def __init__(self, ds: FaceFolder | PreloadedFaces, seed: int):
        self.ds, self.seed, self.n = ds, seed, len(ds)
        self._perm_cache: dict[int, np.ndarray] = {}

    def _perm(self, epoch: int) -> np.ndarray:
        if epoch not in self._perm_cache:
            self._perm_cache = {epoch: np.random.default_rng([self.seed, epoch]).permutation(self.n)}
        return self._perm_cache[epoch]

    def __len__(self) -> int:  # effectively infinite; DataLoader only needs the sampler
        return 2**62

    def __getitem__(self, g: int) -> dict:
        epoch, pos = divmod(int(g), self.n)
        self.ds.set_epoch(epoch)
        return self.ds[int(self._perm(epoch)[pos])]


class _BatchNumbers:
    """Batch sampler yielding the global sample numbers of steps ``start..total-1`` for this rank."""

    def __init__(self, start: int, total: int, batch: int, rank: int = 0, world: int = 1):
        self.start, self.total, self.batch, self.rank, self.world = start, total, batch, rank, world

    def __iter__(self):
        for step in range(self.start, self.total):
            base = (step * self.world + self.rank) * self.batch
            yield list(range(base, base + self.batch))

    def __len__(self) -> int:
        return self.total - self.start


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


def train(cfg: TrainConfig, should_stop: Callable[[], bool] | None = None) -> Iterator[TrainEvent]:
    """Train ``cfg.net`` and yield a :class:`TrainEvent` after every step (see module docstring)."""
    rank, world, own_group = _dist_info()
    device = torch.device(cfg.device if cfg.device != "cuda" or world == 1 else f"cuda:{int(os.environ.get('LOCAL_RANK', 0))}")
    info = get_info(cfg.net)
    recipe = recipe_for(cfg.net)
    out_dir = Path(cfg.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(cfg.seed)

    resume_state = None
    net_cfg = check_net_config(cfg.net, cfg.net_cfg, "--net-cfg")   # schema and size, before any build
    if cfg.resume:   # a state of this network whose layout --net-cfg does not contradict
        resume_state, net_cfg = read_training_state(cfg.resume, cfg.net, cfg.net_cfg)
    init_state = None
    if cfg.init and not cfg.resume:
        init_state, header = read_init_weights(cfg.init, cfg.net)
        net_cfg = _init_config(cfg, header)
    net = create_net(cfg.net, **net_cfg).to(device)
    if init_state is not None:
        load_state_strict(net, init_state, source=Path(cfg.init).name)
    memory_format = torch.channels_last if cfg.channels_last else torch.contiguous_format
    net = net.to(memory_format=memory_format)
    scale = net.scale
    hr_size = cfg.hr_size or net_lr_side(net) * scale
    edge_scales = info.edge_scales
    parsing_dir = cfg.parsing_dir if recipe.needs_parsing else None
    train_ds = FaceFolder(cfg.data, hr_size=hr_size, scale=scale, augment=True, crop=cfg.crop,
                          edge_scales=edge_scales, with_edges=bool(edge_scales), parsing_dir=parsing_dir, seed=cfg.seed,
                          rotate=cfg.rotate, degradation=cfg.degradation, jitter=cfg.jitter)
    if cfg.preload:
        train_ds = PreloadedFaces(train_ds)
    val_items: list[dict] = []
    if cfg.val and rank == 0:
        val_ds = FaceFolder(cfg.val, hr_size=hr_size, scale=scale, augment=False, crop=cfg.crop, with_edges=False,
                            degradation=cfg.degradation, seed=cfg.seed)
        val_items = [val_ds[i] for i in range(min(cfg.val_limit, len(val_ds)))]

    lr = cfg.lr or recipe.lr
    if cfg.gan_weight is not None:
        if cfg.gan_weight < 0:
            raise ValueError(f"the adversarial weight must be >= 0, got {cfg.gan_weight}")
        recipe = replace(recipe, gan_weight=float(cfg.gan_weight))
    lr_factor(0, cfg.steps, cfg.schedule, cfg.warmup)   # reject an unknown schedule before any work
    opt = torch.optim.Adam(net.parameters(), lr=lr, betas=recipe.betas)
    ema = copy.deepcopy(net).eval()
    for p in ema.parameters():
        p.requires_grad_(False)
    disc = d_opt = None
    if cfg.gan and recipe.gan_weight > 0 and info.discriminator is not None:
        disc = create_discriminator(cfg.net, hr_size=hr_size).to(device, memory_format=memory_format)
        d_opt = torch.optim.Adam(disc.parameters(), lr=recipe.d_lr, betas=recipe.d_betas)
    start = 0
    if resume_state is not None:
        load_state_strict(net, resume_state["net"], source=Path(cfg.resume).name)
        ema.load_state_dict(resume_state["ema"])
        opt.load_state_dict(resume_state["opt"])
        if disc is not None and "disc" in resume_state:
            disc.load_state_dict(resume_state["disc"])
            d_opt.load_state_dict(resume_state["d_opt"])
        start = int(resume_state["step"])
    if world > 1:
        net = nn.parallel.DistributedDataParallel(net, device_ids=[device.index] if device.type == "cuda" else None)
        if disc is not None:
            disc = nn.parallel.DistributedDataParallel(disc, device_ids=[device.index] if device.type == "cuda" else None)

    loader = DataLoader(_Stream(train_ds, cfg.seed), batch_sampler=_BatchNumbers(start, cfg.steps, cfg.batch_size, rank, world),
                        num_workers=cfg.workers, pin_memory=device.type == "cuda", persistent_workers=False)
    weights = dict(recipe.weights, adv=recipe.gan_weight)
    terms_sum = L.LossTerms(weights)
    use_amp = use_bf16(cfg.amp, device)
    gan_from = int(recipe.gan_start * cfg.steps)
    t0 = time.monotonic()
    step = start
    n_steps = cfg.steps
    fit_at = start + max(cfg.warmup, 12) if cfg.time_budget_s else None
    paced_from = None
    state_path = out_dir / "state.pt"
    saved_at = start
    meta = {"net": cfg.net, "data": str(cfg.data), "recipe": recipe.notes, "degradation": cfg.degradation}
    ended = False   # the loop ran out or stopped on request (not an exception, not a closed generator)
    try:
        for batch in loader:
            batch = _to(batch, device)
            batch["lr"] = batch["lr"].contiguous(memory_format=memory_format)
            for group in opt.param_groups:
                group["lr"] = lr * lr_factor(step, n_steps, cfg.schedule, cfg.warmup)
            net.train()
            gan_on = disc is not None and step >= gan_from
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=use_amp):
                out = net(batch["lr"])
                terms, skipped = _compute_terms(recipe, out, batch)
                if gan_on:
                    terms["adv"] = L.g_adv_loss(disc(out.image))
            total, log = terms_sum(terms)
            opt.zero_grad(set_to_none=True)
            total.backward()
            opt.step()
            if gan_on:
                with torch.autocast(device.type, dtype=torch.bfloat16, enabled=use_amp):
                    d = L.d_loss(disc(batch["hr"]), disc(out.image.detach()))
                d_opt.zero_grad(set_to_none=True)
                d.backward()
                d_opt.step()
                log["d"] = float(d.detach())
            step += 1
            _ema_update(ema, _unwrap(net), min(cfg.ema_decay, (1 + step) / (10 + step)))
            elapsed = time.monotonic() - t0
            if step == start + 2:
                paced_from = elapsed    # the first two steps pay for warm-up (allocations, autotuning)
            if step == fit_at:
                n_steps = fit_steps(step, n_steps, (elapsed - paced_from) / (step - start - 2), cfg.time_budget_s - elapsed)
                if world > 1:           # every rank stops at the same step
                    agreed = torch.tensor([n_steps], device=device)
                    dist.all_reduce(agreed, op=dist.ReduceOp.MIN)
                    n_steps = int(agreed)
                cfg = replace(cfg, steps=n_steps)     # the state records the length the schedule follows
                gan_from = int(recipe.gan_start * n_steps)
            eta = elapsed / (step - start) * (n_steps - step)
            event = TrainEvent(step, n_steps, log, opt.param_groups[0]["lr"], elapsed, eta,
                               phase="gan" if gan_on else "pixel", skipped_terms=tuple(skipped))
            last = step == n_steps
            if rank == 0:
                if val_items and (step % cfg.val_every == 0 or last):
                    event.val, event.preview = validate(ema, val_items, device, cfg.preview_count)
                if step % cfg.save_every == 0 or last:
                    _save_state(state_path, step, cfg, net, ema, opt, disc, d_opt)
                    saved_at = step
                    event.checkpoint = str(save_checkpoint(out_dir / f"{cfg.net}.safetensors", ema,
                                                           meta={**meta, "steps": step, "val": event.val}))
            event.finished = last
            yield event
            if last or should_stop is not None and should_stop():
                break
        ended = True
    finally:
        # cancelled or crashed mid-run: keep what was learned (atomic writes, never a torn file)
        if rank == 0 and step > saved_at:
            _save_state(state_path, step, cfg, net, ema, opt, disc, d_opt)
            save_checkpoint(out_dir / f"{cfg.net}.safetensors", ema, meta={**meta, "steps": step})
        if own_group and ended and dist.is_initialized():
            # a rank that exits while another still holds the gloo group can abort at interpreter
            # exit ("terminate called without an active exception"), failing a finished run: wait
            # for every rank (rank 0 saves last), then close the group. Not after an error, where
            # the other ranks may never reach the barrier (torchrun stops them).
            dist.barrier()
            dist.destroy_process_group()

