"""PreloadedFaces: the in-memory twin of FaceFolder returns the very same items."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from facesr_gui.train.cache import PreloadedFaces
from facesr_gui.train.dataset import FaceFolder


def _labels() -> np.ndarray:
    labels = np.zeros((128, 128), np.uint8)
    labels[30:60, 20:50] = 4     # l_eye on the image's left: a flip makes it a right eye (5)
    labels[70:110, 40:90] = 1
    return labels


def _same(a: dict, b: dict) -> None:
    assert a["name"] == b["name"]
    for key in ("hr", "lr", "parsing"):
        if key in a or key in b:
            assert a[key].dtype == b[key].dtype and torch.equal(a[key], b[key]), key
    assert a["edges"].keys() == b["edges"].keys()
    for key in a["edges"]:
        assert torch.equal(a["edges"][key], b["edges"][key]), key


@pytest.mark.parametrize("rotate, forms", [(False, 2), (True, 8)])
def test_items_match_the_folder_bit_for_bit(labelled_faces, rotate, forms):
    img, parsing = labelled_faces(3, _labels())
    folder = FaceFolder(img, crop="none", parsing_dir=parsing, seed=3, rotate=rotate)
    calls = []
    cached = PreloadedFaces(folder, progress=lambda done, total: calls.append((done, total)))
    assert len(cached) == len(folder) == 3
    assert calls[-1] == (3 * forms, 3 * forms)
    assert cached._store["parsing"].dtype == torch.uint8        # one-hot kept as labels
    assert cached._store["hr"].shape == (3, forms, 3, 128, 128)
    for epoch in range(4):
        cached.set_epoch(epoch)
        for i in range(len(folder)):
            _same(cached[i], folder[i])


def test_without_parsing_and_without_augmentation(labelled_faces):
    img, _ = labelled_faces(2, _labels())
    folder = FaceFolder(img, crop="none", augment=False, edge_scales=(4,))
    cached = PreloadedFaces(folder)
    assert cached._store["hr"].shape[1] == 1 and "parsing" not in cached[0]
    _same(cached[1], folder[1])
    assert cached.nbytes == sum(t.numel() * t.element_size() for t in cached._store.values())


def test_zoom_augmentation_cannot_be_preloaded(labelled_faces):
    img, _ = labelled_faces(1, _labels())
    with pytest.raises(ValueError, match="zoom augmentation and framing jitter"):
        PreloadedFaces(FaceFolder(img, crop="none", rescale=(1.0, 1.3)))
