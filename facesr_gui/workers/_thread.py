"""The thread every long-lived worker runs on, and the request loop they share.

:class:`LoopWorker` owns one :class:`LoopThread` for the app's lifetime and its pending requests
(:class:`~._latest.LatestRequests`, newest of a kind wins). Subclasses implement :meth:`LoopWorker._handle`
for one request and may say what stopping cancels (:meth:`LoopWorker._cancel_running`) and which
pending kinds it drops (``_DROP_ON_STOP``); starting, the loop, stopping and waiting are here once.
"""
from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import Any, Callable

from PySide6.QtCore import QObject, QThread

from ._latest import LatestRequests


class LoopThread(QThread):
    """A QThread whose ``run`` is ``target()``: the worker's job loop."""

    def __init__(self, target: Callable[[], None], parent=None):
        super().__init__(parent)
        self._target = target

    def run(self) -> None:
        self._target()


class LoopWorker(QObject):
    """A QObject whose thread takes requests until :meth:`stop`; call :meth:`start` once.

    ``priority``: request kinds taken before the others (:class:`~._latest.LatestRequests`).
    """

    # pending kinds dropped by stop(); None: all (a kind left pending still runs before the thread ends)
    _DROP_ON_STOP: Sequence[Hashable] | None = None

    def __init__(self, parent=None, priority: Sequence[Hashable] = ()):
        super().__init__(parent)
        self._thread = LoopThread(self._loop, self)
        self._requests = LatestRequests(self._thread, priority)

    # --- GUI thread ------------------------------------------------------------------------------
    def start(self) -> None:
        self._thread.start()

    def is_running(self) -> bool:
        return self._thread.isRunning()

    def stop(self, timeout_ms: int = 10000) -> bool:
        """Cancel the running request, end the thread and wait for it; True if it stopped in time."""
        self._thread.requestInterruption()
        self._cancel_running()
        self._requests.wake(drop=self._DROP_ON_STOP)
        stopped = self._thread.wait(timeout_ms)
        if stopped:
            self._stopped()
        return stopped

    # --- for subclasses ----------------------------------------------------------------------------
    def _cancel_running(self) -> None:
        """Ask the running request to end early (called by :meth:`stop`); default: nothing."""

    def _stopped(self) -> None:
        """The thread has ended: release what it held; default: nothing."""

    def _handle(self, kind: Hashable, request_id: int, request: Any) -> Callable[[], None] | None:
        """Run one request on the worker thread. What it returns is called after the request is marked
        done (a terminal signal: slots then see the worker idle)."""
        raise NotImplementedError

    # --- worker thread -----------------------------------------------------------------------------
    def _loop(self) -> None:
        while (taken := self._requests.take()) is not None:
            try:
                after = self._handle(*taken)
            finally:
                self._requests.done()
            if after is not None:
                after()
