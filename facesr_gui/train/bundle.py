"""Turn a training run's weights into a bundled model: fp16 if accuracy holds, measured, carded.

``bundle_model`` evaluates the checkpoint on a held-out folder in float32 and float16
(Y-PSNR/SSIM, the papers' protocol, via :func:`facesr_gui.train.evaluate.evaluate_folder`),
keeps fp16 when it costs less than ``fp16_tolerance_db``, measures bicubic on the same
faces, then measures the kept weights again on camera-like inputs (the ``realistic``
degradation, seed 0, with dlib identity similarity: the card's ``<dev>_realistic`` set),
writes ``<models>/<id>.safetensors`` and replaces the card of that id in
``<models>/manifest.json``. Numbers in the card are always measured here, never copied
from a training log. :func:`measure_realistic` adds the camera-like set to a card already
bundled (same weights, same sha256).

The manifest is ordered by what serves real inputs best: x8 models by their PSNR on the
camera-like set, then by clean PSNR; its first card is the CLI's and the GUI's default.
"""
from __future__ import annotations

import platform
from pathlib import Path
from typing import Any, Callable

import torch

from ..checkpoints import load_checkpoint, save_checkpoint
from ..manifest import ModelCard, read_manifest, sha256_file, verify_card, write_manifest
from ..nets import create_net, net_lr_side
from .evaluate import evaluate_components, evaluate_folder

CELEBA_TERMS = ("CelebA (Liu et al. 2015): non-commercial research purposes only; "
                "see https://mmlab.ie.cuhk.edu.hk/projects/CelebA.html")


def hardware_label() -> str:
    if torch.cuda.is_available():
        return f"GPU {torch.cuda.get_device_name(0)}"
    return f"CPU {platform.processor() or platform.machine()} ({torch.get_num_threads()} threads)"


REALISTIC_SEED = 0


def _measure(net: torch.nn.Module, dev_dir: str | Path, hr_size: int, limit: int | None,
             progress: Callable[[float, str], None] | None, **options) -> dict[str, float]:
    res = evaluate_folder(net, dev_dir, hr_size=hr_size, limit=limit, progress=progress, **options)
    return {**{k: round(v, 4) for k, v in res.mean.items()}, "images": len(res.per_image)}


def realistic_set_name(dev_dir: str | Path) -> str:
    return f"{Path(dev_dir).name}_realistic"


def _measure_realistic(net: torch.nn.Module, dev_dir: str | Path, hr_size: int, limit: int | None,
                       progress: Callable[[float, str], None] | None) -> dict:
    """The camera-like set: ``realistic`` inputs (seed 0), Y-PSNR/SSIM and dlib identity, with bicubic's."""
    from ..identity import DlibIdentity

    face = bool(DlibIdentity.available())
    m = _measure(net, dev_dir, hr_size, limit, progress, degradation="realistic", seed=REALISTIC_SEED,
                 face_region=face)
    keep = ("psnr", "ssim", "bicubic_psnr", "bicubic_ssim", "identity", "bicubic_identity", "fr_count", "images")
    return {**{k: m[k] for k in keep if k in m},
            "protocol": f"x{net.scale}, {hr_size} px HR, Y-channel PSNR/SSIM, LR by the 'realistic' degradation "
                        f"(seed {REALISTIC_SEED}); identity: cosine of dlib embeddings vs HR on the HR face box"}


def measure_realistic(model_id: str, models: str | Path, dev_dir: str | Path, limit: int | None = None,
                      progress: Callable[[float, str], None] | None = None) -> ModelCard:
    """Add (or renew) the camera-like measurement of bundled model ``model_id`` in its card; the weights
    and their sha256 are untouched. Re-sorts the manifest (see the module docstring)."""
    from dataclasses import replace

    models = Path(models)
    cards = read_manifest(models / "manifest.json")
    card = next((c for c in cards if c.id == model_id), None)
    if card is None:
        raise ValueError(f"no model {model_id!r} in {models / 'manifest.json'}")
    net, _ = load_checkpoint(verify_card(card, models))
    hr_size = net.scale * net_lr_side(net)
    metrics = {**card.metrics, realistic_set_name(dev_dir): _measure_realistic(net.eval(), dev_dir, hr_size, limit,
                                                                               progress)}
    new = replace(card, metrics=metrics)
    write_manifest(models / "manifest.json", sorted([c for c in cards if c.id != model_id] + [new], key=_rank))
    return new


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
    realistic = _measure_realistic(half_net if use_fp16 else net, dev_dir, hr_size, limit, progress)
    target = models / f"{model_id}.safetensors"
    meta = {k: v for k, v in header.get("meta", {}).items() if k != "val"}
    degradation = meta.get("degradation", "bicubic")
    save_checkpoint(target, net, meta={**meta, "bundled_as": model_id}, dtype=torch.float16 if use_fp16 else None)
    card = ModelCard(
        id=model_id, net=header["net"], file=target.name, sha256=sha256_file(target), scale=net.scale,
        config=dict(getattr(net, "config", {})), dtype="float16" if use_fp16 else "float32",
        training={"terms": CELEBA_TERMS, "degradation": degradation,
                  **({"clean_share": meta["clean_share"]} if meta.get("clean_share") else {}), **training},
        metrics={Path(dev_dir).name: measured, realistic_set_name(dev_dir): realistic},
        notes=notes,
    )
    cards = [c for c in read_manifest(models / "manifest.json") if c.id != model_id] + [card]
    write_manifest(models / "manifest.json", sorted(cards, key=_rank))
    return card


def _rank(card: ModelCard) -> tuple:
    """Manifest order: x8 models first; among them those measured on camera-like inputs, best PSNR
    there first; then by clean PSNR. The first card is the default model of the CLI and the GUI."""
    def psnr(sets) -> float:
        return max((m.get("psnr", float("-inf")) for name, m in card.metrics.items() if sets(name)),
                   default=float("-inf"))

    real = psnr(lambda name: name.endswith("_realistic"))
    return (card.scale != 8, -real, -psnr(lambda name: not name.endswith("_realistic")), card.id)
