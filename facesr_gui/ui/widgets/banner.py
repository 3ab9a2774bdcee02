"""A translucent note laid over the bottom of a view (e.g. why faces were left as they are).

Mouse events pass through it to the view below (pan, zoom and box drawing keep working).
"""
from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, Qt
from PySide6.QtWidgets import QLabel, QWidget

_MARGIN = 10


class CanvasBanner(QLabel):
    """Word-wrapped text on a dark translucent box, kept at the bottom of ``host`` as it resizes."""

    def __init__(self, host: QWidget):
        super().__init__(host)
        self.setObjectName("canvas_banner")
        self.setWordWrap(True)
        self.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents)
        self.setStyleSheet("#canvas_banner { background: rgba(20, 20, 20, 235); color: #ffe9a8; "
                           "border: 1px solid rgba(255, 200, 0, 150); border-radius: 4px; padding: 6px 10px; }")
        host.installEventFilter(self)
        self.hide()

    def set_message(self, text: str) -> None:
        """Show ``text`` (hidden when empty)."""
        self.setText(text)
        self.setVisible(bool(text))
        self._place()

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.Resize:
            self._place()
        return False

    def _place(self) -> None:
        host = self.parentWidget()
        width = max(120, host.width() - 2 * _MARGIN)
        height = self.heightForWidth(width)
        self.setGeometry(_MARGIN, max(0, host.height() - height - _MARGIN), width, height)
        self.raise_()
