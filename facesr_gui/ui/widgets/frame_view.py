"""A video frame fitted to the widget, with optional face boxes (the Video tab's scrubber view)."""
from __future__ import annotations

import numpy as np
from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QColor, QImage, QPainter, QPen
from PySide6.QtWidgets import QWidget


class FrameView(QWidget):
    """Paints one frame fitted to the widget, with optional face boxes in frame pixels."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.image: QImage | None = None
        self.boxes: np.ndarray | None = None    # (K, 4) float32 x0, y0, x1, y1
        self.setMinimumSize(160, 90)

    def set_frame(self, image: QImage | None, boxes: np.ndarray | None = None) -> None:
        self.image, self.boxes = image, boxes
        self.update()

    def paintEvent(self, _event) -> None:
        p = QPainter(self)
        p.fillRect(self.rect(), QColor(40, 40, 40))
        if self.image is None or self.image.isNull():
            p.setPen(QColor(170, 170, 170))
            p.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter, "Drop or open a video")
            return
        w, h = self.image.width(), self.image.height()
        s = min(self.width() / w, self.height() / h)
        x0, y0 = (self.width() - w * s) / 2, (self.height() - h * s) / 2
        p.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, s < 2.0)
        p.drawImage(QRectF(x0, y0, w * s, h * s), self.image)
        if self.boxes is not None:
            p.setPen(QPen(QColor(0, 230, 120), 2))
            for bx0, by0, bx1, by1 in np.asarray(self.boxes, dtype=float).reshape(-1, 4):
                p.drawRect(QRectF(x0 + bx0 * s, y0 + by0 * s, (bx1 - bx0) * s, (by1 - by0) * s))
