"""Soft masks, colour matching and ROI paste-back."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from facesr_gui.pipeline import blend
from facesr_gui.pipeline.align import crop_faces
from facesr_gui.pipeline.detect import from_boxes


def test_ellipse_mask_is_one_inside_and_zero_on_the_border():
    m = blend.ellipse_mask(128)
    assert m is blend.ellipse_mask(128) and not m.flags.writeable   # made once per size, shared read-only
    assert m.shape == (128, 128) and m.dtype == np.float32
    assert m[77, 64] > 0.99                       # face centre (eyes-mouth area)
    border = np.concatenate([m[0], m[-1], m[:, 0], m[:, -1]])
    assert border.max() == 0.0
    assert 0.2 < m.mean() < 0.6


def test_parsing_mask_fills_holes_and_falls_back_to_ellipse():
    fg = np.zeros((16, 16), np.float32)
    cv2.circle(fg, (8, 9), 6, 1.0, -1)
    fg[7:9, 5:7] = 0                              # an "eye" hole in a skin map
    m = blend.parsing_mask(fg, 128)
    assert m[64, 48] > 0.99 and m[0].max() == 0
    assert np.array_equal(blend.parsing_mask(np.zeros((16, 16)), 128), blend.ellipse_mask(128))


def test_match_colour_removes_a_colour_cast_and_keeps_detail():
    rng = np.random.default_rng(0)
    hr = cv2.GaussianBlur(rng.integers(0, 255, (128, 128, 3)).astype(np.float32), (0, 0), 6)
    hr = cv2.normalize(hr, None, 40, 200, cv2.NORM_MINMAX)
    lr = cv2.resize(hr, (16, 16), interpolation=cv2.INTER_AREA).round().astype(np.uint8)
    texture = rng.normal(0, 6, (128, 128, 3)).astype(np.float32)
    cast = np.clip(hr + texture + np.array([30.0, -20.0, 10.0]), 0, 255).astype(np.uint8)
    fixed = blend.match_colour(cast, lr)
    err_before = np.abs(cast.astype(float).mean((0, 1)) - hr.mean((0, 1))).max()
    err_after = np.abs(fixed.astype(float).mean((0, 1)) - hr.mean((0, 1))).max()
    assert err_before > 19 and err_after < 2
    hp = lambda a: a.astype(np.float32) - cv2.GaussianBlur(a.astype(np.float32), (0, 0), 2)  # noqa: E731
    assert np.corrcoef(hp(fixed).ravel(), hp(cast).ravel())[0, 1] > 0.9


@pytest.mark.parametrize("size,small", [(128, 16), (128, 32), (96, 24)])
def test_match_colour_as_matrix_products_is_opencvs_filter_chain(size, small):
    """The matrices are read off OpenCV's filters: the result is what the filters themselves give."""
    rng = np.random.default_rng(size + small)
    for _ in range(20):
        sr = cv2.GaussianBlur(rng.random((size, size, 3)).astype(np.float32) * 255, (0, 0), rng.uniform(0.5, 3))
        sr = sr.astype(np.uint8)
        lr = cv2.resize(sr, (small, small), interpolation=cv2.INTER_AREA).astype(int)
        lr = np.clip(lr + rng.integers(-30, 30, (1, 1, 3)) + rng.integers(-5, 5, lr.shape), 0, 255).astype(np.uint8)
        srf = sr.astype(np.float32)
        down = cv2.resize(srf, (small, small), interpolation=cv2.INTER_AREA)
        delta = cv2.resize(lr.astype(np.float32) - down, (size, size), interpolation=cv2.INTER_CUBIC)
        delta = cv2.GaussianBlur(delta, (0, 0), max(size / small, 1.0))
        expected = np.clip(srf + delta, 0, 255).round().astype(np.uint8)
        diff = np.abs(blend.match_colour(sr, lr).astype(int) - expected.astype(int))
        assert diff.max() <= 1 and (diff > 0).mean() < 1e-4


def _frame_and_face(size=96):
    frame = np.full((size, size + 20, 3), 90, np.uint8)
    face = crop_faces(frame, from_boxes([[30, 25, 70, 70]]), size=16)[0]
    return frame, face


def test_paste_touches_only_the_face_region():
    frame, face = _frame_and_face()
    out = frame.copy()
    blend.paste(out, np.full((128, 128, 3), 200, np.uint8), blend.ellipse_mask(128), face)
    cx, cy = face.inverse_affine @ np.array([64 / 8 - 0.5, 77 / 8 - 0.5, 1.0])
    assert out[int(round(cy)), int(round(cx))].min() > 195
    changed = np.argwhere(np.any(out != frame, axis=2))
    x0, y0, x1, y1 = face.box
    assert changed[:, 1].min() >= x0 - 20 and changed[:, 1].max() <= x1 + 20
    assert out[0, 0].tolist() == [90, 90, 90] and out[-1, -1].tolist() == [90, 90, 90]


def test_warp_map_into_keeps_the_maximum():
    frame, face = _frame_and_face()
    canvas = np.zeros(frame.shape[:2], np.float32)
    blend.warp_map_into(canvas, np.ones((32, 32), np.float32), face)
    blend.warp_map_into(canvas, np.full((32, 32), 0.25, np.float32), face)
    assert canvas.max() == 1.0 and canvas[0, 0] == 0.0
    multi = np.zeros((2,) + frame.shape[:2], np.float32)
    blend.warp_map_into(multi, np.stack([np.ones((8, 8)), np.zeros((8, 8))]).astype(np.float32), face)
    assert multi[0].max() == 1.0 and multi[1].max() == 0.0


def test_a_crop_pasted_into_a_much_smaller_place_does_not_alias():
    # a 128 px crop of white noise (std 74) pasted into a ~20 px face: area-shrunk first, each frame pixel
    # averages ~40 crop pixels (std ~10); decimated directly by bicubic interpolation it stays noise (~65)
    frame = np.full((60, 60, 3), 128, np.uint8)
    face = crop_faces(frame, from_boxes([[20, 20, 33, 33]]), size=16)[0]
    assert 128 >= blend.PREFILTER_RATIO * face.side_in_frame                   # the case the pre-filter is for
    noise = np.random.default_rng(0).integers(0, 256, (128, 128, 3)).astype(np.uint8)
    out = frame.copy()
    blend.paste(out, noise, np.ones((128, 128), np.float32), face)
    x0, y0, x1, y1 = (np.array(face.box) + [3, 3, -3, -3]).astype(int)
    inside = out[y0:y1, x0:x1].astype(np.float32)
    assert abs(inside.mean() - 127.5) < 6 and inside.std() < 20
