"""Detection around tracked faces (regions.py), the faster MTCNN cascade (mtcnn.py), and how a video
chooses between full-frame detection, regions and tracking."""
from __future__ import annotations

import numpy as np
import pytest

av = pytest.importorskip("av")

from facesr_gui.pipeline.detect import FaceDetector, _resize
from facesr_gui.pipeline.faces import Detections
from facesr_gui.pipeline.regions import WINDOW, candidate_boxes, detect_regions, detect_windows
from facesr_gui.pipeline.track import greedy_match, iou_matrix
from facesr_gui.pipeline.video import enhance_video, iter_frames

pytestmark = pytest.mark.usefixtures("one_thread")
HALLWAY = "face-demographics-walking.mp4"   # 480x270, 12.5 fps, 35 frames, two walking people


@pytest.fixture(scope="module")
def clip(shared_data):
    path = shared_data / "videos" / HALLWAY
    if not path.is_file():
        pytest.skip(f"{path} missing")
    return path


@pytest.fixture(scope="module")
def detector():
    return FaceDetector()


@pytest.fixture(scope="module")
def frames(clip):
    return [rgb for _, _, rgb in iter_frames(clip, max_frames=12)]


def _matched(a: np.ndarray, b: np.ndarray, iou: float = 0.5) -> int:
    return len(greedy_match(iou_matrix(a, b), iou - 1e-9)) if len(a) and len(b) else 0


def test_candidates_are_squares_around_the_box():
    c = candidate_boxes(np.array([[10, 20, 30, 50]], np.float32))
    assert c.shape == (1, 6, 4)
    sides = c[0, :, 2:] - c[0, :, :2]
    assert np.allclose(sides[:, 0], sides[:, 1]) and np.allclose(sides[:5, 0], 30)   # square of the long side
    assert np.allclose((c[0, 0, :2] + c[0, 0, 2:]) / 2, [20, 35])                     # centred on the box
    assert sides[5, 0] > 30                                                            # and a larger one


def test_the_cascade_finds_what_facenet_pytorch_finds(detector, frames):
    """Same networks, same cascade: every face facenet-pytorch's own detect() finds with a clear score
    is found (IoU >= 0.5); borderline ones (O-Net near its 0.7 threshold) may flip either way, since
    the crops are resampled with exact area weights."""
    from facesr_gui.pipeline.mtcnn import detect_faces

    m = detector._mtcnn
    theirs = ours = matched = 0
    for rgb in frames[::4]:
        img = _resize(rgb, 2.0)[0]
        boxes, probs = m.detect(img[None])
        ref = np.zeros((0, 4), np.float32) if boxes[0] is None else np.asarray(boxes[0], np.float32)
        clear = ref[np.asarray(probs[0], np.float32) >= 0.8] if len(ref) else ref
        got = detect_faces(img[None], m.pnet, m.rnet, m.onet, m.min_face_size, m.thresholds, m.factor)[0]
        assert got[0].shape[1:] == (4,) and got[2].shape[1:] == (5, 2) and np.all(np.diff(got[1]) <= 0)
        theirs, ours, matched = theirs + len(clear), ours + len(got[0]), matched + _matched(clear, got[0])
    assert theirs > 0 and matched == theirs and abs(ours - theirs) <= 2


def test_tracked_faces_are_found_again_in_the_next_frame(detector, frames):
    found_total = boxes_total = 0
    for a, b in zip(frames[:-1:3], frames[1::3]):
        prev, full = detector.detect(a), detector.detect(b)
        got, found = detect_regions(detector, b, prev.boxes)
        assert found.shape == (len(prev),) and len(got) == int(found.sum())
        assert _matched(got.boxes, full.boxes) == len(got)   # each one is a face the full detector sees there
        found_total, boxes_total = found_total + int(found.sum()), boxes_total + len(prev)
    assert boxes_total > 0 and found_total >= 0.8 * boxes_total


def test_a_face_further_than_the_candidates_is_found_in_its_window(detector, frames):
    """A predicted box off by half a side (beyond O-Net's shifted candidates): the whole cascade in a
    window around it finds the face the full detector sees there, and only that face."""
    full = detector.detect(frames[4])
    assert len(full)
    sides = (full.boxes[:, 2:] - full.boxes[:, :2]).max(axis=1, keepdims=True)
    off = full.boxes + sides * np.array([0.5, 0.3, 0.5, 0.3], np.float32)
    got, found = detect_windows(detector, frames[4], off)
    assert found.shape == (len(full),) and len(got) == int(found.sum()) >= 0.8 * len(full)
    assert _matched(got.boxes, full.boxes) == len(got)
    assert np.isfinite(got.landmarks).all() and (got.scores >= detector.thresholds[2]).all()
    # the restorer's detect_near: O-Net candidates first, windows for the rest, boxes in the input order
    from facesr_gui.catalog import load_restorer

    near, found_near = load_restorer("bicubic", keep_maps=False).detect_near(frames[4], off)
    assert found_near.sum() >= found.sum() and len(near) == int(found_near.sum())
    centres = (near.boxes[:, :2] + near.boxes[:, 2:]) / 2
    own = (off[found_near, :2] + off[found_near, 2:]) / 2
    assert np.all(np.hypot(*(centres - own).T) <= sides[found_near, 0] * WINDOW / 2)
    # nothing in a window of an empty frame
    got, found = detect_windows(detector, np.zeros_like(frames[4]), off)
    assert len(got) == 0 and not found.any()


