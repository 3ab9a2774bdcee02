"""The Photos tab's widgets and layout, and how it draws what it shows (mixins of :class:`~.photos_tab.PhotosTab`).

Images are numpy ``(H, W, 3)`` uint8 RGB; boxes ``(x0, y0, x1, y1)`` in photo pixels.
"""
from __future__ import annotations

import numpy as np
from PySide6.QtCore import QRectF, Qt
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSplitter,
    QStackedWidget,
    QTabWidget,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from .empty_state import EmptyState
from ..pipeline.sizing import crop_sides
from .guidance import canvas_guidance, expected_large_text, face_guidance
from .qimage import rgb_to_qimage
from .tips import ENSEMBLE_TIP
from .widgets.compare_view import CompareView, FaceMark
from .widgets.face_list import FaceList
from .widgets.face_panel import FacePanel
from .widgets.icons import icon
from .widgets.model_grid import ModelGrid
from .widgets.overlay_picker import OverlayPicker
from .widgets.photo_views import face_crops, face_panel_values, overlay_patches, view_images

_MODES = [("Side by side", "side"), ("Slider", "slider")]
_VIEWS = [("Whole image", "whole"), ("Selected face", "face")]
_UPSCALES = [("Auto", 0), ("1x", 1), ("2x", 2), ("4x", 4), ("8x", 8)]
_MASKS = [("Ellipse", "ellipse"), ("Parsing", "parsing")]


class PhotosLayout:
    """Builds the tab's widgets (``_build_widgets``) and arranges them (``_build_layout``)."""

    # --- construction -----------------------------------------------------------------------
    def _build_widgets(self) -> None:
        self.prev_button, self.next_button = QToolButton(), QToolButton()
        self.prev_button.setIcon(icon("mdi6.chevron-left"))
        self.next_button.setIcon(icon("mdi6.chevron-right"))
        self.prev_button.setToolTip("Previous photo (PgUp, Alt+Left)")
        self.next_button.setToolTip("Next photo (PgDown, Alt+Right)")
        self.file_label = QLabel("No photo loaded")
        self.file_label.setMinimumWidth(40)
        self.enhance_button = QPushButton(icon("mdi6.auto-fix"), "Enhance")
        self.enhance_button.setEnabled(False)
        self.enhance_button.setToolTip("Restore the ticked faces with the model chosen in the toolbar (Ctrl+E)")
        self.all_button = QToolButton()        # the window's Enhance all action, when a folder is listed
        self.all_button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.all_button.hide()
        self.empty = EmptyState()
        self.upscale_combo = _combo(_UPSCALES, "Output size: the photo is enlarged (bicubic) and the faces are "
                                               "pasted from the network. Auto: as large as the ticked faces "
                                               "still fit the network's output (up to its scale)")
        self.mask_combo = _combo(_MASKS, "Blend mask: feathered ellipse, or the face parsing the network "
                                         "predicts (where it has one)")
        self.ensemble_check = QCheckBox("Flip ensemble")
        self.ensemble_check.setToolTip(ENSEMBLE_TIP)
        self.identity_check = QCheckBox("Identity")
        self.identity_check.setToolTip("Measure identity similarity (dlib embeddings) of each face, LR vs SR")
        self.truth_button = QPushButton(icon("mdi6.scale-balance"), "Ground truth...")
        self.truth_button.setToolTip("Load the high-resolution original to measure PSNR/SSIM")
        self.faces_list = FaceList()
        self.view_combo = _combo(_VIEWS, "Whole image, or the selected face: LR input | bicubic | SR")
        self.mode_combo = _combo(_MODES, "Side by side, or one view with a draggable split line (Ctrl+T)")
        self.overlays = OverlayPicker()
        self.fit_button = QToolButton()
        self.fit_button.setIcon(icon("mdi6.fit-to-screen"))
        self.fit_button.setToolTip("Fit the image to the view (Ctrl+0; the wheel or Ctrl++/Ctrl+- zoom, drag pans)")
        self.compare = CompareView()
        self.grid = ModelGrid()
        self.panel = FacePanel()
        self.message = QLabel("")
        self.message.setWordWrap(True)
        self.message.setStyleSheet("color: #d04040;")
        self.message.hide()

    def _build_layout(self) -> None:
        top = QHBoxLayout()
        top.addWidget(self.prev_button)
        top.addWidget(self.next_button)
        top.addWidget(self.file_label, 1)
        top.addWidget(QLabel("Output:"))
        top.addWidget(self.upscale_combo)
        top.addWidget(QLabel("Mask:"))
        top.addWidget(self.mask_combo)
        top.addWidget(self.ensemble_check)
        top.addWidget(self.identity_check)
        top.addWidget(self.truth_button)
        top.addWidget(self.enhance_button)
        top.addWidget(self.all_button)
        bar = QHBoxLayout()
        for w in (QLabel("View:"), self.view_combo, self.mode_combo, self.fit_button):
            bar.addWidget(w)
        bar.addStretch(1)
        compare_page = QWidget()
        col = QVBoxLayout(compare_page)
        col.setContentsMargins(0, 4, 0, 0)
        col.addLayout(bar)
        col.addWidget(self.compare, 1)
        self.pages = QTabWidget()
        self.pages.addTab(compare_page, icon("mdi6.compare"), "Compare")
        self.pages.addTab(self.grid, icon("mdi6.view-grid"), "Model grid")
        self.splitter = QSplitter()
        self.splitter.addWidget(self.faces_list)
        self.splitter.addWidget(self.pages)
        side = QWidget()
        side_layout = QVBoxLayout(side)
        side_layout.setContentsMargins(0, 0, 0, 0)
        side_layout.addWidget(self.panel, 1)
        side_layout.addWidget(self.overlays)
        self.splitter.addWidget(side)
        self.splitter.setStretchFactor(1, 1)
        self.splitter.setSizes([220, 800, 290])
        self.stack = QStackedWidget()          # the empty state until a photo is loaded
        self.stack.addWidget(self.empty)
        self.stack.addWidget(self.splitter)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.message)
        layout.addWidget(self.stack, 1)


