"""Face alignment: CelebA framing, box fallback, and warping crops back into the frame."""
from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch
from PIL import Image

from facesr_gui.pipeline.align import (
    CELEBA_TEMPLATE_128, FaceCrop, crop_faces, similarity_transform, template, warp_back, warp_crop,
)
from facesr_gui.pipeline.detect import FaceDetector, from_boxes

OBAMA = "photos/face_recognition/obama-480p.jpg"
CELEBA_DEV = ["celeb_0_078897.jpg", "celeb_0_103433.jpg", "celeb_100_015793.jpg", "celeb_100_128112.jpg"]
K = 128 / 178
# The training preprocessing (centre 178 crop of 178x218, resized to 128) as a cv2 affine.
CELEBA_REF = np.array([[K, 0, 0.5 * K - 0.5], [0, K, -20 * K + 0.5 * K - 0.5]])


def _load(path) -> np.ndarray:
    if not path.is_file():
        pytest.skip(f"{path} missing")
    return np.asarray(Image.open(path).convert("RGB"))


@pytest.fixture(scope="module")
def detector() -> FaceDetector:
    return FaceDetector()


@pytest.fixture(scope="module")
def obama_face(shared_data, detector) -> tuple[np.ndarray, FaceCrop]:
    img = _load(shared_data / OBAMA)[:240, 320:560].copy()  # the face (box ~390,37,496,190)
    dets = detector.detect(img)
    assert len(dets) == 1
    return img, crop_faces(img, dets, size=256)[0]


def _corner_shift(inverse_affine: np.ndarray) -> np.ndarray:
    """Distance (128-crop px) between the crop's corners and the CelebA reference crop's."""
    corners = np.array([[0, 0, 1], [127, 0, 1], [0, 127, 1], [127, 127, 1.0]])
    ref = corners @ cv2.invertAffineTransform(CELEBA_REF).T
    return np.linalg.norm(corners @ inverse_affine.T - ref, axis=1) * K


def test_similarity_transform_recovers_known_transform():
    a = 1.7 * np.exp(1j * 0.3)
    m = np.array([[a.real, -a.imag, 5.0], [a.imag, a.real, -3.0]])
    src = np.random.default_rng(0).uniform(0, 100, (5, 2))
    dst = src @ m[:, :2].T + m[:, 2]
    np.testing.assert_allclose(similarity_transform(src, dst), m, atol=1e-9)


def test_template_scales_with_size_and_margin():
    np.testing.assert_allclose(template(128), CELEBA_TEMPLATE_128)
    np.testing.assert_allclose(template(256), (CELEBA_TEMPLATE_128 + 0.5) * 2 - 0.5)
    t = template(128, margin=0.5)
    assert np.ptp(t[:, 0]) == pytest.approx(np.ptp(CELEBA_TEMPLATE_128[:, 0]) / 2)


def test_celeba_crop_is_close_to_training_crop(shared_data, detector):
    shifts, mads = [], []
    for name in CELEBA_DEV:
        img = _load(shared_data / "celeba_dev" / name)
        ref = np.asarray(Image.fromarray(img).resize((128, 128), Image.Resampling.BICUBIC, box=(0, 20, 178, 198)))
        dets = detector.detect(img)
        face = crop_faces(img, dets, size=128)[int(np.argmax(dets.scores))]
        assert face.crop.shape == (128, 128, 3) and face.crop.dtype == np.uint8
        scale = np.sqrt(abs(np.linalg.det(face.affine[:, :2])))
        angle = np.degrees(np.arctan2(face.affine[1, 0], face.affine[0, 0]))
        assert scale == pytest.approx(K, rel=0.12) and abs(angle) < 6
        shifts.append(_corner_shift(face.inverse_affine).mean())
        mads.append(np.abs(face.crop.astype(np.float32) - ref).mean())
    assert max(shifts) < 8 and np.mean(shifts) < 5  # crop window within a few px of the reference
    assert np.mean(mads) < 20


def test_box_fallback_frames_like_landmarks(shared_data, detector):
    img = _load(shared_data / "celeba_dev" / CELEBA_DEV[0])
    dets = detector.detect(img)
    bare = from_boxes(dets.boxes, estimate_landmarks=False)
    aligned, boxed = crop_faces(img, dets)[0], crop_faces(img, bare)[0]
    assert np.isnan(boxed.landmarks).all()
    assert boxed.affine[0, 1] == 0 and boxed.affine[1, 0] == 0  # axis-aligned square crop
    assert _corner_shift(boxed.inverse_affine).mean() < 10
    assert _corner_shift(aligned.inverse_affine).mean() < _corner_shift(boxed.inverse_affine).mean() + 3


