"""Face detection: torchvision stand-ins, MTCNN wrapper, upscaling and coordinate mapping."""
from __future__ import annotations

import importlib.util
import sys

import cv2
import numpy as np
import pytest
import torch
from PIL import Image

from facesr_gui.pipeline import _tv_shim
from facesr_gui.pipeline.detect import Detections, FaceDetector, detection_zoom, from_boxes

OBAMA = "photos/face_recognition/obama-480p.jpg"
SELFIE = "photos/deepface_tests/selfie-many-people.jpg"
STREET = "videos/facenet_street_1080p.mp4"


def _load(root, rel: str) -> np.ndarray:
    path = root / rel
    if not path.is_file():
        pytest.skip(f"{path} missing")
    return np.asarray(Image.open(path).convert("RGB"))


@pytest.fixture(scope="module")
def plain() -> FaceDetector:
    """No upscaling: the cheapest configuration, for tests that do not need it."""
    return FaceDetector(upscale=1.0)


# --- stand-ins -----------------------------------------------------------------------------

def _nms_reference(boxes: np.ndarray, scores: np.ndarray, thr: float) -> list[int]:
    """Textbook greedy NMS, one pair at a time."""
    def iou(a, b):
        iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
        ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
        inter = iw * ih
        return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)

    keep: list[int] = []
    for i in sorted(range(len(boxes)), key=lambda i: -scores[i]):
        if all(iou(boxes[i], boxes[k]) <= thr for k in keep):
            keep.append(i)
    return keep


def _random_boxes(n: int, rng: np.random.Generator) -> np.ndarray:
    xy = rng.uniform(0, 100, (n, 2))
    wh = rng.uniform(5, 40, (n, 2))
    return np.concatenate([xy, xy + wh], 1)


@pytest.mark.parametrize("thr", [0.3, 0.5, 0.7])
def test_nms_matches_brute_force(thr):
    rng = np.random.default_rng(int(thr * 10))
    boxes, scores = _random_boxes(300, rng), rng.uniform(size=300)
    keep = _tv_shim.nms(torch.tensor(boxes, dtype=torch.float64), torch.tensor(scores), thr)
    assert keep.dtype == torch.int64
    assert keep.tolist() == _nms_reference(boxes, scores, thr)


def test_batched_nms_is_per_category():
    rng = np.random.default_rng(1)
    boxes, scores, cats = _random_boxes(200, rng), rng.uniform(size=200), rng.integers(0, 3, 200)
    keep = _tv_shim.batched_nms(torch.tensor(boxes), torch.tensor(scores), torch.tensor(cats), 0.5)
    expected = []
    for c in range(3):
        idx = np.flatnonzero(cats == c)
        expected += [int(idx[k]) for k in _nms_reference(boxes[idx], scores[idx], 0.5)]
    assert keep.tolist() == sorted(expected, key=lambda i: -scores[i])
    empty = _tv_shim.batched_nms(torch.zeros(0, 4), torch.zeros(0), torch.zeros(0), 0.5)
    assert empty.shape == (0,) and empty.dtype == torch.int64


def test_to_tensor_like_torchvision():
    img = np.random.default_rng(0).integers(0, 256, (5, 7, 3), dtype=np.uint8)
    t = _tv_shim.to_tensor(img)
    assert t.shape == (3, 5, 7) and t.dtype == torch.float32
    assert torch.allclose(t, torch.from_numpy(img).permute(2, 0, 1).float() / 255)
    assert torch.equal(_tv_shim.to_tensor(Image.fromarray(img)), t)
    raw = _tv_shim.to_tensor(img.astype(np.float32))  # non-uint8: transposed, not rescaled
    assert raw.max() > 1 and torch.equal(raw, torch.from_numpy(img).permute(2, 0, 1).float())


@pytest.mark.skipif(importlib.util.find_spec("torchvision") is not None, reason="real torchvision present")
def test_stand_ins_do_not_leak():
    with _tv_shim.stand_ins() as names:
        assert "torchvision.ops.boxes" in names
        from torchvision.ops.boxes import batched_nms
        assert batched_nms is _tv_shim.batched_nms
    assert "torchvision" not in sys.modules and "torchvision.ops.boxes" not in sys.modules
    assert _tv_shim.import_facenet_pytorch().MTCNN is not None


# --- detector ------------------------------------------------------------------------------

