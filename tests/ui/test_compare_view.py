"""CompareView: slider split changes pixels, side-by-side zoom/pan are synchronised, overlays render."""
from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QColor, QImage

from facesr_gui.ui.qimage import qimage_to_rgb
from facesr_gui.ui.widgets.compare_view import CompareView


def _solid(color: str, w=64, h=64) -> QImage:
    img = QImage(w, h, QImage.Format.Format_RGB888)
    img.fill(QColor(color))
    return img


@pytest.fixture
def view(qtbot):
    v = CompareView()
    qtbot.addWidget(v)
    v.resize(400, 200)
    v.set_images(_solid("red"), _solid("blue"))
    v.show()
    qtbot.waitExposed(v)
    return v


def _grab(widget) -> np.ndarray:
    return qimage_to_rgb(widget.grab().toImage())


def test_slider_split_changes_pixels(view):
    view.set_mode("slider")
    pane = view.left
    assert not view.right.isVisible()
    view.set_split(0.5)
    mid = pane.height() // 2
    x = int(pane.width() * 0.4)
    assert tuple(_grab(pane)[mid, x]) == (255, 0, 0)          # before (red) left of the line
    view.set_split(0.2)
    assert tuple(_grab(pane)[mid, x]) == (0, 0, 255)          # now after (blue)


def test_slider_drag_moves_split(view, qtbot):
    view.set_mode("slider")
    pane = view.left
    y = pane.height() // 2
    qtbot.mousePress(pane, Qt.MouseButton.LeftButton, pos=QPoint(int(pane.width() * 0.5), y))
    qtbot.mouseMove(pane, QPoint(int(pane.width() * 0.75), y))
    qtbot.mouseRelease(pane, Qt.MouseButton.LeftButton, pos=QPoint(int(pane.width() * 0.75), y))
    assert view.split() == pytest.approx(0.75, abs=0.02)


def test_side_by_side_zoom_synchronised(view, qtbot):
    assert view.mode() == "side" and view.right.isVisible()
    with qtbot.waitSignal(view.zoomChanged, timeout=1000) as blocker:
        view.set_zoom(3.0)
    assert blocker.args == [3.0]
    assert view.left.image_transform() == view.right.image_transform()
    view.pan_by(view.left, QPointF(20, 10))
    assert view.left.image_transform() == view.right.image_transform()
    assert view.left.image_transform().m11() == pytest.approx(3.0 * min(view.left.width(), view.left.height()) / 64)


def test_wheel_zooms_both(view, qtbot):
    from PySide6.QtGui import QWheelEvent
    from PySide6.QtWidgets import QApplication
    pos = QPointF(view.right.width() / 2, view.right.height() / 2)
    ev = QWheelEvent(pos, view.right.mapToGlobal(pos), QPoint(0, 0), QPoint(0, 120), Qt.MouseButton.NoButton,
                     Qt.KeyboardModifier.NoModifier, Qt.ScrollPhase.NoScrollPhase, False)
    QApplication.sendEvent(view.right, ev)
    assert view.zoom() == pytest.approx(1.25)
    assert view.left.image_transform() == view.right.image_transform()


def test_overlay_changes_rendering(view):
    before = _grab(view.right)
    view.set_overlay(_solid("lime"), 1.0)
    with_overlay = _grab(view.right)
    c = (with_overlay.shape[0] // 2, with_overlay.shape[1] // 2)
    assert tuple(with_overlay[c]) == (0, 255, 0) and not np.array_equal(before, with_overlay)
    view.set_overlay(None)
    assert np.array_equal(_grab(view.right), before)


def test_bad_mode(view):
    with pytest.raises(ValueError):
        view.set_mode("top")


def test_middle_pane_only_side_by_side(view):
    from facesr_gui.ui.widgets.compare_view import FaceMark  # noqa: F401 - public API
    view.set_images(_solid("red"), _solid("blue"), middle=_solid("lime"))
    view.set_captions("LR", "SR", "bicubic")
    assert view.middle.isVisible() and view.left.image_transform() == view.middle.image_transform()
    mid = _grab(view.middle)
    assert tuple(mid[mid.shape[0] // 2, mid.shape[1] // 2]) == (0, 255, 0)
    view.set_mode("slider")
    assert not view.middle.isVisible() and not view.right.isVisible()
    view.set_mode("side")
    view.set_images(_solid("red"), _solid("blue"))
    assert not view.middle.isVisible()


def test_draw_mode_emits_a_box_in_image_pixels(view, qtbot):
    view.set_draw_mode(True)
    pane = view.right
    t = pane.image_transform()
    a, b = t.map(QPointF(10, 12)), t.map(QPointF(40, 50))
    with qtbot.waitSignal(view.boxDrawn, timeout=1000) as blocker:
        qtbot.mousePress(pane, Qt.MouseButton.LeftButton, pos=a.toPoint())
        qtbot.mouseMove(pane, b.toPoint())
        qtbot.mouseRelease(pane, Qt.MouseButton.LeftButton, pos=b.toPoint())
    rect = blocker.args[0]
    assert rect.left() == pytest.approx(10, abs=0.5) and rect.bottom() == pytest.approx(50, abs=0.5)
    assert view.zoom() == 1.0 and view.state.cx == 0.5          # drawing did not pan


def test_marks_are_drawn_and_clicks_select_them(view, qtbot):
    from PySide6.QtCore import QRectF

    from facesr_gui.ui.widgets.compare_view import FaceMark
    before = _grab(view.right)
    view.set_marks([FaceMark(QRectF(4, 4, 20, 20), "1"), FaceMark(QRectF(30, 30, 20, 20), "2", selected=True)])
    assert not np.array_equal(_grab(view.right), before)
    pos = view.right.image_transform().map(QPointF(40, 40)).toPoint()
    with qtbot.waitSignal(view.boxClicked, timeout=1000) as blocker:
        qtbot.mouseClick(view.right, Qt.MouseButton.LeftButton, pos=pos)
    assert blocker.args == [1]


def test_overlay_patch_is_placed_by_its_transform(view):
    from PySide6.QtGui import QTransform
    view.set_overlay_patches([(_solid("lime", 8, 8), QTransform(2, 0, 0, 2, 32, 32))], 1.0)   # covers 32..48
    img = _grab(view.right)
    t = view.right.image_transform()
    inside, outside = t.map(QPointF(40, 40)).toPoint(), t.map(QPointF(20, 20)).toPoint()
    assert tuple(img[inside.y(), inside.x()]) == (0, 255, 0) and tuple(img[outside.y(), outside.x()]) == (0, 0, 255)
