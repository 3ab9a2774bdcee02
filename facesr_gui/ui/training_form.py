"""The Training tab's form: its widgets and their layout (a mixin of :class:`~.training_tab.TrainingTab`)."""
from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (QCheckBox, QComboBox, QDoubleSpinBox, QFormLayout, QGroupBox, QHBoxLayout, QLabel,
                               QLineEdit, QListWidget, QProgressBar, QPushButton, QSpinBox, QSplitter, QVBoxLayout,
                               QWidget)

from .tips import TRAINING_TIPS, apply_tips
from .widgets.curve_plot import CurvePlot

PRESETS = [("Paper", "paper"), ("Tiny (quick test)", "tiny"), ("Custom", "custom")]
START_MODES = [("From scratch", "scratch"), ("Fine-tune weights", "finetune"), ("Resume run (state.pt)", "resume")]
PSNR, BICUBIC = "PSNR (EMA)", "bicubic"


def _spin(lo: int, hi: int, value: int, step: int) -> QSpinBox:
    spin = QSpinBox()
    spin.setRange(lo, hi)
    spin.setValue(value)
    spin.setSingleStep(step)
    return spin


class TrainingForm:
    """Builds the form, the run controls, the curves and the preview (``_build_widgets``, ``_build_layout``)."""

    def _build_widgets(self) -> None:
        self.net_combo = QComboBox()
        for net in self.nets.values():
            self.net_combo.addItem(f"{net.name} (x{net.scale})", net.name)
            self.net_combo.setItemData(self.net_combo.count() - 1, net.paper, Qt.ItemDataRole.ToolTipRole)
        self.preset_combo = QComboBox()
        for label, key in PRESETS:
            self.preset_combo.addItem(label, key)
        self.net_cfg_edit = QLineEdit()
        self.net_cfg_edit.setPlaceholderText("{}  (paper configuration)")
        self.data_edit, self.val_edit, self.parsing_edit, self.out_edit = (QLineEdit() for _ in range(4))
        self.val_edit.setPlaceholderText("optional: no validation, curves or previews without it")
        self.parsing_edit.setPlaceholderText("optional: cache from `facesr labels` (parsing-guided nets)")
        self.out_edit.setPlaceholderText("automatic: <user data>/runs/<net>-<time>")
        self.steps_spin = _spin(1, 10_000_000, 1000, 100)
        self.batch_spin = _spin(1, 1024, 16, 1)
        self.val_every_spin = _spin(1, 1_000_000, 200, 50)
        self.lr_spin = QDoubleSpinBox()
        self.lr_spin.setDecimals(6)
        self.lr_spin.setRange(0.0, 1.0)
        self.lr_spin.setSingleStep(1e-5)
        self.lr_spin.setSpecialValueText("paper default")
        self.degradation_combo = QComboBox()
        for name, summary in self.worker.degradation_choices():
            self.degradation_combo.addItem(name, name)
            self.degradation_combo.setItemData(self.degradation_combo.count() - 1, summary, Qt.ItemDataRole.ToolTipRole)
        self.degradation_combo.setToolTip(
            "How the LR training faces are made from the HR ones (validation uses the same).\n"
            "bicubic: the papers' clean downscale. realistic: camera blur, random scaler, noise, JPEG.\n"
            "surveillance: as realistic, with H.264 video compression. Models trained on bicubic only\n"
            "can be worse than bicubic on real camera faces.")
        self.jitter_spin = QDoubleSpinBox()
        self.jitter_spin.setRange(0.0, 0.25)
        self.jitter_spin.setSingleStep(0.01)
        self.jitter_spin.setDecimals(2)
        self.jitter_spin.setSpecialValueText("none")
        self.jitter_spin.setToolTip("Framing jitter: zoom each face crop by 1-J..1+J and shift it by up to J of its\n"
                                    "side, so faces aligned by other tools (framed differently) are served too.\n"
                                    "0.04 is a few pixels. Not combined with preloading.")
        self.samples_button = QPushButton("Preview inputs")
        self.samples_button.setToolTip("Show the first training faces and the LR inputs this degradation makes of them")
        self.device_combo = QComboBox()
        self.device_combo.addItems(self.worker.training_devices())
        self.gan_check = QCheckBox("GAN phase (paper recipe)")
        self.start_mode_combo = QComboBox()
        for label, key in START_MODES:
            self.start_mode_combo.addItem(label, key)
        self.start_path_combo = QComboBox()
        self.start_path_combo.setEditable(True)
        self.start_path_combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.start_browse = QPushButton("Browse...")

        self.start_button = QPushButton("Start")
        self.pause_button = QPushButton("Pause")
        self.resume_button = QPushButton("Resume")
        self.cancel_button = QPushButton("Cancel")
        self.register_button = QPushButton("Register as model...")
        self.progress = QProgressBar()
        self.progress.setFormat("%v / %m steps")
        self.eta_label = QLabel("Not started")
        self.loss_plot = CurvePlot("Training loss", "step", "loss", log_y=True)
        self.val_plot = CurvePlot("Validation PSNR (Y)", "step", "dB")
        self.val_plot.add_series(PSNR, "#d62728")
        self.val_plot.add_series(BICUBIC, "#7f7f7f", dashed=True)
        self.preview_label = QLabel("Preview appears after the first validation")
        self.preview_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.preview_label.setMinimumSize(200, 160)
        self.preview_caption = QLabel("")
        self.log_list = QListWidget()
        self.log_list.setWordWrap(True)
        apply_tips(self, TRAINING_TIPS)

    def _path_row(self, edit: QLineEdit, title: str) -> QHBoxLayout:
        row = QHBoxLayout()
        row.addWidget(edit, 1)
        button = QPushButton("Browse...")
        button.setToolTip(f"Choose the {title[0].lower()}{title[1:]}")
        button.clicked.connect(lambda: self._browse_folder(edit, title))
        row.addWidget(button)
        return row

    def _build_layout(self) -> None:
        net_box = QGroupBox("Network")
        f = QFormLayout(net_box)
        f.addRow("Network:", self.net_combo)
        f.addRow("Size:", self.preset_combo)
        f.addRow("Config (JSON):", self.net_cfg_edit)
        data_box = QGroupBox("Data")
        f = QFormLayout(data_box)
        f.addRow("Training faces:", self._path_row(self.data_edit, "Folder of training faces"))
        f.addRow("Validation faces:", self._path_row(self.val_edit, "Folder of validation faces"))
        f.addRow("Parsing labels:", self._path_row(self.parsing_edit, "Parsing-label cache"))
        degradation_row = QHBoxLayout()   # one row: the tab must fit an 800 px high screen
        degradation_row.addWidget(self.degradation_combo, 1)
        degradation_row.addWidget(QLabel("jitter"))
        degradation_row.addWidget(self.jitter_spin)
        degradation_row.addWidget(self.samples_button)
        f.addRow("LR degradation:", degradation_row)
        run_box = QGroupBox("Run")
        f = QFormLayout(run_box)
        f.addRow("Steps:", self.steps_spin)
        f.addRow("Batch size:", self.batch_spin)
        f.addRow("Learning rate:", self.lr_spin)
        f.addRow("Validate every:", self.val_every_spin)
        f.addRow("Device:", self.device_combo)
        f.addRow("", self.gan_check)
        start_row = QHBoxLayout()
        start_row.addWidget(self.start_path_combo, 1)
        start_row.addWidget(self.start_browse)
        f.addRow("Start from:", self.start_mode_combo)
        f.addRow("", start_row)
        f.addRow("Output folder:", self._path_row(self.out_edit, "Output folder"))
        self.form = QWidget()
        form_layout = QVBoxLayout(self.form)
        for box in (net_box, data_box, run_box):
            form_layout.addWidget(box)
        form_layout.addStretch(1)
        buttons = QHBoxLayout()
        for b in (self.start_button, self.pause_button, self.resume_button, self.cancel_button):
            buttons.addWidget(b)
        buttons.addStretch(1)
        buttons.addWidget(self.register_button)
        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.addWidget(self.form, 1)
        left_layout.addLayout(buttons)

        right = QWidget()
        r = QVBoxLayout(right)
        r.addWidget(self.progress)
        r.addWidget(self.eta_label)
        curves = QHBoxLayout()
        curves.addWidget(self.loss_plot)
        curves.addWidget(self.val_plot)
        r.addLayout(curves, 2)
        bottom = QHBoxLayout()
        preview = QVBoxLayout()
        preview.addWidget(self.preview_label, 1)
        preview.addWidget(self.preview_caption)
        bottom.addLayout(preview, 1)
        bottom.addWidget(self.log_list, 1)
        r.addLayout(bottom, 2)
        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(left)
        splitter.addWidget(right)
        splitter.setStretchFactor(1, 1)
        QVBoxLayout(self).addWidget(splitter)
