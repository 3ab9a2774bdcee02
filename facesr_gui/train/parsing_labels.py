"""Pseudo face-parsing labels from MediaPipe FaceMesh landmarks (no parsing data set offline).

Install (mediapipe's declared deps pull ``opencv-contrib-python``, jax and sounddevice, which
must not be installed next to opencv-python-headless + PySide6; 0.10.21 is the last wheel that
ships the face-mesh model, works with numpy 2 despite declaring ``numpy<2``)::

    pip install --no-deps mediapipe==0.10.21
    pip install absl-py "protobuf>=4.25.3,<5" "flatbuffers>=2.0" "attrs>=19.1.0" matplotlib

(``matplotlib`` is imported by ``mediapipe.solutions``' drawing utils at import time.)

The 478 landmarks (468 mesh + 10 iris, ``refine_landmarks=True``) are turned into regions by
filling polygons built from mediapipe's ``FACEMESH_*`` connection sets. The canonical map is
``labels``: ``(H, W)`` uint8 with CelebAMask-HQ ids (see ``/work/shared/data/parsing_samples``):
0 background, 1 skin, 2 nose, 4 l_eye, 5 r_eye, 6 l_brow, 7 r_brow, 10 mouth (inner),
11 u_lip, 12 l_lip, 13 hair. ``l_``/``r_`` are the *subject's* left/right (``l_eye`` appears on
the image's right), as in CelebAMask-HQ and mediapipe. What landmarks cannot give:

* **hair** (13) is a *heuristic cap*: the band between the face oval and the oval enlarged by
  :data:`HAIR_SCALE`, above the nose tip; when the image is given, pixels of the cap above the
  brows whose colour matches the face's skin and that touch it become skin (the mesh stops
  below the hairline; blonde hair may pass for skin there). It marks
  where hair usually is, not where it is: background and hats inside the band are "hair",
  long hair outside it and fringes over the forehead are not. On the 4 CelebAMask-HQ
  ground-truth pairs in ``parsing_samples`` hair IoU is ~0.4, skin ~0.8, eyes/lips ~0.8,
  nose ~0.65, brows ~0.55 (inner mouth: those 4 are closed).
* **ears** (8, 9), eyeglasses, neck and cloth are never labelled (left 0).

The per-network maps derived from ``labels`` (all uint8 0/1, ``(K, H, W)`` or ``(H, W)``):

* ``priorsr``  ``(11, H, W)``: :data:`PRIORSR_CLASSES`, the thesis' 11 maps ("jawline, eyebrows,
  eyes, nose, mouth and ears", Sec. 4.1) in CelebAMask-HQ id order, equal to
  ``facesr_gui.nets.priorsr.PARSING_CLASSES``; the two ear channels are always empty.
* ``wnet_face`` ``(H, W)``: W-Net's binarised parsing map (Sec. 3.1): 1 on face skin, 0 on the
  facial features (brows, eyes, nose, lips, mouth) and background.
* ``wnet_components`` ``(4, H, W)``: :data:`WNET_COMPONENTS` (eyes, brows, nose, mouth incl.
  lips), the 0-1 masks of W-Net's keypoint loss (eq. 27-28).
* ``cagface`` ``(3, H, W)``: :data:`CAGFACE_COMPONENTS` (hair, skin, parts = eyes, brows, nose,
  lips, mouth, ears), CAGFace Sec. 1/3.1; the Gaussian smoothing is the network's job.
"""
from __future__ import annotations

import functools
import os
import tempfile
import threading
from pathlib import Path
from typing import Callable, NamedTuple, Sequence

import cv2
import numpy as np
from PIL import Image

__all__ = [
    "LABEL_NAMES", "PRIORSR_CLASSES", "WNET_COMPONENTS", "CAGFACE_COMPONENTS", "HAIR_SCALE",
    "landmarks", "label_maps", "preprocess", "build_cache", "CacheCounts", "colorize",
]

#: CelebAMask-HQ ids used by ``labels`` (ids 3, 8, 9, 14-18 are never produced).
LABEL_NAMES: dict[int, str] = {0: "background", 1: "skin", 2: "nose", 4: "l_eye", 5: "r_eye",
                               6: "l_brow", 7: "r_brow", 10: "mouth", 11: "u_lip", 12: "l_lip", 13: "hair"}
