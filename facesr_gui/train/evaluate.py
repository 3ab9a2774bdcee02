"""Evaluation: Y-channel PSNR/SSIM of a network on a folder of HR faces.

The LR inputs are made here from the HR images (antialiased bicubic, as in training), so
``facesr eval`` on a folder of 128x128 faces at x8 measures the 16 -> 128 protocol. Models
are found and loaded by :mod:`facesr_gui.catalog` (``resolve``, ``load_net``).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import torch
from PIL import Image
from torch import nn

from ..metrics import psnr, ssim
from ..nets import ensemble
from .dataset import FaceFolder, list_images


@dataclass
class EvalResult:
    per_image: list[dict] = field(default_factory=list)   # {"name", "psnr", "ssim", "psnr_rgb"}
    mean: dict[str, float] = field(default_factory=dict)  # psnr/ssim on Y (the papers' protocol), psnr_rgb


def _crop_mode(root: str | Path) -> str:
    """CelebA aligned photos (178x218) get EIPNet's centre 178 crop, anything else a centre square."""
    first = list_images(root)[:1]
    if first:
        with Image.open(first[0]) as img:
            if img.size == (178, 218):
                return "celeba"
    return "center"


@torch.no_grad()
def evaluate_folder(net: nn.Module, hr_dir: str | Path, hr_size: int = 128, limit: int | None = None,
                    batch_size: int = 16, crop: str = "auto", face_region: bool = False,
                    progress: Callable[[float, str], None] | None = None,
                    flip_ensemble: bool = False) -> EvalResult:
    """Per-image and mean Y-PSNR/SSIM of ``net`` (x``net.scale``) on the HR faces in ``hr_dir``.

    With ``flip_ensemble``, the net's mean over each face and its mirror image is measured
    (:func:`facesr_gui.nets.ensemble.flip_ensemble`).

    With ``face_region``, also FR-PSNR/FR-SSIM on the face box dlib detects in the HR image
    (EIPNet 4.3; images without a detected face are left out of those means) and the dlib
    identity similarity (cosine of 128-D embeddings) between SR and HR."""
    scale = net.scale
    ds = FaceFolder(hr_dir, hr_size=hr_size, scale=scale, augment=False,
                    crop=_crop_mode(hr_dir) if crop == "auto" else crop, with_edges=False)
    n = min(len(ds), limit) if limit else len(ds)
    device = next(iter(net.parameters()), torch.empty(0)).device
    net.eval()
    result = EvalResult()
    fr_entries: list[dict | None] = []
    identity = None
    if face_region:
        from ..identity import DlibIdentity

        identity = DlibIdentity()
    for start in range(0, n, batch_size):
        items = [ds[i] for i in range(start, min(n, start + batch_size))]
        hr = torch.stack([it["hr"] for it in items]).to(device)
        lr = torch.stack([it["lr"] for it in items]).to(device)
        sr = (ensemble.flip_ensemble(net, lr) if flip_ensemble else net(lr)).clamped().float()
        for it, p, s, p_rgb in zip(items, psnr(sr, hr).tolist(), ssim(sr, hr).tolist(),
                                   psnr(sr, hr, y_channel=False).tolist()):
            result.per_image.append({"name": it["name"], "psnr": p, "ssim": s, "psnr_rgb": p_rgb})
        if identity is not None:
            from .face_metrics import fr_metrics

            entries = fr_metrics(sr.cpu(), hr.cpu(), identity=identity)
            fr_entries.extend(entries)
            for row, entry in zip(result.per_image[-len(entries):], entries):
                if entry is not None:
                    row.update({k: entry[k] for k in ("fr_psnr", "fr_ssim", "identity")})
        if progress:
            progress(len(result.per_image) / n, f"{len(result.per_image)}/{n} images")
    if result.per_image:
        result.mean = {k: sum(r[k] for r in result.per_image) / len(result.per_image) for k in ("psnr", "ssim", "psnr_rgb")}
        if identity is not None:
            from .face_metrics import mean_fr_metrics

            result.mean.update(mean_fr_metrics(fr_entries))
    return result


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
