"""A first run with fresh settings: the empty state, the demo photo, a dropped folder with sub-folders
enhanced by one button (outputs and sidecars), keyboard shortcuts, and a tooltip on every option."""
from __future__ import annotations

import types
from pathlib import Path

import pytest
from PIL import Image
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication

from facesr_gui.app import create_window
from facesr_gui.paths import demo_photo
from facesr_gui.ui import batch_panel, main_window
from facesr_gui.ui.empty_state import TABS
from facesr_gui.ui.tooltips import missing_tooltips

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture
def window(qtbot, make_worker):
    w = create_window(make_worker())
    qtbot.addWidget(w)
    w.resize(1200, 780)
    w.show()
    qtbot.waitExposed(w)
    yield w
    w.close()


@pytest.fixture
def tree(tmp_path, make_photo) -> Path:
    """``tmp_path/photos`` with photos only in sub-folders (like ../shared/data/photos) and a text file."""
    root = tmp_path / "photos"
    for i, rel in enumerate(("a/one.png", "a/two.jpg", "b/c/three.png")):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(make_photo(seed=i)).save(root / rel)
    (root / "a" / "notes.txt").write_text("not a photo")
    return root


def _labels(widget) -> str:
    from PySide6.QtWidgets import QLabel
    return "\n".join(label.text() for label in widget.findChildren(QLabel))


def test_empty_state_until_a_photo_is_loaded_and_the_demo_photo(window, qtbot):
    empty = window.photos.empty
    assert window.tabs.currentWidget() is window.photos and empty.isVisible()
    text = _labels(empty)
    assert "Drop photos, folders or videos here" in text
    assert all(name in text and line in text for name, line in TABS)
    assert [n for n, _ in TABS] == [window.tabs.tabText(i) for i in range(window.tabs.count())]
    assert demo_photo().is_file()
    with qtbot.waitSignal(window.worker.detected, timeout=10_000):
        qtbot.mouseClick(empty.demo_button, Qt.MouseButton.LeftButton)
    assert window.photos.path == demo_photo() and window.photos.image.shape == (240, 427, 3)
    assert not empty.isVisible() and window.photos.compare.isVisible()


def test_empty_state_buttons_open_the_file_dialogs(window, monkeypatch):
    asked = []
    monkeypatch.setattr(main_window, "QFileDialog", types.SimpleNamespace(
        getOpenFileName=lambda parent, title, *a: asked.append(title) or ("", ""),
        getExistingDirectory=lambda parent, title, *a: asked.append(title) or ""))
    window.photos.empty.open_button.click()
    window.photos.empty.folder_button.click()
    assert asked == ["Open photo or video", "Open a folder of photos"]
    assert window.photos.empty.isVisible()                  # nothing chosen: still the empty state


def test_dropped_folder_with_sub_folders_is_enhanced_by_one_button(drop, window, qtbot, tree, tmp_path, monkeypatch):
    tab = window.photos
    assert not tab.all_button.isVisible()
    with qtbot.waitSignal(window.worker.detected, timeout=10_000):
        assert drop(window, tree)
    assert [p.relative_to(tree).as_posix() for p in tab.files] == ["a/one.png", "a/two.jpg", "b/c/three.png"]
    assert tab.all_button.isVisible() and tab.all_button.isEnabled()
    assert tab.all_button.text().replace("&", "") == "Enhance all 3 photos"      # (a tool button drops the "...")
    asked, out = [], tmp_path / "out"
    monkeypatch.setattr(batch_panel, "QFileDialog", types.SimpleNamespace(
        getExistingDirectory=lambda parent, title, start: asked.append(start) or str(out)))
    with qtbot.waitSignal(window.batch.worker.finished, timeout=60_000):
        qtbot.mouseClick(tab.all_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not window.batch.is_running(), timeout=5000)
    assert asked == [str(tree / "facesr")]           # the dropped folder's top, not a sub-folder
    written = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    assert written == ["a/one_facesr.png", "a/one_facesr.png.json", "a/two_facesr.jpg", "a/two_facesr.jpg.json",
                       "b/c/three_facesr.png", "b/c/three_facesr.png.json"]


def test_shortcuts_are_menu_actions_that_fire(window, qtbot, tree):
    va = window.view_actions
    keys = {a.text().replace("&", ""): va_keys for a, va_keys in
            ((a, [s.toString() for s in a.shortcuts()]) for a in
             (va.enhance, va.previous, va.next, va.toggle_mode, va.zoom_in, va.zoom_out, va.fit))}
    assert keys["Enhance"] == ["Ctrl+E", "Ctrl+Return"] and keys["Next photo"] == ["PgDown", "Alt+Right"]
    assert keys["Previous photo"] == ["PgUp", "Alt+Left"] and keys["Slider / side by side"] == ["Ctrl+T"]
    assert "Ctrl++" in keys["Zoom in"] and keys["Zoom out"] == ["Ctrl+-"] and keys["Fit to view"] == ["Ctrl+0"]
    assert window.open_action.shortcut().toString() == "Ctrl+O" and "(Ctrl+O)" in window.open_action.toolTip()
    assert "(Ctrl+E, Ctrl+Return)" in va.enhance.toolTip()
    tab = window.photos
    with qtbot.waitSignal(window.worker.detected, timeout=10_000):
        window.open_paths([tree])
    assert tab.path.name == "one.png"
    with qtbot.waitSignal(window.worker.detected, timeout=10_000):
        va.next.trigger()
    assert tab.path.name == "two.jpg"
    with qtbot.waitSignal(window.worker.detected, timeout=10_000):
        va.previous.trigger()
    assert tab.path.name == "one.png"
    with qtbot.waitSignal(window.worker.enhanced, timeout=10_000):
        va.enhance.trigger()
    mode = tab.compare.mode()
    va.toggle_mode.trigger()
    assert tab.compare.mode() != mode and tab.mode_combo.currentData() == tab.compare.mode()
    va.zoom_in.trigger()
    assert tab.compare.zoom() == pytest.approx(1.25)
    va.zoom_out.trigger()
    va.zoom_out.trigger()
    assert tab.compare.zoom() == pytest.approx(0.8)
    va.fit.trigger()
    assert tab.compare.zoom() == 1.0
    # a real key press reaches the action through the menu bar
    window.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is window, timeout=3000)
    qtbot.keyClick(window, Qt.Key.Key_T, Qt.KeyboardModifier.ControlModifier)
    assert tab.compare.mode() == mode


def test_help_lists_every_shortcut_from_the_menus(window):
    dialog = window.view_actions.show_help()
    table = window.view_actions.table
    rows = [tuple(table.item(r, c).text() for c in range(3)) for r in range(table.rowCount())]
    assert dialog.isVisible() and ("View", "Enhance", "Ctrl+E, Ctrl+Return") in rows
    assert ("File", "Open", "Ctrl+O") in rows and ("View", "Fit to view", "Ctrl+0") in rows
    menus = [a.text().replace("&", "") for a in window.menuBar().actions()]
    assert menus[-2:] == ["View", "Help"]
    dialog.hide()


def test_every_option_has_a_tooltip(window, tree, qtbot):
    assert missing_tooltips([window, window.batch]) == []
    with qtbot.waitSignal(window.worker.detected, timeout=10_000):
        window.open_paths([tree])                    # the navigation and Enhance all buttons appear
    assert missing_tooltips([window, window.batch]) == []
