"""A small QPainter line plot: named series, autoscaled axes, optional log y axis, legend.

No plotting dependency: enough for live training curves (loss per step, validation PSNR
against a dashed bicubic baseline). Points are ``(x, y)`` floats; on a log axis points with
``y <= 0`` are kept but not drawn.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

from PySide6.QtCore import QPointF, QRectF, QSize, Qt
from PySide6.QtGui import QColor, QPainter, QPainterPath, QPen
from PySide6.QtWidgets import QSizePolicy, QWidget

PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf")
_MARGIN_L, _MARGIN_R, _MARGIN_T, _MARGIN_B = 56, 12, 22, 34


@dataclass
class Series:
    name: str
    color: QColor
    dashed: bool = False
    points: list[tuple[float, float]] = field(default_factory=list)


def nice_ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    """About ``count`` round tick values (1, 2, 5 x 10^k steps) covering ``[lo, hi]``."""
    if not (math.isfinite(lo) and math.isfinite(hi)) or hi <= lo:
        return [lo] if math.isfinite(lo) else []
    raw = (hi - lo) / max(1, count)
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 5, 10) if m * mag >= raw)
    first = math.ceil(lo / step - 1e-9) * step
    ticks, t = [], first
    while t <= hi + step * 1e-9:
        ticks.append(round(t, 12))
        t += step
    return ticks


def _fmt(v: float) -> str:
    if v != 0 and (abs(v) >= 1e4 or abs(v) < 1e-2):
        return f"{v:.0e}"
    return f"{v:.4g}"


class CurvePlot(QWidget):
    """Line plot of named series; ``add_point`` creates a series on first use."""

    def __init__(self, title: str = "", x_label: str = "step", y_label: str = "", log_y: bool = False,
                 parent: QWidget | None = None):
        super().__init__(parent)
        self.title, self.x_label, self.y_label = title, x_label, y_label
        self._log_y = log_y
        self._series: dict[str, Series] = {}
        self.setMinimumSize(240, 160)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)

    # --- data -----------------------------------------------------------------------------------
    def add_series(self, name: str, color: str | QColor | None = None, dashed: bool = False) -> None:
        """Declare a series' style up front (optional)."""
        if name not in self._series:
            color = QColor(color) if color is not None else QColor(PALETTE[len(self._series) % len(PALETTE)])
            self._series[name] = Series(name, color, dashed)

    def add_point(self, series: str, x: float, y: float) -> None:
        self.add_series(series)
        self._series[series].points.append((float(x), float(y)))
        self.update()

    def clear(self) -> None:
        """Remove every series (and its style)."""
        self._series.clear()
        self.update()

    def series_names(self) -> list[str]:
        return list(self._series)

    def points(self, series: str) -> list[tuple[float, float]]:
        s = self._series.get(series)
        return list(s.points) if s else []

    def log_y(self) -> bool:
        return self._log_y

    def set_log_y(self, on: bool) -> None:
        self._log_y = bool(on)
        self.update()

    def sizeHint(self) -> QSize:
        return QSize(360, 220)

    # --- scaling ----------------------------------------------------------------------------------
    def _ty(self, y: float) -> float | None:
        """Data y -> axis y (log10 on a log axis); None if it cannot be shown."""
        if not math.isfinite(y):
            return None
        if self._log_y:
            return math.log10(y) if y > 0 else None
        return y

    def data_range(self) -> tuple[float, float, float, float] | None:
        """``(x0, x1, y0, y1)`` in axis units (log10 y on a log axis), padded; None when empty."""
        xs, ys = [], []
        for s in self._series.values():
            for x, y in s.points:
                ty = self._ty(y)
                if ty is not None and math.isfinite(x):
                    xs.append(x)
                    ys.append(ty)
        if not xs:
            return None
        x0, x1, y0, y1 = min(xs), max(xs), min(ys), max(ys)
        if x1 <= x0:
            x0, x1 = x0 - 0.5, x1 + 0.5
        pad = (y1 - y0) * 0.05 if y1 > y0 else max(abs(y0) * 0.05, 0.05)
        return x0, x1, y0 - pad, y1 + pad

    def _y_ticks(self, y0: float, y1: float) -> list[tuple[float, str]]:
        """``(axis value, label)`` pairs."""
        if self._log_y:
            decades = list(range(math.ceil(y0), math.floor(y1) + 1))
            if len(decades) >= 2:
                return [(float(k), _fmt(10.0 ** k)) for k in decades]
            values = [v for v in nice_ticks(10 ** y0, 10 ** y1, 4) if v > 0]
            return [(math.log10(v), _fmt(v)) for v in values]
        return [(v, _fmt(v)) for v in nice_ticks(y0, y1, 5)]

    # --- painting -----------------------------------------------------------------------------------
    def plot_rect(self) -> QRectF:
        return QRectF(_MARGIN_L, _MARGIN_T, max(1, self.width() - _MARGIN_L - _MARGIN_R),
                      max(1, self.height() - _MARGIN_T - _MARGIN_B))

    def paintEvent(self, _event) -> None:
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        p.fillRect(self.rect(), self.palette().base())
        text = self.palette().text().color()
        rect = self.plot_rect()
        p.setPen(text)
        if self.title:
            p.drawText(QRectF(0, 2, self.width(), _MARGIN_T - 4), Qt.AlignmentFlag.AlignCenter, self.title)
        rng = self.data_range()
        if rng is None:
            p.drawText(rect, Qt.AlignmentFlag.AlignCenter, "no data yet")
            p.end()
            return
        x0, x1, y0, y1 = rng

        def to_px(x: float, ty: float) -> QPointF:
            return QPointF(rect.left() + (x - x0) / (x1 - x0) * rect.width(),
                           rect.bottom() - (ty - y0) / (y1 - y0) * rect.height())

        self._draw_axes(p, rect, rng, to_px, text)
        p.setClipRect(rect)
        for s in self._series.values():
            self._draw_series(p, s, to_px)
        p.setClipping(False)
        self._draw_legend(p, rect)
        p.end()

    def _draw_axes(self, p: QPainter, rect: QRectF, rng, to_px, text: QColor) -> None:
        x0, x1, y0, y1 = rng
        grid = QColor(text)
        grid.setAlpha(40)
        fm = p.fontMetrics()
        for ty, label in self._y_ticks(y0, y1):
            pt = to_px(x0, ty)
            p.setPen(grid)
            p.drawLine(QPointF(rect.left(), pt.y()), QPointF(rect.right(), pt.y()))
            p.setPen(text)
            p.drawText(QRectF(0, pt.y() - 8, _MARGIN_L - 6, 16),
                       Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter, label)
        for tx in nice_ticks(x0, x1, 5):
            pt = to_px(tx, y0)
            p.setPen(grid)
            p.drawLine(QPointF(pt.x(), rect.top()), QPointF(pt.x(), rect.bottom()))
            p.setPen(text)
            p.drawText(QRectF(pt.x() - 40, rect.bottom() + 2, 80, fm.height()), Qt.AlignmentFlag.AlignHCenter,
                       _fmt(tx))
        p.setPen(text)
        p.drawRect(rect)
        p.drawText(QRectF(rect.left(), self.height() - fm.height() - 1, rect.width(), fm.height()),
                   Qt.AlignmentFlag.AlignHCenter, self.x_label)
        if self.y_label:
            p.save()
            p.translate(fm.height() * 0.5 + 1, rect.center().y())
            p.rotate(-90)
            label = self.y_label + (" (log)" if self._log_y else "")
            p.drawText(QRectF(-rect.height() / 2, -fm.height() / 2, rect.height(), fm.height()),
                       Qt.AlignmentFlag.AlignCenter, label)
            p.restore()

    def _draw_series(self, p: QPainter, s: Series, to_px) -> None:
        pen = QPen(s.color, 1.6)
        if s.dashed:
            pen.setStyle(Qt.PenStyle.DashLine)
        p.setPen(pen)
        path, started = QPainterPath(), False
        shown = []
        for x, y in s.points:
            ty = self._ty(y)
            if ty is None:
                started = False      # a gap in the line
                continue
            pt = to_px(x, ty)
            shown.append(pt)
            if started:
                path.lineTo(pt)
            else:
                path.moveTo(pt)
            started = True
        p.drawPath(path)
        if len(shown) < 60:          # sparse series (validation): mark the points
            p.setBrush(s.color)
            for pt in shown:
                p.drawEllipse(pt, 2.5, 2.5)
            p.setBrush(Qt.BrushStyle.NoBrush)

    def _draw_legend(self, p: QPainter, rect: QRectF) -> None:
        fm = p.fontMetrics()
        y = rect.top() + 4
        width = max((fm.horizontalAdvance(s.name) for s in self._series.values()), default=0) + 30
        box = QColor(self.palette().base().color())
        box.setAlpha(200)
        p.fillRect(QRectF(rect.right() - width - 4, y - 2, width + 2, (fm.height() + 2) * len(self._series) + 2), box)
        for s in self._series.values():
            pen = QPen(s.color, 2)
            if s.dashed:
                pen.setStyle(Qt.PenStyle.DashLine)
            p.setPen(pen)
            left = rect.right() - width
            p.drawLine(QPointF(left, y + fm.height() / 2), QPointF(left + 20, y + fm.height() / 2))
            p.setPen(self.palette().text().color())
            p.drawText(QPointF(left + 24, y + fm.ascent()), s.name)
            y += fm.height() + 2
