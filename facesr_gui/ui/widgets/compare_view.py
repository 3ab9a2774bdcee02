"""Before/after comparison: side by side (two or three synchronised panes) or one pane with a split line.

All panes paint from one shared :class:`_ViewState` (zoom relative to fit-to-pane, and the
image point at the pane centre), so zoom and pan are synchronised by construction. Image
coordinates are those of the *after* image; *before*, the optional *middle* image (side by
side only, e.g. bicubic between LR and SR) and full-size overlays are stretched onto it.
Overlay *patches* (e.g. a face's map) are drawn with their own image -> after-image
transform. Face boxes are drawn on every pane; in draw mode a drag adds a box
(``boxDrawn``), otherwise a click on a box selects it (``boxClicked``).
"""
from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import QPoint, QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QImage, QPainter, QPen, QPixmap, QTransform
from PySide6.QtWidgets import QHBoxLayout, QWidget

from .banner import CanvasBanner

MIN_ZOOM, MAX_ZOOM = 0.1, 64.0
_HANDLE_PX = 8   # how close to the split line a press must be to grab it
_CLICK_PX = 4    # a press/release closer than this is a click, not a drag
_SELECTED, _ENABLED, _DISABLED = QColor(255, 200, 0), QColor(0, 220, 255), QColor(150, 150, 150)


@dataclass
class _ViewState:
    zoom: float = 1.0              # 1.0 = whole image fits the pane
    cx: float = 0.5                # image point at the pane centre, as fractions of width/height
    cy: float = 0.5


@dataclass
class FaceMark:
    """A face box in after-image pixels, with a short label."""

    rect: QRectF
    label: str = ""
    selected: bool = False
    manual: bool = False
    enabled: bool = True


