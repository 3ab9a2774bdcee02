"""Per-paper training recipes: which losses, with which weights, and when the GAN phase starts.

A recipe turns one network output and one batch into named loss terms. Batches come from
:class:`facesr_gui.train.dataset.FaceFolder`: ``hr`` (N,3,H,W) RGB [0,1], ``lr``, ``edges``
(``{"edge/x{r}": (N,1,h,w)}`` Canny targets) and, when a parsing cache is given, ``parsing``
as a one-hot ``(N,19,H,W)`` map in CelebAMask-HQ label ids (0 background, 1 skin, 2 nose,
4/5 eyes, 6/7 brows, 8/9 ears, 10 mouth, 11/12 lips, 13 hair; see parsing_labels.py).

Terms whose inputs are missing (no parsing cache, no identity network) are skipped, and the
loop reports which were skipped, so nothing silently pretends to train a term.

Weights are the papers' where published (JEANet eq. 8, W-Net eq. 29 as 1/1/0.5, thesis
eq. 3.8). EIPNet never published gamma/alpha/beta (eq. 11): we use gamma=0.1 (edge),
alpha=0.1 (identity) and beta=1e-3 (adversarial, SRGAN's value), and start the GAN phase at
1.2/1.32 of the steps as EIPNet 4.2 does. The perceptual (VGG-19) terms of W-Net eq. 26 and
the thesis eq. 3.10 need ImageNet VGG weights, which are not available offline: they are
left out and the remaining weights are kept.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Callable

import torch
import torch.nn.functional as F
from torch import Tensor

from ..nets.outputs import SROutput
from . import losses as L

# CelebAMask-HQ ids of the thesis' 11 parsing classes (priorsr.PARSING_CLASSES order)
PRIORSR_IDS = (1, 2, 4, 5, 6, 7, 8, 9, 10, 11, 12)
# CAGFace components (hair, skin, other parts) as CelebAMask-HQ ids
CAGFACE_IDS = {"hair": (13,), "skin": (1,), "parts": (2, 4, 5, 6, 7, 8, 9, 10, 11, 12)}

Term = Callable[[SROutput, dict], Tensor | None]


@dataclass
class Recipe:
    """Loss terms with weights, optimiser settings and the optional GAN phase."""

    terms: dict[str, Term]
    weights: dict[str, float]
    lr: float = 1e-4
    betas: tuple[float, float] = (0.9, 0.999)
    gan_weight: float = 0.0           # weight of g_adv_loss once the GAN phase starts
    gan_start: float = 1.0            # fraction of the run after which the GAN phase starts
    d_lr: float = 1e-4
    d_betas: tuple[float, float] = (0.9, 0.999)
    needs_parsing: bool = False
    notes: str = ""
    extra: dict = field(default_factory=dict)


def _onehot_select(parsing: Tensor, ids: tuple[int, ...]) -> Tensor:
    return parsing[:, list(ids)]


def _union(parsing: Tensor, ids: tuple[int, ...]) -> Tensor:
    return parsing[:, list(ids)].sum(dim=1, keepdim=True).clamp(max=1.0)


def _pixel(fn) -> Term:
    return lambda out, batch: fn(out.image, batch["hr"])


def _edges(form: str) -> Term:
    def term(out: SROutput, batch: dict) -> Tensor | None:
        targets = {k: v for k, v in batch.get("edges", {}).items() if k in out.maps}
        return L.edge_loss(out.maps, targets, form=form) if targets else None
    return term


def _priorsr_parsing(out: SROutput, batch: dict) -> Tensor | None:
    if "parsing" not in batch:
        return None
    return L.parsing_mse(out.maps["parsing"], _onehot_select(batch["parsing"], PRIORSR_IDS))


def _coarse(out: SROutput, batch: dict) -> Tensor | None:
    return L.mse_loss(out.maps["coarse_sr"], batch["hr"]) if "coarse_sr" in out.maps else None


def _cagface_stage1(out: SROutput, batch: dict) -> Tensor | None:
    stage1 = out.maps.get("stage1")
    if stage1 is None:
        return None
    target = F.interpolate(batch["hr"], size=stage1.shape[-2:], mode="bicubic", antialias=True, align_corners=False)
    return L.huber_loss(stage1, target)


def cagface_component_targets(parsing: Tensor, size: tuple[int, int]) -> Tensor:
    """CAGFace's component targets ``(N, 3, *size)`` in [0, 1], channels in ``CAGFACE_IDS`` order
    (hair, skin, parts): the one-hot ``parsing`` merged per component, area-downsampled to ``size``."""
    merged = torch.cat([_union(parsing, ids) for ids in CAGFACE_IDS.values()], dim=1)
    return F.interpolate(merged, size=size, mode="area")


def _cagface_components(out: SROutput, batch: dict) -> Tensor | None:
    if "parsing" not in batch:
        return None
    preds = [out.maps[f"component/{name}"].clamp(1e-6, 1 - 1e-6) for name in CAGFACE_IDS]
    targets = cagface_component_targets(batch["parsing"], preds[0].shape[-2:])
    return sum(F.binary_cross_entropy(pred, targets[:, i:i + 1]) for i, pred in enumerate(preds))


def _wnet_parsing(out: SROutput, batch: dict) -> Tensor | None:
    """W-Net eq. 25: every channel of its parsing map targets the HR facial-skin mask, at LR size."""
    if "parsing" not in batch or "parsing" not in out.maps:
        return None
    pred = out.maps["parsing"]
    skin = F.interpolate(_union(batch["parsing"], (1,)), size=pred.shape[-2:], mode="area")
    return L.parsing_mse(pred, skin.expand_as(pred))


def _wnet_keypoint(out: SROutput, batch: dict) -> Tensor | None:
    if "parsing" not in batch:
        return None
    masks = {name: _union(batch["parsing"], ids) for name, ids in L.WNET_COMPONENTS.items()}
    return L.wnet_keypoint_loss(out.image, batch["hr"], masks)


def with_weights(recipe: Recipe, overrides: dict[str, float]) -> Recipe:
    """``recipe`` with some term weights replaced (``{"edge": 0.0}`` drops EIPNet's edge term, e.g.
    for a final pixel-loss phase that serves PSNR); unknown names and negative weights are refused."""
    unknown = sorted(set(overrides) - set(recipe.weights))
    if unknown:
        raise ValueError(f"unknown loss term {', '.join(unknown)}: this recipe has {', '.join(recipe.weights)}")
    if any(not w >= 0 for w in overrides.values()):
        raise ValueError(f"loss weights must be >= 0, got {overrides}")
    if overrides and not any(w > 0 for w in {**recipe.weights, **overrides}.values()):
        raise ValueError("at least one loss term must keep a weight above 0")
    if not overrides:
        return recipe
    weights = {**recipe.weights, **{k: float(v) for k, v in overrides.items()}}
    kept = {k: w for k, w in weights.items() if w > 0}   # a dropped term is not computed at all
    changed = ", ".join(f"{k}={v:g}" for k, v in overrides.items())
    return replace(recipe, terms={k: fn for k, fn in recipe.terms.items() if k in kept}, weights=kept,
                   notes=f"{recipe.notes}; weights changed: {changed}")


def recipe_for(name: str) -> Recipe:
    """The training recipe of network ``name`` (see the module docstring for sources)."""
    if name == "jeanet":
        return Recipe({"pixel": _pixel(L.l1_loss), "edge": _edges("jeanet")}, {"pixel": 1.0, "edge": 0.01},
                      notes="JEANet eq. 8: L1 + 0.01 Canny edge loss")
    if name == "eipnet":
        return Recipe({"rgb": _pixel(L.rgb_context_loss), "edge": _edges("eipnet"), "lce": _pixel(L.lce_loss)},
                      {"rgb": 1.0, "edge": 0.1, "lce": 1.0}, gan_weight=1e-3, gan_start=1.2 / 1.32,
                      d_betas=(0.5, 0.9), notes="EIPNet eq. 11 (identity term added when an identity net is given)")
    if name == "cagface":
        return Recipe({"huber": _pixel(L.huber_loss), "stage1": _cagface_stage1, "components": _cagface_components},
                      {"huber": 1.0, "stage1": 1.0, "components": 0.1}, needs_parsing=True,
                      notes="CAGFace eq. 1 Huber on both stages; BCE trains the component net on pseudo labels")
    if name == "wnet":
        return Recipe({"mse": _pixel(L.mse_loss), "parsing": _wnet_parsing, "keypoint": _wnet_keypoint},
                      {"mse": 1.0, "parsing": 1.0, "keypoint": 0.5}, needs_parsing=True,
                      notes="W-Net eq. 29 without the VGG-19 perceptual part (no offline weights)")
    if name in ("priorsr", "priorsr_gan"):
        gan = name == "priorsr_gan"
        return Recipe({"fine": _pixel(L.mse_loss), "coarse": _coarse, "parsing": _priorsr_parsing},
                      {"fine": 1.0, "coarse": 1.0, "parsing": 1.0}, needs_parsing=True,
                      gan_weight=1e-3 if gan else 0.0, gan_start=0.0 if gan else 1.0,
                      notes="thesis eq. 3.8" + (" + adversarial eq. 3.12 (VGG term unavailable offline)" if gan else ""))
    if name == "bicubic":
        raise ValueError("bicubic has no parameters to train")
    # unknown registered nets: plain L1 so user-added networks still train
    return Recipe({"pixel": _pixel(L.l1_loss)}, {"pixel": 1.0}, notes="default L1 recipe")
