"""Keyboard shortcuts: the Photos tab's commands as window actions (the View menu), and Help >
Keyboard shortcuts, a list made from the menus themselves (so it never disagrees with them).

Each action's tooltip ends with its keys. The actions only call the Photos tab's public methods.
"""
from __future__ import annotations

from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QDialogButtonBox,
    QHeaderView,
    QMainWindow,
    QMenu,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
)

from .widgets.icons import icon

ZOOM_STEP = 1.25   # as one wheel step on the compare view


def keys_text(action: QAction) -> str:
    """The action's shortcuts as the platform writes them, e.g. ``"Ctrl+E, Ctrl+Return"``."""
    return ", ".join(s.toString(QKeySequence.SequenceFormat.NativeText) for s in action.shortcuts())


def with_keys(action: QAction, tip: str) -> QAction:
    """Set ``tip`` as the tooltip, followed by the action's keys."""
    keys = keys_text(action)
    action.setToolTip(f"{tip} ({keys})" if keys else tip)
    return action


class ViewActions:
    """The Photos tab's commands on keys: Enhance, previous/next photo, slider, zoom in/out/fit."""

    def __init__(self, window: QMainWindow):
        self.window = window
        photos = window.photos
        self.enhance = self._action("&Enhance", "mdi6.auto-fix", ["Ctrl+E", "Ctrl+Return"], self._enhance,
                                    "Restore the ticked faces of the photo with the chosen model")
        self.previous = self._action("&Previous photo", "mdi6.chevron-left", ["PgUp", "Alt+Left"],
                                     lambda: photos.step_photo(-1), "The previous photo of the folder or list")
        self.next = self._action("&Next photo", "mdi6.chevron-right", ["PgDown", "Alt+Right"],
                                 lambda: photos.step_photo(1), "The next photo of the folder or list")
        self.toggle_mode = self._action("&Slider / side by side", "mdi6.compare", ["Ctrl+T"], photos.toggle_mode,
                                        "Switch the comparison between a draggable slider and side by side")
        self.zoom_in = self._action("Zoom &in", "mdi6.magnify-plus", [QKeySequence.StandardKey.ZoomIn, "Ctrl+="],
                                    lambda: photos.compare.set_zoom(photos.compare.zoom() * ZOOM_STEP), "Zoom in")
        self.zoom_out = self._action("Zoom &out", "mdi6.magnify-minus", [QKeySequence.StandardKey.ZoomOut],
                                     lambda: photos.compare.set_zoom(photos.compare.zoom() / ZOOM_STEP), "Zoom out")
        self.fit = self._action("&Fit to view", "mdi6.fit-to-screen", ["Ctrl+0"], photos.compare.reset_view,
                                "Fit the image to the view")
        self.help = self._action("&Keyboard shortcuts", "mdi6.keyboard", [QKeySequence.StandardKey.HelpContents],
                                 self.show_help, "List every keyboard shortcut")
        self.dialog: QDialog | None = None

    def _action(self, text: str, icon_name: str, keys: list, slot, tip: str) -> QAction:
        action = QAction(icon(icon_name), text, self.window)
        action.setShortcuts([QKeySequence(k) for k in keys])
        action.triggered.connect(slot)
        return with_keys(action, tip)

    def _enhance(self) -> None:
        photos = self.window.photos
        self.window.tabs.setCurrentWidget(photos)
        if photos.image is None:
            self.window.statusBar().showMessage("open a photo first", 5000)
        else:
            photos.enhance()

    def add_menus(self) -> None:
        """A View menu (after the window's own menus) and a Help menu."""
        bar = self.window.menuBar()
        view = bar.addMenu("&View")
        view.addAction(self.enhance)
        view.addSeparator()
        for action in (self.previous, self.next, None, self.toggle_mode, self.zoom_in, self.zoom_out, self.fit):
            view.addSeparator() if action is None else view.addAction(action)
        bar.addMenu("&Help").addAction(self.help)

    def rows(self) -> list[tuple[str, str, str]]:
        """``(menu, command, keys)`` of every menu action that has keys, in menu order."""
        out = []
        for menu_action in self.window.menuBar().actions():
            menu = menu_action.menu()
            if not isinstance(menu, QMenu):
                continue
            for action in menu.actions():
                if action.shortcuts():
                    out.append((menu.title().replace("&", ""), action.text().replace("&", "").rstrip("."),
                                keys_text(action)))
        return out

    def show_help(self) -> QDialog:
        """The Help > Keyboard shortcuts window (built each time from the menus)."""
        if self.dialog is None:
            self.dialog = QDialog(self.window)
            self.dialog.setWindowTitle("Keyboard shortcuts")
            self.table = QTableWidget(0, 3)
            self.table.setHorizontalHeaderLabels(["Menu", "Command", "Keys"])
            self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
            self.table.verticalHeader().hide()
            self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
            self.table.horizontalHeader().setStretchLastSection(True)
            buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
            buttons.rejected.connect(self.dialog.hide)
            layout = QVBoxLayout(self.dialog)
            layout.addWidget(self.table)
            layout.addWidget(buttons)
            self.dialog.resize(560, 420)
        rows = self.rows()
        self.table.setRowCount(len(rows))
        for r, row in enumerate(rows):
            for c, text in enumerate(row):
                self.table.setItem(r, c, QTableWidgetItem(text))
        self.dialog.show()
        self.dialog.raise_()
        return self.dialog
