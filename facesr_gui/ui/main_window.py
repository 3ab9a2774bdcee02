"""Main window: tabs, model picker, File menu with recent files, drag-and-drop, status bar."""
from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QByteArray, Qt
from PySide6.QtGui import QAction, QImageReader, QKeySequence
from PySide6.QtWidgets import (QComboBox, QFileDialog, QLabel, QMainWindow, QMessageBox, QTabWidget,
                               QToolBar, QVBoxLayout, QWidget)

from ..workers import InferenceRequest, InferenceWorker
from .photos_tab import PhotosTab
from .qimage import qimage_to_rgb, read_image
from .settings import Settings

MAX_RECENT = 8


def image_suffixes() -> set[str]:
    return {"." + bytes(f).decode().lower() for f in QImageReader.supportedImageFormats()}


def _placeholder(text: str) -> QWidget:
    page = QWidget()
    label = QLabel(text)
    label.setAlignment(Qt.AlignmentFlag.AlignCenter)
    label.setWordWrap(True)
    QVBoxLayout(page).addWidget(label)
    return page


class MainWindow(QMainWindow):
    """``worker`` may be injected (tests); otherwise one is built from the bundled manifest."""

    def __init__(self, worker: InferenceWorker | None = None, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("FaceSR Studio")
        self.setAcceptDrops(True)
        self.worker = worker if worker is not None else InferenceWorker()
        self.worker.setParent(self)
        self.current_path: Path | None = None
        self._request_id = 0
        self._settings = Settings("main_window")
        self.recent_files: list[str] = self._settings.get_list("recent_files")
        self.last_folder = self._settings.get("last_folder", str(Path.home()))

        self.photos = PhotosTab()
        self.tabs = QTabWidget()
        self.tabs.addTab(self.photos, "Photos")
        self.tabs.addTab(_placeholder("Video: face super-resolution of surveillance clips, frame by frame, "
                                      "with tracking and export - coming soon."), "Video")
        self.tabs.addTab(_placeholder("Training: fine-tune a network on your own faces, with live loss "
                                      "curves and sample previews - coming soon."), "Training")
        self.setCentralWidget(self.tabs)
        self.model_combo = QComboBox()
        self._build_model_picker()
        self._build_menus()
        self._build_status_bar()

        self.photos.enhanceRequested.connect(self.enhance)
        self.model_combo.currentIndexChanged.connect(self._on_model_changed)
        self.worker.finished.connect(self._on_worker_finished)
        self.worker.errored.connect(self._on_worker_errored)
        self.worker.progressed.connect(self._on_worker_progressed)
        self._restore_geometry()
        if not self.worker.is_running():
            self.worker.start()

    # --- construction -------------------------------------------------------------------------
    def _build_model_picker(self) -> None:
        bar = QToolBar("Model")
        bar.setObjectName("model_toolbar")
        bar.setMovable(False)
        bar.addWidget(QLabel(" Model: "))
        bar.addWidget(self.model_combo)
        self.addToolBar(bar)
        self.model_combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        item_model = self.model_combo.model()
        for row, entry in enumerate(self.worker.models()):
            self.model_combo.addItem(entry.label, entry.id)
            tip = entry.paper if entry.available else f"{entry.paper}\nno trained weights bundled for {entry.id}"
            self.model_combo.setItemData(row, tip, Qt.ItemDataRole.ToolTipRole)
            item_model.item(row).setEnabled(entry.available)
        wanted = self._settings.get("model", "bicubic")
        self.select_model(wanted) or self.select_model("bicubic")

    def _build_menus(self) -> None:
        file_menu = self.menuBar().addMenu("&File")
        open_action = QAction("&Open...", self, shortcut=QKeySequence.StandardKey.Open)
        open_action.triggered.connect(self.open_dialog)
        file_menu.addAction(open_action)
        self.recent_menu = file_menu.addMenu("Open &Recent")
        file_menu.addSeparator()
        quit_action = QAction("&Quit", self, shortcut=QKeySequence.StandardKey.Quit)
        quit_action.triggered.connect(self.close)
        file_menu.addAction(quit_action)
        self._rebuild_recent_menu()

    def _build_status_bar(self) -> None:
        self.device_label = QLabel(self.worker.device_label())
        self.device_label.setToolTip("Device the models run on")
        self.model_label = QLabel()
        self.timing_label = QLabel("Last run: -")
        for label in (self.device_label, self.model_label, self.timing_label):
            label.setContentsMargins(8, 0, 8, 0)
            self.statusBar().addPermanentWidget(label)
        self._on_model_changed()

    # --- models -------------------------------------------------------------------------------
    def current_model(self) -> str:
        return self.model_combo.currentData() or ""

    def select_model(self, model_id: str) -> bool:
        """Select ``model_id`` if it is listed and usable; returns whether it was."""
        index = self.model_combo.findData(model_id)
        if index < 0 or not self.model_combo.model().item(index).isEnabled():
            return False
        self.model_combo.setCurrentIndex(index)
        return True

    def _on_model_changed(self, *_args) -> None:
        self.model_label.setText(f"Model: {self.current_model()}")

    # --- files --------------------------------------------------------------------------------
    def open_dialog(self) -> None:
        patterns = " ".join(f"*{s}" for s in sorted(image_suffixes()))
        path, _ = QFileDialog.getOpenFileName(self, "Open photo", self.last_folder, f"Images ({patterns})")
        if path:
            self.open_paths([path])

    def open_paths(self, paths: list[str | Path]) -> bool:
        """Open the first readable image among ``paths``; returns whether one was opened."""
        for path in map(Path, paths):
            if path.suffix.lower() not in image_suffixes():
                continue
            try:
                image = read_image(path)
            except OSError as exc:
                self.statusBar().showMessage(str(exc), 8000)
                continue
            self.current_path = path
            self.photos.set_image(qimage_to_rgb(image), path.name)
            self.tabs.setCurrentWidget(self.photos)
            self.last_folder = str(path.parent)
            self._add_recent(str(path))
            self.setWindowTitle(f"FaceSR Studio - {path.name}")
            return True
        return False

    def _add_recent(self, path: str) -> None:
        self.recent_files = ([path] + [p for p in self.recent_files if p != path])[:MAX_RECENT]
        self._rebuild_recent_menu()

    def _rebuild_recent_menu(self) -> None:
        self.recent_menu.clear()
        for path in self.recent_files:
            action = self.recent_menu.addAction(Path(path).name)
            action.setToolTip(path)
            action.triggered.connect(lambda _=False, p=path: self.open_paths([p]))
        self.recent_menu.setEnabled(bool(self.recent_files))

    # --- drag and drop ------------------------------------------------------------------------
    def _dropped_paths(self, mime) -> list[str]:
        if not mime.hasUrls():
            return []
        suffixes = image_suffixes()
        return [u.toLocalFile() for u in mime.urls()
                if u.isLocalFile() and Path(u.toLocalFile()).suffix.lower() in suffixes]

    def dragEnterEvent(self, event) -> None:
        if self._dropped_paths(event.mimeData()):
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:
        if self.open_paths(self._dropped_paths(event.mimeData())):
            event.acceptProposedAction()

    # --- inference ----------------------------------------------------------------------------
    def enhance(self) -> None:
        if self.photos.image is None:
            return
        self._request_id += 1
        self.worker.submit(InferenceRequest(self._request_id, self.current_model(), self.photos.image))
        self.photos.set_busy(True)

    def _on_worker_finished(self, result) -> None:
        if result.request_id != self._request_id:
            return  # an older request finished after a newer one was sent
        self.photos.set_busy(False)
        self.photos.show_result(result)
        self.timing_label.setText(f"Last run: {result.seconds * 1000:.0f} ms ({result.model_id})")
        self.statusBar().clearMessage()

    def _on_worker_errored(self, message: str) -> None:
        self.photos.set_busy(False)
        self.statusBar().showMessage(message, 10000)
        if self.isVisible():
            QMessageBox.warning(self, "Enhance failed", message)

    def _on_worker_progressed(self, fraction: float, message: str) -> None:
        self.statusBar().showMessage(f"{message} ({fraction:.0%})")

    # --- settings and shutdown -----------------------------------------------------------------
    def _restore_geometry(self) -> None:
        geometry = self._settings.get("geometry", QByteArray())
        if geometry.isEmpty() or not self.restoreGeometry(geometry):
            self.resize(1200, 800)

    def save_settings(self) -> None:
        s = self._settings
        s.set("geometry", self.saveGeometry())
        s.set("model", self.current_model())
        s.set("last_folder", self.last_folder)
        s.set_list("recent_files", self.recent_files)
        self.photos.save_state()
        s.sync()

    def closeEvent(self, event) -> None:
        self.save_settings()
        self.worker.stop(5000)
        super().closeEvent(event)