class PhotosView:
    """Shows the photo, the result, the face marks, the overlay and the face panel."""

    # --- view -------------------------------------------------------------------------------
    def _current_face(self):
        row = self.faces_list.current()
        return row, (self.outcome.face(row) if self.outcome is not None and row >= 0 else None)

    def _shown(self, view: str):
        row, face = self._current_face()
        item = self.faces[row] if 0 <= row < len(self.faces) else None
        name = self.model_name(self.outcome.model_id) if self.outcome is not None else ""
        return view_images(view, self.image, self.outcome, face, item, name)

    def _refresh_view(self, reset: bool = False) -> None:
        self._update_guidance()
        self.stack.setCurrentWidget(self.empty if self.image is None else self.splitter)
        if self.image is None:
            self.compare.clear()
            self.panel.clear()
            return
        view = self.view_combo.currentData()
        shown = self._shown(view)
        if shown is None:
            self.compare.clear("Select a face in the list" if view == "face" else "")
        else:
            before, middle, after, captions = shown
            self.compare.set_images(rgb_to_qimage(before), rgb_to_qimage(after), reset_view=reset,
                                    middle=None if middle is None else rgb_to_qimage(middle))
            self.compare.set_captions(*captions)
        self._refresh_marks()
        self._set_overlay_names()
        self._update_panel()

    def _update_guidance(self) -> None:
        """The canvas banner: faces left as they are for being large, or no face found; in the
        face-by-face view, about the face shown only."""
        model_id = self.outcome.model_id if self.outcome is not None else self.model_id
        name, _, sr_size = self.model_info.get(model_id, (model_id, 8, 128))
        if self.image is not None and self.view_combo.currentData() == "face":
            self.compare.set_banner(self._face_guidance(name, sr_size))
            return
        expected = ""
        if self.outcome is None and self.detections is not None and len(self.detections):   # detected faces only
            expected = expected_large_text(crop_sides(self.detections), self.upscale(), name, sr_size)
        self.compare.set_banner(canvas_guidance(self.image is not None, self.detections, len(self.faces),
                                                self.outcome, name, sr_size, expected))

    def _face_guidance(self, name: str, sr_size: int) -> str:
        row, face = self._current_face()
        upscale = int(self.outcome.result.upscale) if self.outcome is not None else self.upscale()
        return face_guidance(row, face, None if self.outcome is not None else self.detections, upscale, name, sr_size)

    def _refresh_marks(self) -> None:
        if self.image is None or self.view_combo.currentData() != "whole" or not self.compare.image_size()[0]:
            self.compare.set_marks([])
            return
        k = self.compare.image_size()[0] / self.image.shape[1]
        checked, current = set(self.faces_list.checked()), self.faces_list.current()
        self.compare.set_marks([FaceMark(QRectF(f.box[0] * k, f.box[1] * k, (f.box[2] - f.box[0]) * k,
                                                (f.box[3] - f.box[1]) * k), str(i + 1), i == current, f.manual,
                                         i in checked) for i, f in enumerate(self.faces)])

    def _set_overlay_names(self) -> None:
        _, face = self._current_face()
        if self.view_combo.currentData() == "face":
            names = sorted(face.maps) if face is not None else []
        else:
            names = self.outcome.result.map_names if self.outcome is not None else []
        self.overlays.set_names(names)
        self._update_overlay()

    def _update_overlay(self, *_args) -> None:
        name, opacity = self.overlays.current(), self.overlays.opacity()
        if self.outcome is None or name is None:
            self.compare.set_overlay(None, opacity)
            return
        _, face = self._current_face()
        whole = self.view_combo.currentData() == "whole"
        self.compare.set_overlay_patches(overlay_patches(name, self.outcome.result.faces if whole else [face],
                                                         stretch=not whole), opacity)

    def _update_panel(self) -> None:
        row, face = self._current_face()
        if self.image is None or row < 0 or row >= len(self.faces):
            self.panel.clear()
            return
        item = self.faces[row]
        name = self.model_name(self.outcome.model_id) if self.outcome is not None else ""
        crops = face_crops(self.image, item, face, name)
        self.panel.set_face(item.title(row), [(c, rgb_to_qimage(img)) for c, img in crops])
        values = face_panel_values(item, face, self.outcome, self.measures.get(row), self.measures.get(-1),
                                   self.identity_check.isChecked(), self.ground_truth is not None, name)
        for key, text in values.items():
            self.panel.set_value(key, text)

    def _comparison_panels(self) -> list[tuple[str, np.ndarray]]:
        if self.image is None:
            return []
        shown = self._shown(self.view_combo.currentData())
        if shown is None:
            return []
        before, middle, after, captions = shown
        panels = [(captions[0], before)] + ([(captions[2], middle)] if middle is not None else [])
        return panels + [(captions[1], after)] if self.outcome is not None else panels


def _combo(items: list[tuple[str, object]], tip: str) -> QComboBox:
    combo = QComboBox()
    for label, data in items:
        combo.addItem(label, data)
    combo.setToolTip(tip)
    return combo