def test_obama_has_exactly_one_face(shared_data):
    det = FaceDetector().detect(_load(shared_data, OBAMA))  # default: auto 2x upscale
    assert len(det) == 1
    assert det.boxes.shape == (1, 4) and det.landmarks.shape == (1, 5, 2) and det.scores.shape == (1,)
    assert det.boxes.dtype == det.scores.dtype == det.landmarks.dtype == np.float32
    x0, y0, x1, y1 = det.boxes[0]
    assert x0 <= det.landmarks[0, :, 0].min() and det.landmarks[0, :, 0].max() <= x1
    assert y0 <= det.landmarks[0, :, 1].min() and det.landmarks[0, :, 1].max() <= y1
    assert det.scores[0] > 0.99


def test_selfie_finds_several_faces(shared_data, plain):
    det = plain.detect(_load(shared_data, SELFIE))
    assert len(det) >= 4  # 4 found (of ~7 faces, several cut by the frame edge)
    assert np.all(np.diff(det.scores) <= 0)  # sorted by score


@pytest.mark.parametrize("kind", ["blank", "noise"])
def test_no_face_is_empty_arrays(plain, kind):
    img = np.zeros((120, 160, 3), np.uint8) if kind == "blank" else \
        np.random.default_rng(0).integers(0, 256, (120, 160, 3), dtype=np.uint8)
    det = plain.detect(img)
    assert len(det) == 0
    assert det.boxes.shape == (0, 4) and det.scores.shape == (0,) and det.landmarks.shape == (0, 5, 2)


def test_upscale_finds_more_tiny_faces(shared_data, plain):
    path = shared_data / STREET
    if not path.is_file():
        pytest.skip(f"{path} missing")
    cap = cv2.VideoCapture(str(path))
    for _ in range(52):  # frame 52: six faces 26-74 px wide at 1080p
        cap.grab()
    ok, frame = cap.read()
    cap.release()
    if not ok:
        pytest.skip("cannot decode the street clip here")
    small = cv2.resize(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB), (480, 270), interpolation=cv2.INTER_AREA)
    assert detection_zoom(*small.shape[:2]) == 2.0
    n_plain, n_up = len(plain.detect(small)), len(FaceDetector(upscale=2.0).detect(small))
    assert n_up > n_plain  # 6 vs 4 faces of 6-18 px


def test_upscale_maps_back_to_original_coordinates(shared_data, plain):
    img = _load(shared_data, OBAMA)[:240, 320:560].copy()  # the face (box ~390,37,496,190)
    big = cv2.resize(img, (img.shape[1] * 2, img.shape[0] * 2), interpolation=cv2.INTER_CUBIC)
    on_big = plain.detect(big)
    internal = FaceDetector(upscale=2.0).detect(img)  # resizes exactly like `big` internally
    np.testing.assert_allclose(internal.boxes, on_big.boxes / 2, atol=1e-3)
    np.testing.assert_allclose(internal.landmarks, (on_big.landmarks + 0.5) / 2 - 0.5, atol=1e-3)
    # and physically: detections on the 2x image are ~2x the detections on the original
    on_img = plain.detect(img)
    assert len(on_img) == len(on_big) == 1
    np.testing.assert_allclose(on_big.boxes / 2, on_img.boxes, atol=3.0)
    np.testing.assert_allclose((on_big.landmarks + 0.5) / 2 - 0.5, on_img.landmarks, atol=3.0)


def test_detect_batch_matches_single(shared_data, plain):
    img = _load(shared_data, OBAMA)[:240, 320:560].copy()
    frames = [img, np.ascontiguousarray(img[:, ::-1]), np.zeros_like(img)]
    batch = plain.detect_batch(frames, batch_size=2)
    assert [len(d) for d in batch] == [1, 1, 0]
    for frame, d in zip(frames[:2], batch):
        single = plain.detect(frame)
        np.testing.assert_allclose(d.boxes, single.boxes, atol=1e-3)
    mirrored_x = img.shape[1] - batch[1].boxes[0, [2, 0]]
    np.testing.assert_allclose(mirrored_x, batch[0].boxes[0, [0, 2]], atol=4.0)
    with pytest.raises(ValueError):
        plain.detect_batch([img, img[:100]])


def test_from_boxes():
    boxes = np.array([[10, 20, 70, 100], [0, 0, 30, 40]], np.float32)
    est = from_boxes(boxes)
    assert isinstance(est, Detections) and len(est) == 2
    assert np.all(est.scores == 1) and est.landmarks.shape == (2, 5, 2)
    assert np.all(est.landmarks[..., 0] > boxes[:, None, 0]) and np.all(est.landmarks[..., 1] < boxes[:, None, 3])
    assert est.landmarks[0, 0, 0] < est.landmarks[0, 1, 0]  # eyes left to right
    bare = from_boxes(boxes.tolist(), estimate_landmarks=False)
    assert np.isnan(bare.landmarks).all()
    assert len(from_boxes(np.zeros((0, 4)))) == 0


