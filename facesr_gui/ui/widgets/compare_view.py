"""Before/after comparison: side by side (two synchronised panes) or one pane with a split line.

Both panes paint from one shared :class:`_ViewState` (zoom relative to fit-to-pane, and the
image point at the pane centre), so zoom and pan are synchronised by construction. Image
coordinates are those of the *after* image; *before* and the overlay are stretched onto it.
"""
from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import QPoint, QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QImage, QPainter, QPen, QPixmap, QTransform
from PySide6.QtWidgets import QHBoxLayout, QWidget

MIN_ZOOM, MAX_ZOOM = 0.1, 64.0
_HANDLE_PX = 8  # how close to the split line a press must be to grab it


@dataclass
class _ViewState:
    zoom: float = 1.0              # 1.0 = whole image fits the pane
    cx: float = 0.5                # image point at the pane centre, as fractions of width/height
    cy: float = 0.5


class _Pane(QWidget):
    """One painted view; ``role`` is "before", "after" or "split"."""

    def __init__(self, view: "CompareView", role: str):
        super().__init__(view)
        self._view, self.role = view, role
        self._drag_split = False
        self._last: QPointF | None = None
        self.setMinimumSize(64, 64)
        self.setMouseTracking(True)

    def image_transform(self) -> QTransform:
        """Maps after-image pixel coordinates to pane coordinates."""
        w, h = self._view.image_size()
        st = self._view.state
        if w == 0 or h == 0:
            return QTransform()
        s = min(self.width() / w, self.height() / h) * st.zoom
        return QTransform(s, 0, 0, s, self.width() / 2 - st.cx * w * s, self.height() / 2 - st.cy * h * s)

    def split_x(self) -> float:
        return self._view.split() * self.width()

    def paintEvent(self, _event) -> None:
        p = QPainter(self)
        p.fillRect(self.rect(), QColor(40, 40, 40))
        v = self._view
        if v.after_pixmap is None:
            p.setPen(QColor(170, 170, 170))
            p.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter, "Drop or open a photo")
            return
        t = self.image_transform()
        p.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, t.m11() < 2.0)
        target = QRectF(0, 0, *v.image_size())
        if self.role == "split":
            x = self.split_x()
            p.save()
            p.setClipRect(QRectF(0, 0, x, self.height()))
            self._draw(p, t, target, v.before_pixmap, overlay=False)
            p.restore()
            p.setClipRect(QRectF(x, 0, self.width() - x, self.height()))
            self._draw(p, t, target, v.after_pixmap, overlay=True)
            p.setClipping(False)
            p.setPen(QPen(QColor(255, 255, 255), 2))
            p.drawLine(QPointF(x, 0), QPointF(x, self.height()))
            p.setBrush(QColor(255, 255, 255))
            p.drawEllipse(QPointF(x, self.height() / 2), 6, 6)
        else:
            pix = v.before_pixmap if self.role == "before" else v.after_pixmap
            self._draw(p, t, target, pix, overlay=self.role == "after")
        if self.role == "split":
            self._caption(p, "before", left=True)
            self._caption(p, "after", left=False)
        else:
            self._caption(p, self.role, left=True)

    def _caption(self, p: QPainter, text: str, left: bool) -> None:
        """A small label on a translucent dark box, readable over any image."""
        rect = p.fontMetrics().boundingRect(text).adjusted(-5, -3, 5, 3)
        x = 6 if left else self.width() - rect.width() - 6
        rect.moveTopLeft(QPoint(x, 6))
        p.fillRect(rect, QColor(0, 0, 0, 150))
        p.setPen(QColor(255, 255, 255))
        p.drawText(rect, Qt.AlignmentFlag.AlignCenter, text)

    def _draw(self, p: QPainter, t: QTransform, target: QRectF, pix: QPixmap | None, overlay: bool) -> None:
        p.save()
        p.setTransform(t)
        if pix is not None:
            p.drawPixmap(target, pix, QRectF(pix.rect()))
        v = self._view
        if overlay and v.overlay_pixmap is not None and v.overlay_opacity > 0:
            p.setOpacity(v.overlay_opacity)
            p.drawPixmap(target, v.overlay_pixmap, QRectF(v.overlay_pixmap.rect()))
        p.restore()

    def wheelEvent(self, event) -> None:
        steps = event.angleDelta().y() / 120.0
        if steps:
            self._view.zoom_at(self, event.position(), 1.25 ** steps)
        event.accept()

    def mousePressEvent(self, event) -> None:
        if event.button() != Qt.MouseButton.LeftButton:
            return
        pos = event.position()
        self._drag_split = self.role == "split" and abs(pos.x() - self.split_x()) <= _HANDLE_PX
        self._last = pos
        self.setCursor(Qt.CursorShape.SplitHCursor if self._drag_split else Qt.CursorShape.ClosedHandCursor)

    def mouseMoveEvent(self, event) -> None:
        pos = event.position()
        if self._last is None:
            near = self.role == "split" and abs(pos.x() - self.split_x()) <= _HANDLE_PX
            self.setCursor(Qt.CursorShape.SplitHCursor if near else Qt.CursorShape.OpenHandCursor)
            return
        if self._drag_split:
            self._view.set_split(pos.x() / max(1, self.width()))
        else:
            self._view.pan_by(self, pos - self._last)
        self._last = pos

    def mouseReleaseEvent(self, _event) -> None:
        self._last, self._drag_split = None, False
        self.unsetCursor()