class _Pane(QWidget):
    """One painted view; ``role`` is "before", "middle", "after" or "split"."""

    def __init__(self, view: "CompareView", role: str):
        super().__init__(view)
        self._view, self.role = view, role
        self._drag_split = False
        self._press: QPointF | None = None
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

    def to_image(self, pos: QPointF) -> QPointF:
        inv, _ = self.image_transform().inverted()
        return inv.map(pos)

    def split_x(self) -> float:
        return self._view.split() * self.width()

    # --- painting -----------------------------------------------------------------------------
    def paintEvent(self, _event) -> None:
        p = QPainter(self)
        p.fillRect(self.rect(), QColor(40, 40, 40))
        v = self._view
        if v.after_pixmap is None:
            p.setPen(QColor(170, 170, 170))
            p.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter, v.placeholder)
            return
        t = self.image_transform()
        if self.role == "split":
            x = self.split_x()
            p.save()
            p.setClipRect(QRectF(0, 0, x, self.height()))
            self._draw(p, t, v.before_pixmap, overlay=False)
            p.restore()
            p.setClipRect(QRectF(x, 0, self.width() - x, self.height()))
            self._draw(p, t, v.after_pixmap, overlay=True)
            p.setClipping(False)
            p.setPen(QPen(QColor(255, 255, 255), 2))
            p.drawLine(QPointF(x, 0), QPointF(x, self.height()))
            p.setBrush(QColor(255, 255, 255))
            p.drawEllipse(QPointF(x, self.height() / 2), 6, 6)
        else:
            pix = {"before": v.before_pixmap, "middle": v.middle_pixmap}.get(self.role, v.after_pixmap)
            self._draw(p, t, pix, overlay=self.role == "after")
        self._draw_marks(p, t)
        if self.role == "split":
            self._caption(p, v.captions["before"], left=True)
            self._caption(p, v.captions["after"], left=False)
        else:
            self._caption(p, v.captions[self.role], left=True)

    def _draw(self, p: QPainter, t: QTransform, pix: QPixmap | None, overlay: bool) -> None:
        v = self._view
        target = QRectF(0, 0, *v.image_size())
        p.save()
        p.setTransform(t)
        if pix is not None:   # pixels magnified 2x or more are shown as blocks (nearest), honest about the input
            p.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, t.m11() * target.width() / pix.width() < 2.0)
            p.drawPixmap(target, pix, QRectF(pix.rect()))
        if overlay and v.overlays and v.overlay_opacity > 0:
            p.setOpacity(v.overlay_opacity)
            for pixmap, transform in v.overlays:
                if transform is None:
                    p.drawPixmap(target, pixmap, QRectF(pixmap.rect()))
                else:
                    p.setTransform(transform * t)
                    p.drawPixmap(QPointF(0, 0), pixmap)
                    p.setTransform(t)
        p.restore()

    def _draw_marks(self, p: QPainter, t: QTransform) -> None:
        v = self._view
        marks = list(v.marks) + ([FaceMark(v.rubber_band, "", True, True)] if v.rubber_band is not None else [])
        for mark in marks:
            r = t.mapRect(mark.rect)
            colour = _SELECTED if mark.selected else _ENABLED if mark.enabled else _DISABLED
            pen = QPen(colour, 2 if mark.selected else 1.5)
            pen.setStyle(Qt.PenStyle.DashLine if mark.manual else Qt.PenStyle.SolidLine)
            p.setPen(pen)
            p.setBrush(Qt.BrushStyle.NoBrush)
            p.drawRect(r)
            if mark.label:
                tag = p.fontMetrics().boundingRect(mark.label).adjusted(-3, -1, 3, 1)
                tag.moveBottomLeft(r.topLeft().toPoint())
                p.fillRect(tag, colour)
                p.setPen(QColor(0, 0, 0))
                p.drawText(tag, Qt.AlignmentFlag.AlignCenter, mark.label)

    def _caption(self, p: QPainter, text: str, left: bool) -> None:
        """A small label on a translucent dark box, readable over any image."""
        if not text:
            return
        rect = p.fontMetrics().boundingRect(text).adjusted(-5, -3, 5, 3)
        x = 6 if left else self.width() - rect.width() - 6
        rect.moveTopLeft(QPoint(x, 6))
        p.fillRect(rect, QColor(0, 0, 0, 150))
        p.setPen(QColor(255, 255, 255))
        p.drawText(rect, Qt.AlignmentFlag.AlignCenter, text)

    # --- interaction --------------------------------------------------------------------------
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
        self._press = self._last = pos
        if self._view.draw_mode and not self._drag_split:
            self.setCursor(Qt.CursorShape.CrossCursor)
            return
        self.setCursor(Qt.CursorShape.SplitHCursor if self._drag_split else Qt.CursorShape.ClosedHandCursor)

    def mouseMoveEvent(self, event) -> None:
        pos = event.position()
        if self._last is None:
            near = self.role == "split" and abs(pos.x() - self.split_x()) <= _HANDLE_PX
            idle = Qt.CursorShape.CrossCursor if self._view.draw_mode else Qt.CursorShape.OpenHandCursor
            self.setCursor(Qt.CursorShape.SplitHCursor if near else idle)
            return
        if self._drag_split:
            self._view.set_split(pos.x() / max(1, self.width()))
        elif self._view.draw_mode:
            self._view.set_rubber_band(QRectF(self.to_image(self._press), self.to_image(pos)).normalized())
        else:
            self._view.pan_by(self, pos - self._last)
        self._last = pos

    def mouseReleaseEvent(self, event) -> None:
        press, drag_split = self._press, self._drag_split
        self._press = self._last = None
        self._drag_split = False
        self.unsetCursor()
        if press is None or drag_split:
            return
        pos = event.position()
        moved = (pos - press).manhattanLength() > _CLICK_PX
        if self._view.draw_mode:
            self._view.finish_rubber_band(QRectF(self.to_image(press), self.to_image(pos)).normalized()
                                          if moved else None)
        elif not moved:
            self._view.click_at(self.to_image(pos))


