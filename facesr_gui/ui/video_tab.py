"""Video tab: open a clip, scrub through it, preview face detection, process it in the background.

The tab only builds :class:`VideoJob`\\ s and frame requests for the
:class:`~facesr_gui.workers.video.VideoWorker` it is given (the job types come from the
torch-free ``workers.video_jobs``: the UI never imports torch), and shows what comes back: scrubber
frames, throttled enhanced previews, progress with ETA, and the final report, cancelled
runs naming their partial output. Errors (unreadable video, unwritable output) appear in
the tab's message line. Options and folders are remembered in ``Settings("video")``.
"""
from __future__ import annotations

import os
from pathlib import Path

from PySide6.QtCore import QStandardPaths, Qt, Signal
from PySide6.QtWidgets import (QCheckBox, QComboBox, QFileDialog, QGroupBox, QHBoxLayout, QLabel,
                               QLineEdit, QMessageBox, QProgressBar, QPushButton, QSlider, QSpinBox,
                               QVBoxLayout, QWidget)

from ..pipeline.imageio import VIDEO_EXTENSIONS
from ..workers.video_jobs import (DecodedFrame, PreviewFrame, VideoInfo, VideoJob, VideoReport, default_output,
                                  probe_video)
from .qimage import rgb_to_qimage
from .settings import Settings
from .tips import ENSEMBLE_TIP, STABILISE_TIP, VIDEO_TIPS, apply_tips
from .widgets.frame_view import FrameView

MASKS = [("Ellipse (feathered)", "ellipse"), ("Face parsing (where the net predicts it)", "parsing")]
OUTPUT_FILTERS = {".mkv": "Matroska video (*.mkv)", ".mp4": "MP4 video (*.mp4)"}


