"""Photos tab: faces found in the photo, enhance the chosen ones, compare, inspect maps, measure, export.

The tab talks to the shared :class:`~facesr_gui.workers.inference.InferenceWorker` (passed
in; the UI never imports torch): loading a photo asks for detection, Enhance sends the
checked faces (detected and drawn by hand), the model grid runs several models on the
selected face. Faces are numbered in one list: detections first, then boxes drawn by hand.
Images are numpy ``(H, W, 3)`` uint8 RGB; boxes ``(x0, y0, x1, y1)`` in photo pixels.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PySide6.QtCore import QRectF, Signal
from PySide6.QtWidgets import QWidget

from ..pipeline.faces import combine_faces, subset
from ..pipeline.imageio import ImageError, load_image
from ..pipeline.sizing import auto_upscale
from ..workers.batch_jobs import BatchRequest
from ..workers.requests import RequestKind
from .export import Exporter, comparison_image
from .qimage import rgb_to_qimage
from .settings import Settings
from .photos_layout import PhotosLayout, PhotosView
from .widgets.photo_views import FaceItem

class PhotosTab(PhotosLayout, PhotosView, QWidget):
    """``status_message(text)``, ``timings_changed(text)`` and ``busy_changed(bool)`` feed the status bar;
    ``photo_opened(path)`` (recent files) and ``truth_requested()`` (the window's file dialog)."""

    status_message = Signal(str)
    timings_changed = Signal(str)
    busy_changed = Signal(bool)
    photo_opened = Signal(str)
    truth_requested = Signal()

    def __init__(self, worker, parent: QWidget | None = None):
        super().__init__(parent)
        self.worker = worker
        self.image: np.ndarray | None = None     # the photo
        self.name = ""
        self.faces: list[FaceItem] = []          # detections, then boxes drawn by hand
        self.detections = None                   # the worker's Detections for the photo
        self.outcome = None                      # last EnhanceOutcome shown
        self.measures: dict[int, dict] = {}      # face id (-1: whole image) -> metrics
        self.ground_truth: np.ndarray | None = None
        self._truth_name = ""
        self.model_id = "bicubic"
        self.model_info: dict[str, tuple[str, int, int]] = {}   # id -> (name, scale, SR crop side)
        self.files: list[Path] = []
        self._file_index = 0
        self.path: Path | None = None
        self._ids = dict.fromkeys(RequestKind, -1)     # the latest request id of each kind
        self._pending: set[RequestKind] = set()
        self._settings = Settings("photos")
        self.exporter = Exporter(self)
        self._build_widgets()
        self._build_layout()
        self._connect()
        self._restore()

    def _connect(self) -> None:
        self.enhance_button.clicked.connect(self.enhance)
        self.prev_button.clicked.connect(lambda: self.step_photo(-1))
        self.next_button.clicked.connect(lambda: self.step_photo(1))
        self.view_combo.currentIndexChanged.connect(lambda *_: self._refresh_view(reset=True))
        self.upscale_combo.currentIndexChanged.connect(lambda *_: self._update_guidance())
        self.mode_combo.currentIndexChanged.connect(lambda *_: self.compare.set_mode(self.mode_combo.currentData()))
        self.overlays.changed.connect(self._update_overlay)
        self.fit_button.clicked.connect(self.compare.reset_view)
        self.truth_button.clicked.connect(self.truth_requested)
        self.faces_list.current_changed.connect(self._on_face_selected)
        self.faces_list.checked_changed.connect(self._refresh_marks)
        self.faces_list.detect_requested.connect(self.detect)
        self.faces_list.draw_toggled.connect(self._on_draw_toggled)
        self.faces_list.remove_requested.connect(self.remove_face)
        self.compare.boxDrawn.connect(self._on_box_drawn)
        self.compare.boxClicked.connect(self.faces_list.set_current)
        self.grid.run_requested.connect(self.run_grid)
        self.exporter.finished.connect(lambda p: self.status_message.emit(f"saved {p}"))
        self.exporter.errored.connect(self._show_error)
        w = self.worker
        w.detected.connect(self._on_detected)
        w.enhanced.connect(self._on_enhanced)
        w.measured.connect(self._on_measured)
        w.grid_progressed.connect(self._on_grid_tile)
        w.grid_finished.connect(self._on_grid_finished)
        w.errored.connect(self._on_errored)

    # --- public API -------------------------------------------------------------------------
    def set_image(self, rgb: np.ndarray, name: str = "", detect: bool = True) -> None:
        """Show a newly loaded photo (``(H, W, 3)`` uint8 RGB), clear the faces and find them."""
        self.image, self.name = rgb, name
        self.message.hide()
        self.faces, self.detections, self.outcome, self.measures = [], None, None, {}
        self.ground_truth, self._truth_name = None, ""
        self.enhance_button.setEnabled(True)
        self._update_file_label()
        self.grid.clear("Select a face, tick models, press Run.")
        self._rebuild_faces()
        self._refresh_view(reset=True)
        if detect:
            self.detect()

    def open_photos(self, paths: list[Path]) -> bool:
        """Open the first readable photo of ``paths``; the arrows step through all of them."""
        paths = [Path(p) for p in paths]
        for i, path in enumerate(paths):
            if self.open_photo(path):
                self.files, self._file_index = paths, i
                self._update_nav()
                return True
        return False

    def open_photo(self, path: Path) -> bool:
        """Load ``path`` (EXIF orientation applied) and show it; errors go to the message line."""
        try:
            loaded = load_image(path)
        except (ImageError, OSError) as exc:
            self._show_error(str(exc))
            return False
        self.path = Path(path)
        self.set_image(loaded.rgb, self.path.name)
        self.photo_opened.emit(str(path))
        return True

    def set_models(self, entries: list) -> None:
        """Model entries (``id``, ``label``, ``tooltip()``, ``available``, ``scale``) for the grid."""
        self.model_info = {e.id: (e.name, e.scale, e.sr_size) for e in entries}
        checked = self._settings.get_list("grid_models") or [e.id for e in entries if e.available][:4]
        self.grid.set_models([(e.id, e.label, e.tooltip(), e.available) for e in entries],
                             checked if not self.grid.models.count() else None)

    def set_model(self, model_id: str) -> None:
        """Use ``model_id`` for Enhance; a shown result is redone with it."""
        changed = model_id != self.model_id
        self.model_id = model_id
        if changed and self.outcome is not None:
            self.enhance()

    def set_ground_truth(self, rgb: np.ndarray | None, name: str = "") -> None:
        """The high-resolution original of the photo (any size: resized to the output); redoes Enhance."""
        self.ground_truth, self._truth_name = rgb, name
        self._update_file_label()
        if self.outcome is not None:
            self.enhance()

    def detect(self) -> None:
        if self.image is None:
            return
        self._ids[RequestKind.DETECT] = self.worker.detect(self.image)
        self.faces_list.set_summary("Detecting faces...")
        self._set_pending(RequestKind.DETECT, True)

    def model_name(self, model_id: str | None = None) -> str:
        model_id = self.model_id if model_id is None else model_id
        return self.model_info.get(model_id, (model_id,))[0]

    def upscale(self) -> int:
        """The chosen output scale. Auto: the engine's rule (:func:`facesr_gui.pipeline.sizing.auto_upscale`,
        as ``facesr enhance``) over the ticked faces; 1 without faces."""
        u = self.upscale_combo.currentData()
        if u or self.image is None:
            return max(1, u)
        _, scale, sr_size = self.model_info.get(self.model_id, ("", 8, 128))
        faces = combine_faces(self.detections, self._manual_boxes())
        ticked = [i for i in self.faces_list.checked() if i < len(faces)]
        h, w = self.image.shape[:2]
        return auto_upscale(h, w, subset(faces, ticked), sr_size, scale)

    def enhance(self) -> None:
        """Send the ticked faces to the worker (detections still running: the worker detects)."""
        if self.image is None:
            return
        manual = self._manual_boxes()
        dets_pending = self.detections is None and manual is None
        self._ids[RequestKind.ENHANCE] = self.worker.enhance(
            self.image, self.model_id, detections=self.detections, manual_boxes=manual,
            selected=None if dets_pending else tuple(self.faces_list.checked()),
            upscale=self.upscale(), mask=self.mask_combo.currentData(),
            identity=self.identity_check.isChecked(), ground_truth=self.ground_truth,
            flip_ensemble=self.ensemble_check.isChecked())
        self._set_pending(RequestKind.ENHANCE, True)
        self.message.hide()

    def batch_request(self, out_dir: str | Path) -> BatchRequest:
        """Enhance all: every listed photo into ``out_dir`` with the tab's model, output size, mask and flip ensemble."""
        return BatchRequest(tuple(self.files), Path(out_dir), self.model_id, self.upscale_combo.currentData() or "auto",
                            self.mask_combo.currentData(), self.ensemble_check.isChecked())

    def run_grid(self, model_ids: list[str]) -> None:
        row = self.faces_list.current()
        if self.image is None or row < 0 or not model_ids:
            self.grid.set_status("Select a face in the list and tick at least one model.")
            return
        self._ids[RequestKind.GRID] = self.worker.run_grid(
            self.image, model_ids, row, detections=self.detections, manual_boxes=self._manual_boxes(),
            flip_ensemble=self.ensemble_check.isChecked())
        self._settings.set_list("grid_models", model_ids)
        self.grid.clear(f"Running {len(model_ids)} models on face #{row + 1}...")
        self._grid_refs = False
        self._grid_bicubic = "bicubic" in model_ids     # then the reference tile would repeat it
        self.grid.set_busy(True)
        self._set_pending(RequestKind.GRID, True)

    def _manual_boxes(self) -> np.ndarray | None:
        """The boxes drawn by hand, ``(M, 4)`` float32 photo pixels, or None."""
        manual = [f.box for f in self.faces if f.manual]
        return np.array(manual, np.float32).reshape(-1, 4) if manual else None

    def add_manual_box(self, box: tuple[float, float, float, float]) -> int:
        """Add a face box drawn by hand (photo pixels); returns its row."""
        self.faces.append(FaceItem(np.asarray(box, np.float32), 1.0, manual=True))
        self._rebuild_faces(select=len(self.faces) - 1)
        return len(self.faces) - 1

    def remove_face(self, row: int) -> None:
        """Remove a hand-drawn box (detections stay); the result is dropped as its numbering changed."""
        if not (0 <= row < len(self.faces)) or not self.faces[row].manual:
            return
        del self.faces[row]
        self.outcome, self.measures = None, {}
        self._rebuild_faces(select=min(row, len(self.faces) - 1))
        self._refresh_view(reset=False)

    def toggle_mode(self) -> None:
        """Slider <-> side by side."""
        self.mode_combo.setCurrentIndex(1 - self.mode_combo.currentIndex())

    def is_busy(self) -> bool:
        return bool(self._pending)

    def comparison_rgb(self) -> np.ndarray | None:
        """The labelled comparison of what the view shows (whole image or selected face)."""
        panels = self._comparison_panels()
        return comparison_image(panels) if panels else None

    def result_rgb(self) -> np.ndarray | None:
        return None if self.outcome is None else self.outcome.result.image

    def save_result(self, path: str | Path) -> bool:
        rgb = self.result_rgb()
        if rgb is not None:
            self.exporter.save(path, rgb)
        return rgb is not None

    def save_comparison(self, path: str | Path) -> bool:
        rgb = self.comparison_rgb()
        if rgb is not None:
            self.exporter.save(path, rgb)
        return rgb is not None

    def save_state(self) -> None:
        s = self._settings
        s.set("mode", self.compare.mode())
        s.set("view", self.view_combo.currentData())
        s.set("overlay_opacity", self.overlays.slider.value())
        s.set("upscale", int(self.upscale_combo.currentData()))
        s.set("mask", self.mask_combo.currentData())
        s.set("identity", self.identity_check.isChecked())
        s.set("flip_ensemble", self.ensemble_check.isChecked())
        s.set("splitter", self.splitter.saveState())

    def stop(self, timeout_ms: int = 10000) -> bool:
        """On close: save the options and wait for pending exports."""
        self.save_state()
        return self.exporter.wait(timeout_ms)

    # --- worker results ---------------------------------------------------------------------
    def _on_detected(self, outcome) -> None:
        if outcome.request_id != self._ids[RequestKind.DETECT]:
            return
        self._set_pending(RequestKind.DETECT, False)
        self.detections = outcome.detections
        manual = [f for f in self.faces if f.manual]
        self.faces = [FaceItem(b.copy(), float(s)) for b, s in zip(outcome.detections.boxes, outcome.detections.scores)]
        self.faces += manual
        self.outcome, self.measures = None, {}
        self._rebuild_faces(select=0 if self.faces else -1)
        self._refresh_view(reset=False)
        self.status_message.emit(f"{len(outcome.detections)} faces found in {outcome.seconds:.2f} s")

    def _on_enhanced(self, outcome) -> None:
        if outcome.request_id != self._ids[RequestKind.ENHANCE]:
            return
        self._set_pending(RequestKind.ENHANCE, False)
        if self.detections is None and not any(f.manual for f in self.faces):   # the worker detected: adopt them
            dets = outcome.result.detections
            self.faces = [FaceItem(b.copy(), float(s)) for b, s in zip(dets.boxes, dets.scores)]
            self.detections = dets
        self.outcome, self.measures = outcome, {}
        self._rebuild_faces(select=self.faces_list.current() if self.faces_list.current() >= 0 else 0)
        self._refresh_view(reset=False)
        t = outcome.result.timings
        detect = f"detect {t['detect'] * 1000:.0f} ms, " if t.get("detect") else ""
        self.timings_changed.emit(f"{self.model_name(outcome.model_id)} on {outcome.device}: {detect}"
                                  f"SR {t['sr'] * 1000:.0f} ms, paste {t['paste'] * 1000:.0f} ms "
                                  f"({len(outcome.face_ids)} faces x{outcome.result.upscale}, {outcome.seconds:.2f} s)")

    def _on_measured(self, measure) -> None:
        if self.outcome is None or measure.request_id != self.outcome.request_id:
            return
        self.measures[measure.face_id] = {**measure.values, "note": measure.note}
        self._update_panel()

    def _on_grid_tile(self, tile) -> None:
        if tile.request_id != self._ids[RequestKind.GRID]:
            return
        if not self._grid_refs and tile.lr is not None:
            self._grid_refs = True
            self.grid.add_tile(f"LR {tile.lr.shape[0]} px", rgb_to_qimage(tile.lr), "input (nearest)", nearest=True)
            if not self._grid_bicubic:
                self.grid.add_tile("bicubic", rgb_to_qimage(tile.bicubic), "reference")
        if tile.sr is None:
            self.grid.add_tile(self.model_name(tile.model_id), None, tile.error)
        else:
            self.grid.add_tile(self.model_name(tile.model_id), rgb_to_qimage(tile.sr), f"{tile.seconds * 1000:.0f} ms")

    def _on_grid_finished(self, outcome) -> None:
        if outcome.request_id != self._ids[RequestKind.GRID]:
            return
        self._set_pending(RequestKind.GRID, False)
        self.grid.set_busy(False)
        self.grid.set_status(f"Face #{outcome.face_id + 1}: {len(outcome.tiles)} models")

    def _on_errored(self, request_id: int, message: str) -> None:
        kinds = [k for k, i in self._ids.items() if i == request_id]
        if not kinds:
            return
        self._set_pending(kinds[0], False)
        if kinds[0] is RequestKind.GRID:
            self.grid.set_busy(False)
            self.grid.set_status(message)
        self._show_error(message)

    def _show_error(self, message: str) -> None:
        self.message.setText(message)
        self.message.show()
        self.status_message.emit(message)

    def _set_pending(self, kind: RequestKind, on: bool) -> None:
        was = bool(self._pending)
        (self._pending.add if on else self._pending.discard)(kind)
        busy = RequestKind.ENHANCE in self._pending
        self.enhance_button.setText("Enhancing..." if busy else "Enhance")
        if was != bool(self._pending):
            self.busy_changed.emit(bool(self._pending))

    # --- faces ------------------------------------------------------------------------------
    def _rebuild_faces(self, select: int = -1) -> None:
        checked = set(self.faces_list.checked()) if self.faces_list.count() == len(self.faces) else None
        self.faces_list.clear("No faces found: draw a box by hand" if self.image is not None else "No faces")
        outcome = self.outcome
        for i, face in enumerate(self.faces):
            result = outcome.face(i) if outcome is not None else None
            self.faces_list.add_face(rgb_to_qimage(face.thumbnail(self.image)), face.describe(i, result),
                                     face.manual, checked is None or i in checked)
        if self.faces:
            n_man = sum(f.manual for f in self.faces)
            self.faces_list.set_summary(f"{len(self.faces) - n_man} detected, {n_man} drawn; "
                                        "ticked faces are enhanced")
        if select >= 0:
            self.faces_list.set_current(select)
        self._refresh_marks()
        self._update_guidance()

    def _on_face_selected(self, _row: int) -> None:
        self._refresh_marks()
        if self.view_combo.currentData() == "face":
            self._refresh_view(reset=True)
        self._update_panel()

    def _on_draw_toggled(self, on: bool) -> None:
        if on:
            self.view_combo.setCurrentIndex(0)
        self.compare.set_draw_mode(on)
        if on:
            self.status_message.emit("Drag on the image to draw a face box")

    def _on_box_drawn(self, rect: QRectF) -> None:
        if self.image is None:
            return
        k = self.image.shape[1] / max(1, self.compare.image_size()[0])   # after-image -> photo pixels
        self.add_manual_box((rect.left() * k, rect.top() * k, rect.right() * k, rect.bottom() * k))
        self.faces_list.set_draw_mode(False)

    # --- files and settings -----------------------------------------------------------------
    def step_photo(self, step: int) -> None:
        """Open the photo ``step`` places on in the list (wrapping around)."""
        if len(self.files) < 2:
            return
        self._file_index = (self._file_index + step) % len(self.files)
        self._update_nav()
        self.open_photo(self.files[self._file_index])

    def _update_file_label(self) -> None:
        if self.image is None:
            self.file_label.setText("No photo loaded")
            return
        text = f"{self.name}  {self.image.shape[1]}x{self.image.shape[0]}".strip()
        if self.ground_truth is not None:
            gt = self.ground_truth
            text += f"  |  ground truth {self._truth_name} {gt.shape[1]}x{gt.shape[0]}"
        self.file_label.setText(text)

    def _update_nav(self) -> None:
        many = len(self.files) > 1
        self.prev_button.setVisible(many)
        self.next_button.setVisible(many)
        if many:
            at = f"{self._file_index + 1}/{len(self.files)}"
            self.prev_button.setToolTip(f"Previous photo ({at}; PgUp, Alt+Left)")
            self.next_button.setToolTip(f"Next photo ({at}; PgDown, Alt+Right)")

    def _restore(self) -> None:
        s = self._settings
        self.overlays.slider.setValue(s.get("overlay_opacity", 50))
        self.mode_combo.setCurrentIndex(max(0, self.mode_combo.findData(s.get("mode", "side"))))
        self.compare.set_mode(self.mode_combo.currentData())
        self.upscale_combo.setCurrentIndex(max(0, self.upscale_combo.findData(s.get("upscale", 0))))
        self.mask_combo.setCurrentIndex(max(0, self.mask_combo.findData(s.get("mask", "ellipse"))))
        self.identity_check.setChecked(s.get("identity", True))
        self.ensemble_check.setChecked(bool(s.get("flip_ensemble", False)))
        self.splitter.restoreState(s.get("splitter", self.splitter.saveState()))
        self.view_combo.setCurrentIndex(max(0, self.view_combo.findData(s.get("view", "whole"))))
        self._update_nav()