def test_crop_fields_and_inverse(obama_face):
    _, face = obama_face
    assert face.size == 256 and face.crop.shape == (256, 256, 3)
    full = np.vstack([face.affine, [0, 0, 1]]) @ np.vstack([face.inverse_affine, [0, 0, 1]])
    np.testing.assert_allclose(full, np.eye(3), atol=1e-9)
    eyes = face.landmarks[:2] @ face.affine[:, :2].T + face.affine[:, 2]
    np.testing.assert_allclose(eyes, template(256)[:2], atol=6)  # least squares over 5 points


def test_warp_back_reproduces_face_pixels(obama_face):
    img, face = obama_face
    back, mask = warp_back(face.crop, face, img.shape)
    assert back.shape == img.shape and back.dtype == np.uint8 and mask.shape == img.shape[:2]
    x0, y0, x1, y1 = face.box.astype(int)
    inside = mask[y0:y1, x0:x1] > 0.999
    assert inside.mean() > 0.95
    diff = np.abs(back[y0:y1, x0:x1].astype(np.float32) - img[y0:y1, x0:x1])[inside]
    assert diff.mean() < 3
    pasted = back + (1 - mask[..., None]) * img  # premultiplied edges: exact paste
    assert np.abs(pasted - img).mean() < 2


def test_warp_back_any_resolution_and_channels(obama_face):
    img, face = obama_face
    sr = cv2.resize(face.crop, (512, 512), interpolation=cv2.INTER_CUBIC)  # a 2x SR result
    back, mask = warp_back(sr, face, img.shape)
    diff = np.abs(back.astype(np.float32) - img)[mask > 0.999]
    assert diff.mean() < 4
    edge, m2 = warp_back(np.ones((32, 32), np.float16), face, img.shape)  # low-res 1-channel map
    assert edge.shape == img.shape[:2] and edge.dtype == np.float32
    np.testing.assert_allclose(edge, m2, atol=1e-3)
    parsing, _ = warp_back(np.random.default_rng(0).random((64, 64, 19), dtype=np.float32), face, img.shape)
    assert parsing.shape == img.shape[:2] + (19,)


def test_warp_back_outside_frame_is_empty(obama_face):
    img, face = obama_face
    shifted = FaceCrop(face.box, face.landmarks, face.affine,
                       face.inverse_affine + np.array([[0, 0, 5000.0], [0, 0, 0]]), face.crop, face.size)
    back, mask = warp_back(face.crop, shifted, img.shape)
    assert not back.any() and not mask.any()


def test_no_detections_no_crops():
    assert crop_faces(np.zeros((64, 64, 3), np.uint8), from_boxes(np.zeros((0, 4)))) == []


def test_large_face_crop_is_antialiased():
    # a 1-px checkerboard shrunk 4x must average to grey, not alias into stripes
    board = (np.indices((512, 512)).sum(0) % 2 * 255).astype(np.uint8)
    img = np.repeat(board[..., None], 3, 2)
    face = crop_faces(img, from_boxes([[0, 0, 512, 512]], estimate_landmarks=False), size=128)[0]
    centre = face.crop[32:96, 32:96].astype(np.float32)
    assert abs(centre.mean() - 127.5) < 10 and centre.std() < 20


def test_crop_keeps_detail_at_half_pixel_offsets():
    # the LR crop is warped at whatever sub-pixel offset the face sits; half-way between pixels bilinear
    # interpolation averages two neighbours (white noise keeps 1/2 of its variance), bicubic (a = -0.75) 0.72
    rng = np.random.default_rng(0)
    img = np.repeat(rng.integers(64, 192, (64, 64, 1)), 3, 2).astype(np.uint8)
    shifted = warp_crop(img, np.array([[1.0, 0, -0.5], [0, 1.0, 0]]), 32)
    same = warp_crop(img, np.array([[1.0, 0, 0], [0, 1.0, 0]]), 32)
    assert np.array_equal(same, img[:32, :32])   # on the grid: the pixels themselves
    inner = (slice(4, 28), slice(4, 28), 0)
    ratio = shifted[inner].astype(np.float64).var() / img[:32, :32][inner].astype(np.float64).var()
    assert 0.65 < ratio < 0.85