class CompareView(QWidget):
    """``set_images(before, after)``, ``set_mode("side"|"slider")``, ``set_split(fraction)``,
    ``set_overlay(image | None, opacity)``; wheel zooms about the cursor, drag pans."""

    zoomChanged = Signal(float)
    splitChanged = Signal(float)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.state = _ViewState()
        self.before_pixmap: QPixmap | None = None
        self.after_pixmap: QPixmap | None = None
        self.overlay_pixmap: QPixmap | None = None
        self.overlay_opacity = 0.5
        self._split = 0.5
        self._mode = "side"
        self.left, self.right = _Pane(self, "before"), _Pane(self, "after")
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        layout.addWidget(self.left)
        layout.addWidget(self.right)

    # --- public API -------------------------------------------------------------------------
    def set_images(self, before: QImage, after: QImage, reset_view: bool = True) -> None:
        """Show ``before`` (stretched onto ``after``'s pixel grid) against ``after``."""
        self.before_pixmap = QPixmap.fromImage(before)
        self.after_pixmap = QPixmap.fromImage(after)
        if reset_view:
            self.reset_view()
        self._repaint()

    def set_mode(self, mode: str) -> None:
        if mode not in ("side", "slider"):
            raise ValueError(f"mode must be 'side' or 'slider', got {mode!r}")
        self._mode = mode
        self.left.role = "before" if mode == "side" else "split"
        self.right.setVisible(mode == "side")
        self._repaint()

    def mode(self) -> str:
        return self._mode

    def set_split(self, fraction: float) -> None:
        fraction = min(1.0, max(0.0, float(fraction)))
        if fraction != self._split:
            self._split = fraction
            self.splitChanged.emit(fraction)
            self._repaint()

    def split(self) -> float:
        return self._split

    def set_overlay(self, image: QImage | None, opacity: float = 0.5) -> None:
        """Paint ``image`` (stretched onto the after image) over the after side; None removes it."""
        self.overlay_pixmap = None if image is None else QPixmap.fromImage(image)
        self.overlay_opacity = min(1.0, max(0.0, float(opacity)))
        self._repaint()

    def zoom(self) -> float:
        return self.state.zoom

    def set_zoom(self, zoom: float) -> None:
        zoom = min(MAX_ZOOM, max(MIN_ZOOM, float(zoom)))
        if zoom != self.state.zoom:
            self.state.zoom = zoom
            self.zoomChanged.emit(zoom)
            self._repaint()

    def reset_view(self) -> None:
        self.state.cx = self.state.cy = 0.5
        self.set_zoom(1.0)

    def image_size(self) -> tuple[int, int]:
        if self.after_pixmap is None:
            return 0, 0
        return self.after_pixmap.width(), self.after_pixmap.height()

    # --- interaction (called by the panes) ----------------------------------------------------
    def zoom_at(self, pane: _Pane, pos: QPointF, factor: float) -> None:
        """Zoom by ``factor`` keeping the image point under ``pos`` fixed."""
        w, h = self.image_size()
        if not w:
            return
        inv, _ = pane.image_transform().inverted()
        anchor = inv.map(pos)
        self.set_zoom(self.state.zoom * factor)
        inv2, _ = pane.image_transform().inverted()
        moved = inv2.map(pos)
        self.state.cx += (anchor.x() - moved.x()) / w
        self.state.cy += (anchor.y() - moved.y()) / h
        self._repaint()

    def pan_by(self, pane: _Pane, delta: QPointF) -> None:
        w, h = self.image_size()
        s = pane.image_transform().m11()
        if not w or s <= 0:
            return
        self.state.cx = min(1.0, max(0.0, self.state.cx - delta.x() / (s * w)))
        self.state.cy = min(1.0, max(0.0, self.state.cy - delta.y() / (s * h)))
        self._repaint()

    def _repaint(self) -> None:
        self.left.update()
        self.right.update()
