"""Training faces decoded once and kept in memory (``facesr train --preload``).

:class:`~facesr_gui.train.dataset.FaceFolder` decodes the photo, resizes it, runs Canny at every edge
scale and loads the parsing map for each sample it hands out: 2-5 ms per face on one CPU core,
10-15% of a small network's step, and on a GPU more than the step itself. Without zoom augmentation
an item can only take a few forms (2 with flips only, 8 with quarter turns), so
:class:`PreloadedFaces` builds each form once and then returns exactly the item the folder would
(same draw, same tensors bit for bit) from compact storage: HR pixels and edge maps as uint8,
one-hot parsing maps as uint8 label maps. About 90 KB per form of a 128 px face with parsing:
0.9 GB for the 4,806 CelebA training faces with flips.
"""
from __future__ import annotations

from typing import Callable

import torch
from torch import Tensor
from torch.utils.data import Dataset

from .dataset import FULL, FaceFolder

__all__ = ["PreloadedFaces"]


def _as_labels(parsing: Tensor) -> Tensor | None:
    """``(K, H, W)`` one-hot map -> ``(H, W)`` uint8 labels, or None if it is not one-hot."""
    if parsing.shape[0] > 256 or not bool(((parsing == 0) | (parsing == 1)).all()):
        return None
    if not bool((parsing.sum(dim=0) == 1).all()):
        return None
    return parsing.argmax(dim=0).to(torch.uint8)


class PreloadedFaces(Dataset):
    """In-memory twin of a :class:`FaceFolder` (same ``len``, ``set_epoch`` and items).

    ``progress(done, total)`` is called while the forms are built. Raises ``ValueError`` for a
    folder with zoom augmentation (``rescale``), whose draws are continuous.
    """

    def __init__(self, ds: FaceFolder, progress: Callable[[int, int], None] | None = None):
        variants = ds.variants()
        if variants is None:
            raise ValueError("zoom augmentation and framing jitter draw every face anew: there is nothing to "
                             "preload (drop --preload or --jitter)")
        self.ds = ds
        self._slot = {v: j for j, v in enumerate(variants)}
        n, total = len(ds), len(ds) * len(variants)
        self.names: list[str] = []
        self._store: dict[str, Tensor] = {}
        self._onehot_classes: int | None = None
        for i in range(n):
            for j, (flip, turns) in enumerate(variants):
                # a random degradation is drawn anew every epoch (__getitem__): only a clean LR is kept
                self._put(i, j, n, len(variants), ds.item(i, FULL, flip, turns, with_lr=ds.degradation == "bicubic"))
                if progress is not None:
                    progress(i * len(variants) + j + 1, total)

    def _put(self, i: int, j: int, n: int, n_var: int, item: dict) -> None:
        if j == 0:
            self.names.append(item["name"])
        packed = {"hr": item["hr"].mul(255.0).round_().to(torch.uint8)}
        if "lr" in item:
            packed["lr"] = item["lr"]
        for key, edge in item["edges"].items():
            packed[f"edges/{key}"] = edge.to(torch.uint8)
        if "parsing" in item:
            parsing = item["parsing"]
            if (i, j) == (0, 0):   # the first map decides: one-hot maps are kept as labels
                self._onehot_classes = parsing.shape[0] if _as_labels(parsing) is not None else None
            if self._onehot_classes is not None:
                labels = _as_labels(parsing)
                if labels is None or parsing.shape[0] != self._onehot_classes:
                    raise ValueError(f"parsing map of {item['name']} is not one-hot like the first one")
                parsing = labels
            packed["parsing"] = parsing
        for key, value in packed.items():
            if key not in self._store:
                self._store[key] = torch.empty((n, n_var, *value.shape), dtype=value.dtype)
            self._store[key][i, j] = value

    @property
    def nbytes(self) -> int:
        return sum(t.numel() * t.element_size() for t in self._store.values())

    def set_epoch(self, epoch: int) -> None:
        self.ds.set_epoch(epoch)

    def __len__(self) -> int:
        return len(self.names)

    def __getitem__(self, index: int) -> dict:
        _, flip, turns = self.ds._draw(index)
        j = self._slot[(flip, turns)]
        hr = self._store["hr"][index, j].float().div_(255.0)
        lr = self._store["lr"][index, j].clone() if "lr" in self._store else self.ds.make_lr(hr, index)
        item: dict = {"name": self.names[index], "hr": hr, "lr": lr, "edges": {}}
        for key, value in self._store.items():
            if key.startswith("edges/"):
                item["edges"][key[len("edges/"):]] = value[index, j].float()
        if "parsing" in self._store:
            parsing = self._store["parsing"][index, j]
            if self._onehot_classes is not None:
                parsing = torch.nn.functional.one_hot(parsing.long(), self._onehot_classes).permute(2, 0, 1).float()
            else:
                parsing = parsing.clone()
            item["parsing"] = parsing
        return item