def format_clock(seconds: float) -> str:
    """``"0:05"``, ``"12:34"``, ``"1:02:03"``; ``"-"`` when negative (unknown)."""
    if seconds < 0:
        return "-"
    s = round(seconds)
    h, m = divmod(s // 60, 60)
    return f"{h}:{m:02d}:{s % 60:02d}" if h else f"{m}:{s % 60:02d}"


def describe_info(name: str, info: VideoInfo) -> str:
    frames = f"{info.frames}" if info.frames_exact else f"~{info.frames}"
    return (f"{name}  |  {info.width}x{info.height}  |  {float(info.fps):.3g} fps  |  {frames} frames  |  "
            f"{format_clock(info.duration)} ({info.duration:.2f} s)  |  audio: {'yes' if info.has_audio else 'no'}"
            f"  |  {info.codec}")


def _spin(lo: int, hi: int, value: int, suffix: str = "") -> QSpinBox:
    spin = QSpinBox()
    spin.setRange(lo, hi)
    spin.setValue(value)
    spin.setSuffix(suffix)
    return spin


class VideoTab(QWidget):
    """``busy_changed(bool)`` while a video is processed; ``status_message(str)`` for the status bar."""

    busy_changed = Signal(bool)
    status_message = Signal(str)

    def __init__(self, worker, parent: QWidget | None = None):
        super().__init__(parent)
        self.worker = worker
        self.worker.setParent(self)
        self.path: Path | None = None
        self.info: VideoInfo | None = None
        self.report: VideoReport | None = None       # last finished or cancelled run
        self.shown_index = -1                        # frame index the view shows
        self.model_id, self.device, self.half = "bicubic", "cpu", False
        self._busy = False
        self._confirmed_output: Path | None = None   # chosen in the save dialog, which asked about overwriting
        self._settings = Settings("video")
        self._build_widgets()
        self._build_layout()
        self._connect()
        self._restore()
        self._update_enabled()
        self.setAcceptDrops(True)
        if not self.worker.is_running():
            self.worker.start()

    # --- construction ---------------------------------------------------------------------------
    def _build_widgets(self) -> None:
        self.open_button = QPushButton("Open video...")
        self.info_label = QLabel("No video loaded")
        self.info_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.view = FrameView()
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setRange(0, 0)
        self.frame_label = QLabel("Frame -")
        self.detect_button = QPushButton("Detect faces on this frame")
        self.upscale_spin = _spin(1, 4, 1, "x")
        self.upscale_spin.setToolTip("Output size: the whole frame is enlarged (bicubic) and faces are "
                                     "pasted from the network's output")
        self.detect_every_spin = _spin(1, 60, 1, " frames")
        self.detect_every_spin.setSpecialValueText("frame")
        self.detect_every_spin.setToolTip("Run the face detector on the whole frame every N frames (up to every 2N "
                                          "while no new face appears; and at cuts); in between each face is looked for only around where it "
                                          "was, which costs a few ms instead of most of a second. New faces are "
                                          "found at the next whole-frame detection")
        self.mask_combo = QComboBox()
        for label, key in MASKS:
            self.mask_combo.addItem(label, key)
        self.ensemble_check = QCheckBox("Flip ensemble")
        self.ensemble_check.setToolTip(ENSEMBLE_TIP)
        self.stabilise_check = QCheckBox("Steady faces")
        self.stabilise_check.setToolTip(STABILISE_TIP)
        self.output_edit = QLineEdit()
        self.output_edit.setPlaceholderText("output video (.mkv or .mp4)")
        self.output_button = QPushButton("Save as...")
        self.process_button = QPushButton("Process")
        self.cancel_button = QPushButton("Cancel")
        self.progress_bar = QProgressBar()
        self.progress_bar.setRange(0, 1)
        self.progress_bar.setValue(0)
        self.frames_label = QLabel("")
        self.eta_label = QLabel("")
        apply_tips(self, VIDEO_TIPS)
        self.message_label = QLabel("")
        self.message_label.setWordWrap(True)
        self.message_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

    def _build_layout(self) -> None:
        top = QHBoxLayout()
        top.addWidget(self.open_button)
        top.addWidget(self.info_label, 1)
        scrub = QHBoxLayout()
        scrub.addWidget(self.slider, 1)
        scrub.addWidget(self.frame_label)
        scrub.addWidget(self.detect_button)
        options = QGroupBox("Options")
        row = QHBoxLayout()
        for label, widget in (("Upscale", self.upscale_spin), ("Detect faces every", self.detect_every_spin),
                              ("Face mask", self.mask_combo)):
            row.addWidget(QLabel(label))
            row.addWidget(widget)
            row.addSpacing(16)
        row.addWidget(self.ensemble_check)
        row.addWidget(self.stabilise_check)
        row.addStretch(1)
        out_row = QHBoxLayout()
        out_row.addWidget(QLabel("Output"))
        out_row.addWidget(self.output_edit, 1)
        out_row.addWidget(self.output_button)
        box = QVBoxLayout(options)
        box.addLayout(row)
        box.addLayout(out_row)
        run = QHBoxLayout()
        run.addWidget(self.process_button)
        run.addWidget(self.cancel_button)
        run.addWidget(self.progress_bar, 1)
        run.addWidget(self.frames_label)
        run.addWidget(self.eta_label)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.view, 1)
        layout.addLayout(scrub)
        layout.addWidget(options)
        layout.addLayout(run)
        layout.addWidget(self.message_label)

    def _connect(self) -> None:
        self.open_button.clicked.connect(self.open_dialog)
        self.slider.valueChanged.connect(self._on_slider_moved)
        self.detect_button.clicked.connect(self.detect_faces)
        self.output_button.clicked.connect(self.choose_output)
        self.process_button.clicked.connect(self.start_processing)
        self.cancel_button.clicked.connect(self.cancel_processing)
        w = self.worker
        w.frame_decoded.connect(self._on_frame_decoded)
        w.frame_failed.connect(self._on_frame_failed)
        w.frame_previewed.connect(self._on_frame_previewed)
        w.frames_progressed.connect(self._on_frames_progressed)
        w.progressed.connect(self._on_progressed)
        w.finished.connect(self._on_finished)
        w.cancelled.connect(self._on_cancelled)
        w.errored.connect(self._on_errored)

    # --- public API -------------------------------------------------------------------------------
    def is_busy(self) -> bool:
        return self._busy

    def set_model(self, model_id: str) -> None:
        """The model the next Process run uses (a catalogue id, as the model picker lists them)."""
        self.model_id = model_id

    def set_device(self, device: str, half: bool = False) -> None:
        """Device (``"cpu"``, ``"cuda"``) and fp16 for the next run and for detection previews."""
        self.device, self.half = str(device), bool(half)

    def open_dialog(self) -> None:
        patterns = " ".join(f"*{s}" for s in sorted(VIDEO_EXTENSIONS))
        path, _ = QFileDialog.getOpenFileName(self, "Open video", self._settings.get("last_dir", str(Path.home())),
                                              f"Videos ({patterns});;All files (*)")
        if path:
            self.open_video(path)

    def open_video(self, path: str | os.PathLike) -> bool:
        """Load ``path``: info, scrubber range, first frame, default output. False (and a
        message) when it is not a readable video or a run is in progress."""
        path = Path(path)
        if self._busy:
            self._show_message("Finish or cancel the running video first.", error=True)
            return False
        try:
            info = probe_video(path)
        except Exception as exc:  # noqa: BLE001 - VideoError, or anything a broken file raises
            self._show_message(f"Cannot open {path.name}: {exc}", error=True)
            return False
        self.path, self.info, self.report = path, info, None
        self.info_label.setText(describe_info(path.name, info))
        self.info_label.setToolTip(str(path))
        self.view.set_frame(None)
        self.shown_index = -1
        self.slider.blockSignals(True)
        self.slider.setRange(0, max(info.frames, 1) - 1)
        self.slider.setValue(0)
        self.slider.blockSignals(False)
        self._on_slider_moved(0)
        self.output_edit.setText(str(self._default_output()))
        self._reset_progress()
        self._settings.set("last_dir", str(path.parent))
        self._show_message(f"Opened {path.name}")
        self._update_enabled()
        return True

    def detect_faces(self) -> None:
        """Run the face detector on the frame under the scrubber; boxes are drawn on it."""
        if self.path is None or self._busy:
            return
        self.worker.request_frame(self.path, self.slider.value(), detect=True, device=self.device)
        self._show_message(f"Detecting faces on frame {self.slider.value()}...")

    def choose_output(self) -> bool:
        """Ask where to save; True if a file was chosen."""
        current = self.output_edit.text().strip()
        start = current or str(self._default_output() if self.path else Path.home())
        suffix = Path(start).suffix.lower()
        filters = [OUTPUT_FILTERS.get(suffix, OUTPUT_FILTERS[".mkv"])]
        filters += [f for s, f in OUTPUT_FILTERS.items() if f not in filters]
        path, chosen = QFileDialog.getSaveFileName(self, "Save enhanced video as", start, ";;".join(filters))
        if not path:
            return False
        path = Path(path)
        if path.suffix.lower() not in OUTPUT_FILTERS:
            wanted = next((s for s, f in OUTPUT_FILTERS.items() if f == chosen), ".mkv")
            path = path.with_name(path.name + wanted)
        self.output_edit.setText(str(path))
        self._confirmed_output = path
        self._settings.set("output_dir", str(path.parent))
        self._settings.set("output_suffix", path.suffix.lower())
        return True

    def start_processing(self) -> bool:
        """Check the output and queue the job; False (with a message) when it cannot start."""
        if self.path is None or self._busy:
            return False
        if not self.output_edit.text().strip() and not self.choose_output():
            return False
        dst = Path(self.output_edit.text().strip()).expanduser()
        problem = self._output_problem(dst)
        if problem:
            self._show_message(problem, error=True)
            return False
        if dst.exists() and dst != self._confirmed_output and self.isVisible() and QMessageBox.question(
                self, "Overwrite?", f"{dst.name} exists. Replace it?") != QMessageBox.StandardButton.Yes:
            return False
        job = VideoJob(self.path, dst, self.model_id, self.upscale_spin.value(), self.detect_every_spin.value(),
                       self.mask_combo.currentData(), self.device, self.half,
                       flip_ensemble=self.ensemble_check.isChecked(), stabilise=self.stabilise_check.isChecked())
        self.report = None
        self._reset_progress()
        self.progress_bar.setRange(0, max(self.info.frames, 1))
        self._set_busy(True)
        self.worker.process(job)
        self._show_message(f"Processing {self.path.name} with {self.model_id}...")
        return True

    def cancel_processing(self) -> None:
        if self._busy:
            self.worker.cancel()
            self.cancel_button.setEnabled(False)
            self.cancel_button.setText("Cancelling...")

    def save_state(self) -> None:
        s = self._settings
        s.set("upscale", self.upscale_spin.value())
        s.set("detect_every", self.detect_every_spin.value())
        s.set("mask", self.mask_combo.currentData())
        s.set("flip_ensemble", self.ensemble_check.isChecked())
        s.set("stabilise", self.stabilise_check.isChecked())
        s.sync()

    def stop(self, timeout_ms: int = 10000) -> bool:
        """On close: save options, cancel a running job and wait for the worker thread."""
        self.save_state()
        return self.worker.stop(timeout_ms)

    # --- internals ----------------------------------------------------------------------------------
    def _restore(self) -> None:
        s = self._settings
        self.upscale_spin.setValue(s.get("upscale", 1))
        self.detect_every_spin.setValue(s.get("detect_every", VideoJob.detect_every))
        self.mask_combo.setCurrentIndex(max(0, self.mask_combo.findData(s.get("mask", "ellipse"))))
        self.ensemble_check.setChecked(bool(s.get("flip_ensemble", False)))
        self.stabilise_check.setChecked(bool(s.get("stabilise", VideoJob.stabilise)))

    def _default_output(self) -> Path:
        suffix = self._settings.get("output_suffix", ".mkv")
        movies = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.MoviesLocation) or str(Path.home())
        out = default_output(self.path, suffix if suffix in OUTPUT_FILTERS else ".mkv", fallback_dir=movies)
        folder = Path(self._settings.get("output_dir", ""))
        return folder / out.name if str(folder) not in ("", ".") and folder.is_dir() else out

    def _output_problem(self, dst: Path) -> str | None:
        if dst.suffix.lower() not in OUTPUT_FILTERS:
            return f"Output {dst.name}: choose a .mkv or .mp4 file."
        if self.path is not None and dst.resolve() == self.path.resolve():
            return "The output must not overwrite the video being read."
        if not dst.parent.is_dir():
            return f"Cannot write {dst.name}: folder {dst.parent} does not exist."
        if not os.access(dst.parent, os.W_OK) or dst.is_dir():
            return f"Cannot write {dst}: not writable."
        return None

    def _set_busy(self, busy: bool) -> None:
        self._busy = busy
        self.cancel_button.setText("Cancel")
        self._update_enabled()
        self.busy_changed.emit(busy)

    def _update_enabled(self) -> None:
        loaded, busy = self.path is not None, self._busy
        for w in (self.slider, self.detect_button, self.process_button):
            w.setEnabled(loaded and not busy)
        for w in (self.open_button, self.upscale_spin, self.detect_every_spin, self.mask_combo, self.ensemble_check,
                  self.stabilise_check, self.output_edit, self.output_button):
            w.setEnabled(not busy)
        self.cancel_button.setEnabled(busy)

    def _reset_progress(self) -> None:
        self.progress_bar.setRange(0, 1)
        self.progress_bar.setValue(0)
        self.frames_label.setText("")
        self.eta_label.setText("")

    def _show_message(self, text: str, error: bool = False) -> None:
        self.message_label.setStyleSheet("color: #d03030;" if error else "")
        self.message_label.setText(text)
        self.status_message.emit(text)

    def _set_frame_label(self, index: int) -> None:
        if self.info is None:
            self.frame_label.setText("Frame -")
            return
        t = index / float(self.info.fps) if self.info.fps else 0.0
        self.frame_label.setText(f"Frame {index} / {max(self.info.frames - 1, 0)}  ({t:.2f} s)")

    # --- slots --------------------------------------------------------------------------------------
    def _on_slider_moved(self, index: int) -> None:
        self._set_frame_label(index)
        if self.path is not None and not self._busy:
            self.worker.request_frame(self.path, index, detect=False, device=self.device)

    def _on_frame_decoded(self, frame: DecodedFrame) -> None:
        if frame.path != self.path or self._busy:
            return
        self.shown_index = frame.index
        self.view.set_frame(rgb_to_qimage(frame.rgb), frame.boxes)
        if frame.boxes is not None:
            n = len(frame.boxes)
            sizes = ", ".join(f"{int(b[2] - b[0])}x{int(b[3] - b[1])}" for b in frame.boxes[:8])
            self._show_message(f"{n} face{'s' if n != 1 else ''} on frame {frame.index}" +
                               (f" ({sizes} px)" if n else ""))

    def _on_frame_failed(self, message: str) -> None:
        self._show_message(message, error=True)

    def _on_frame_previewed(self, preview: PreviewFrame) -> None:
        if not self._busy:
            return
        self.shown_index = preview.index
        self.view.set_frame(rgb_to_qimage(preview.rgb))
        self.slider.blockSignals(True)
        self.slider.setValue(preview.index)
        self.slider.blockSignals(False)
        self._set_frame_label(preview.index)

    def _on_frames_progressed(self, done: int, total: int, eta: float) -> None:
        if total > 0:
            self.progress_bar.setRange(0, total)
            self.progress_bar.setValue(min(done, total))
            self.frames_label.setText(f"{done} / {total} frames")
        else:
            self.progress_bar.setRange(0, 0)  # busy indicator: length unknown
            self.frames_label.setText(f"{done} frames")
        self.eta_label.setText(f"ETA {format_clock(eta)}")

    def _on_progressed(self, _fraction: float, message: str) -> None:
        self.status_message.emit(message)

    def _on_finished(self, report: VideoReport) -> None:
        self.report = report
        self._set_busy(False)
        self.eta_label.setText("done")
        text = (f"Done: {report.frames_out} frames in {report.seconds:.1f} s ({report.fps:.2f} fps), "
                f"audio {report.audio} -> {report.output}\n{report.stage_line()}")
        self._show_message(text + (f"\nSource problem: {report.problem}" if report.problem else ""))

    def _on_cancelled(self, report: VideoReport | None) -> None:
        self.report = report
        self._set_busy(False)
        self.eta_label.setText("cancelled")
        if report is not None and report.output is not None:
            self._show_message(f"Cancelled: the {report.frames_out} frames done are in {report.output}")
        else:
            self._show_message("Cancelled before any frame was written.")

    def _on_errored(self, message: str) -> None:
        if self._busy:
            self._set_busy(False)
            self.eta_label.setText("failed")
        self._show_message(f"Processing failed: {message}", error=True)

    # --- drag and drop -------------------------------------------------------------------------------
    @staticmethod
    def _dropped_video(mime) -> str | None:
        if not mime.hasUrls():
            return None
        return next((u.toLocalFile() for u in mime.urls()
                     if u.isLocalFile() and Path(u.toLocalFile()).suffix.lower() in VIDEO_EXTENSIONS), None)

    def dragEnterEvent(self, event) -> None:
        if self._dropped_video(event.mimeData()) and not self._busy:
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:
        path = self._dropped_video(event.mimeData())
        if path and self.open_video(path):
            event.acceptProposedAction()
