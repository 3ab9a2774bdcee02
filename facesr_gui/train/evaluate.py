"""Evaluation: Y-channel PSNR/SSIM (and optionally dlib identity) of a network on a folder of HR faces.

The LR inputs are made here from the HR images, by the named degradation pipeline
(:mod:`facesr_gui.train.degradations`: ``bicubic``, the papers' protocol, by default; ``realistic``
or ``surveillance`` for camera-like damage, drawn per file name and ``seed`` so every run sees the
same inputs), optionally with framing jitter; or they are read from a folder of paired LR faces
(``lr_dir``, matched to the HR faces by file stem). So ``facesr eval`` on a folder of 128x128
faces at x8 measures the 16 -> 128 protocol. Every row also carries bicubic's numbers on the same
LR input, the baseline a model has to beat.
Models are found and loaded by :mod:`facesr_gui.catalog` (``resolve``, ``load_net``).
"""
from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from PIL import Image
from torch import nn

from ..metrics import psnr, ssim
from ..nets import ensemble
from .dataset import FaceFolder, _crop_box, list_images, load_rgb
from .degrade import upscale_bicubic


@dataclass
class EvalResult:
    """``per_image`` rows ``{"name", "psnr", "ssim", "psnr_rgb", "bicubic_psnr", "bicubic_ssim"}`` (Y channel
    but ``psnr_rgb``; with face metrics also ``fr_psnr``, ``fr_ssim``, ``identity``, ``bicubic_identity``);
    ``mean`` their averages (an image identical to its HR has PSNR ``inf``: it is left out of the PSNR
    means and counted in ``mean["identical"]``); ``setup`` how the LR inputs were made (degradation,
    seed, jitter, lr_dir); ``skipped`` ``(file name, reason)`` of the images not measured (an HR
    crop smaller than the HR size would be measured against an upsampled, blurred "ground truth")."""
    per_image: list[dict] = field(default_factory=list)
    mean: dict[str, float] = field(default_factory=dict)
    setup: dict = field(default_factory=dict)
    skipped: list[tuple[str, str]] = field(default_factory=list)


def _crop_mode(root: str | Path) -> str:
    """CelebA aligned photos (178x218) get EIPNet's centre 178 crop, anything else a centre square."""
    first = list_images(root)[:1]
    try:
        if first:
            with Image.open(first[0]) as img:
                if img.size == (178, 218):
                    return "celeba"
    except (OSError, ValueError):   # not an image: FaceFolder lists every unreadable one
        pass
    return "center"


def pair_lr_files(hr_paths: list[Path], lr_dir: str | Path) -> dict[str, Path]:
    """HR stem -> LR file in ``lr_dir`` (recursive, any image extension), matched by file stem.

    Raises ``ValueError`` naming the stems when a stem is ambiguous (two files on one side) or a
    face has no partner on the other side: a paired evaluation compares exact pairs only."""
    lr_paths = list_images(lr_dir)
    for side, paths, where in (("HR", hr_paths, "the HR folder"), ("LR", lr_paths, str(lr_dir))):
        dups = sorted(stem for stem, count in Counter(p.stem for p in paths).items() if count > 1)
        if dups:
            raise ValueError(f"{len(dups)} {side} file stem(s) occur twice in {where} ({_names(dups)}): "
                             "pairs are matched by stem, so stems must be unique")
    by_stem = {p.stem: p for p in lr_paths}
    missing = [p.stem for p in hr_paths if p.stem not in by_stem]
    if missing:
        raise ValueError(f"{len(missing)} of {len(hr_paths)} HR face(s) have no LR file of the same stem in "
                         f"{lr_dir}: {_names(missing)}")
    extra = sorted(set(by_stem) - {p.stem for p in hr_paths})
    if extra:
        raise ValueError(f"{len(extra)} LR file(s) in {lr_dir} have no HR face of the same stem: {_names(extra)}")
    return by_stem


def _names(stems: list[str], shown: int = 5) -> str:
    return ", ".join(stems[:shown]) + (f" and {len(stems) - shown} more" if len(stems) > shown else "")


def load_paired_lr(lr_path: Path, hr_path: Path, crop: str, lr_side: int) -> torch.Tensor:
    """The LR face ``(3, lr_side, lr_side)`` RGB ``[0, 1]`` paired with ``hr_path``: the HR crop's
    box, taken in fractions of the HR image, is cut from the LR image (so an LR image made from the
    whole HR image lines up) and resized to ``lr_side`` by antialiased bicubic where it differs."""
    with Image.open(hr_path) as hr_img:
        hr_w, hr_h = hr_img.size
    x0, y0, x1, y1 = _crop_box(hr_w, hr_h, crop)
    img = load_rgb(lr_path)
    w, h = img.size
    box = (x0 / hr_w * w, y0 / hr_h * h, x1 / hr_w * w, y1 / hr_h * h)
    pixels = img.resize((lr_side, lr_side), Image.Resampling.BICUBIC, box=box)
    return torch.from_numpy(np.asarray(pixels).copy()).permute(2, 0, 1).float().div_(255.0)


