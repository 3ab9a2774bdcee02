"""Main window: Photos / Video / Training tabs, model and device pickers, files, drag-and-drop, status bar.

The window is given its workers (inference for the Photos tab, video, training and, optionally,
batch; built by :func:`facesr_gui.app.create_window`, so the UI never imports torch) and routes
what is opened: photos and folders of photos to the Photos tab, videos to the Video tab. A fresh
window (no saved choice) starts on the worker's default model, the manifest's first. With a batch
worker, File > Enhance all... writes every photo the Photos tab lists (:mod:`.batch_panel`).
"""
from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QByteArray, Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFileDialog,
    QLabel,
    QMainWindow,
    QMessageBox,
    QProgressBar,
    QTabWidget,
    QToolBar,
    QWidget,
)

from ..paths import demo_photo
from ..pipeline.engine import collect_inputs
from ..pipeline.imageio import IMAGE_EXTENSIONS, VIDEO_EXTENSIONS, ImageError, classify, load_image
from .batch_panel import BatchPanel
from .export import SAVE_FILTER, with_suffix_for_filter
from .photos_tab import PhotosTab
from .settings import Settings
from .shortcuts import ViewActions, with_keys
from .training_tab import RunPhase, TrainingTab
from .video_tab import VideoTab
from .widgets.icons import icon

MAX_RECENT = 10
DEVICES = [("CPU", "cpu"), ("GPU (CUDA)", "cuda")]


def photos_in(folder: Path) -> list[Path]:
    """The photos in ``folder`` and its sub-folders, as ``facesr enhance`` takes them (earlier outputs left out)."""
    return [p for p in collect_inputs([folder]) if classify(p) == "image"]


