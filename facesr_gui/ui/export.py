"""Export: the enhanced image, and labelled comparison images (before | after, LR | bicubic | SR).

Images are numpy ``(H, W, 3)`` uint8 RGB. Files are written atomically through
:func:`facesr_gui.pipeline.imageio.save_image` (format from the suffix). :class:`Exporter`
runs composing and writing on a private one-thread pool so a large PNG never blocks the UI.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable

import cv2
import numpy as np
from PySide6.QtCore import QObject, QRect, QRunnable, Qt, QThreadPool, Signal
from PySide6.QtGui import QColor, QFont, QImage, QPainter

from ..errors import describe
from ..pipeline.imageio import SAVE_FORMATS, save_image
from .qimage import qimage_to_rgb, rgb_to_qimage

LABEL_BAR = 28     # px of label strip above each panel (scaled with the panel height)
GAP = 4            # px between panels
SAVE_FILTER = "PNG image (*.png);;JPEG image (*.jpg *.jpeg);;WebP image (*.webp);;TIFF image (*.tif *.tiff)"


def save_rgb(path: str | Path, rgb: np.ndarray) -> Path:
    """Write ``rgb`` atomically to ``path`` (``.png``/``.jpg``/``.webp``/``.tif``/``.bmp``)."""
    return save_image(path, rgb)


def fit_height(rgb: np.ndarray, height: int) -> np.ndarray:
    """Resize to ``height`` keeping the aspect: nearest when enlarging (pixels stay honest), area when shrinking."""
    h, w = rgb.shape[:2]
    if h == height:
        return rgb
    width = max(1, round(w * height / h))
    interp = cv2.INTER_NEAREST if height > h else cv2.INTER_AREA
    return cv2.resize(rgb, (width, height), interpolation=interp)


def comparison_image(panels: list[tuple[str, np.ndarray]], height: int | None = None) -> np.ndarray:
    """Panels side by side at one height (default: the tallest), each under its label.

    ``panels``: ``(label, (h, w, 3) uint8 RGB)``. Returns ``(H, W, 3)`` uint8 RGB with a
    dark label strip on top and a ``GAP`` px dark gutter between panels.
    """
    if not panels:
        raise ValueError("nothing to compare")
    height = int(height or max(p.shape[0] for _, p in panels))
    images = [fit_height(p, height) for _, p in panels]
    bar = max(LABEL_BAR, height // 20)
    width = sum(i.shape[1] for i in images) + GAP * (len(images) - 1)
    canvas = QImage(width, height + bar, QImage.Format.Format_RGB888)
    canvas.fill(QColor(30, 30, 30))
    painter = QPainter(canvas)
    font = QFont()
    font.setPixelSize(max(12, int(bar * 0.55)))
    painter.setFont(font)
    painter.setPen(QColor(240, 240, 240))
    x = 0
    for (label, _), img in zip(panels, images):
        painter.drawImage(x, bar, rgb_to_qimage(img))
        painter.drawText(QRect(x, 0, img.shape[1], bar), Qt.AlignmentFlag.AlignCenter, label)
        x += img.shape[1] + GAP
    painter.end()
    return qimage_to_rgb(canvas)


def with_suffix_for_filter(path: str, selected_filter: str) -> str:
    """Add the chosen filter's first suffix when the user typed a name without a known one."""
    if Path(path).suffix.lower() in SAVE_FORMATS:
        return path
    start = selected_filter.find("*.")
    suffix = selected_filter[start + 1:].split()[0].rstrip(")") if start >= 0 else ".png"
    return path + suffix


class _Job(QRunnable):
    def __init__(self, exporter: "Exporter", path: Path, make: Callable[[], np.ndarray]):
        super().__init__()
        self._exporter, self._path, self._make = exporter, path, make

    def run(self) -> None:
        try:
            save_rgb(self._path, self._make())
        except Exception as exc:  # noqa: BLE001 - reported to the user
            self._exporter.errored.emit(f"could not save {self._path.name}: {describe(exc)}")
            return
        self._exporter.finished.emit(str(self._path))


class Exporter(QObject):
    """``save(path, rgb or a function returning it)`` in the background; ``finished(path)`` / ``errored(msg)``."""

    finished = Signal(str)
    errored = Signal(str)

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self._pool = QThreadPool(self)
        self._pool.setMaxThreadCount(1)

    def save(self, path: str | Path, image: np.ndarray | Callable[[], np.ndarray]) -> None:
        make = image if callable(image) else (lambda: image)
        self._pool.start(_Job(self, Path(path), make))

    def wait(self, timeout_ms: int = 10000) -> bool:
        """Block until queued exports are written; True if all finished in time."""
        return self._pool.waitForDone(timeout_ms)

    def is_busy(self) -> bool:
        return self._pool.activeThreadCount() > 0
