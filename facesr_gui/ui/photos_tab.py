"""Photos tab: the loaded photo, the Enhance button, the before/after view and map overlays."""
from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (QComboBox, QHBoxLayout, QLabel, QPushButton, QSlider, QVBoxLayout,
                               QWidget)

from .overlay_render import colorize_map, map_kind
from .qimage import rgb_to_qimage, rgba_to_qimage
from .settings import Settings
from .widgets.compare_view import CompareView

NO_OVERLAY = "(no overlay)"
_MODES = [("Side by side", "side"), ("Slider", "slider")]


class PhotosTab(QWidget):
    """Emits ``enhanceRequested`` when the user presses Enhance; the window talks to the worker."""

    enhanceRequested = Signal()

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.image: np.ndarray | None = None      # (H, W, 3) uint8 RGB, the loaded photo
        self.result = None                        # last InferenceResult shown
        self.compare = CompareView(self)
        self.enhance_button = QPushButton("Enhance")
        self.enhance_button.setEnabled(False)
        self.mode_combo = QComboBox()
        for label, mode in _MODES:
            self.mode_combo.addItem(label, mode)
        self.overlay_combo = QComboBox()
        self.overlay_combo.addItem(NO_OVERLAY)
        self.overlay_combo.setEnabled(False)
        self.opacity_slider = QSlider(Qt.Orientation.Horizontal)
        self.opacity_slider.setRange(0, 100)
        self.opacity_slider.setValue(50)
        self.opacity_slider.setMaximumWidth(140)
        self.info_label = QLabel("No photo loaded")
        self._build_layout()
        self.enhance_button.clicked.connect(self.enhanceRequested)
        self.mode_combo.currentIndexChanged.connect(self._on_mode_changed)
        self.overlay_combo.currentIndexChanged.connect(self._update_overlay)
        self.opacity_slider.valueChanged.connect(self._update_overlay)
        self._restore()

    def _build_layout(self) -> None:
        bar = QHBoxLayout()
        bar.addWidget(self.enhance_button)
        bar.addSpacing(12)
        bar.addWidget(QLabel("View:"))
        bar.addWidget(self.mode_combo)
        bar.addSpacing(12)
        bar.addWidget(QLabel("Overlay:"))
        bar.addWidget(self.overlay_combo)
        bar.addWidget(QLabel("Opacity:"))
        bar.addWidget(self.opacity_slider)
        bar.addStretch(1)
        bar.addWidget(self.info_label)
        layout = QVBoxLayout(self)
        layout.addLayout(bar)
        layout.addWidget(self.compare, 1)

    # --- public API -----------------------------------------------------------------------
    def set_image(self, rgb: np.ndarray, name: str = "") -> None:
        """Show a newly loaded photo (``(H, W, 3)`` uint8 RGB) on both sides; clears the result."""
        self.image, self.result = rgb, None
        qimg = rgb_to_qimage(rgb)
        self.compare.set_images(qimg, qimg)
        self._set_maps([])
        self.enhance_button.setEnabled(True)
        self.info_label.setText(f"{name}  {rgb.shape[1]}x{rgb.shape[0]}".strip())

    def show_result(self, result) -> None:
        """Show an ``InferenceResult``: LR input (nearest-upscaled) against the SR image."""
        self.result = result
        self.compare.set_images(rgb_to_qimage(result.before), rgb_to_qimage(result.sr))
        self._set_maps(sorted(result.maps))
        h, w = result.sr.shape[:2]
        self.info_label.setText(f"{result.model_id}: {result.lr_size}px -> {w}x{h}")

    def set_busy(self, busy: bool) -> None:
        self.enhance_button.setEnabled(not busy and self.image is not None)
        self.enhance_button.setText("Enhancing..." if busy else "Enhance")

    def save_state(self) -> None:
        s = Settings("photos")
        s.set("mode", self.compare.mode())
        s.set("overlay_opacity", self.opacity_slider.value())

    # --- internals --------------------------------------------------------------------------
    def _restore(self) -> None:
        s = Settings("photos")
        self.opacity_slider.setValue(s.get("overlay_opacity", 50))
        index = self.mode_combo.findData(s.get("mode", "side"))
        self.mode_combo.setCurrentIndex(max(0, index))
        self._on_mode_changed()

    def _set_maps(self, names: list[str]) -> None:
        previous = self.overlay_combo.currentText()
        self.overlay_combo.blockSignals(True)
        self.overlay_combo.clear()
        self.overlay_combo.addItem(NO_OVERLAY)
        self.overlay_combo.addItems(names)
        self.overlay_combo.setCurrentIndex(max(0, self.overlay_combo.findText(previous)))
        self.overlay_combo.blockSignals(False)
        self.overlay_combo.setEnabled(bool(names))
        self._update_overlay()

    def _on_mode_changed(self, *_args) -> None:
        self.compare.set_mode(self.mode_combo.currentData())

    def _update_overlay(self, *_args) -> None:
        name = self.overlay_combo.currentText()
        opacity = self.opacity_slider.value() / 100.0
        if self.result is None or name not in self.result.maps:
            self.compare.set_overlay(None, opacity)
            return
        rgba = colorize_map(self.result.maps[name], map_kind(name))
        self.compare.set_overlay(rgba_to_qimage(rgba), opacity)
