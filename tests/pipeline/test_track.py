"""FaceTracker on synthetic tracks: smoothing lowers jitter, ids are stable, misses are bridged."""
from __future__ import annotations

import numpy as np
import pytest

from facesr_gui.pipeline.detect import Detections, from_boxes
from facesr_gui.pipeline.track import FaceTracker, SceneCutDetector, greedy_match, iou_matrix


def _true_boxes(n: int, start=(100.0, 80.0), speed=(2.0, 0.5), size=40.0) -> np.ndarray:
    """``(n, 4)`` boxes of a face moving at constant speed."""
    t = np.arange(n, dtype=np.float64)[:, None]
    xy = np.array(start) + t * np.array(speed)
    return np.concatenate([xy, xy + size], axis=1)


def test_iou_and_greedy_match():
    a = np.array([[0, 0, 10, 10], [20, 20, 30, 30]], np.float32)
    b = np.array([[20, 20, 30, 30], [0, 0, 10, 5], [100, 100, 110, 110]], np.float32)
    iou = iou_matrix(a, b)
    assert iou.shape == (2, 3)
    np.testing.assert_allclose(iou[0], [0.0, 0.5, 0.0])
    np.testing.assert_allclose(iou[1], [1.0, 0.0, 0.0])
    assert sorted(greedy_match(iou, 0.3)) == [(0, 1), (1, 0)]
    assert greedy_match(iou, 0.6) == [(1, 0)]
    assert greedy_match(np.zeros((0, 3)), 0.3) == []


def test_smoothing_lowers_jitter_on_moving_face():
    rng = np.random.default_rng(0)
    n = 120
    truth = _true_boxes(n)
    noisy = truth + rng.normal(0, 2.0, truth.shape)
    tracker = FaceTracker(smoothing=0.7)
    out = []
    for box in noisy:
        tracked = tracker.update(from_boxes(box[None]))
        assert len(tracked) == 1
        out.append(tracked.detections.boxes[0])
        np.testing.assert_array_equal(tracked.ids, [0])
    out = np.array(out)
    skip = 20  # filter warm-up
    raw_err = np.abs(noisy[skip:] - truth[skip:]).mean()
    smooth_err = np.abs(out[skip:] - truth[skip:]).mean()
    # frame-to-frame jitter of the box (what the viewer sees as flicker), speed removed
    raw_jit = np.diff(noisy[skip:] - truth[skip:], axis=0).std()
    smooth_jit = np.diff(out[skip:] - truth[skip:], axis=0).std()
    assert smooth_err < 0.75 * raw_err
    assert smooth_jit < 0.5 * raw_jit
    # constant-velocity filter: no steady lag behind a moving face
    assert abs((out[skip:] - truth[skip:]).mean()) < 0.5


def test_smoothing_zero_passes_detections_through():
    tracker = FaceTracker(smoothing=0.0)
    for box in _true_boxes(5) + np.array([0, 3, 0, -3]) * (np.arange(5) % 2)[:, None]:
        tracked = tracker.update(from_boxes(box[None]))
        np.testing.assert_allclose(tracked.detections.boxes[0], box, atol=1e-4)


def test_ids_stable_for_two_faces_and_new_face_gets_new_id():
    tracker = FaceTracker()
    a, b = _true_boxes(30, (50, 50), (1.5, 0)), _true_boxes(30, (300, 60), (-1.0, 0.5))
    rng = np.random.default_rng(1)
    for i in range(30):
        boxes = np.stack([a[i], b[i]]) + rng.normal(0, 1.0, (2, 4))
        order = [1, 0] if i % 2 else [0, 1]  # detector order changes between frames
        tracked = tracker.update(from_boxes(boxes[order]))
        np.testing.assert_array_equal(tracked.ids, [0, 1])
        assert tracked.detections.boxes[0, 0] < tracked.detections.boxes[1, 0]  # id 0 = face a
    c = np.array([[150, 200, 190, 240]], np.float64)
    tracked = tracker.update(from_boxes(np.concatenate([a[-1:], b[-1:], c])))
    np.testing.assert_array_equal(tracked.ids, [0, 1, 2])
    assert tracker.tracks_started == 3