@torch.no_grad()
def evaluate_folder(net: nn.Module, hr_dir: str | Path, hr_size: int = 128, limit: int | None = None,
                    batch_size: int = 16, crop: str = "auto", face_region: bool = False,
                    progress: Callable[[float, str], None] | None = None,
                    flip_ensemble: bool = False, degradation: str = "bicubic", seed: int = 0,
                    jitter: float = 0.0, lr_dir: str | Path | None = None) -> EvalResult:
    """Per-image and mean Y-PSNR/SSIM of ``net`` (x``net.scale``) and of bicubic on the HR faces in ``hr_dir``.

    The LR inputs come from ``degradation`` (drawn per file name and ``seed``) with framing
    ``jitter``, or from the paired LR faces in ``lr_dir`` (:func:`pair_lr_files`; then
    ``degradation`` and ``jitter`` do not apply). With ``flip_ensemble``, the net's mean over each
    face and its mirror image is measured (:func:`facesr_gui.nets.ensemble.flip_ensemble`).

    With ``face_region``, also FR-PSNR/FR-SSIM on the face box dlib detects in the HR image
    (EIPNet 4.3; images without a detected face are left out of those means) and the dlib
    identity similarity (cosine of 128-D embeddings) of SR vs HR and of bicubic vs HR."""
    if limit is not None and limit < 1:
        raise ValueError(f"limit must be at least 1, got {limit}")
    if lr_dir is not None and (degradation != "bicubic" or jitter):
        raise ValueError("paired LR faces (lr_dir) are used as they are: no degradation or jitter applies")
    scale = net.scale
    crop = _crop_mode(hr_dir) if crop == "auto" else crop
    ds = FaceFolder(hr_dir, hr_size=hr_size, scale=scale, augment=False, crop=crop, with_edges=False,
                    degradation=degradation, seed=seed, jitter=jitter)
    skipped = _too_small(ds, crop, hr_size)
    if skipped:
        names = {name for name, _ in skipped}
        ds.paths = [p for p in ds.paths if p.name not in names]
        if not ds.paths:
            raise ValueError(f"no image under {hr_dir} is large enough for {hr_size} px HR faces "
                             f"(x{scale}): {skipped[0][0]} {skipped[0][1]}" + (
                                 f", and {len(skipped) - 1} more" if len(skipped) > 1 else ""))
    pairs = pair_lr_files(ds.paths, lr_dir) if lr_dir is not None else None
    n = min(len(ds), limit) if limit else len(ds)
    device = next(iter(net.parameters()), torch.empty(0)).device
    net.eval()
    result = EvalResult(setup={"degradation": "paired" if pairs else degradation, "seed": seed, "jitter": jitter,
                               **({"lr_dir": str(lr_dir)} if pairs else {})}, skipped=skipped)
    fr_entries: list[dict | None] = []
    identity = None
    if face_region:
        from ..identity import DlibIdentity

        identity = DlibIdentity()
    for start in range(0, n, batch_size):
        idx = range(start, min(n, start + batch_size))
        items = [ds[i] for i in idx]
        hr = torch.stack([it["hr"] for it in items]).to(device)
        if pairs is not None:
            lr = torch.stack([load_paired_lr(pairs[ds.paths[i].stem], ds.paths[i], crop, hr_size // scale)
                              for i in idx]).to(device)
        else:
            lr = torch.stack([it["lr"] for it in items]).to(device)
        sr = (ensemble.flip_ensemble(net, lr) if flip_ensemble else net(lr)).clamped().float()
        bic = upscale_bicubic(lr.float(), scale)
        for it, p, s, p_rgb, bp, bs in zip(items, psnr(sr, hr).tolist(), ssim(sr, hr).tolist(),
                                           psnr(sr, hr, y_channel=False).tolist(), psnr(bic, hr).tolist(),
                                           ssim(bic, hr).tolist()):
            result.per_image.append({"name": it["name"], "psnr": p, "ssim": s, "psnr_rgb": p_rgb,
                                     "bicubic_psnr": bp, "bicubic_ssim": bs})
        if identity is not None:
            from .face_metrics import fr_metrics

            entries = fr_metrics(sr.cpu(), hr.cpu(), identity=identity)
            base = fr_metrics(bic.cpu(), hr.cpu(), identity=identity,
                              boxes=[e["box"] if e else None for e in entries])
            fr_entries.extend({**e, "bicubic_identity": b["identity"]} if e else None for e, b in zip(entries, base))
            for row, entry in zip(result.per_image[-len(entries):], fr_entries[-len(entries):]):
                if entry is not None:
                    row.update({k: entry[k] for k in ("fr_psnr", "fr_ssim", "identity", "bicubic_identity")})
        if progress:
            progress(len(result.per_image) / n, f"{len(result.per_image)}/{n} images")
    if result.per_image:
        keys = ("psnr", "ssim", "psnr_rgb", "bicubic_psnr", "bicubic_ssim")
        result.mean = {k: _mean(r[k] for r in result.per_image) for k in keys}
        identical = sum(1 for r in result.per_image if r["psnr"] == math.inf)
        if identical:
            result.mean["identical"] = identical
        if identity is not None:
            from .face_metrics import mean_fr_metrics

            result.mean.update(mean_fr_metrics(fr_entries))
            result.mean["bicubic_identity"] = _mean(e["bicubic_identity"] for e in fr_entries
                                                    if e is not None and e["bicubic_identity"] is not None)
    return result


def _too_small(ds: FaceFolder, crop: str, hr_size: int) -> list[tuple[str, str]]:
    """``(name, reason)`` of the images whose crop is smaller than ``hr_size`` (sizes from the headers:
    those the folder's validation read, else read here)."""
    small = []
    for p in ds.paths:
        try:
            if (size := ds.sizes.get(p)) is None:
                with Image.open(p) as img:
                    size = img.size
        except (OSError, ValueError):   # unreadable: FaceFolder has listed those
            continue
        w, h = size
        try:
            x0, y0, x1, y1 = _crop_box(w, h, crop)
        except ValueError as exc:       # too small for CelebA's 178 px crop
            small.append((p.name, str(exc)))
            continue
        if min(x1 - x0, y1 - y0) < hr_size:
            small.append((p.name, f"is {w}x{h}: its {crop} crop is smaller than the {hr_size} px HR size"))
    return small


def _mean(values) -> float:
    vals = [v for v in values if math.isfinite(v)]
    return sum(vals) / len(vals) if vals else math.nan


@torch.no_grad()
def evaluate_components(net: nn.Module, hr_dir: str | Path, parsing_dir: str | Path, hr_size: int = 128,
                        limit: int | None = None, batch_size: int = 16, threshold: float = 0.5,
                        crop: str = "auto") -> dict[str, float]:
    """IoU of a CAGFace component net (``net.components(lr)``, probabilities at LR size) against
    the cached parsing labels of the same faces (``facesr labels``), per component and mean.

    Targets are the training targets (recipes.cagface_component_targets: the labels merged to
    the components, area-downsampled to LR size); both sides are thresholded at ``threshold``.
    IoU is pooled over all pixels of all faces (intersection sum / union sum), so small faces
    and empty components weigh as their pixels do."""
    from ..nets.cagface import COMPONENTS
    from .recipes import cagface_component_targets

    if not hasattr(net, "components"):
        raise TypeError(f"{type(net).__name__} has no component net")
    ds = FaceFolder(hr_dir, hr_size=hr_size, scale=net.scale, augment=False, with_edges=False,
                    crop=_crop_mode(hr_dir) if crop == "auto" else crop, parsing_dir=parsing_dir)
    n = min(len(ds), limit) if limit else len(ds)
    device = next(iter(net.parameters()), torch.empty(0)).device
    net.eval()
    inter = torch.zeros(len(COMPONENTS), dtype=torch.float64)
    union = torch.zeros(len(COMPONENTS), dtype=torch.float64)
    for start in range(0, n, batch_size):
        items = [ds[i] for i in range(start, min(n, start + batch_size))]
        lr = torch.stack([it["lr"] for it in items]).to(device)
        parsing = torch.stack([it["parsing"] for it in items])
        pred = net.components(lr).float().cpu() > threshold
        target = cagface_component_targets(parsing, pred.shape[-2:]) > threshold
        inter += (pred & target).sum(dim=(0, 2, 3)).double()
        union += (pred | target).sum(dim=(0, 2, 3)).double()
    iou = (inter / union.clamp(min=1)).tolist()
    out = {f"{c}_iou": round(v, 4) for c, v in zip(COMPONENTS, iou)}
    return {**out, "miou": round(sum(iou) / len(iou), 4), "images": n}