_ID = {name: i for i, name in LABEL_NAMES.items()} | {"l_ear": 8, "r_ear": 9}
PRIORSR_CLASSES: tuple[str, ...] = (
    "skin", "nose", "l_eye", "r_eye", "l_brow", "r_brow", "l_ear", "r_ear", "mouth", "u_lip", "l_lip")
WNET_COMPONENTS: dict[str, tuple[str, ...]] = {
    "eyes": ("l_eye", "r_eye"), "brows": ("l_brow", "r_brow"), "nose": ("nose",),
    "mouth": ("mouth", "u_lip", "l_lip")}
CAGFACE_COMPONENTS: dict[str, tuple[str, ...]] = {
    "hair": ("hair",), "skin": ("skin",),
    "parts": ("nose", "l_eye", "r_eye", "l_brow", "r_brow", "l_ear", "r_ear", "mouth", "u_lip", "l_lip")}
#: (horizontal, vertical) enlargement of the face oval that bounds the heuristic hair cap
HAIR_SCALE = (1.5, 1.6)
CELEBA_CROP = 178  # must equal facesr_gui.train.dataset.CELEBA_CROP
_MOUTH_CORNERS = {"outer": (61, 291), "inner": (78, 308)}  # lip-loop split points (mesh ids)
_NOSE_TOP = 168  # glabella: above the nose bridge, left out of the nose hull
_NOSE_TIP = 1


@functools.lru_cache(maxsize=1)
def _mp_face_mesh():
    """``mediapipe.solutions.face_mesh``, imported on first use (heavy; optional dependency)."""
    os.environ.setdefault("GLOG_minloglevel", "2")  # silence mediapipe's C++ INFO/WARNING logs
    try:
        from mediapipe.python.solutions import face_mesh
    except ImportError as e:
        raise ImportError("pseudo parsing labels need mediapipe==0.10.21, installed as the module "
                          "docstring of facesr_gui.train.parsing_labels says") from e
    return face_mesh


@functools.lru_cache(maxsize=1)
def _default_mesh():
    mesh = _mp_face_mesh().FaceMesh(static_image_mode=True, refine_landmarks=True, max_num_faces=1)
    return mesh, threading.Lock()


def landmarks(img_rgb_uint8: np.ndarray) -> np.ndarray | None:
    """The 478 FaceMesh landmarks of the most prominent face in ``(H, W, 3)`` uint8 RGB.

    Returns ``(478, 2)`` float32 ``(x, y)`` in pixel units with the pixel-edge convention
    (``0`` = left/top edge of the image, ``W`` = right edge), or ``None`` when no face is found.
    """
    if img_rgb_uint8.dtype != np.uint8 or img_rgb_uint8.ndim != 3 or img_rgb_uint8.shape[2] != 3:
        raise ValueError(f"expected (H, W, 3) uint8 RGB, got {img_rgb_uint8.shape} {img_rgb_uint8.dtype}")
    mesh, lock = _default_mesh()
    with lock:  # one graph, not re-entrant
        result = mesh.process(np.ascontiguousarray(img_rgb_uint8))
    if not result.multi_face_landmarks:
        return None
    h, w = img_rgb_uint8.shape[:2]
    pts = np.array([(p.x, p.y) for p in result.multi_face_landmarks[0].landmark], np.float32)
    return pts * np.array([w, h], np.float32)


def _chains(edges: Sequence[tuple[int, int]]) -> list[list[int]]:
    """Order an undirected edge set made of disjoint paths/loops into vertex lists."""
    nbrs: dict[int, list[int]] = {}
    for a, b in edges:
        nbrs.setdefault(a, []).append(b)
        nbrs.setdefault(b, []).append(a)
    seen: set[int] = set()
    out = []
    # start open paths at their ends, then what is left are loops
    for start in sorted(nbrs, key=lambda v: (len(nbrs[v]) != 1, v)):
        if start in seen:
            continue
        chain, prev, cur = [start], None, start
        seen.add(start)
        while True:
            nxt = [v for v in nbrs[cur] if v != prev and v not in seen]
            if not nxt:
                break
            prev, cur = cur, nxt[0]
            chain.append(cur)
            seen.add(cur)
        out.append(chain)
    return out


