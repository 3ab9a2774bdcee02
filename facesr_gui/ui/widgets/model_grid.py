"""Model grid: pick several models, run them all on the selected face, see each output with its time."""
from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QImage, QPixmap
from PySide6.QtWidgets import (QFrame, QGridLayout, QHBoxLayout, QLabel, QListWidget, QListWidgetItem,
                               QPushButton, QScrollArea, QSplitter, QVBoxLayout, QWidget)

from .icons import icon

TILE_PX = 160


class _Tile(QFrame):
    def __init__(self, title: str, image: QImage | None, subtitle: str, nearest: bool):
        super().__init__()
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.title = title
        picture = QLabel()
        picture.setFixedSize(TILE_PX, TILE_PX)
        picture.setAlignment(Qt.AlignmentFlag.AlignCenter)
        picture.setStyleSheet("background: #282828; color: #bbbbbb;")
        if image is not None:
            mode = Qt.TransformationMode.FastTransformation if nearest else Qt.TransformationMode.SmoothTransformation
            picture.setPixmap(QPixmap.fromImage(image).scaled(TILE_PX, TILE_PX, Qt.AspectRatioMode.KeepAspectRatio,
                                                              mode))
        else:
            picture.setText("no output")
            picture.setWordWrap(True)
        caption = QLabel(f"<b>{title}</b><br>{subtitle}")
        caption.setAlignment(Qt.AlignmentFlag.AlignCenter)
        caption.setWordWrap(True)
        caption.setMaximumWidth(TILE_PX)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(picture, 0, Qt.AlignmentFlag.AlignHCenter)
        layout.addWidget(caption)
        self.picture, self.caption = picture, caption


class ModelGrid(QWidget):
    """Left: checkable model list and Run; right: one tile per output (reference tiles first).

    ``run_requested(model_ids)`` is emitted by Run; the tab answers with :meth:`add_tile`.
    """

    run_requested = Signal(list)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.models = QListWidget()
        self.models.setToolTip("Models to compare on the selected face")
        self.run_button = QPushButton(icon("mdi6.view-grid"), "Run on selected face")
        self.run_button.setToolTip("Restore the face selected in the list with every ticked model, side by side")
        self.status = QLabel("Select a face, tick models, press Run.")
        self.status.setWordWrap(True)
        self._tiles: list[_Tile] = []
        self._grid = QGridLayout()
        self._grid.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        self._columns = 4
        holder = QWidget()
        holder.setLayout(self._grid)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(holder)
        left = QWidget()
        lay = QVBoxLayout(left)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(QLabel("Models:"))
        lay.addWidget(self.models, 1)
        lay.addWidget(self.run_button)
        right = QWidget()
        rlay = QVBoxLayout(right)
        rlay.setContentsMargins(0, 0, 0, 0)
        rlay.addWidget(self.status)
        rlay.addWidget(scroll, 1)
        split = QSplitter()
        split.addWidget(left)
        split.addWidget(right)
        split.setStretchFactor(1, 1)
        split.setSizes([220, 700])
        QHBoxLayout(self).addWidget(split)
        self.layout().setContentsMargins(0, 0, 0, 0)
        self.run_button.clicked.connect(lambda: self.run_requested.emit(self.checked_models()))

    # --- models -----------------------------------------------------------------------------
    def set_models(self, models: list[tuple[str, str, str, bool]], checked: list[str] | None = None) -> None:
        """``models``: ``(id, label, tooltip, available)``; unavailable ones are listed disabled."""
        keep = set(self.checked_models() if checked is None else checked)
        self.models.clear()
        for model_id, label, tip, available in models:
            item = QListWidgetItem(label)
            item.setData(Qt.ItemDataRole.UserRole, model_id)
            item.setToolTip(tip)
            flags = item.flags() | Qt.ItemFlag.ItemIsUserCheckable
            item.setFlags(flags if available else flags & ~Qt.ItemFlag.ItemIsEnabled)
            item.setCheckState(Qt.CheckState.Checked if available and model_id in keep else Qt.CheckState.Unchecked)
            self.models.addItem(item)

    def checked_models(self) -> list[str]:
        out = []
        for i in range(self.models.count()):
            item = self.models.item(i)
            if item.checkState() == Qt.CheckState.Checked and item.flags() & Qt.ItemFlag.ItemIsEnabled:
                out.append(item.data(Qt.ItemDataRole.UserRole))
        return out

    def set_checked_models(self, ids: list[str]) -> None:
        for i in range(self.models.count()):
            item = self.models.item(i)
            on = item.data(Qt.ItemDataRole.UserRole) in ids and bool(item.flags() & Qt.ItemFlag.ItemIsEnabled)
            item.setCheckState(Qt.CheckState.Checked if on else Qt.CheckState.Unchecked)

    # --- tiles ------------------------------------------------------------------------------
    def clear(self, status: str = "") -> None:
        for tile in self._tiles:
            self._grid.removeWidget(tile)
            tile.deleteLater()
        self._tiles = []
        if status:
            self.status.setText(status)

    def add_tile(self, title: str, image: QImage | None, subtitle: str = "", nearest: bool = False) -> None:
        tile = _Tile(title, image, subtitle, nearest)
        n = len(self._tiles)
        self._grid.addWidget(tile, n // self._columns, n % self._columns)
        self._tiles.append(tile)

    def tile_titles(self) -> list[str]:
        return [t.title for t in self._tiles]

    def set_busy(self, busy: bool) -> None:
        self.run_button.setEnabled(not busy)
        self.run_button.setText("Running..." if busy else "Run on selected face")

    def set_status(self, text: str) -> None:
        self.status.setText(text)

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        columns = max(1, (self.width() - 260) // (TILE_PX + 16))
        if columns != self._columns:
            self._columns = columns
            for n, tile in enumerate(self._tiles):
                self._grid.addWidget(tile, n // columns, n % columns)