class CompareView(QWidget):
    """``set_images(before, after, middle=None)``, ``set_mode("side"|"slider")``, ``set_split(f)``,
    ``set_overlay(image | None, opacity)``, ``set_overlay_patches([(image, transform)], opacity)``,
    ``set_marks([FaceMark])``, ``set_draw_mode(bool)``, ``set_banner(text)``; wheel zooms about the cursor, drag pans."""

    zoomChanged = Signal(float)
    splitChanged = Signal(float)
    boxDrawn = Signal(QRectF)     # after-image pixels
    boxClicked = Signal(int)      # index into the marks

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.state = _ViewState()
        self.before_pixmap: QPixmap | None = None
        self.middle_pixmap: QPixmap | None = None
        self.after_pixmap: QPixmap | None = None
        self.overlays: list[tuple[QPixmap, QTransform | None]] = []
        self.overlay_opacity = 0.5
        self.captions = {"before": "before", "middle": "", "after": "after", "split": ""}
        self.placeholder = "Drop or open a photo"
        self.marks: list[FaceMark] = []
        self.draw_mode = False
        self.rubber_band: QRectF | None = None
        self._split = 0.5
        self._mode = "side"
        self.left, self.middle, self.right = _Pane(self, "before"), _Pane(self, "middle"), _Pane(self, "after")
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        for pane in (self.left, self.middle, self.right):
            layout.addWidget(pane)
        self.middle.hide()
        self.banner = CanvasBanner(self)

    # --- public API -------------------------------------------------------------------------
    @property
    def overlay_pixmap(self) -> QPixmap | None:
        """The first overlay (None without one)."""
        return self.overlays[0][0] if self.overlays else None

    def set_images(self, before: QImage, after: QImage, reset_view: bool = True, middle: QImage | None = None) -> None:
        """Show ``before`` (and ``middle``) stretched onto ``after``'s pixel grid against ``after``."""
        self.before_pixmap = QPixmap.fromImage(before)
        self.after_pixmap = QPixmap.fromImage(after)
        self.middle_pixmap = None if middle is None else QPixmap.fromImage(middle)
        self._update_panes()
        if reset_view:
            self.reset_view()
        self._repaint()

    def clear(self, placeholder: str = "Drop or open a photo") -> None:
        self.before_pixmap = self.middle_pixmap = self.after_pixmap = None
        self.overlays, self.marks, self.placeholder = [], [], placeholder
        self._update_panes()
        self._repaint()

    def set_banner(self, text: str) -> None:
        """A note over the bottom of the view (e.g. why faces were left as they are); "" hides it."""
        self.banner.set_message(text)

    def set_captions(self, before: str = "before", after: str = "after", middle: str = "") -> None:
        self.captions.update(before=before, after=after, middle=middle)
        self._repaint()

    def set_mode(self, mode: str) -> None:
        if mode not in ("side", "slider"):
            raise ValueError(f"mode must be 'side' or 'slider', got {mode!r}")
        self._mode = mode
        self.left.role = "before" if mode == "side" else "split"
        self._update_panes()
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
        self.set_overlay_patches([] if image is None else [(image, None)], opacity)

    def set_overlay_patches(self, patches: list[tuple[QImage, QTransform | None]], opacity: float = 0.5) -> None:
        """Overlays with their image -> after-image transform (None: stretched over the whole image)."""
        self.overlays = [(QPixmap.fromImage(img), t) for img, t in patches]
        self.overlay_opacity = min(1.0, max(0.0, float(opacity)))
        self._repaint()

    def set_marks(self, marks: list[FaceMark]) -> None:
        self.marks = list(marks)
        self._repaint()

    def set_draw_mode(self, on: bool) -> None:
        """In draw mode a drag draws a box (``boxDrawn``) instead of panning."""
        self.draw_mode = bool(on)
        self.rubber_band = None
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
        anchor = pane.to_image(pos)
        self.set_zoom(self.state.zoom * factor)
        moved = pane.to_image(pos)
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

    def set_rubber_band(self, rect: QRectF | None) -> None:
        self.rubber_band = rect
        self._repaint()

    def finish_rubber_band(self, rect: QRectF | None) -> None:
        self.rubber_band = None
        self._repaint()
        if rect is None:
            return
        w, h = self.image_size()
        rect = rect.intersected(QRectF(0, 0, w, h))
        if rect.width() >= 2 and rect.height() >= 2:
            self.boxDrawn.emit(rect)

    def click_at(self, point: QPointF) -> None:
        """Select the smallest box under ``point`` (after-image pixels)."""
        hits = [(m.rect.width() * m.rect.height(), i) for i, m in enumerate(self.marks) if m.rect.contains(point)]
        if hits:
            self.boxClicked.emit(min(hits)[1])

    def _update_panes(self) -> None:
        self.right.setVisible(self._mode == "side")
        self.middle.setVisible(self._mode == "side" and self.middle_pixmap is not None)

    def _repaint(self) -> None:
        for pane in (self.left, self.middle, self.right):
            pane.update()
