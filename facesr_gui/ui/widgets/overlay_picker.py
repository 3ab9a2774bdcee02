"""List of the network's maps to overlay on its output, with an opacity slider."""
from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QGroupBox, QHBoxLayout, QLabel, QListWidget, QSlider, QVBoxLayout, QWidget

NO_OVERLAY = "(no overlay)"

# what the map families of the implemented papers show (first path component of the name)
HINTS = {
    "edge": "edge map predicted at this scale (edge blocks of EIPNet / JEANet)",
    "parsing_block": "spatial attention of the Parsing Block (W-Net)",
    "parsing": "face parsing prior: one colour per facial component",
    "component": "predicted component mask (CAGFace: hair / skin / parts)",
    "attention": "component attention applied to the features (CAGFace)",
    "faam_spatial": "spatial attention of one FAAM (JEANet), encoder to decoder",
    "lpf": "LR-parsing fusion attention (W-Net)",
    "coarse_sr": "coarse SR before the parsing prior is fused (shown as an image)",
    "stage1": "x2 intermediate output of the first stage (shown as an image)",
}


def hint_for(name: str) -> str:
    head = name.split("/")[0]
    for key, text in HINTS.items():
        if head.startswith(key):
            return text
    return "internal map of the network (min-max normalised, viridis)"


class OverlayPicker(QGroupBox):
    """``changed()`` when the map or the opacity changes; ``current()`` is None for no overlay."""

    changed = Signal()

    def __init__(self, parent: QWidget | None = None):
        super().__init__("Network maps", parent)
        self.list = QListWidget()
        self.list.addItem(NO_OVERLAY)
        self.list.setCurrentRow(0)
        self.list.setMaximumHeight(140)
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setRange(0, 100)
        self.slider.setValue(50)
        self.slider.setToolTip("Overlay opacity")
        self.hint = QLabel("Enhance to see the maps the network computes")
        self.hint.setWordWrap(True)
        row = QHBoxLayout()
        row.addWidget(QLabel("Opacity"))
        row.addWidget(self.slider, 1)
        layout = QVBoxLayout(self)
        layout.addWidget(self.list)
        layout.addLayout(row)
        layout.addWidget(self.hint)
        self.list.currentRowChanged.connect(self._on_changed)
        self.slider.valueChanged.connect(self._on_changed)

    def set_names(self, names: list[str]) -> None:
        """Replace the map names, keeping the selected one when it is still there."""
        previous = self.current()
        self.list.blockSignals(True)
        self.list.clear()
        self.list.addItem(NO_OVERLAY)
        self.list.addItems(names)
        self.list.setCurrentRow(names.index(previous) + 1 if previous in names else 0)
        self.list.blockSignals(False)
        self.list.setEnabled(bool(names))
        self._update_hint()

    def names(self) -> list[str]:
        return [self.list.item(i).text() for i in range(1, self.list.count())]

    def current(self) -> str | None:
        item = self.list.currentItem()
        return None if item is None or self.list.currentRow() <= 0 else item.text()

    def select(self, name: str | None) -> bool:
        rows = [i for i in range(self.list.count()) if self.list.item(i).text() == name]
        self.list.setCurrentRow(rows[0] if rows else 0)
        return bool(rows)

    def opacity(self) -> float:
        return self.slider.value() / 100.0

    def _update_hint(self) -> None:
        name = self.current()
        if name is not None:
            self.hint.setText(f"{name}: {hint_for(name)}")
        else:
            self.hint.setText("Pick a map to overlay it on the output" if self.names()
                              else "Enhance to see the maps the network computes")

    def _on_changed(self, *_args) -> None:
        self._update_hint()
        self.changed.emit()
