"""Shared pytest fixtures."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("FACESR_SHARED_DATA", REPO.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The research data folder beside the checkout (``../shared/data``); skips if absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared data not found at {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture(autouse=True)
def _seed():
    import torch

    torch.manual_seed(0)
    yield


@pytest.fixture
def one_thread():
    """MTCNN and the small test nets run many tiny ops: one torch thread is several times faster
    than two on a shared 2-core machine. Use with ``pytestmark = pytest.mark.usefixtures("one_thread")``."""
    import torch

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


class OutOfMemoryRestorer:
    """Stands in for a restorer on a full GPU (no GPU needed): ``enhance`` raises CUDA out-of-memory on
    its ``fail_on``-th call (1: the first; 0: every call) and runs ``real``'s otherwise; every other
    attribute is ``real``'s, and ``with_options`` keeps the stand-in. ``calls`` counts ``enhance``."""

    def __init__(self, real, fail_on: int = 0):
        self._real, self._fail_on, self.calls = real, fail_on, 0

    def __getattr__(self, name):
        return getattr(self._real, name)

    def with_options(self, **_options):
        return self

    def enhance(self, *args, **kwargs):
        import torch

        self.calls += 1
        if self._fail_on in (0, self.calls):
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB (test)")
        return self._real.enhance(*args, **kwargs)


@pytest.fixture
def out_of_memory():
    """:class:`OutOfMemoryRestorer`, the GPU-memory failure the fallback tests share."""
    return OutOfMemoryRestorer