def _split_loop(loop: list[int], a: int, b: int) -> tuple[list[int], list[int]]:
    """The two arcs of a closed ``loop`` from vertex ``a`` to vertex ``b`` (both included)."""
    i = loop.index(a)
    loop = loop[i:] + loop[:i]
    j = loop.index(b)
    return loop[: j + 1], [a] + loop[j:][::-1]


@functools.lru_cache(maxsize=1)
def _polygons() -> dict[str, tuple[tuple[int, ...], ...]]:
    """Mesh-id polygons per region (each a tuple of closed rings), from ``FACEMESH_*`` sets.
    Lips are split into arcs here; their upper/lower order is fixed in :func:`_lip_rings`."""
    c = _mp_face_mesh()
    polys = {"oval": tuple(_chains(c.FACEMESH_FACE_OVAL)), "l_eye": tuple(_chains(c.FACEMESH_LEFT_EYE)),
             "r_eye": tuple(_chains(c.FACEMESH_RIGHT_EYE))}
    for side, edges in (("l_brow", c.FACEMESH_LEFT_EYEBROW), ("r_brow", c.FACEMESH_RIGHT_EYEBROW)):
        low, up = _chains(edges)  # lower and upper brow edge, both run outer -> inner
        polys[side] = (tuple(low + up[::-1]),)
    polys["nose"] = (tuple(sorted({v for e in c.FACEMESH_NOSE for v in e} - {_NOSE_TOP})),)
    outer, inner = sorted(_chains(c.FACEMESH_LIPS), key=lambda ring: _MOUTH_CORNERS["outer"][0] not in ring)
    polys["lips_outer"] = tuple(_split_loop(outer, *_MOUTH_CORNERS["outer"]))
    polys["lips_inner"] = tuple(_split_loop(inner, *_MOUTH_CORNERS["inner"]))
    return {k: tuple(tuple(r) for r in v) for k, v in polys.items()}


def _lip_rings(pts: np.ndarray) -> dict[str, np.ndarray]:
    """Upper lip, lower lip and inner-mouth polygons ``(n, 2)`` for landmarks ``pts``."""
    p = _polygons()
    o = sorted(p["lips_outer"], key=lambda arc: pts[list(arc), 1].mean())  # upper arc first
    i = sorted(p["lips_inner"], key=lambda arc: pts[list(arc), 1].mean())
    return {"u_lip": pts[list(o[0]) + list(i[0])[::-1]], "l_lip": pts[list(o[1]) + list(i[1])[::-1]],
            "mouth": pts[list(i[0]) + list(i[1])[::-1]]}


def _fill(mask: np.ndarray, poly: np.ndarray, value: int) -> None:
    """Fill ``poly`` (pixel-edge coordinates) into ``mask`` with 1/16-pixel precision."""
    fixed = np.round((poly - 0.5) * 16).astype(np.int32)  # cv2 puts pixel centres on integers
    cv2.fillPoly(mask, [fixed], int(value), lineType=cv2.LINE_8, shift=4)


def _hair_cap(pts: np.ndarray) -> np.ndarray:
    """Heuristic hair region: the face oval enlarged by :data:`HAIR_SCALE`, above the nose tip."""
    oval = pts[list(_polygons()["oval"][0])]
    centre = oval.mean(axis=0)
    big = centre + (oval - centre) * np.array(HAIR_SCALE, np.float32)
    return big[big[:, 1] < pts[_NOSE_TIP, 1]]


