"""Turn a training run's weights into a bundled model: fp16 if accuracy holds, measured, carded.

``bundle_model`` evaluates the checkpoint on a held-out folder in float32 and float16
(Y-PSNR/SSIM, the papers' protocol, via :func:`facesr_gui.train.evaluate.evaluate_folder`),
keeps fp16 when it costs less than ``fp16_tolerance_db``, measures bicubic on the same
faces, writes ``<models>/<id>.safetensors`` and replaces the card of that id in
``<models>/manifest.json``. Numbers in the card are always measured here, never copied
from a training log.
"""
from __future__ import annotations

import platform
from pathlib import Path
from typing import Any, Callable

import torch

from ..checkpoints import ModelCard, load_checkpoint, read_manifest, save_checkpoint, sha256_file, write_manifest
from ..nets import create_net, net_lr_side
from .evaluate import evaluate_components, evaluate_folder

CELEBA_TERMS = ("CelebA (Liu et al. 2015): non-commercial research purposes only; "
                "see https://mmlab.ie.cuhk.edu.hk/projects/CelebA.html")


def hardware_label() -> str:
    if torch.cuda.is_available():
        return f"GPU {torch.cuda.get_device_name(0)}"
    return f"CPU {platform.processor() or platform.machine()} ({torch.get_num_threads()} threads)"


def _measure(net: torch.nn.Module, dev_dir: str | Path, hr_size: int, limit: int | None,
             progress: Callable[[float, str], None] | None) -> dict[str, float]:
    res = evaluate_folder(net, dev_dir, hr_size=hr_size, limit=limit, progress=progress)
    return {**{k: round(v, 4) for k, v in res.mean.items()}, "images": len(res.per_image)}


def bundle_model(checkpoint: str | Path, model_id: str, models: str | Path, dev_dir: str | Path,
                 training: dict[str, Any], limit: int | None = None, fp16_tolerance_db: float = 0.02,
                 notes: str = "", progress: Callable[[float, str], None] | None = None,
                 parsing_dev: str | Path | None = None) -> ModelCard:
    """Measure ``checkpoint`` on ``dev_dir`` and add it to the manifest in ``models`` as ``model_id``.

    A network with a component net (CAGFace) also gets its component IoU measured against the
    parsing labels in ``parsing_dev`` (``facesr labels`` run on ``dev_dir``), when given."""
    models = Path(models)
    models.mkdir(parents=True, exist_ok=True)
    net, header = load_checkpoint(checkpoint)
    net.eval()
    hr_size = net.scale * net_lr_side(net)   # 128: the x8 nets, and CAGFace at lr_size 32
    fp32 = _measure(net, dev_dir, hr_size, limit, progress)
    half_net, _ = load_checkpoint(checkpoint)
    half_net.load_state_dict({k: (v.half().float() if v.is_floating_point() else v)
                              for k, v in half_net.state_dict().items()})
    fp16 = _measure(half_net.eval(), dev_dir, hr_size, limit, progress)
    use_fp16 = fp32["psnr"] - fp16["psnr"] < fp16_tolerance_db
    bicubic = _measure(create_net("bicubic", scale=net.scale), dev_dir, hr_size, limit, progress)
    measured = {**(fp16 if use_fp16 else fp32), "fp32_psnr": fp32["psnr"],
                "bicubic_psnr": bicubic["psnr"], "bicubic_ssim": bicubic["ssim"],
                "protocol": f"x{net.scale}, {hr_size} px HR, Y-channel PSNR/SSIM, LR by antialiased bicubic"}
    if parsing_dev is not None and hasattr(net, "components"):
        measured["components"] = {**evaluate_components(half_net if use_fp16 else net, dev_dir, parsing_dev,
                                                        hr_size=hr_size, limit=limit),
                                  "labels": "mediapipe face-mesh pseudo labels (facesr labels), not CelebAMask-HQ"}
    target = models / f"{model_id}.safetensors"
    meta = {k: v for k, v in header.get("meta", {}).items() if k != "val"}
    save_checkpoint(target, net, meta={**meta, "bundled_as": model_id}, dtype=torch.float16 if use_fp16 else None)
    card = ModelCard(
        id=model_id, net=header["net"], file=target.name, sha256=sha256_file(target), scale=net.scale,
        config=dict(getattr(net, "config", {})), dtype="float16" if use_fp16 else "float32",
        training={"terms": CELEBA_TERMS, **training},
        metrics={Path(dev_dir).name: measured},
        notes=notes,
    )
    cards = [c for c in read_manifest(models / "manifest.json") if c.id != model_id] + [card]
    write_manifest(models / "manifest.json", sorted(cards, key=_rank))
    return card


def _rank(card: ModelCard) -> tuple:
    """Manifest order: x8 models first, then by measured PSNR, best first. The first card is the
    default model of the CLI and the GUI."""
    psnr = max((m.get("psnr", float("-inf")) for m in card.metrics.values()), default=float("-inf"))
    return (card.scale != 8, -psnr, card.id)
