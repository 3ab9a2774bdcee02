"""The canvas says why large faces were left as they are, and when no face was found; small faces get no note."""
from __future__ import annotations

import numpy as np
import pytest

from facesr_gui.pipeline.sizing import face_range

SMALL = [[20, 20, 44, 50]]                       # a 24x30 px face: enhanced
LARGE = [[20, 20, 44, 50], [150, 60, 330, 290]]  # and a 180x230 px one: larger than the 128 px output


@pytest.fixture
def tab_with(make_tab, make_worker):
    """A Photos tab whose fake detector reports ``boxes``."""
    return lambda boxes: make_tab(make_worker(boxes))


def _open_and_enhance(tab, qtbot, make_photo):
    with qtbot.waitSignal(tab.worker.detected, timeout=5000):
        tab.set_image(make_photo(360, 400), "photo.png")
    with qtbot.waitSignal(tab.worker.enhanced, timeout=10000):
        tab.enhance()
    qtbot.waitUntil(lambda: tab.outcome is not None and not tab.is_busy(), timeout=3000)


def test_large_faces_get_a_banner_with_the_sizes_the_app_helps_with(tab_with, qtbot, make_photo):
    tab = tab_with(LARGE)
    tab.upscale_combo.setCurrentIndex(tab.upscale_combo.findData(1))
    _open_and_enhance(tab, qtbot, make_photo)
    assert tab.outcome.result.faces[1].skipped == "large" and tab.outcome.result.faces[0].skipped is None
    banner = tab.compare.banner
    assert banner.isVisible()
    low, high = face_range(128)
    text = banner.text()
    assert "Face #2 is already larger than maps's 128 px output at x1" in text
    assert "keeps the original there" in text and f"about {low} to {high} px" in text
    assert "not pasted (large)" in tab.faces_list.list.item(1).text()
    # the banner lies over the bottom of the view, inside it
    geo = banner.geometry()
    assert geo.bottom() < tab.compare.height() and geo.width() > tab.compare.width() // 2
    # at x4 the limit for this photo's faces shrinks accordingly
    tab.upscale_combo.setCurrentIndex(tab.upscale_combo.findData(4))
    with qtbot.waitSignal(tab.worker.enhanced, timeout=10000):
        tab.enhance()
    qtbot.waitUntil(lambda: tab.outcome.result.upscale == 4 and not tab.is_busy(), timeout=3000)
    assert f"at this output size (x4) up to {face_range(128, 4)[1]} px" in tab.compare.banner.text()


def test_large_faces_are_announced_before_enhance(tab_with, qtbot, make_photo):
    tab = tab_with(LARGE)
    tab.upscale_combo.setCurrentIndex(tab.upscale_combo.findData(1))
    with qtbot.waitSignal(tab.worker.detected, timeout=5000):
        tab.set_image(make_photo(360, 400), "photo.png")
    assert tab.outcome is None and tab.compare.banner.isVisible()
    assert tab.compare.banner.text().startswith("Face #2 is already larger than maps's 128 px output at x1: "
                                                "Enhance will keep the original there.")
    tab.upscale_combo.setCurrentIndex(tab.upscale_combo.findData(8))     # now the small face is too large too
    assert tab.compare.banner.text().startswith("All 2 faces (#1, #2) are already larger")


def test_small_faces_get_no_banner(tab_with, qtbot, make_photo):
    tab = tab_with(SMALL)
    with qtbot.waitSignal(tab.worker.detected, timeout=5000):
        tab.set_image(make_photo(360, 400), "photo.png")
    assert not tab.compare.banner.isVisible()
    _open_and_enhance(tab, qtbot, make_photo)
    assert tab.outcome.face_ids == [0] and tab.outcome.result.faces[0].skipped is None
    assert not tab.compare.banner.isVisible() and tab.compare.banner.text() == ""


def test_no_face_found_says_so_until_a_box_is_drawn(tab_with, qtbot, make_photo):
    tab = tab_with([])
    with qtbot.waitSignal(tab.worker.detected, timeout=5000):
        tab.set_image(make_photo(), "empty.png")
    assert tab.compare.banner.isVisible() and tab.compare.banner.text().startswith("No face found")
    assert "Draw box" in tab.compare.banner.text()
    tab.add_manual_box((20, 20, 44, 50))
    assert not tab.compare.banner.isVisible()


def test_loading_a_new_photo_clears_the_banner(tab_with, qtbot, make_photo):
    tab = tab_with(LARGE)
    tab.upscale_combo.setCurrentIndex(tab.upscale_combo.findData(1))
    _open_and_enhance(tab, qtbot, make_photo)
    assert tab.compare.banner.isVisible()
    tab.set_image(np.zeros((50, 50, 3), np.uint8), "next.png", detect=False)
    assert not tab.compare.banner.isVisible()


def test_the_face_by_face_view_speaks_of_the_face_shown(tab_with, qtbot, make_photo):
    """In the face-by-face view the banner is about the selected face only: none for a face that was
    enhanced, the large-face note for one left as it was (before and after Enhance)."""
    tab = tab_with(LARGE)
    tab.upscale_combo.setCurrentIndex(tab.upscale_combo.findData(1))
    with qtbot.waitSignal(tab.worker.detected, timeout=5000):
        tab.set_image(make_photo(360, 400), "photo.png")
    tab.view_combo.setCurrentIndex(tab.view_combo.findData("face"))
    tab.faces_list.list.setCurrentRow(0)
    assert not tab.compare.banner.isVisible()
    tab.faces_list.list.setCurrentRow(1)
    assert tab.compare.banner.text().startswith("Face #2 is already larger than maps's 128 px output at x1: "
                                                "Enhance will keep the original there.")
    with qtbot.waitSignal(tab.worker.enhanced, timeout=10000):
        tab.enhance()
    qtbot.waitUntil(lambda: tab.outcome is not None and not tab.is_busy(), timeout=3000)
    tab.faces_list.list.setCurrentRow(1)
    assert "Face #2 is already larger" in tab.compare.banner.text() and "keeps the original" in tab.compare.banner.text()
    tab.faces_list.list.setCurrentRow(0)
    assert not tab.compare.banner.isVisible() and tab.compare.banner.text() == ""