def test_no_face_where_there_is_none(detector, frames):
    empty = np.zeros_like(frames[0])
    got, found = detect_regions(detector, empty, np.array([[100, 100, 130, 140], [-20, -20, 10, 10]], np.float32))
    assert len(got) == 0 and not found.any()
    got, found = detect_regions(detector, frames[0], np.zeros((0, 4), np.float32))
    assert len(got) == 0 and found.shape == (0,)


class _Counting:
    """A restorer that counts full-frame and region detections; ``lose_after`` makes the regions
    find nothing from that frame on."""

    def __init__(self, restorer, lose_after: int | None = None) -> None:
        self._restorer, self.full, self.near, self.lose_after, self.frame = restorer, 0, 0, lose_after, 0

    def __getattr__(self, name):
        return getattr(self._restorer, name)

    def detect(self, rgb, min_face=None):
        self.full += 1
        self.frame += 1
        return self._restorer.detect(rgb, min_face=min_face)

    def detect_in(self, rgb, rects, min_face=None):   # a gated whole-frame detection (motion.py)
        self.full += 1
        self.frame += 1
        return self._restorer.detect_in(rgb, rects, min_face=min_face)

    def detect_near(self, rgb, boxes):
        self.near += 1
        self.frame += 1
        if self.lose_after is not None and self.frame > self.lose_after:
            return Detections.empty(), np.zeros(len(boxes), bool)
        return self._restorer.detect_near(rgb, boxes)


@pytest.fixture(scope="module")
def restorer():
    from facesr_gui.catalog import load_restorer

    return load_restorer("bicubic", keep_maps=False)


def test_video_detects_whole_frames_every_k_and_regions_between(clip, restorer, tmp_path):
    counting = _Counting(restorer)
    report = enhance_video(clip, tmp_path / "r.mp4", counting, detect_every=5, max_frames=20)
    assert report.frames_out == 20 and report.full_detections == counting.full
    assert counting.full >= 4 and counting.near >= 10 and counting.full + counting.near <= 20
    assert report.faces_mean > 0
    # without regions: only the full detections, the tracks are moved on in between
    plain = _Counting(restorer)
    report = enhance_video(clip, tmp_path / "p.mp4", plain, detect_every=5, max_frames=20, regions=False)
    assert plain.full == 4 and plain.near == 0 and report.full_detections == 4


def test_a_lost_face_coasts_until_dropped_and_waits_for_the_cadence(clip, restorer, tmp_path):
    """Regions that stop finding the faces bring no extra whole-frame detection: the tracks coast on
    their boxes for ``max_missed`` frames and are dropped; the next scheduled detection finds them."""
    from facesr_gui.pipeline.track import FaceTracker

    lost = _Counting(restorer, lose_after=3)
    report = enhance_video(clip, tmp_path / "l.mp4", lost, detect_every=50, max_frames=12,
                           tracker=FaceTracker(max_missed=2))
    assert report.frames_out == 12 and lost.full == 1 and lost.near >= 4
    assert 3 < report.frames_with_faces < 12   # found, coasting for two frames, then gone
    back = _Counting(restorer, lose_after=3)
    report = enhance_video(clip, tmp_path / "b.mp4", back, detect_every=8, max_frames=12,
                           tracker=FaceTracker(max_missed=2))
    assert back.full == 2 and report.faces_total > 0


def test_whole_frame_detections_choose_their_pyramid_from_the_faces_seen(clip, restorer, tmp_path):
    """Until a face is found, and every FULL_PYRAMID_EVERY-th time, a whole-frame detection looks down
    to the detector's smallest face; the others from SMALLEST_SHARE of the smallest face seen."""
    from facesr_gui.pipeline.video_stages import FULL_PYRAMID_EVERY, SMALLEST_SHARE

    asked, smallest = [], []

    class Recording(_Counting):
        def detect(self, rgb, min_face=None):
            asked.append(min_face)
            found = super().detect(rgb, min_face=min_face)
            if len(found):
                b = found.boxes
                smallest.append(float(np.maximum(b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]).min()))
            return found

    enhance_video(clip, tmp_path / "w.mp4", Recording(restorer), detect_every=2, max_frames=30, scene_cut=None,
                  motion_gate=False)
    assert len(asked) >= 5 and asked[0] is None and smallest
    for i, m in enumerate(asked[1:], start=1):
        if i % FULL_PYRAMID_EVERY == 0:
            assert m is None
        else:
            assert m == pytest.approx(SMALLEST_SHARE * min(smallest[:i]))


def test_whole_frame_detections_back_off_while_no_new_face_appears(clip, restorer, tmp_path):
    """The hallway's two people are found at frame 0 and tracked: each later whole-frame detection starts
    no track, so the cadence slows by a frame each time up to BACKOFF x detect_every (1 stays 1)."""
    from facesr_gui.pipeline.video_stages import BACKOFF

    frames = []

    class Recording(_Counting):
        def detect(self, rgb, min_face=None):
            frames.append(self.frame)
            return super().detect(rgb, min_face=min_face)

    enhance_video(clip, tmp_path / "b.mp4", Recording(restorer), detect_every=3, max_frames=35, scene_cut=None,
                  motion_gate=False)
    gaps = np.diff(frames).tolist()
    assert gaps[0] == 3 and gaps == sorted(gaps) and max(gaps) == BACKOFF * 3
    every = _Counting(restorer)
    enhance_video(clip, tmp_path / "e.mp4", every, detect_every=1, max_frames=10, scene_cut=None)
    assert every.full == 10