class MainWindow(QMainWindow):
    """``worker``: the inference worker (Photos tab, model and device pickers); ``video_worker``
    and ``training_worker``: those of the Video and Training tabs; ``batch_worker``: Enhance all
    (None: no such action)."""

    def __init__(self, worker, video_worker, training_worker, parent: QWidget | None = None, batch_worker=None):
        super().__init__(parent)
        self.setWindowTitle("FaceSR Studio")
        self.setAcceptDrops(True)
        self.worker = worker
        self.worker.setParent(self)
        self._settings = Settings("main_window")
        self.recent_files: list[str] = self._settings.get_list("recent_files")
        self.last_folder = self._settings.get("last_folder", str(Path.home()))
        self.photos = PhotosTab(self.worker)
        self.video = VideoTab(video_worker)
        self.training = TrainingTab(training_worker)
        self.batch = BatchPanel(batch_worker, self) if batch_worker is not None else None
        self.tabs = QTabWidget()
        self.tabs.addTab(self.photos, icon("mdi6.image-multiple"), "Photos")
        self.tabs.addTab(self.video, icon("mdi6.video"), "Video")
        self.tabs.addTab(self.training, icon("mdi6.school"), "Training")
        self.setCentralWidget(self.tabs)
        self.model_combo, self.device_combo = QComboBox(), QComboBox()
        self.half_check = QCheckBox("fp16")
        self._build_actions()
        self._build_toolbar()
        self._build_menus()
        self._build_status_bar()
        self._fill_models(self._settings.get("model", self.worker.default_model_id()))
        self._restore_device()
        self._connect()
        self._restore_geometry()
        if not self.worker.is_running():
            self.worker.start()

    # --- construction -------------------------------------------------------------------------
    def _action(self, text: str, icon_name: str, slot, shortcut=None, tip: str = "") -> QAction:
        action = QAction(icon(icon_name), text, self)
        if shortcut is not None:
            action.setShortcut(shortcut)
        with_keys(action, tip or text.replace("&", "").rstrip("."))
        action.triggered.connect(slot)
        return action

    def _build_actions(self) -> None:
        self.open_action = self._action("&Open...", "mdi6.folder-open", self.open_dialog, QKeySequence.StandardKey.Open,
                                        "Open a photo or a video")
        self.open_folder_action = self._action("Open &folder...", "mdi6.folder-multiple-image", self.open_folder_dialog)
        self.truth_action = self._action("Load &ground truth...", "mdi6.scale-balance", self.ground_truth_dialog)
        self.save_action = self._action("&Save enhanced image...", "mdi6.content-save", self.save_result_dialog,
                                        QKeySequence.StandardKey.Save)
        self.compare_action = self._action("Save &comparison...", "mdi6.compare", self.save_comparison_dialog,
                                           tip="Save before | after (or LR | bicubic | SR of the face) side by side")
        self.enhance_all_action = self._action("Enhance &all...", "mdi6.image-multiple", self.enhance_all_dialog,
                                               "Ctrl+Shift+E", tip="Enhance every photo listed (a folder, several files) with the "
                                                   "chosen model and options, and save them in a folder")
        self.enhance_all_action.setEnabled(False)
        self.enhance_all_action.setVisible(self.batch is not None)
        self.refresh_action = self._action("&Refresh models", "mdi6.refresh", self.refresh_models)
        self.quit_action = self._action("&Quit", "mdi6.exit-to-app", self.close, QKeySequence.StandardKey.Quit)
        self.view_actions = ViewActions(self)
        self.photos.all_button.setDefaultAction(self.enhance_all_action)

    def _build_toolbar(self) -> None:
        bar = QToolBar("Main")
        bar.setObjectName("main_toolbar")
        bar.setMovable(False)
        for action in (self.open_action, self.save_action, self.compare_action, self.enhance_all_action):
            bar.addAction(action)
        bar.addSeparator()
        bar.addWidget(QLabel(" Model: "))
        bar.addWidget(self.model_combo)
        bar.addSeparator()
        bar.addWidget(QLabel(" Device: "))
        bar.addWidget(self.device_combo)
        bar.addWidget(self.half_check)
        self.addToolBar(bar)
        self.model_combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.model_combo.setToolTip("Network used by Enhance (Photos) and Process (Video)")
        for label, data in DEVICES:
            self.device_combo.addItem(label, data)
        gpu = self.worker.cuda_available()
        self.device_combo.model().item(1).setEnabled(gpu)
        self.device_combo.setItemData(1, "CUDA GPU" if gpu else "no CUDA GPU found", Qt.ItemDataRole.ToolTipRole)
        self.device_combo.setToolTip("Where the networks run: the CPU, or a CUDA GPU when one is present")
        self.half_check.setToolTip("Half precision (fp16) on the GPU: faster, slightly less accurate")

    def _build_menus(self) -> None:
        file_menu = self.menuBar().addMenu("&File")
        file_menu.addAction(self.open_action)
        file_menu.addAction(self.open_folder_action)
        self.recent_menu = file_menu.addMenu("Open &Recent")
        file_menu.addSeparator()
        for action in (self.truth_action, self.save_action, self.compare_action, self.enhance_all_action):
            file_menu.addAction(action)
        file_menu.addSeparator()
        file_menu.addAction(self.quit_action)
        models_menu = self.menuBar().addMenu("&Models")
        models_menu.addAction(self.refresh_action)
        self.view_actions.add_menus()
        self._rebuild_recent_menu()

    def _build_status_bar(self) -> None:
        self.progress = QProgressBar()
        self.progress.setRange(0, 100)
        self.progress.setMaximumWidth(140)
        self.progress.setTextVisible(False)
        self.progress.hide()
        self.device_label = QLabel(self.worker.device_label())
        self.device_label.setToolTip("Device the models run on")
        self.model_label = QLabel()
        self.timing_label = QLabel("Last run: -")
        self.statusBar().addPermanentWidget(self.progress)
        for label in (self.timing_label, self.model_label, self.device_label):
            label.setContentsMargins(8, 0, 8, 0)
            self.statusBar().addPermanentWidget(label)

    def _connect(self) -> None:
        self.model_combo.currentIndexChanged.connect(self._on_model_changed)
        self.device_combo.currentIndexChanged.connect(self._on_device_changed)
        self.half_check.toggled.connect(self._on_device_changed)
        w = self.worker
        w.progressed.connect(self._on_worker_progressed)
        # the Photos, Video and batch workers share the model service: any may move it to the CPU
        for source in [w, self.video.worker] + ([self.batch.worker] if self.batch is not None else []):
            source.notified.connect(self._on_worker_notified)
            source.device_changed.connect(self._on_worker_device_changed)
        p = self.photos
        p.status_message.connect(lambda text: self.statusBar().showMessage(text, 8000))
        p.timings_changed.connect(self.timing_label.setText)
        p.busy_changed.connect(self._on_busy_changed)
        p.photo_opened.connect(self._on_photo_opened)
        p.truth_requested.connect(self.ground_truth_dialog)
        p.empty.open_requested.connect(self.open_dialog)
        p.empty.open_folder_requested.connect(self.open_folder_dialog)
        p.empty.demo_requested.connect(lambda: self.open_paths([demo_photo()]))
        self.video.status_message.connect(lambda text: self.statusBar().showMessage(text, 8000))
        if self.batch is not None:
            self.batch.status_message.connect(lambda text: self.statusBar().showMessage(text, 15000))
        self.training.model_registered.connect(self._on_model_registered)
        self.device_label.setText(self.worker.device_label())

    # --- models and device ----------------------------------------------------------------------
    def _fill_models(self, wanted: str) -> None:
        entries = self.worker.models()
        self.model_combo.blockSignals(True)
        self.model_combo.clear()
        for row, entry in enumerate(entries):
            self.model_combo.addItem(entry.label, entry.id)
            self.model_combo.setItemData(row, entry.tooltip(), Qt.ItemDataRole.ToolTipRole)
            self.model_combo.model().item(row).setEnabled(entry.available)
        self.model_combo.blockSignals(False)
        self.select_model(wanted) or self.select_model(self.worker.default_model_id()) or self.select_model("bicubic")
        self.photos.set_models(entries)
        self._on_model_changed()

    def current_model(self) -> str:
        return self.model_combo.currentData() or ""

    def select_model(self, model_id: str) -> bool:
        """Select ``model_id`` if it is listed and usable; returns whether it was."""
        index = self.model_combo.findData(model_id)
        if index < 0 or not self.model_combo.model().item(index).isEnabled():
            return False
        self.model_combo.setCurrentIndex(index)
        return True

    def refresh_models(self) -> None:
        """Re-read bundled and registered models (keeps the selection when it still exists)."""
        current = self.current_model()
        self.worker.refresh_models()
        self._fill_models(current)

    def _on_model_registered(self, path: str) -> None:
        self.refresh_models()
        self.statusBar().showMessage(f"registered {Path(path).name}: it is now in the model picker", 10000)

    def _on_model_changed(self, *_args) -> None:
        model = self.current_model()
        self.model_label.setText(f"Model: {self.photos.model_name(model)}")
        self.photos.set_model(model)
        self.video.set_model(model)

    def _restore_device(self) -> None:
        device = self._settings.get("device", "cuda" if self.worker.cuda_available() else "cpu")
        index = self.device_combo.findData(device if device == "cpu" or self.worker.cuda_available() else "cpu")
        self.device_combo.setCurrentIndex(max(0, index))
        self.half_check.setChecked(self._settings.get("half", False))
        self._on_device_changed()

    def _on_device_changed(self, *_args) -> None:
        device = self.device_combo.currentData()
        self.half_check.setEnabled(device == "cuda")
        half = self.half_check.isChecked() and device == "cuda"
        self.worker.set_device(device, half)
        self.video.set_device(device, half)

    def _on_worker_device_changed(self, label: str) -> None:
        self.device_label.setText(label)
        if label.startswith("CPU") and self.device_combo.currentData() != "cpu":   # fell back after OOM
            self.device_combo.blockSignals(True)
            self.device_combo.setCurrentIndex(0)
            self.device_combo.blockSignals(False)
            self.half_check.setEnabled(False)
            self.video.set_device("cpu", False)      # the Video tab's next job too

    def _on_worker_notified(self, message: str) -> None:
        self.statusBar().showMessage(message, 15000)

    def _on_worker_progressed(self, fraction: float, message: str) -> None:
        self.progress.setValue(int(fraction * 100))
        self.statusBar().showMessage(message, 5000)

    def _on_busy_changed(self, busy: bool) -> None:
        self.progress.setVisible(busy)

    # --- files --------------------------------------------------------------------------------
    def open_dialog(self) -> None:
        patterns = " ".join(f"*{s}" for s in sorted(IMAGE_EXTENSIONS | VIDEO_EXTENSIONS))
        images = " ".join(f"*{s}" for s in sorted(IMAGE_EXTENSIONS))
        videos = " ".join(f"*{s}" for s in sorted(VIDEO_EXTENSIONS))
        path, _ = QFileDialog.getOpenFileName(self, "Open photo or video", self.last_folder,
                                              f"Photos and videos ({patterns});;Photos ({images});;Videos ({videos})")
        if path:
            self.open_paths([path])

    def open_folder_dialog(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Open a folder of photos", self.last_folder)
        if folder:
            self.open_paths([folder])

    def open_paths(self, paths: list[str | Path]) -> bool:
        """Photos (and folders of photos) go to the Photos tab, the first video to the Video tab."""
        photos: list[Path] = []
        folder = False
        for path in map(Path, paths):
            if path.is_dir():
                photos += photos_in(path)
                folder = True
            elif classify(path) == "video":
                return self.open_video(path)
            elif classify(path) == "image":
                photos.append(path)
        if photos and self.photos.open_photos(photos):
            self.tabs.setCurrentWidget(self.photos)
            self._offer_enhance_all(len(photos) if len(photos) > 1 or folder else 0)
            return True
        if not photos:
            self.statusBar().showMessage("nothing to open: drop photos, a folder of photos or a video", 8000)
        return False

    def _offer_enhance_all(self, count: int) -> None:
        """Enable Enhance all for ``count`` photos (0: off) and show it beside Enhance on the Photos tab."""
        self.enhance_all_action.setEnabled(count > 0)
        self.enhance_all_action.setText(f"Enhance &all {count} photos..." if count else "Enhance &all...")
        self.photos.all_button.setVisible(count > 0 and self.batch is not None)

    def open_video(self, path: Path) -> bool:
        if not self.video.open_video(str(path)):
            return False
        self.tabs.setCurrentWidget(self.video)
        self._remember(str(path))
        return True

    def ground_truth_dialog(self) -> None:
        if self.photos.image is None:
            self.statusBar().showMessage("open a photo first", 5000)
            return
        images = " ".join(f"*{s}" for s in sorted(IMAGE_EXTENSIONS))
        path, _ = QFileDialog.getOpenFileName(self, "Ground truth (high-resolution original)", self.last_folder,
                                              f"Photos ({images})")
        if path:
            self.load_ground_truth(path)

    def load_ground_truth(self, path: str | Path) -> bool:
        try:
            loaded = load_image(path)
        except (ImageError, OSError) as exc:
            self.statusBar().showMessage(str(exc), 10000)
            return False
        self.photos.set_ground_truth(loaded.rgb, Path(path).name)
        return True

    def _save_dialog(self, title: str, stem: str) -> str:
        folder = self._settings.get("save_folder", self.last_folder)
        path, chosen = QFileDialog.getSaveFileName(self, title, str(Path(folder) / f"{stem}.png"), SAVE_FILTER)
        if path:
            path = with_suffix_for_filter(path, chosen)
            self._settings.set("save_folder", str(Path(path).parent))
        return path

    def save_result_dialog(self) -> None:
        if self.photos.result_rgb() is None:
            self.statusBar().showMessage("enhance a photo first", 5000)
            return
        stem = f"{Path(self.photos.name).stem}_{self.current_model()}"
        path = self._save_dialog("Save enhanced image", stem)
        if path:
            self.photos.save_result(path)

    def save_comparison_dialog(self) -> None:
        if self.photos.comparison_rgb() is None:
            self.statusBar().showMessage("open a photo first", 5000)
            return
        path = self._save_dialog("Save comparison", f"{Path(self.photos.name).stem}_comparison")
        if path:
            self.photos.save_comparison(path)

    def enhance_all_dialog(self) -> None:
        """Ask for the output folder, then :meth:`enhance_all` (a running batch is shown instead)."""
        if self.batch is None:
            return
        if self.batch.is_running():
            self.batch.show()
            self.batch.raise_()
            return
        out_dir = self.batch.ask_out_dir(self.photos.files)
        if out_dir is not None:
            self.enhance_all(out_dir)

    def enhance_all(self, out_dir: str | Path) -> bool:
        """Enhance every photo the Photos tab lists into ``out_dir`` with the window's model and the tab's options."""
        if self.batch is None or self.batch.is_running() or not self.photos.files:
            return False
        self.batch.start(self.photos.batch_request(out_dir))
        return True

    def _on_photo_opened(self, path: str) -> None:
        self._remember(path)
        self.setWindowTitle(f"FaceSR Studio - {Path(path).name}")

    def _remember(self, path: str) -> None:
        self.last_folder = str(Path(path).parent)
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
    @staticmethod
    def _dropped_paths(mime) -> list[str]:
        if not mime.hasUrls():
            return []
        paths = [Path(u.toLocalFile()) for u in mime.urls() if u.isLocalFile()]
        return [str(p) for p in paths if p.is_dir() or classify(p) is not None]

    def dragEnterEvent(self, event) -> None:
        if self._dropped_paths(event.mimeData()):
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:
        if self.open_paths(self._dropped_paths(event.mimeData())):
            event.acceptProposedAction()

    # --- compatibility and shutdown -------------------------------------------------------------
    def enhance(self) -> None:
        self.photos.enhance()

    def _restore_geometry(self) -> None:
        geometry = self._settings.get("geometry", QByteArray())
        if geometry.isEmpty() or not self.restoreGeometry(geometry):
            self.resize(1280, 820)
        self.tabs.setCurrentIndex(min(self._settings.get("tab", 0), self.tabs.count() - 1))

    def save_settings(self) -> None:
        s = self._settings
        s.set("geometry", self.saveGeometry())
        s.set("model", self.current_model())
        s.set("device", self.device_combo.currentData())
        s.set("half", self.half_check.isChecked())
        s.set("tab", self.tabs.currentIndex())
        s.set("last_folder", self.last_folder)
        s.set_list("recent_files", self.recent_files)
        s.sync()

    def closeEvent(self, event) -> None:
        """Save settings, cancel what runs and wait for every thread (training asks first)."""
        if self.training.run_state() is not RunPhase.IDLE:
            answer = QMessageBox.question(self, "Training is running",
                                          "A training run is in progress. Stop it (its state is saved) and quit?")
            if answer != QMessageBox.StandardButton.Yes:
                event.ignore()
                return
        self.save_settings()
        for tab in (self.photos, self.video, self.training, self.batch):
            if tab is not None:
                tab.stop(10000)
        self.worker.stop(10000)
        super().closeEvent(event)