def _skin_like(lab: np.ndarray, image: np.ndarray, max_dist: float = 2.5) -> np.ndarray:
    """Pixels whose CIELAB colour is within ``max_dist`` robust standard deviations (MAD,
    per channel, floored) of the median colour of the landmark skin region."""
    lab_img = cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2LAB).astype(np.float32)
    ref = lab_img[cv2.erode((lab == _ID["skin"]).astype(np.uint8), np.ones((3, 3), np.uint8)) > 0]
    if len(ref) < 16:
        return np.zeros(lab.shape, bool)
    med = np.median(ref, axis=0)
    sd = np.maximum(1.4826 * np.median(np.abs(ref - med), axis=0), (6.0, 3.0, 3.0))
    near = np.sqrt((((lab_img - med) / sd) ** 2).sum(-1)) < max_dist
    return cv2.morphologyEx(near.astype(np.uint8), cv2.MORPH_OPEN, np.ones((3, 3), np.uint8)) > 0


def _forehead_skin(lab: np.ndarray, image: np.ndarray, pts: np.ndarray) -> np.ndarray:
    """Hair-cap pixels that are skin-coloured, above the brows, within the oval's width and
    4-connected to the landmark skin: the forehead the mesh leaves out."""
    polys = _polygons()
    oval = pts[list(polys["oval"][0])]
    top = pts[[v for k in ("l_brow", "r_brow") for v in polys[k][0]], 1].min()
    ys, xs = np.arange(lab.shape[0]) + 0.5, np.arange(lab.shape[1]) + 0.5
    zone = (ys < top)[:, None] & ((xs > oval[:, 0].min()) & (xs < oval[:, 0].max()))[None, :]
    cand = (lab == _ID["hair"]) & zone & _skin_like(lab, image)
    _, comp = cv2.connectedComponents((cand | (lab == _ID["skin"])).astype(np.uint8), connectivity=4)
    face = np.unique(comp[lab == _ID["skin"]])
    return cand & np.isin(comp, face[face > 0])


def _labels(pts: np.ndarray, hw: tuple[int, int], image: np.ndarray | None) -> np.ndarray:
    """CelebAMask-HQ id map ``(H, W)`` uint8; later regions are painted over earlier ones."""
    lab = np.zeros(hw, np.uint8)
    polys = _polygons()
    cap = _hair_cap(pts)
    if len(cap) >= 3:
        _fill(lab, cap, _ID["hair"])  # cap is clipped by the skin painted over it
    for name in ("oval", "nose", "l_brow", "r_brow", "l_eye", "r_eye"):
        value = _ID["skin"] if name == "oval" else _ID[name]
        poly = pts[list(polys[name][0])]
        _fill(lab, cv2.convexHull(poly)[:, 0] if name == "nose" else poly, value)
    for name, poly in _lip_rings(pts).items():
        _fill(lab, poly, _ID[name])
    if image is not None:  # the mesh stops below the hairline: give the forehead back to skin
        lab[_forehead_skin(lab, image, pts)] = _ID["skin"]
    return lab


def _union(lab: np.ndarray, names: Sequence[str]) -> np.ndarray:
    return np.isin(lab, [_ID[n] for n in names]).astype(np.uint8)


