""""Newest request wins": the pending-request slot every long-lived worker thread shares.

Like the PySide6 mandelbrot example, only the latest request of each kind is kept: one that
arrives while another of its kind is pending replaces it, and the running one can ask
:meth:`LatestRequests.superseded` between steps to give up as soon as a newer one of its
kind arrives. :meth:`LatestRequests.take` blocks the worker thread until there is work.
"""
from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import Any

from PySide6.QtCore import QMutex, QMutexLocker, QThread, QWaitCondition


class LatestRequests:
    """Pending requests of ``thread``'s loop, one per kind; ``priority`` lists kinds taken before
    the others (else first submitted, first taken). Every request gets an increasing id."""

    def __init__(self, thread: QThread, priority: Sequence[Hashable] = ()) -> None:
        self._thread, self._priority = thread, tuple(priority)
        self._mutex, self._cond = QMutex(), QWaitCondition()
        self._pending: dict[Hashable, tuple[int, Any]] = {}
        self._next_id = 0
        self._running: Hashable | None = None
        self._cancelled = False

    def submit(self, kind: Hashable, request: Any) -> int:
        """Queue ``request`` (replacing a pending one of its kind); returns its id."""
        with QMutexLocker(self._mutex):
            self._next_id += 1
            self._pending[kind] = (self._next_id, request)
            self._cond.wakeOne()
            return self._next_id

    def take(self) -> tuple[Hashable, int, Any] | None:
        """Wait for a request: ``(kind, id, request)``, or None once the thread is asked to end
        and nothing is pending. The caller calls :meth:`done` when it has finished it."""
        with QMutexLocker(self._mutex):
            while not self._pending and not self._thread.isInterruptionRequested():
                self._cond.wait(self._mutex)
            if not self._pending:
                return None
            kind = next((k for k in self._priority if k in self._pending), next(iter(self._pending)))
            request_id, request = self._pending.pop(kind)
            self._running, self._cancelled = kind, False
            return kind, request_id, request

    def done(self) -> None:
        with QMutexLocker(self._mutex):
            self._running = None

    def running(self) -> Hashable | None:
        """The kind being worked on, or None."""
        with QMutexLocker(self._mutex):
            return self._running

    def pending(self, kind: Hashable | None = None) -> bool:
        with QMutexLocker(self._mutex):
            return kind in self._pending if kind is not None else bool(self._pending)

    def busy(self) -> bool:
        with QMutexLocker(self._mutex):
            return self._running is not None or bool(self._pending)

    def superseded(self, kind: Hashable) -> bool:
        """True when the running request of ``kind`` should stop: a newer one of its kind is
        pending, :meth:`cancel` was called, or the thread is asked to end."""
        with QMutexLocker(self._mutex):
            return kind in self._pending or self._cancelled or self._thread.isInterruptionRequested()

    def cancel(self, kinds: Sequence[Hashable] | None = None) -> None:
        """Drop pending requests (of ``kinds``, default all); the running one sees :meth:`superseded`."""
        with QMutexLocker(self._mutex):
            for kind in list(self._pending) if kinds is None else kinds:
                self._pending.pop(kind, None)
            self._cancelled = True

    def wake(self, drop: Sequence[Hashable] | None = None) -> None:
        """Drop pending requests of ``drop`` (default all) and wake the thread (on shutdown)."""
        with QMutexLocker(self._mutex):
            for kind in list(self._pending) if drop is None else drop:
                self._pending.pop(kind, None)
            self._cond.wakeAll()
