"""Component IoU of CAGFace's component net against cached parsing labels."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from facesr_gui.nets import create_net, get_info
from facesr_gui.nets.cagface import COMPONENTS
from facesr_gui.train.evaluate import evaluate_components
from facesr_gui.train.recipes import CAGFACE_IDS


def _labels(size: int) -> np.ndarray:
    """Hair on the top quarter, skin below it, a nose square (parts) in the skin."""
    lab = np.ones((size, size), np.uint8)           # 1 skin
    lab[: size // 4] = 13                            # 13 hair
    lab[size // 2: size * 3 // 4, size // 2: size * 3 // 4] = 2   # 2 nose
    return lab


class _FixedParser(nn.Module):
    """Predicts the label geometry at LR size, optionally shifted down by ``shift`` LR rows."""

    scale = 4

    def __init__(self, shift: int = 0):
        super().__init__()
        self.shift = shift
        self.dummy = nn.Parameter(torch.zeros(1))

    def components(self, lr: torch.Tensor) -> torch.Tensor:
        n, _, h, w = lr.shape
        lab = torch.from_numpy(_labels(h).astype(np.int64))
        comps = torch.stack([(lab == 13), (lab == 1), (lab == 2)]).float()
        comps = torch.roll(comps, self.shift, dims=1)
        return comps[None].expand(n, -1, -1, -1)


@pytest.fixture()
def faces(labelled_faces):
    return labelled_faces(3, _labels(256))   # labels at another resolution than the 128 px faces


def test_component_targets_follow_the_nets_component_order():
    assert tuple(CAGFACE_IDS) == COMPONENTS


def test_exact_components_give_iou_one(faces):
    res = evaluate_components(_FixedParser(), *faces, hr_size=128, crop="center")
    assert res["images"] == 3
    assert res["hair_iou"] == res["skin_iou"] == res["parts_iou"] == res["miou"] == 1.0


def test_shifted_components_lose_iou_as_expected(faces):
    res = evaluate_components(_FixedParser(shift=4), *faces, hr_size=128, crop="center")
    # hair: rows 4..11 predicted vs 0..7 -> 4 / 12; parts: 8x8 square shifted by 4 rows -> 32 / 96
    assert res["hair_iou"] == pytest.approx(4 / 12, abs=1e-4)
    assert res["parts_iou"] == pytest.approx(32 / 96, abs=1e-4)
    assert 0 < res["skin_iou"] < 1


def test_real_cagface_runs_and_nets_without_components_are_refused(faces):
    net = create_net("cagface", **get_info("cagface").tiny_cfg, lr_size=32)
    res = evaluate_components(net, *faces, hr_size=128, crop="center", limit=2)
    assert res["images"] == 2 and all(0.0 <= res[k] <= 1.0 for k in ("hair_iou", "skin_iou", "parts_iou", "miou"))
    with pytest.raises(TypeError):
        evaluate_components(create_net("bicubic", scale=4), *faces, hr_size=128)
