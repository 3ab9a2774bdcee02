"""DlibIdentity: 128-D dlib embeddings and identity similarity on real faces (shared data)."""
from __future__ import annotations

import sys
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from facesr_gui import identity as identity_mod
from facesr_gui.identity import SAME_PERSON_DISTANCE, DlibIdentity, IdentityUnavailable, detect_faces


@pytest.fixture(scope="module")
def ident() -> DlibIdentity:
    pytest.importorskip("dlib")
    pytest.importorskip("face_recognition_models")
    return DlibIdentity()


def celeba_128(path: Path) -> np.ndarray:
    """An aligned CelebA photo as the 128x128 HR face of EIPNet 4.2 (centre 178 crop)."""
    with Image.open(path) as img:
        img = img.convert("RGB")
        top = (img.height - 178) // 2
        return np.asarray(img.crop((0, top, 178, top + 178)).resize((128, 128), Image.Resampling.BICUBIC))


def by_identity(root: Path) -> dict[str, list[Path]]:
    """``celeb_<id>_<image>.jpg`` files grouped by identity."""
    groups: dict[str, list[Path]] = defaultdict(list)
    for p in sorted(root.glob("celeb_*_*.jpg")):
        groups[p.stem.split("_")[1]].append(p)
    return groups


def test_unavailable_reports_reason(monkeypatch):
    identity_mod._check.cache_clear()
    monkeypatch.setitem(sys.modules, "dlib", None)  # makes `import dlib` fail
    try:
        status = DlibIdentity.available()
        assert not status and "dlib-bin" in status.reason
        with pytest.raises(IdentityUnavailable, match="dlib"):
            DlibIdentity()
    finally:
        identity_mod._check.cache_clear()


def test_available(ident):
    status = DlibIdentity.available()
    assert status and status.reason == ""


def test_embed_shape_and_same_image(ident, shared_data):
    face = celeba_128(sorted((shared_data / "celeba_dev").glob("celeb_*.jpg"))[0])
    emb = ident.embed(face)
    assert emb is not None and emb.shape == (128,) and emb.dtype == np.float64
    assert np.isfinite(emb).all()
    assert ident.similarity(face, face) == pytest.approx(1.0, abs=1e-6)
    assert ident.distance(face, face) == pytest.approx(0.0, abs=1e-6)


def test_an_embedding_is_computed_once_per_image_and_box(shared_data):
    pytest.importorskip("dlib")
    ident = DlibIdentity()
    faces = [celeba_128(p) for p in sorted((shared_data / "celeba_dev").glob("celeb_*.jpg"))[:2]]
    box = (20, 20, 108, 108)
    calls = []
    _, predictor, net = identity_mod._models()

    class Counting:
        def compute_face_descriptor(self, img, shape):
            calls.append(1)
            return net.compute_face_descriptor(img, shape)

    real = identity_mod._models
    identity_mod._models = lambda: (None, predictor, Counting())
    try:
        first = ident.embed(faces[0], box)
        first[:] = 0                                        # a caller's copy: the cache keeps its own
        again = ident.embed(faces[0].copy(), box)           # same pixels, another array
        other = ident.embed(faces[1], box)
        ident.embed(faces[0], (24, 20, 108, 108))           # another box
    finally:
        identity_mod._models = real
    assert len(calls) == 3 and np.any(again != 0) and not np.allclose(again, other)


def test_embed_hq_1024(ident, shared_data):
    with Image.open(sorted((shared_data / "faces_hq_1024").glob("*.jpg"))[0]) as img:
        face = np.asarray(img.convert("RGB"))
    boxes = detect_faces(face)
    assert boxes and (boxes[0][2] - boxes[0][0]) > 300  # the face fills most of the image
    emb = ident.embed(face)
    assert emb is not None and emb.shape == (128,)


def test_no_face_and_explicit_boxes(ident, shared_data):
    flat = np.full((128, 128, 3), 128, np.uint8)
    assert ident.embed(flat) is None
    assert ident.similarity(flat, flat) is None and ident.distance(flat, flat) is None
    assert ident.embed(flat, box="image").shape == (128,)  # a box skips detection
    face = celeba_128(sorted((shared_data / "celeba_dev").glob("celeb_*.jpg"))[0])
    box = detect_faces(face)[0]
    assert np.allclose(ident.embed(face, box=box), ident.embed(face))
    with pytest.raises(ValueError):
        ident.embed(face.astype(np.float32))
    with pytest.raises(ValueError):
        ident.embed(face, box="face")


def test_same_identity_more_similar_than_different(ident, shared_data):
    groups = [g for g in by_identity(shared_data / "celeba_dev").values() if len(g) >= 2][:10]
    faces = [[celeba_128(p) for p in g[:2]] for g in groups]
    pairs = [(f, [ident.embed(x) for x in f]) for f in faces]
    pairs = [(f, e) for f, e in pairs if e[0] is not None and e[1] is not None]  # detected faces
    assert len(pairs) >= 6
    faces, embs = [f for f, _ in pairs], [e for _, e in pairs]
    k = len(embs)

    def cos(a: np.ndarray, b: np.ndarray) -> float:
        return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))

    same = [np.linalg.norm(a - b) for a, b in embs]
    diff = [np.linalg.norm(embs[i][0] - embs[(i + 1) % k][1]) for i in range(k)]
    same_sim = [cos(a, b) for a, b in embs]
    diff_sim = [cos(embs[i][0], embs[(i + 1) % k][1]) for i in range(k)]
    assert np.mean(same) < np.mean(diff)
    assert np.mean(same_sim) > np.mean(diff_sim)
    # dlib's threshold separates the averages on these 128x128 faces
    assert np.mean(same) < SAME_PERSON_DISTANCE < np.mean(diff)
    # the pair methods agree with the embeddings
    assert ident.similarity(*faces[0]) == pytest.approx(same_sim[0], abs=1e-9)
    assert ident.distance(*faces[0]) == pytest.approx(same[0], abs=1e-9)
