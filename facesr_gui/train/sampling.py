"""The training data order: a pure function of ``(seed, step)``, so a resumed run sees the same batches.

:class:`SampleStream` maps a global sample number to ``(epoch, item)`` through a per-epoch
seeded permutation; :class:`BatchNumbers` yields each step's global sample numbers for one
rank (multi-GPU runs take interleaved slices of every global batch).
"""
from __future__ import annotations

import numpy as np
from torch.utils.data import Dataset

from .cache import PreloadedFaces
from .dataset import FaceFolder


class SampleStream(Dataset):
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


class BatchNumbers:
    """Batch sampler yielding the global sample numbers of steps ``start..total-1`` for this rank."""

    def __init__(self, start: int, total: int, batch: int, rank: int = 0, world: int = 1):
        self.start, self.total, self.batch, self.rank, self.world = start, total, batch, rank, world

    def __iter__(self):
        for step in range(self.start, self.total):
            base = (step * self.world + self.rank) * self.batch
            yield list(range(base, base + self.batch))

    def __len__(self) -> int:
        return self.total - self.start
