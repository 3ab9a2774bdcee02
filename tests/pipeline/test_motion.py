"""The motion gate (motion.py): where a fixed camera's frame changed, and whole-frame detections that look
only there and around the tracks (regions.detect_in_rects, video_stages.FrameTracker)."""
from __future__ import annotations

import numpy as np
import pytest

from facesr_gui.pipeline.motion import CELL, PAD, MotionGate, merge_rects


def _scene(h: int = 240, w: int = 320, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    base = rng.integers(40, 200, (h // 8, w // 8, 3), dtype=np.uint8)
    return np.repeat(np.repeat(base, 8, axis=0), 8, axis=1)   # a textured, static background


def test_merge_rects_joins_overlapping_ones_until_none_overlap():
    assert merge_rects([(0, 0, 10, 10), (5, 5, 20, 20), (30, 30, 40, 40)]) == [(0, 0, 20, 20), (30, 30, 40, 40)]
    # a chain: a overlaps b, the union of both overlaps c
    assert merge_rects([(0, 0, 10, 10), (8, 0, 18, 10), (17, 5, 30, 9)]) == [(0, 0, 30, 10)]
    assert merge_rects([(0, 0, 10, 10), (10, 0, 20, 10)]) == [(0, 0, 10, 10), (10, 0, 20, 10)]   # touching only
    assert merge_rects([]) == []


def test_the_gate_finds_what_moved_and_nothing_in_a_still_or_noisy_frame():
    gate = MotionGate()
    frame = _scene()
    assert gate.changed(frame) is None                       # no reference yet: the whole frame
    gate.set_reference(frame)
    assert gate.changed(frame) == []
    rng = np.random.default_rng(1)
    noisy = np.clip(frame + rng.normal(0, 4, frame.shape), 0, 255).astype(np.uint8)   # sensor noise
    assert gate.changed(noisy) == []
    moved = frame.copy()
    moved[100:130, 200:224] = 255                            # a bright object came in
    rects = gate.changed(moved)
    pad = round(PAD * 240)
    assert len(rects) == 1
    x0, y0, x1, y1 = rects[0]
    assert x0 <= 200 - pad + CELL and y0 <= 100 - pad + CELL and x1 >= 224 + pad - CELL and y1 >= 130 + pad - CELL
    assert (x1 - x0) * (y1 - y0) < 0.3 * 240 * 320
    # extra rectangles (the tracks) are merged in; clipped to the frame
    rects = gate.changed(moved, extra=[(-5, -5, 20, 20), (190, 90, 230, 140)])
    assert (0, 0, 20, 20) in rects and len(rects) == 2


def test_the_gate_gives_the_whole_frame_when_most_of_it_changed():
    gate = MotionGate()
    frame = _scene()
    gate.set_reference(frame)
    brighter = np.clip(frame.astype(np.int16) + 40, 0, 255).astype(np.uint8)   # the light changed
    assert gate.changed(brighter) is None
    assert gate.changed(_scene(120, 160)) is None            # another frame size


def test_detection_in_rects_finds_the_faces_the_whole_frame_finds(restorer, face_frame):
    from facesr_gui.pipeline.regions import detect_in_rects
    from facesr_gui.pipeline.track import iou_matrix

    detector = restorer.detector
    h, w = face_frame.shape[:2]
    whole = detector.detect(face_frame)
    assert len(whole) >= 1
    b = whole.boxes[0]
    side = float(b[2] - b[0])
    rect = (max(0, int(b[0] - side)), max(0, int(b[1] - side)), min(w, int(b[2] + side)), min(h, int(b[3] + side)))
    got = detect_in_rects(detector, face_frame, [rect])
    assert len(got) >= 1 and iou_matrix(whole.boxes[:1], got.boxes[:1])[0, 0] > 0.8
    assert np.abs(got.landmarks[0] - whole.landmarks[0]).max() < 0.25 * side
    # a rectangle away from the face finds nothing; no rectangles, nothing
    far = (0, 0, 20, 20) if b[0] > 40 or b[1] > 40 else (w - 20, h - 20, w, h)
    assert len(detect_in_rects(detector, face_frame, [far])) == 0
    assert len(detect_in_rects(detector, face_frame, [])) == 0


def test_a_fixed_camera_video_gates_most_whole_frame_detections(shared_data, restorer, tmp_path):
    """The hallway camera does not move: all whole-frame detections but every FULL_PYRAMID_EVERY-th look only
    where people walked and around their tracks, and the faces restored are the same frames' faces."""
    from facesr_gui.pipeline.video import enhance_video
    from facesr_gui.pipeline.video_stages import FULL_PYRAMID_EVERY

    clip = shared_data / "videos" / "face-demographics-walking.mp4"
    if not clip.is_file():
        pytest.skip(f"{clip} missing")
    boxes = {}

    def keep(gate):
        def on_frame(index, result):
            boxes.setdefault(gate, {})[index] = [f.box for f in result.faces if f.skipped is None]
        return on_frame

    gated = enhance_video(clip, tmp_path / "g.mp4", restorer, detect_every=2, max_frames=30, scene_cut=None,
                          on_frame=keep(True))
    plain = enhance_video(clip, tmp_path / "p.mp4", restorer, detect_every=2, max_frames=30, scene_cut=None,
                          on_frame=keep(False), motion_gate=False)
    assert plain.gated_detections == 0 and gated.gated_detections >= 1
    assert gated.gated_detections <= gated.full_detections - gated.full_detections // FULL_PYRAMID_EVERY
    assert "only where the picture changed" in gated.summary()
    same = sum(len(boxes[True].get(i, [])) == len(boxes[False].get(i, [])) for i in range(30))
    assert same >= 27 and abs(gated.faces_total - plain.faces_total) <= 4
    # --detect-every 1 asks for the whole frame every frame: no gate
    every = enhance_video(clip, tmp_path / "e.mp4", restorer, detect_every=1, max_frames=6, scene_cut=None)
    assert every.full_detections == 6 and every.gated_detections == 0


def test_track_rects_are_squares_around_the_tracks_clipped_to_the_frame():
    from facesr_gui.pipeline.motion import TRACK_WINDOW, track_rects

    rects = track_rects(np.array([[100, 100, 120, 110], [0, 0, 10, 10]], np.float32), 240, 320)
    side = 20 * TRACK_WINDOW
    assert rects[0] == (int(110 - side / 2), int(105 - side / 2), int(110 + side / 2), int(105 + side / 2))
    assert rects[1][:2] == (0, 0)
    assert track_rects(np.zeros((0, 4), np.float32), 240, 320) == []