def test_min_face_leaves_out_the_levels_of_smaller_faces_only(shared_data):
    """``min_face`` skips the pyramid's first levels (the costliest) and nothing else: the faces of
    that size or more are found exactly as by the whole pyramid."""
    from facesr_gui.pipeline import mtcnn

    det = FaceDetector(upscale=2.0)
    # level k looks for faces of 12 / 2 * 0.709**-k px of the frame: 6, 8.46, 11.9, ...
    assert [det.start_level(m, 2.0) for m in (None, 6.0, 8.4, 8.5, 12.0, 16.9)] == [0, 0, 0, 1, 2, 3]
    img = _load(shared_data, SELFIE)
    img = cv2.resize(img, (img.shape[1] * 480 // img.shape[0], 480), interpolation=cv2.INTER_AREA)
    whole = det.detect(img)
    sides = np.maximum(whole.boxes[:, 2] - whole.boxes[:, 0], whole.boxes[:, 3] - whole.boxes[:, 1])
    assert len(whole) >= 3
    calls = []
    detect_faces = mtcnn.detect_faces

    def counting(*args, **kwargs):
        calls.append(kwargs.get("start_level", 0))
        return detect_faces(*args, **kwargs)

    import facesr_gui.pipeline.detect as detect_module
    detect_module.detect_faces = counting
    try:
        part = det.detect(img, min_face=0.75 * float(sides.min()))
    finally:
        detect_module.detect_faces = detect_faces
    assert calls[0] >= 1   # levels were left out
    np.testing.assert_allclose(part.boxes, whole.boxes, atol=1e-3)
    assert len(det.detect(img, min_face=10_000)) == 0   # every level left out: nothing looked for


def test_concat_shift_and_sort():
    a = from_boxes(np.array([[0, 0, 10, 10]], np.float32), scores=np.array([0.8], np.float32))
    b = from_boxes(np.array([[5, 5, 25, 25], [1, 1, 4, 4]], np.float32), scores=np.array([0.95, 0.7], np.float32))
    both = Detections.concat([a, Detections.empty(), b])
    assert len(both) == 3 and both.scores.tolist() == pytest.approx([0.8, 0.95, 0.7])
    moved = both.shifted(100, 50)
    np.testing.assert_allclose(moved.boxes[0], [100, 50, 110, 60])
    np.testing.assert_allclose(moved.landmarks - both.landmarks, np.broadcast_to([100, 50], (3, 5, 2)))
    assert moved.boxes.dtype == moved.landmarks.dtype == np.float32
    order = moved.sorted_by_score()
    assert order.scores.tolist() == pytest.approx([0.95, 0.8, 0.7])
    np.testing.assert_allclose(order.boxes[0], [105, 55, 125, 75])
    assert len(Detections.concat([])) == 0 and len(Detections.concat([Detections.empty()])) == 0


# --- the pyramid's small levels from the integral image ---------------------------------------

@pytest.mark.parametrize("size", [(961, 1709), (481, 855), (37, 53)])
def test_area_from_integral_is_opencvs_area_filter(size):
    from facesr_gui.pipeline.mtcnn import area_from_integral

    img = np.random.default_rng(size[0]).integers(0, 256, (*size, 3), dtype=np.uint8)
    integral = cv2.integral(img, sdepth=cv2.CV_32S)
    h, w = size
    for scale in (0.5, 0.3, 0.127, 0.09, 0.045, 12.5 / min(h, w)):   # integer and fractional footprints
        hs, ws = int(h * scale + 1), int(w * scale + 1)
        want = cv2.resize(img.astype(np.float32), (ws, hs), interpolation=cv2.INTER_AREA)
        got = area_from_integral(integral, hs, ws)
        assert got.shape == want.shape and got.dtype == np.float32
        assert np.abs(got - want).max() < 2e-3


def test_integral_levels_leave_the_faces_as_they_were(shared_data, plain, monkeypatch):
    from facesr_gui.pipeline import mtcnn

    img = _load(shared_data, SELFIE)
    calls = []
    area = mtcnn.area_from_integral
    monkeypatch.setattr(mtcnn, "area_from_integral", lambda *a: calls.append(a[1:]) or area(*a))
    fast = plain.detect(img)
    assert len(calls) >= 4                               # the small levels came from the integral image
    monkeypatch.setattr(mtcnn, "INTEGRAL_SHARE", 0.0)   # every level by cv2.resize, as before
    slow = plain.detect(img)
    assert len(fast) == len(slow) >= 3
    np.testing.assert_allclose(fast.boxes, slow.boxes, atol=0.05)
    np.testing.assert_allclose(fast.scores, slow.scores, atol=1e-3)
