"""Pseudo parsing labels from FaceMesh landmarks on real aligned CelebA faces."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("mediapipe")

from facesr_gui.train import parsing_labels as pl  # noqa: E402

NAMES = ("celeb_0_002993.jpg", "celeb_0_005840.jpg", "celeb_0_013036.jpg")
HR = 128


@pytest.fixture(scope="module")
def faces(shared_data: Path) -> list[tuple[Path, np.ndarray, np.ndarray | None]]:
    """(path, HR image, landmarks in HR pixels or None) for three CelebA training faces."""
    out = []
    for name in NAMES:
        path = shared_data / "celeba_train" / name
        if not path.is_file():
            pytest.skip(f"missing {path}")
        native, hr = pl.preprocess(path, HR)
        pts = pl.landmarks(native)
        out.append((path, hr, None if pts is None else pts * (HR / native.shape[1])))
    return out


@pytest.fixture(scope="module")
def maps(faces) -> list[dict[str, np.ndarray]]:
    return [pl.label_maps(pts, HR, image=hr) for _, hr, pts in faces if pts is not None]


def test_landmarks_found_inside_image(faces):
    for path, _, pts in faces:
        assert pts is not None, f"no face in {path.name}"
        assert pts.shape == (478, 2) and pts.dtype == np.float32
        assert np.isfinite(pts).all()
        assert (pts > -0.1 * HR).all() and (pts < 1.1 * HR).all()


def test_maps_have_documented_shapes_and_classes(maps):
    assert len(maps) == len(NAMES)
    for m in maps:
        assert m["labels"].shape == (HR, HR) and m["labels"].dtype == np.uint8
        assert set(np.unique(m["labels"])) <= set(pl.LABEL_NAMES)
        assert m["priorsr"].shape == (len(pl.PRIORSR_CLASSES), HR, HR) == (11, HR, HR)
        assert m["wnet_face"].shape == (HR, HR)
        assert m["wnet_components"].shape == (len(pl.WNET_COMPONENTS), HR, HR) == (4, HR, HR)
        assert m["cagface"].shape == (len(pl.CAGFACE_COMPONENTS), HR, HR) == (3, HR, HR)
        for key in ("priorsr", "wnet_face", "wnet_components", "cagface"):
            assert m[key].dtype == np.uint8 and set(np.unique(m[key])) <= {0, 1}
        # every produced component is present on a frontal face; ears are never labelled
        for name in ("skin", "nose", "l_eye", "r_eye", "l_brow", "r_brow", "u_lip", "l_lip"):
            assert m["priorsr"][pl.PRIORSR_CLASSES.index(name)].sum() > 0, name
        assert m["priorsr"][[pl.PRIORSR_CLASSES.index("l_ear"), pl.PRIORSR_CLASSES.index("r_ear")]].sum() == 0
        assert m["cagface"].sum(0).max() <= 1  # hair / skin / parts are disjoint
        np.testing.assert_array_equal(m["wnet_face"], m["cagface"][1])
        np.testing.assert_array_equal(m["wnet_components"].sum(0), m["cagface"][2])


def test_skin_covers_a_plausible_fraction(maps):
    for m in maps:
        skin = m["wnet_face"].mean()
        face = (m["cagface"][1] | m["cagface"][2]).mean()  # skin + eyes, brows, nose, mouth
        # 49 CelebA crops gave skin 0.17-0.27, face 0.20-0.31
        assert 0.1 < skin < 0.5, skin
        assert 0.15 < face < 0.6, face


def _centre(mask: np.ndarray) -> np.ndarray:
    ys, xs = np.nonzero(mask)
    return np.array([xs.mean(), ys.mean()])


def test_components_are_where_a_face_has_them(maps):
    for m in maps:
        eye = {n: _centre(m["priorsr"][pl.PRIORSR_CLASSES.index(n)]) for n in ("l_eye", "r_eye")}
        brows, mouth = _centre(m["wnet_components"][1]), _centre(m["wnet_components"][3])
        nose = _centre(m["wnet_components"][2])
        # the CelebA crop puts the eyes at ~0.52 HR (the aligned eye line), the mouth at ~0.76 HR
        assert eye["l_eye"][1] < 0.6 * HR and eye["r_eye"][1] < 0.6 * HR
        assert mouth[1] > 0.65 * HR
        assert eye["l_eye"][0] > eye["r_eye"][0]  # subject's left eye is on the image's right
        assert brows[1] < min(eye["l_eye"][1], eye["r_eye"][1]) < nose[1] < mouth[1]
        hair = m["cagface"][0]
        assert hair.sum() > 0 and _centre(hair)[1] < brows[1]


def test_maps_without_image_and_non_square(faces):
    pts = faces[0][2]
    m = pl.label_maps(pts, (HR, HR + 32))
    assert m["labels"].shape == (HR, HR + 32) and m["cagface"].shape == (3, HR, HR + 32)
    with pytest.raises(ValueError):
        pl.label_maps(pts[:68], HR)


def test_preprocess_matches_dataset(faces, shared_data):
    dataset = pytest.importorskip("facesr_gui.train.dataset")
    ds = dataset.FaceFolder(shared_data / "celeba_train", hr_size=HR, augment=False, with_edges=False,
                            validate=False)
    path, hr, _ = faces[0]
    item = ds[ds.paths.index(path)]
    np.testing.assert_array_equal((item["hr"].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8), hr)


def test_class_order_matches_networks():
    torch_nets = pytest.importorskip("facesr_gui.nets.priorsr")
    assert pl.PRIORSR_CLASSES == tuple(torch_nets.PARSING_CLASSES)
    cag = pytest.importorskip("facesr_gui.nets.cagface")
    assert tuple(pl.CAGFACE_COMPONENTS) == tuple(cag.COMPONENTS)


def test_build_cache_writes_then_skips(faces, tmp_path):
    blank = tmp_path / "blank.png"
    Image.new("RGB", (178, 218), (128, 128, 128)).save(blank)
    paths = [p for p, _, _ in faces] + [blank]
    out = tmp_path / "cache"
    calls = []
    counts = pl.build_cache(paths, out, hr_size=HR, progress=lambda f, msg: calls.append(f))
    assert counts == pl.CacheCounts(done=3, skipped=0, no_face=1)
    assert calls[-1] == 1.0 and len(calls) == 4
    files = sorted(out.glob("*.npz"))
    assert [f.stem for f in files] == sorted(p.stem for p, _, _ in faces)
    assert (out / "no_face.txt").read_text().split() == ["blank"]
    assert not [f for f in out.iterdir() if f.suffix == ".tmp"]
    with np.load(files[0]) as z:
        assert {"parsing", "labels", "priorsr", "wnet_face", "wnet_components", "cagface", "landmarks"} <= set(z.files)
        np.testing.assert_array_equal(z["parsing"], z["labels"])
        assert z["priorsr"].shape == (11, HR, HR) and z["landmarks"].shape == (478, 2)
    assert pl.build_cache(paths[:3], out, hr_size=HR) == pl.CacheCounts(done=0, skipped=3, no_face=0)
