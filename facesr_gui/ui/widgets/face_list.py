"""The faces of the current photo as a checkable thumbnail list (which ones to enhance)."""
from __future__ import annotations

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QIcon, QImage, QPixmap
from PySide6.QtWidgets import (QHBoxLayout, QLabel, QListWidget, QListWidgetItem, QToolButton, QVBoxLayout,
                               QWidget)

from .icons import icon

THUMB = 56


def _button(text: str, icon_name: str, tip: str, checkable: bool = False) -> QToolButton:
    b = QToolButton()
    b.setText(text)
    b.setIcon(icon(icon_name))
    b.setToolTip(tip)
    b.setCheckable(checkable)
    b.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
    return b


class FaceList(QWidget):
    """Rows are faces in the order detections, then boxes drawn by hand.

    Signals: ``checked_changed()``, ``current_changed(row)``, ``detect_requested()``,
    ``draw_toggled(on)``, ``remove_requested(row)`` (only for boxes drawn by hand).
    """

    checked_changed = Signal()
    current_changed = Signal(int)
    detect_requested = Signal()
    draw_toggled = Signal(bool)
    remove_requested = Signal(int)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.list = QListWidget()
        self.list.setIconSize(QSize(THUMB, THUMB))
        self.list.setSpacing(1)
        self.detect_button = _button("", "mdi6.face-recognition", "Detect the faces in the photo again")
        self.draw_button = _button("Draw box", "mdi6.vector-rectangle",
                                   "Draw a face box by hand on the image (drag), for faces the detector missed",
                                   checkable=True)
        self.all_button = _button("", "mdi6.check-all", "Enhance every face")
        self.none_button = _button("", "mdi6.close-box-multiple", "Enhance no face (upscale only)")
        self.remove_button = _button("", "mdi6.delete", "Remove the selected hand-drawn box")
        self.summary = QLabel("No faces")
        self.summary.setWordWrap(True)
        self._manual: list[bool] = []
        self._build()
        self.detect_button.clicked.connect(self.detect_requested)
        self.draw_button.toggled.connect(self.draw_toggled)
        self.all_button.clicked.connect(lambda: self._check_all(True))
        self.none_button.clicked.connect(lambda: self._check_all(False))
        self.remove_button.clicked.connect(lambda: self.remove_requested.emit(self.current()))
        self.list.itemChanged.connect(self._on_item_changed)
        self.list.currentRowChanged.connect(self._on_current_changed)

    def _build(self) -> None:
        bar = QHBoxLayout()
        bar.setContentsMargins(0, 0, 0, 0)
        for b in (self.detect_button, self.draw_button):
            bar.addWidget(b)
        bar.addStretch(1)
        for b in (self.all_button, self.none_button, self.remove_button):
            bar.addWidget(b)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(bar)
        layout.addWidget(self.list, 1)
        layout.addWidget(self.summary)
        self.remove_button.setEnabled(False)

    # --- public API -------------------------------------------------------------------------
    def clear(self, summary: str = "No faces") -> None:
        self.list.blockSignals(True)
        self.list.clear()
        self.list.blockSignals(False)
        self._manual = []
        self.summary.setText(summary)
        self.remove_button.setEnabled(False)

    def add_face(self, thumb: QImage, text: str, manual: bool = False, checked: bool = True) -> int:
        """Append a row (thumbnail scaled to fit ``THUMB`` px, nearest for tiny faces); returns it."""
        pix = QPixmap.fromImage(thumb)
        mode = Qt.TransformationMode.FastTransformation if max(thumb.width(), thumb.height()) < THUMB // 2 \
            else Qt.TransformationMode.SmoothTransformation
        item = QListWidgetItem(QIcon(pix.scaled(THUMB, THUMB, Qt.AspectRatioMode.KeepAspectRatio, mode)), text)
        item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
        item.setCheckState(Qt.CheckState.Checked if checked else Qt.CheckState.Unchecked)
        self.list.blockSignals(True)
        self.list.addItem(item)
        self.list.blockSignals(False)
        self._manual.append(manual)
        return self.list.count() - 1

    def count(self) -> int:
        return self.list.count()

    def set_text(self, row: int, text: str) -> None:
        item = self.list.item(row)
        if item is not None:
            item.setText(text)

    def checked(self) -> list[int]:
        return [i for i in range(self.list.count()) if self.list.item(i).checkState() == Qt.CheckState.Checked]

    def set_checked(self, row: int, on: bool) -> None:
        self.list.item(row).setCheckState(Qt.CheckState.Checked if on else Qt.CheckState.Unchecked)

    def is_manual(self, row: int) -> bool:
        return 0 <= row < len(self._manual) and self._manual[row]

    def current(self) -> int:
        return self.list.currentRow()

    def set_current(self, row: int) -> None:
        self.list.setCurrentRow(row)

    def set_summary(self, text: str) -> None:
        self.summary.setText(text)

    def set_draw_mode(self, on: bool) -> None:
        self.draw_button.setChecked(on)

    # --- internals --------------------------------------------------------------------------
    def _check_all(self, on: bool) -> None:
        self.list.blockSignals(True)
        for i in range(self.list.count()):
            self.set_checked(i, on)
        self.list.blockSignals(False)
        self.checked_changed.emit()

    def _on_item_changed(self, _item) -> None:
        self.checked_changed.emit()

    def _on_current_changed(self, row: int) -> None:
        self.remove_button.setEnabled(self.is_manual(row))
        self.current_changed.emit(row)
