"""Training tab: set up a run, start/pause/resume/cancel it, watch curves and previews, register the result.

The tab talks to the :class:`~facesr_gui.workers.training.TrainingWorker` it is given: the
training config, network names, checkpoints and registration come from the worker's methods,
so the UI never imports torch. The run's state is a :class:`RunPhase`. Form values are
remembered in ``Settings("training")``.
"""
from __future__ import annotations

import enum
import json
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QPixmap
from PySide6.QtWidgets import QFileDialog, QInputDialog, QLineEdit, QWidget

from .qimage import rgb_to_qimage
from .settings import Settings
from .training_form import BICUBIC, PSNR, TrainingForm

if TYPE_CHECKING:
    from ..workers.training import TrainConfig, TrainEvent, TrainingWorker, TrainSummary


class RunPhase(enum.Enum):
    """Where the tab's training run is."""

    IDLE = "idle"
    RUNNING = "running"
    PAUSED = "paused"
    CANCELLING = "cancelling"


def format_duration(seconds: float) -> str:
    """``"12s"``, ``"3m 05s"``, ``"1h 02m"``."""
    s = max(0, int(round(seconds)))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m {s % 60:02d}s"
    return f"{s // 3600}h {s % 3600 // 60:02d}m"


class TrainingTab(TrainingForm, QWidget):
    """Emits ``model_registered(weights path)`` after "Register as model" wrote the user manifest."""

    model_registered = Signal(str)

    def __init__(self, worker: TrainingWorker, parent: QWidget | None = None):
        super().__init__(parent)
        self.worker = worker
        self.worker.setParent(self)
        self.nets = {n.name: n for n in worker.trainable_nets()}
        self.summary: TrainSummary | None = None   # last finished run
        self.preview_image = None                  # QImage of the latest preview grid
        self._run_state = RunPhase.IDLE
        self._last_step = 0
        self._phase = ""
        self._warned_skipped = False
        self._settings = Settings("training")
        self._build_widgets()
        self._build_layout()
        self._connect()
        self._restore()
        self._set_run_state(RunPhase.IDLE)

    def _connect(self) -> None:
        self.net_combo.currentIndexChanged.connect(self._on_net_changed)
        self.preset_combo.currentIndexChanged.connect(self._on_preset_changed)
        self.net_cfg_edit.textEdited.connect(self._on_cfg_edited)
        self.start_mode_combo.currentIndexChanged.connect(self._on_start_mode_changed)
        self.start_browse.clicked.connect(self._browse_start_path)
        self.start_path_combo.currentTextChanged.connect(self._on_start_path_changed)
        self.start_button.clicked.connect(self.start)
        self.pause_button.clicked.connect(self.pause)
        self.resume_button.clicked.connect(self.resume)
        self.cancel_button.clicked.connect(self.cancel)
        self.register_button.clicked.connect(lambda: self.register_model())
        self.samples_button.clicked.connect(self.preview_inputs)
        self.worker.progressed.connect(self._on_progressed)
        self.worker.finished.connect(self._on_finished)
        self.worker.errored.connect(self._on_errored)
        self.worker.paused_changed.connect(self._on_paused_changed)

    # --- settings ---------------------------------------------------------------------------------------
    def _restore(self) -> None:
        s = self._settings
        self.select_net(s.get("net", "eipnet")) or self.net_combo.setCurrentIndex(0)
        self.preset_combo.setCurrentIndex(max(0, self.preset_combo.findData(s.get("preset", "paper"))))
        self._on_net_changed()
        if self.preset() == "custom":
            self.net_cfg_edit.setText(s.get("net_cfg", "{}"))
        self.data_edit.setText(s.get("data", ""))
        self.val_edit.setText(s.get("val", ""))
        self.parsing_edit.setText(s.get("parsing", ""))
        self.steps_spin.setValue(s.get("steps", 1000))
        self.batch_spin.setValue(s.get("batch_size", 16))
        self.lr_spin.setValue(s.get("lr", 0.0))
        self.val_every_spin.setValue(s.get("val_every", 200))
        self.device_combo.setCurrentIndex(max(0, self.device_combo.findText(s.get("device", "cpu"))))
        self.gan_check.setChecked(s.get("gan", True))
        self.degradation_combo.setCurrentIndex(max(0, self.degradation_combo.findData(s.get("degradation", "bicubic"))))
        self.jitter_spin.setValue(s.get("jitter", 0.0))
        self.start_mode_combo.setCurrentIndex(max(0, self.start_mode_combo.findData(s.get("start_mode", "scratch"))))
        self._on_start_mode_changed()
        self.start_path_combo.setEditText(s.get("start_path", ""))

    def save_state(self) -> None:
        s = self._settings
        for key, value in (("net", self.current_net()), ("preset", self.preset()), ("net_cfg", self.net_cfg_edit.text()),
                           ("data", self.data_edit.text()), ("val", self.val_edit.text()),
                           ("parsing", self.parsing_edit.text()), ("steps", self.steps_spin.value()),
                           ("batch_size", self.batch_spin.value()), ("lr", self.lr_spin.value()),
                           ("val_every", self.val_every_spin.value()), ("device", self.device_combo.currentText()),
                           ("gan", self.gan_check.isChecked()), ("start_mode", self.start_mode()),
                           ("degradation", self.degradation_combo.currentData()), ("jitter", self.jitter_spin.value()),
                           ("start_path", self.start_path_combo.currentText())):
            s.set(key, value)
        s.sync()

    # --- form -------------------------------------------------------------------------------------------
    def current_net(self) -> str:
        return self.net_combo.currentData() or ""

    def select_net(self, name: str) -> bool:
        index = self.net_combo.findData(name)
        if index >= 0:
            self.net_combo.setCurrentIndex(index)
        return index >= 0

    def preset(self) -> str:
        return self.preset_combo.currentData()

    def start_mode(self) -> str:
        return self.start_mode_combo.currentData()

    def _on_net_changed(self, *_args) -> None:
        net = self.nets.get(self.current_net())
        if net is None:
            return
        self._on_preset_changed()
        options = ", ".join(f"{k}={v!r}" for k, v in net.options.items())
        self.net_cfg_edit.setToolTip(f"Keyword arguments of {net.name} (paper values): {options}")
        self.lr_spin.setToolTip(f"0 = the paper's learning rate ({net.paper_lr:g})")
        self.parsing_edit.setEnabled(net.needs_parsing)
        self.gan_check.setEnabled(net.has_gan)
        if self.start_mode() == "finetune":
            self._fill_checkpoints()

    def _on_preset_changed(self, *_args) -> None:
        net = self.nets.get(self.current_net())
        if net is not None and self.preset() != "custom":
            self.net_cfg_edit.setText(json.dumps(net.tiny_cfg if self.preset() == "tiny" else {}))

    def _on_cfg_edited(self, _text: str) -> None:
        self.preset_combo.blockSignals(True)
        self.preset_combo.setCurrentIndex(self.preset_combo.findData("custom"))
        self.preset_combo.blockSignals(False)

    def _on_start_path_changed(self, text: str) -> None:
        """Fine-tuning keeps the layout of the weights: show their config (the size becomes Custom)."""
        path = Path(text.strip())
        if self.start_mode() != "finetune" or not text.strip() or not path.is_file():
            return
        cfg = self.worker.checkpoint_config(path)
        if cfg is not None:
            self.net_cfg_edit.setText(json.dumps(cfg))
            self._on_cfg_edited("")

    def _on_start_mode_changed(self, *_args) -> None:
        mode = self.start_mode()
        self.start_path_combo.setEnabled(mode != "scratch")
        self.start_browse.setEnabled(mode != "scratch")
        self.start_path_combo.clear()
        if mode == "finetune":
            self._fill_checkpoints()

    def _fill_checkpoints(self) -> None:
        text = self.start_path_combo.currentText()
        self.start_path_combo.clear()
        for label, path in self.worker.known_checkpoints(self.current_net()):
            self.start_path_combo.addItem(str(path))
            self.start_path_combo.setItemData(self.start_path_combo.count() - 1, label, Qt.ItemDataRole.ToolTipRole)
        if text:
            self.start_path_combo.setEditText(text)

    def _browse_folder(self, edit: QLineEdit, title: str) -> None:
        path = QFileDialog.getExistingDirectory(self, title, edit.text() or str(Path.home()))
        if path:
            edit.setText(path)

    def _browse_start_path(self) -> None:
        resume = self.start_mode() == "resume"
        path, _ = QFileDialog.getOpenFileName(self, "Training state" if resume else "Weights to fine-tune",
                                              self.start_path_combo.currentText() or str(Path.home()),
                                              "Training state (state.pt)" if resume else "Weights (*.safetensors *.pt *.pth)")
        if path:
            self.start_path_combo.setEditText(path)

    # --- building the run ---------------------------------------------------------------------------------
    def build_config(self) -> TrainConfig:
        """The run the form describes; raises ``ValueError`` with a message for the user.

        Resuming takes the network, its config and (unless one is given) the output folder
        from the chosen ``state.pt``, and selects that network in the picker."""
        net = self.current_net()
        data = self.data_edit.text().strip()
        if not data or not Path(data).is_dir():
            raise ValueError("choose a folder of training faces")
        val = self.val_edit.text().strip() or None
        if val and not Path(val).is_dir():
            raise ValueError(f"validation folder not found: {val}")
        try:
            net_cfg = json.loads(self.net_cfg_edit.text().strip() or "{}")
        except json.JSONDecodeError as exc:
            raise ValueError(f"network config is not valid JSON ({exc.msg})") from None
        if not isinstance(net_cfg, dict):
            raise ValueError('network config must be a JSON object, e.g. {"width": 64}')
        mode, start_path = self.start_mode(), self.start_path_combo.currentText().strip()
        steps, out_text = self.steps_spin.value(), self.out_edit.text().strip()
        resume = init = None
        if mode == "resume":
            state = self.worker.describe_state(start_path)       # ValueError with the reason
            if state.net != net:
                self.select_net(state.net)
                net = state.net
            if steps <= state.step:
                raise ValueError(f"that run already reached step {state.step}; set Steps above it")
            resume, net_cfg = str(state.path), state.net_cfg
            out = Path(out_text) if out_text else state.path.parent
        else:
            if mode == "finetune":
                if not Path(start_path).is_file():
                    raise ValueError(f"weights to fine-tune not found: {start_path or '(none chosen)'}")
                init = start_path
            out = Path(out_text) if out_text else self.worker.default_run_dir(net)
            if (out / "state.pt").exists():
                raise ValueError(f"{out} already holds a run: resume it or choose another output folder")
        parsing = self.parsing_edit.text().strip() or None
        return self.worker.make_config(net=net, data=data, val=val, steps=steps, batch_size=self.batch_spin.value(),
                           lr=self.lr_spin.value() or None, out=str(out), resume=resume, init=init,
                           device=self.device_combo.currentText(), val_every=self.val_every_spin.value(),
                           net_cfg=net_cfg, parsing_dir=parsing if self.parsing_edit.isEnabled() else None,
                           gan=self.gan_check.isChecked(), degradation=self.degradation_combo.currentData(),
                           jitter=self.jitter_spin.value())

    def preview_inputs(self) -> bool:
        """Show the first training faces over the LR inputs the chosen degradation makes of them."""
        data = self.data_edit.text().strip()
        degradation = self.degradation_combo.currentData()
        try:
            if not data or not Path(data).is_dir():
                raise ValueError("choose a folder of training faces first")
            grid = self.worker.degraded_samples(data, self.current_net(), degradation, self.jitter_spin.value())
        except ValueError as exc:
            self._log(f"Cannot preview: {exc}")
            return False
        self.show_preview(grid, f"Training faces (top) and their LR inputs, {degradation} (bottom, pixel-repeated)")
        return True

    # --- run control --------------------------------------------------------------------------------------
    def start(self) -> bool:
        """Start the run the form describes; False (and a log line) if it cannot."""
        if self.worker.is_running():
            return False
        try:
            cfg = self.build_config()
        except ValueError as exc:
            self._log(f"Cannot start: {exc}")
            self.eta_label.setText(f"Cannot start: {exc}")
            return False
        self.save_state()
        self.summary = None
        self.loss_plot.clear()
        self.val_plot.clear()
        self.val_plot.add_series(PSNR, "#d62728")
        self.val_plot.add_series(BICUBIC, "#7f7f7f", dashed=True)
        self.preview_image = None
        self.preview_label.setPixmap(QPixmap())
        self.preview_label.setText("Preview appears after the first validation")
        self.preview_caption.clear()
        self.progress.setRange(0, cfg.steps)
        self.progress.setValue(0)
        self._last_step, self._phase, self._warned_skipped = 0, "", False
        how = f"resuming {Path(cfg.resume).parent}" if cfg.resume else (f"from {Path(cfg.init).name}" if cfg.init
                                                                         else "from scratch")
        self._log(f"Started {cfg.net} {how}: {cfg.steps} steps, batch {cfg.batch_size} on {cfg.device} -> {cfg.out}")
        self.eta_label.setText("Preparing data and network...")
        self.worker.start(cfg)
        self._set_run_state(RunPhase.RUNNING)
        return True

    def pause(self) -> None:
        if self._run_state is RunPhase.RUNNING:
            self.worker.pause()
            self._log("Pausing after the current step...")
            self._set_run_state(RunPhase.PAUSED)

    def resume(self) -> None:
        if self._run_state is RunPhase.PAUSED:
            self.worker.resume()
            self._set_run_state(RunPhase.RUNNING)

    def cancel(self) -> None:
        if self._run_state in (RunPhase.RUNNING, RunPhase.PAUSED):
            self.worker.cancel()
            self._log("Cancelling after the current step (the state is saved so the run can be resumed)...")
            self._set_run_state(RunPhase.CANCELLING)

    def stop(self, timeout_ms: int = 10_000) -> bool:
        """Cancel any run and wait for its thread (call on window close); True if it ended."""
        if self.worker.is_running():
            self.worker.cancel()
        return self.worker.wait(timeout_ms)

    def run_state(self) -> RunPhase:
        return self._run_state

    def _set_run_state(self, state: RunPhase) -> None:
        self._run_state = state
        idle = state is RunPhase.IDLE
        self.form.setEnabled(idle)
        self.start_button.setEnabled(idle)
        self.pause_button.setEnabled(state is RunPhase.RUNNING)
        self.resume_button.setEnabled(state is RunPhase.PAUSED)
        self.cancel_button.setEnabled(state in (RunPhase.RUNNING, RunPhase.PAUSED))
        self.register_button.setEnabled(idle and self.summary is not None and self.summary.checkpoint is not None)

    # --- worker signals ---------------------------------------------------------------------------------
    def _on_progressed(self, event: TrainEvent) -> None:
        self._last_step = event.step
        self.progress.setRange(0, event.total)
        self.progress.setValue(event.step)
        if self._run_state is not RunPhase.PAUSED:
            self.eta_label.setText(f"Step {event.step} / {event.total}   elapsed {format_duration(event.elapsed_s)}"
                                   f"   ETA {format_duration(event.eta_s)}   lr {event.lr:.2g}")
        for name, value in event.losses.items():
            self.loss_plot.add_point(name, event.step, value)
        if event.phase != self._phase:
            if self._phase:
                self._log(f"Step {event.step}: {event.phase} phase started")
            self._phase = event.phase
        if event.skipped_terms and not self._warned_skipped:
            self._warned_skipped = True
            self._log(f"Skipped loss terms (inputs missing, e.g. no parsing labels): {', '.join(event.skipped_terms)}")
        if event.val is not None:
            self._show_val(event)
        if event.preview is not None:
            self.show_preview(event.preview, f"Step {event.step}: LR (nearest) | SR (EMA) | HR")
        if event.checkpoint:
            self._log(f"Step {event.step}: saved {event.checkpoint}")

    def _show_val(self, event: TrainEvent) -> None:
        val = event.val
        self.val_plot.add_point(PSNR, event.step, val["psnr"])
        text = f"Step {event.step}: val PSNR {val['psnr']:.2f} dB, SSIM {val.get('ssim', float('nan')):.4f}"
        if "bicubic_psnr" in val:
            self.val_plot.add_point(BICUBIC, event.step, val["bicubic_psnr"])
            text += f" (bicubic {val['bicubic_psnr']:.2f} dB)"
        self._log(text)

    def show_preview(self, rgb, caption: str = "") -> None:
        """Show a preview grid, ``(H, W, 3)`` uint8 RGB."""
        self.preview_image = rgb_to_qimage(rgb)
        self._rescale_preview()
        self.preview_caption.setText(caption)

    def _rescale_preview(self) -> None:
        if self.preview_image is not None:
            pix = QPixmap.fromImage(self.preview_image)
            self.preview_label.setPixmap(pix.scaled(self.preview_label.size(), Qt.AspectRatioMode.KeepAspectRatio,
                                                    Qt.TransformationMode.SmoothTransformation))

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self._rescale_preview()

    def _on_finished(self, summary: TrainSummary) -> None:
        self.summary = summary
        what = "Cancelled" if summary.cancelled else "Finished"
        self._log(f"{what} at step {summary.step} / {summary.total} after {format_duration(summary.elapsed_s)}; "
                  f"weights: {summary.checkpoint or 'none'}")
        if summary.cancelled and summary.state:
            self._log(f"Resume later from {summary.state}")
        self.eta_label.setText(f"{what} at step {summary.step} / {summary.total}")
        self._set_run_state(RunPhase.IDLE)

    def _on_errored(self, message: str) -> None:
        self._log(f"Error: {message}")
        self.eta_label.setText(f"Training failed: {message}")
        self._set_run_state(RunPhase.IDLE)

    def _on_paused_changed(self, paused: bool) -> None:
        if paused:
            self._log(f"Paused at step {self._last_step}")
            self.eta_label.setText(f"Paused at step {self._last_step}")
        elif self._run_state is RunPhase.RUNNING:
            self._log("Resumed")

    def _log(self, text: str) -> None:
        self.log_list.addItem(text)
        self.log_list.scrollToBottom()

    # --- registration -----------------------------------------------------------------------------------
    def default_model_id(self) -> str:
        if self.summary is None:
            return ""
        name = self.summary.out_dir.name
        return self.worker.sanitize_model_id(name if name.startswith(self.summary.net) else f"{self.summary.net}-{name}")

    def register_model(self, model_id: str | None = None) -> str | None:
        """Copy the last run's weights into the user models folder and add it to the user manifest.

        Asks for an id when ``model_id`` is None. Returns the registered weights path, or None."""
        summary = self.summary
        if summary is None or summary.checkpoint is None:
            return None
        if model_id is None:
            model_id, ok = QInputDialog.getText(self, "Register as model", "Model id:", text=self.default_model_id())
            if not ok or not model_id.strip():
                return None
        cfg = summary.config
        training = {"data": cfg.data, "val": cfg.val, "steps": summary.step, "planned_steps": summary.total,
                    "batch_size": cfg.batch_size, "lr": cfg.lr or self.nets[summary.net].paper_lr,
                    "init": cfg.init, "resumed_from": cfg.resume, "gan": cfg.gan, "device": cfg.device,
                    "wall_time_s": round(summary.elapsed_s, 1), "run_dir": str(summary.out_dir)}
        metrics = {Path(cfg.val).name: summary.val} if cfg.val and summary.val else {}
        notes = f"trained in FaceSR Studio{' (cancelled early)' if summary.cancelled else ''}"
        try:
            card = self.worker.register_model(summary.checkpoint, model_id, training=training, metrics=metrics, notes=notes)
        except (RuntimeError, OSError, ValueError) as exc:
            self._log(f"Register failed: {exc}")
            return None
        path = str(self.worker.user_models_dir() / card.file)
        self._log(f"Registered model {card.id}: {path}")
        self.model_registered.emit(path)
        return path