def test_short_miss_is_bridged_and_long_miss_drops_track():
    tracker = FaceTracker(max_missed=2)
    truth = _true_boxes(20)
    for i in range(10):
        tracker.update(from_boxes(truth[i][None]))
    for i in range(10, 12):  # two missed frames: the face is still there, coasting
        tracked = tracker.update(Detections.empty())
        assert list(tracked.ids) == [0]
        assert tracked.missed[0] == i - 9
        assert iou_matrix(tracked.detections.boxes, truth[i][None])[0, 0] > 0.7
    tracked = tracker.update(from_boxes(truth[12][None]))  # found again: same id
    assert list(tracked.ids) == [0] and tracked.missed[0] == 0
    for _ in range(3):
        tracked = tracker.update(Detections.empty())
    assert len(tracked) == 0  # third miss in a row: gone
    tracked = tracker.update(from_boxes(truth[16][None]))
    assert list(tracked.ids) == [1]  # a face after the track was dropped is a new track


def test_new_track_picks_up_speed_at_once():
    """Warm-up: the second detection sets the velocity, so a sparse-detected face is not lost."""
    tracker = FaceTracker(smoothing=0.8)
    truth = _true_boxes(12, speed=(3.0, 0.0), size=12.0)  # a small face moving a quarter of its size a frame
    for i in range(12):
        tracked = tracker.update(from_boxes(truth[i][None])) if i % 3 == 0 else tracker.predict()
        assert list(tracked.ids) == [0]
        if i >= 4:  # after two detections the prediction keeps up with the face
            assert iou_matrix(tracked.detections.boxes, truth[i][None])[0, 0] > 0.7


def test_distance_matches_small_fast_faces_without_overlap():
    box = np.array([[100.0, 100.0, 112.0, 112.0]])
    for max_distance, ids in ((1.0, [0]), (0.0, [1])):
        tracker = FaceTracker(max_distance=max_distance, max_missed=0)
        tracker.update(from_boxes(box))
        assert list(tracker.update(from_boxes(box + [10, 2, 10, 2])).ids) == ids  # IoU 0.1
    tracker = FaceTracker(max_distance=1.0, max_missed=0)
    tracker.update(from_boxes(box))
    assert list(tracker.update(from_boxes([[100, 100, 130, 130]])).ids) == [1]  # 2.5x the size: another face


def test_predict_between_detection_frames_follows_motion():
    """detect_every=3: the tracker extrapolates on frames without detection, no miss counted."""
    tracker = FaceTracker(max_missed=0, smoothing=0.5)
    truth = _true_boxes(60, speed=(3.0, 1.0))
    for i in range(60):
        tracked = tracker.update(from_boxes(truth[i][None])) if i % 3 == 0 else tracker.predict()
        assert list(tracked.ids) == [0]
        if i > 30:
            np.testing.assert_allclose(tracked.detections.boxes[0], truth[i], atol=1.0)


def test_landmarks_are_smoothed_and_nan_landmarks_fall_back():
    tracker = FaceTracker(smoothing=0.5)
    det = from_boxes(np.array([[10, 10, 50, 50]]))
    for _ in range(8):  # past the warm-up, where the first measurements are taken as they are
        tracked = tracker.update(det)
    np.testing.assert_allclose(tracked.detections.landmarks, det.landmarks, atol=1e-4)
    moved = Detections(det.boxes + 2, det.scores, det.landmarks + 2)
    tracked = tracker.update(moved)
    lm = tracked.detections.landmarks
    assert np.all((lm > det.landmarks) & (lm < moved.landmarks))  # smoothed: in between
    no_lm = from_boxes(det.boxes + 4, estimate_landmarks=False)
    tracked = tracker.update(no_lm)
    assert list(tracked.ids) == [0] and np.isnan(tracked.detections.landmarks).all()
    tracked = tracker.update(moved)
    assert np.isfinite(tracked.detections.landmarks).all()


def test_min_hits_hides_one_frame_false_positive():
    tracker = FaceTracker(min_hits=2, max_missed=0)
    assert len(tracker.update(from_boxes([[0, 0, 20, 20]]))) == 0
    assert len(tracker.update(Detections.empty())) == 0
    tracker.update(from_boxes([[100, 0, 120, 20]]))
    assert list(tracker.update(from_boxes([[101, 0, 121, 20]])).ids) == [1]


def test_bad_arguments():
    with pytest.raises(ValueError):
        FaceTracker(smoothing=1.0)
    with pytest.raises(ValueError):
        FaceTracker(min_hits=0)


def test_scene_cut_detector_synthetic():
    rng = np.random.default_rng(0)
    shot_a = np.clip(rng.normal(100, 40, (90, 160, 3)), 0, 255).astype(np.uint8)
    shot_b = 255 - shot_a
    cuts = SceneCutDetector()
    frames = [shot_a, np.clip(shot_a.astype(int) + rng.integers(-8, 9, shot_a.shape), 0, 255).astype(np.uint8),
              shot_b, shot_b]
    assert [cuts(f) for f in frames] == [False, False, True, False]
