"""The QThread subclass every worker uses: runs a target callable as the thread's body."""
from __future__ import annotations

from typing import Callable

from PySide6.QtCore import QThread


class LoopThread(QThread):
    """A QThread whose ``run`` is ``target()``: the worker's job loop."""

    def __init__(self, target: Callable[[], None], parent=None):
        super().__init__(parent)
        self._target = target

    def run(self) -> None:
        self._target()
