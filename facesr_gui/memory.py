"""Keeping the resident memory of long jobs flat under glibc's allocator (Linux).

glibc gives each thread that allocates its own malloc arena (up to eight per core) and keeps the
memory freed there for later. A video runs four threads that hand frames along (decode, detect,
restore, encode, :mod:`.pipeline.video_stages`), and the OpenVINO and OpenMP pools add their own: on
the 139 s soak clip (``benchmarks/bench_soak.py``) RSS grew by 145 MB after frame 100 with the
default arenas, and stayed within 525-583 MB from frame 300 to the end (+27 MB at the end) with two.
The limit must be set before the threads first allocate, so the entry points (``facesr``,
``facesr-gui``) call :func:`limit_malloc_arenas` first thing; :func:`trim_malloc` hands freed memory
back to the system now and then. Both are no-ops off glibc and when ``MALLOC_ARENA_MAX`` is set.
"""
from __future__ import annotations

import ctypes
import functools
import os
import sys

__all__ = ["MALLOC_ARENAS", "limit_malloc_arenas", "trim_malloc"]

MALLOC_ARENAS = 2
_M_ARENA_MAX = -8   # glibc's mallopt parameter


@functools.cache
def _libc():
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL("libc.so.6")
        return libc if hasattr(libc, "mallopt") and hasattr(libc, "malloc_trim") else None
    except OSError:   # musl or another libc: nothing to tune
        return None


@functools.cache
def limit_malloc_arenas(arenas: int = MALLOC_ARENAS) -> bool:
    """At most ``arenas`` malloc arenas for the process (module docstring); True when set."""
    libc = _libc()
    if libc is None or os.environ.get("MALLOC_ARENA_MAX"):
        return False
    return bool(libc.mallopt(_M_ARENA_MAX, int(arenas)))


def trim_malloc() -> None:
    """Give the memory glibc's arenas hold free back to the system (a few ms)."""
    libc = _libc()
    if libc is not None:
        libc.malloc_trim(0)
