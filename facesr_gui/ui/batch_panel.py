"""The "Enhance all" window: progress with ETA, Cancel, and one row per photo of the batch.

A thin view over a :class:`~facesr_gui.workers.batch.BatchWorker` (handed in; the UI never
imports torch): the worker runs the engine behind ``facesr enhance``, which picks the output names
(never overwriting a file) and reports each photo's outcome; this window shows them. Double-click
a row to open its output. The output folder chosen last is remembered (``Settings("batch")``).
"""
from __future__ import annotations

import time
from pathlib import Path

from PySide6.QtCore import Qt, QUrl, Signal
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QProgressBar,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from ..workers.batch_jobs import BatchRequest, default_out_dir, eta_text, status_text, summary
from .settings import Settings
from .widgets.icons import icon

COLUMNS = ("File", "Status", "Faces", "Seconds", "Message")
FILE, STATUS, FACES, SECONDS, MESSAGE = range(len(COLUMNS))


class BatchPanel(QDialog):
    """``status_message(text)`` feeds the window's status bar (the batch runs on when this is closed)."""

    status_message = Signal(str)

    def __init__(self, worker, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("Enhance all")
        self.worker = worker
        self.worker.setParent(self)
        self._settings = Settings("batch")
        self._request: BatchRequest | None = None
        self._row = 0          # the next row an item_done fills (items come in input order)
        self._t0 = 0.0
        self._running = False
        self._build()
        worker.progressed.connect(self._on_progressed)
        worker.item_done.connect(self._on_item_done)
        worker.finished.connect(self._on_finished)
        worker.failed.connect(self._on_failed)

    def _build(self) -> None:
        self.folder_label = QLabel()
        self.folder_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.eta_label = QLabel()
        self.message_label = QLabel()
        self.message_label.setWordWrap(True)
        self.cancel_button = QPushButton(icon("mdi6.stop"), "Cancel")
        self.cancel_button.setToolTip("Stop now: the photo being enhanced and those left are marked cancelled")
        self.cancel_button.clicked.connect(self.cancel)
        self.open_button = QPushButton(icon("mdi6.folder-open"), "Open folder")
        self.open_button.clicked.connect(lambda: self._open(self._request.out_dir if self._request else None))
        self.open_button.setToolTip("Show the output folder (photos and their .json provenance sidecars)")
        self.close_button = QPushButton("Close")
        self.close_button.setToolTip("Hide this window; a running batch goes on (File > Enhance all shows it again)")
        self.close_button.clicked.connect(self.hide)
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.verticalHeader().hide()
        header = self.table.horizontalHeader()
        for column in range(len(COLUMNS)):
            header.setSectionResizeMode(column, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(MESSAGE, QHeaderView.ResizeMode.Stretch)
        self.table.setWordWrap(False)
        self.table.setToolTip("Double-click a row to open its enhanced photo")
        self.table.cellDoubleClicked.connect(lambda row, _col: self._open(self.output(row)))
        buttons = QHBoxLayout()
        buttons.addWidget(self.eta_label, 1)
        for button in (self.cancel_button, self.open_button, self.close_button):
            buttons.addWidget(button)
        layout = QVBoxLayout(self)
        layout.addWidget(self.folder_label)
        layout.addWidget(self.progress)
        layout.addLayout(buttons)
        layout.addWidget(self.message_label)
        layout.addWidget(self.table, 1)
        self.resize(760, 420)

    # --- public API -------------------------------------------------------------------------
    def default_out_dir(self, inputs) -> Path:
        """The remembered output folder, else ``<first input's folder>/facesr``."""
        return default_out_dir(list(inputs), self._settings.get("out_dir", ""))

    def ask_out_dir(self, inputs) -> Path | None:
        """Ask where the enhanced photos go (starting at :meth:`default_out_dir`); None if cancelled."""
        folder = QFileDialog.getExistingDirectory(self.parentWidget(), "Save the enhanced photos in",
                                                  str(self.default_out_dir(inputs)))
        return Path(folder) if folder else None

    def start(self, request: BatchRequest) -> None:
        """Show the window and run ``request`` (one row per input, filled as each is done)."""
        self._request, self._row, self._t0, self._running = request, 0, time.perf_counter(), True
        self._settings.set("out_dir", str(request.out_dir))
        self.folder_label.setText(f"{len(request.inputs)} photos with {request.model_id} -> {request.out_dir}")
        self.table.setRowCount(0)
        for path in request.inputs:
            self._add_row(Path(path))
        self.progress.setValue(0)
        self.eta_label.setText("starting...")
        self.message_label.clear()
        self.cancel_button.setEnabled(True)
        self.show()
        self.raise_()
        self.worker.enhance_all(request)

    def is_running(self) -> bool:
        return self._running

    def cancel(self) -> None:
        if self._running:
            self.worker.cancel()
            self.cancel_button.setEnabled(False)
            self.eta_label.setText("cancelling...")

    def output(self, row: int) -> Path | None:
        """The output written for ``row``, if any."""
        item = self.table.item(row, FILE)
        value = item.data(Qt.ItemDataRole.UserRole) if item is not None else None
        return Path(value) if value else None

    def status(self, row: int) -> str:
        return self.table.item(row, STATUS).text()

    def stop(self, timeout_ms: int = 10000) -> bool:
        """On close: cancel a running batch and end the worker's thread."""
        return self.worker.stop(timeout_ms)

    # --- worker signals -----------------------------------------------------------------------
    def _on_progressed(self, fraction: float, message: str) -> None:
        if not self._running:
            return
        self.progress.setValue(round(1000 * fraction))
        if self.cancel_button.isEnabled():
            self.eta_label.setText(eta_text(fraction, time.perf_counter() - self._t0))
        self.message_label.setText(message)

    def _on_item_done(self, item) -> None:
        row = self._row
        if row >= self.table.rowCount():
            return
        self._row += 1
        self._set(row, STATUS, status_text(item))
        self._set(row, FACES, str(item.faces) if item.status in ("ok", "no-face") else "")
        self._set(row, SECONDS, f"{item.seconds:.1f}")
        self._set(row, MESSAGE, item.message, tip=item.message)
        if item.output is not None and item.status in ("ok", "no-face"):
            cell = self.table.item(row, FILE)
            cell.setData(Qt.ItemDataRole.UserRole, str(item.output))
            cell.setToolTip(f"{item.path}\n-> {item.output}")

    def _on_finished(self, report) -> None:
        self._running = False
        text = summary(report)
        self.progress.setValue(self.progress.maximum() if not report.cancelled else self.progress.value())
        self.eta_label.setText(f"done in {time.perf_counter() - self._t0:.0f} s")
        self.message_label.setText(text)
        self.cancel_button.setEnabled(False)
        self.status_message.emit(f"Enhance all: {text} -> {self._request.out_dir}")

    def _on_failed(self, message: str) -> None:
        self._running = False
        self.eta_label.setText("failed")
        self.message_label.setText(message)
        self.cancel_button.setEnabled(False)
        for row in range(self._row, self.table.rowCount()):
            self._set(row, STATUS, "not run")
        self.status_message.emit(f"Enhance all: {message}")

    # --- helpers ------------------------------------------------------------------------------
    def _add_row(self, path: Path) -> None:
        row = self.table.rowCount()
        self.table.insertRow(row)
        self._set(row, FILE, path.name, tip=str(path))
        self._set(row, STATUS, "waiting")
        for col in (FACES, SECONDS, MESSAGE):
            self._set(row, col, "")

    def _set(self, row: int, col: int, text: str, tip: str = "") -> None:
        item = self.table.item(row, col)
        if item is None:
            item = QTableWidgetItem()
            if col in (FACES, SECONDS):
                item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            self.table.setItem(row, col, item)
        item.setText(text)
        if tip:
            item.setToolTip(tip)

    @staticmethod
    def _open(path: Path | None) -> None:
        if path is not None and path.exists():
            QDesktopServices.openUrl(QUrl.fromLocalFile(str(path)))
