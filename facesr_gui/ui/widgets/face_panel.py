"""Per-face panel: the face's crops (LR | bicubic | SR) and its numbers (size, identity, PSNR/SSIM)."""
from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QImage, QPixmap
from PySide6.QtWidgets import QFormLayout, QGridLayout, QGroupBox, QLabel, QVBoxLayout, QWidget

CROP_PX = 84
ROWS = ["Box", "Size", "Status", "Identity LR vs SR", "Face PSNR / SSIM", "Bicubic PSNR / SSIM",
        "Image PSNR / SSIM", "Image bicubic"]
TIPS = {
    "Identity LR vs SR": "Cosine similarity of the dlib face embeddings of the bicubic-upscaled input face and "
                         "the enhanced face (1 = same embedding): how well the network kept the identity",
    "Face PSNR / SSIM": "Output vs the ground-truth image inside the face box (Y channel)",
    "Bicubic PSNR / SSIM": "Bicubic upscaling of the input vs the ground truth, same region: the baseline to beat",
    "Image PSNR / SSIM": "Whole output image vs the ground truth (Y channel)",
    "Image bicubic": "Whole bicubic-upscaled input vs the ground truth",
    "Size": "Side of the aligned face crop in the photo; the network sees it at its input size",
}


class FacePanel(QGroupBox):
    """``set_face(title, crops)``, ``set_value(row, text)``; rows are :data:`ROWS`."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__("Selected face", parent)
        self.setMinimumWidth(3 * CROP_PX + 30)
        self.setMaximumWidth(420)
        self._crops: list[tuple[QLabel, QLabel]] = []
        grid = QGridLayout()
        grid.setSpacing(4)
        for col in range(3):
            img, cap = QLabel(), QLabel()
            img.setFixedSize(CROP_PX, CROP_PX)
            img.setAlignment(Qt.AlignmentFlag.AlignCenter)
            img.setStyleSheet("background: #282828;")
            cap.setAlignment(Qt.AlignmentFlag.AlignCenter)
            grid.addWidget(img, 0, col)
            grid.addWidget(cap, 1, col)
            self._crops.append((img, cap))
        self.title = QLabel("No face selected")
        self.title.setWordWrap(True)
        form = QFormLayout()
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        self.values: dict[str, QLabel] = {}
        for row in ROWS:
            label, value = QLabel(row + ":"), QLabel("-")
            value.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            value.setWordWrap(True)
            if row in TIPS:
                label.setToolTip(TIPS[row])
                value.setToolTip(TIPS[row])
            form.addRow(label, value)
            self.values[row] = value
        layout = QVBoxLayout(self)
        layout.addWidget(self.title)
        layout.addLayout(grid)
        layout.addLayout(form)
        layout.addStretch(1)

    def clear(self, title: str = "No face selected") -> None:
        self.set_face(title, [])
        for value in self.values.values():
            value.setText("-")

    def set_face(self, title: str, crops: list[tuple[str, QImage]]) -> None:
        """Show up to three ``(caption, image)`` crops; small images are enlarged without smoothing."""
        self.title.setText(title)
        for i, (img_label, cap_label) in enumerate(self._crops):
            if i < len(crops):
                caption, image = crops[i]
                pix = QPixmap.fromImage(image)
                mode = Qt.TransformationMode.FastTransformation if image.width() < CROP_PX // 2 \
                    else Qt.TransformationMode.SmoothTransformation
                img_label.setPixmap(pix.scaled(CROP_PX, CROP_PX, Qt.AspectRatioMode.KeepAspectRatio, mode))
                cap_label.setText(cap_label.fontMetrics().elidedText(caption, Qt.TextElideMode.ElideMiddle, CROP_PX))
                cap_label.setToolTip(caption)
            else:
                img_label.clear()
                cap_label.setText("")

    def set_value(self, row: str, text: str) -> None:
        self.values[row].setText(text)

    def value(self, row: str) -> str:
        return self.values[row].text()