def label_maps(landmarks: np.ndarray, size: int | tuple[int, int],
               image: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Pseudo parsing maps of a face from its ``(478, 2)`` landmarks (pixel units of an image of
    ``size`` = ``S`` or ``(H, W)``). ``image``, the ``(H, W, 3)`` uint8 RGB face itself, is
    optional: given, skin-coloured pixels of the hair cap become skin (forehead above the mesh).

    Returns uint8 arrays (see the module docstring): ``labels`` ``(H, W)`` CelebAMask-HQ ids;
    ``priorsr`` ``(11, H, W)``; ``wnet_face`` ``(H, W)``; ``wnet_components`` ``(4, H, W)``;
    ``cagface`` ``(3, H, W)``; the last four are 0/1."""
    hw = (size, size) if isinstance(size, int) else (int(size[0]), int(size[1]))
    pts = np.asarray(landmarks, np.float32)
    if pts.shape != (478, 2):
        raise ValueError(f"expected (478, 2) landmarks, got {pts.shape}")
    if image is not None and image.shape != (*hw, 3):
        raise ValueError(f"image must be {(*hw, 3)} uint8 RGB, got {image.shape}")
    lab = _labels(pts, hw, image)
    return {
        "labels": lab,
        "priorsr": np.stack([_union(lab, [n]) for n in PRIORSR_CLASSES]),
        "wnet_face": _union(lab, ["skin"]),
        "wnet_components": np.stack([_union(lab, v) for v in WNET_COMPONENTS.values()]),
        "cagface": np.stack([_union(lab, v) for v in CAGFACE_COMPONENTS.values()]),
    }


def _crop_box(w: int, h: int, crop: str) -> tuple[int, int, int, int]:
    """Same box as ``facesr_gui.train.dataset._crop_box`` (kept local on purpose; a test checks
    that both give the same pixels): centred 178x178 for ``"celeba"``, centred square of the
    shorter side for ``"center"``, the whole image for ``"none"``."""
    if crop == "none":
        return 0, 0, w, h
    if crop not in ("celeba", "center"):
        raise ValueError(f"crop must be 'celeba', 'center' or 'none', got {crop!r}")
    side = CELEBA_CROP if crop == "celeba" else min(w, h)
    if min(w, h) < side:
        raise ValueError(f"crop='celeba' needs images of at least {side}x{side}, got {w}x{h}")
    x0, y0 = (w - side) // 2, (h - side) // 2
    return x0, y0, x0 + side, y0 + side


def preprocess(path: str | Path, hr_size: int = 128, crop: str = "celeba") -> tuple[np.ndarray, np.ndarray]:
    """Load an image as the dataset does (no augmentation): returns the *native-resolution*
    crop and the ``hr_size`` x ``hr_size`` HR image (PIL bicubic), both ``(H, W, 3)`` uint8 RGB."""
    with Image.open(path) as img:
        img = img.convert("RGB")
    box = _crop_box(*img.size, crop)
    hr = img.resize((hr_size, hr_size), Image.Resampling.BICUBIC, box=box)
    return np.asarray(img.crop(box)), np.asarray(hr)


class CacheCounts(NamedTuple):
    done: int
    skipped: int
    no_face: int


def _save_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """Write ``arrays`` to ``path`` atomically (temp file in the same folder, then replace)."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez_compressed(f, **arrays)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def build_cache(image_paths: Sequence[str | Path], out_dir: str | Path, hr_size: int = 128,
                crop: str = "celeba", progress: Callable[[float, str], None] | None = None) -> CacheCounts:
    """Write ``out_dir/<stem>.npz`` per image with the maps of :func:`label_maps` at
    ``hr_size`` (frame = the dataset's un-augmented HR crop) plus ``landmarks`` (478, 2) float32
    in HR pixels; ``parsing`` = ``labels`` (what ``dataset.load_parsing`` reads by default).
    Existing files are skipped; faces not found are listed in ``out_dir/no_face.txt``.
    ``progress(fraction, message)`` is called after each image."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    done = skipped = 0
    missing: list[str] = []
    for k, p in enumerate(map(Path, image_paths)):
        target = out / f"{p.stem}.npz"
        if target.exists():
            skipped += 1
        else:
            native, hr = preprocess(p, hr_size, crop)
            pts = landmarks(native)
            if pts is None:
                missing.append(p.stem)
            else:
                pts = pts * (hr_size / np.array(native.shape[1::-1], np.float32))
                maps = label_maps(pts, hr_size, image=hr)
                _save_npz(target, {"parsing": maps["labels"], **maps, "landmarks": pts.astype(np.float32)})
                done += 1
        if progress is not None:
            progress((k + 1) / len(image_paths), p.name)
    if missing:
        (out / "no_face.txt").write_text("".join(s + "\n" for s in missing))
    return CacheCounts(done, skipped, len(missing))


_PALETTE = {0: (0, 0, 0), 1: (204, 153, 102), 2: (255, 140, 0), 4: (0, 200, 255), 5: (0, 90, 255),
            6: (140, 70, 20), 7: (90, 40, 10), 10: (255, 255, 255), 11: (230, 30, 60), 12: (150, 0, 90),
            13: (60, 200, 60)}


def colorize(labels: np.ndarray) -> np.ndarray:
    """``(H, W)`` CelebAMask-HQ id map -> ``(H, W, 3)`` uint8 RGB preview."""
    lut = np.zeros((256, 3), np.uint8)
    for i, rgb in _PALETTE.items():
        lut[i] = rgb
    return lut[labels]
