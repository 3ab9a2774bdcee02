"""glibc malloc tuning for long jobs (facesr_gui.memory): safe to call anywhere, set once."""
from __future__ import annotations

from facesr_gui import memory


def test_limit_and_trim_are_safe_and_set_once(monkeypatch):
    first = memory.limit_malloc_arenas()
    assert isinstance(first, bool) and memory.limit_malloc_arenas() is first   # once per process
    memory.trim_malloc()
    monkeypatch.setattr(memory, "_libc", lambda: None)                          # off glibc: nothing happens
    memory.trim_malloc()
    assert memory.limit_malloc_arenas.__wrapped__(4) is False
    monkeypatch.undo()
    monkeypatch.setenv("MALLOC_ARENA_MAX", "4")                                  # the user's own setting wins
    assert memory.limit_malloc_arenas.__wrapped__(2) is False
