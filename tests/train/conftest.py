"""Fixtures shared by the training tests."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image


@pytest.fixture()
def labelled_faces(tmp_path):
    """``make(n, labels)`` writes ``n`` random 128x128 faces to ``tmp_path/dev`` and, for each, the
    ``(H, W)`` CelebAMask-HQ label map ``labels`` to ``tmp_path/parsing``; returns both folders."""
    def make(n: int, labels: np.ndarray):
        img, parsing = tmp_path / "dev", tmp_path / "parsing"
        img.mkdir(), parsing.mkdir()
        rng = np.random.default_rng(0)
        for i in range(n):
            Image.fromarray(rng.integers(0, 255, (128, 128, 3), dtype=np.uint8)).save(img / f"{i}.png")
            Image.fromarray(labels.astype(np.uint8)).save(parsing / f"{i}.png")
        return img, parsing
    return make
