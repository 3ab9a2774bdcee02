"""The Photos tab's first page, shown until a photo is loaded: where to drop things, the demo photo,
and one line on what each tab does.

Thin: it only emits what was asked for (the window opens the files); the texts are the app's own.
"""
from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QFrame, QGridLayout, QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from .widgets.icons import icon

#: (tab, what it does), one line each
TABS = (
    ("Photos", "find every face in a photo, restore the small ones with a network, compare before and after, "
               "inspect the network's maps; Enhance all writes a whole folder"),
    ("Video", "process a clip frame by frame in the background (faces tracked, steady, preview as it runs)"),
    ("Training", "fine-tune or train a network on your own face folder; the result joins the model picker"),
)


class EmptyState(QWidget):
    """``open_requested()``, ``open_folder_requested()`` and ``demo_requested()``: the buttons."""

    open_requested = Signal()
    open_folder_requested = Signal()
    demo_requested = Signal()

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("empty_state")
        title = QLabel("Drop photos, folders or videos here")
        title.setObjectName("empty_title")
        title.setAlignment(Qt.AlignmentFlag.AlignCenter)
        title.setStyleSheet("#empty_title { font-size: 22px; font-weight: bold; }")
        hint = QLabel("A folder lists every photo in it and its sub-folders: press <b>Enhance all</b> to write them "
                      "all, each with a provenance sidecar, into a folder you choose.")
        hint.setWordWrap(True)
        hint.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.open_button = _button("mdi6.folder-open", "Open photo or video...", "Open a photo or a video (Ctrl+O)")
        self.folder_button = _button("mdi6.folder-multiple-image", "Open folder...",
                                     "Open a folder of photos (sub-folders included)")
        self.demo_button = _button("mdi6.image", "Try the demo photo",
                                   "Open the bundled sample portrait (resources/samples/obama-240p.jpg)")
        self.open_button.clicked.connect(self.open_requested)
        self.folder_button.clicked.connect(self.open_folder_requested)
        self.demo_button.clicked.connect(self.demo_requested)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        for button in (self.open_button, self.folder_button, self.demo_button):
            buttons.addWidget(button)
        buttons.addStretch(1)
        tabs = QGridLayout()
        tabs.setHorizontalSpacing(16)
        tabs.setColumnStretch(1, 1)
        for row, (name, text) in enumerate(TABS):
            label, line = QLabel(f"<b>{name}</b>"), QLabel(text)
            line.setWordWrap(True)
            tabs.addWidget(label, row, 0, Qt.AlignmentFlag.AlignTop)
            tabs.addWidget(line, row, 1)
        box = QFrame()
        box.setObjectName("empty_box")
        box.setMaximumWidth(760)
        box.setStyleSheet("#empty_box { border: 2px dashed palette(mid); border-radius: 10px; }")
        inner = QVBoxLayout(box)
        inner.setContentsMargins(32, 28, 32, 28)
        inner.setSpacing(16)
        inner.addWidget(title)
        inner.addWidget(hint)
        inner.addLayout(buttons)
        inner.addLayout(tabs)
        outer = QVBoxLayout(self)
        outer.addStretch(1)
        row = QHBoxLayout()
        row.addStretch(1)
        row.addWidget(box, 4)
        row.addStretch(1)
        outer.addLayout(row)
        outer.addStretch(2)


def _button(icon_name: str, text: str, tip: str) -> QPushButton:
    button = QPushButton(icon(icon_name), text)
    button.setToolTip(tip)
    button.setMinimumHeight(32)
    return button
