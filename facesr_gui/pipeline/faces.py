"""Faces of one image as plain numpy arrays (:class:`Detections`), torch-free so the UI can use them.

Layout (coordinates of the image the faces were found in; pixel centres at integer
coordinates, x to the right, y down): ``boxes (K, 4) float32 x0, y0, x1, y1``, ``scores (K,)
float32`` in ``[0, 1]``, ``landmarks (K, 5, 2) float32 (x, y)`` ordered eye, eye, nose, mouth
corner, mouth corner, each pair left-to-right as seen in the image (MTCNN's order). "No face"
is ``K == 0``, never ``None``. :mod:`.detect` fills them with MTCNN.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

# Mean MTCNN landmarks relative to the MTCNN box ((x - x0) / w, (y - y0) / h), used to
# estimate landmarks for manual boxes. Measured together with align.CELEBA_TEMPLATE_128
# (same 50 celeba_train images, centre crop 178 -> bicubic 128, FaceDetector() defaults).
LANDMARKS_IN_BOX = np.array(
    [[0.2570, 0.3895], [0.7196, 0.3904], [0.4727, 0.6061], [0.2780, 0.7488], [0.6959, 0.7498]],
    dtype=np.float32,
)


@dataclass(frozen=True, eq=False)  # eq=False: numpy fields have no boolean ==
class Detections:
    """Faces found in one image (numpy arrays, see the module docstring for layout)."""

    boxes: np.ndarray
    scores: np.ndarray
    landmarks: np.ndarray

    def __len__(self) -> int:
        return int(self.boxes.shape[0])

    @classmethod
    def empty(cls) -> Detections:
        """No faces: ``(0, 4)``, ``(0,)`` and ``(0, 5, 2)`` float32 arrays."""
        return cls(np.zeros((0, 4), np.float32), np.zeros((0,), np.float32),
                   np.zeros((0, 5, 2), np.float32))

    @classmethod
    def concat(cls, parts: Sequence[Detections]) -> Detections:
        """The faces of ``parts`` one after the other (all found in one image); none: :meth:`empty`."""
        parts = [p for p in parts if len(p)]
        if not parts:
            return cls.empty()
        return cls(*(np.concatenate([getattr(p, k) for p in parts]) for k in ("boxes", "scores", "landmarks")))

    def shifted(self, dx: float, dy: float) -> Detections:
        """The same faces moved by ``(dx, dy)`` px: from a crop's pixels to those of the image the crop
        starts at ``(dx, dy)`` in."""
        d = np.array([dx, dy], np.float32)
        return Detections((self.boxes + np.tile(d, 2)).astype(np.float32), self.scores,
                          (self.landmarks + d).astype(np.float32))

    def sorted_by_score(self) -> Detections:
        """The faces by decreasing score (ties keep their order)."""
        return subset(self, np.argsort(-self.scores, kind="stable"))

    def rescaled(self, sx: float, sy: float) -> Detections:
        """Map from an image resized by ``(sx, sy)`` back to the original one.

        Box edges divide by the factor; landmarks are points, so pixel centres map as
        ``(p + 0.5) / s - 0.5`` (the convention of cv2/PIL resizing).
        """
        s = np.array([sx, sy], np.float32)
        boxes = self.boxes / np.tile(s, 2)
        landmarks = (self.landmarks + 0.5) / s - 0.5
        return Detections(boxes.astype(np.float32), self.scores, landmarks.astype(np.float32))


def from_boxes(boxes: np.ndarray | Sequence[Sequence[float]], scores: np.ndarray | None = None,
               estimate_landmarks: bool = True) -> Detections:
    """Detections from manual ``(K, 4)`` ``x0, y0, x1, y1`` boxes (e.g. drawn by the user).

    Scores default to 1. With ``estimate_landmarks`` the landmarks are the mean MTCNN
    landmark positions inside a box (:data:`LANDMARKS_IN_BOX`), so alignment frames
    the face as if MTCNN had returned this box; otherwise they are NaN, and
    :func:`facesr_gui.pipeline.align.crop_faces` falls back to a box-based crop.
    """
    b = np.asarray(boxes, dtype=np.float32).reshape(-1, 4)
    s = np.ones(len(b), np.float32) if scores is None else np.asarray(scores, np.float32).reshape(-1)
    if len(s) != len(b):
        raise ValueError(f"{len(b)} boxes but {len(s)} scores")
    if estimate_landmarks:
        wh = (b[:, 2:] - b[:, :2])[:, None, :]
        lm = b[:, None, :2] + LANDMARKS_IN_BOX[None] * wh
    else:
        lm = np.full((len(b), 5, 2), np.nan, np.float32)
    return Detections(b, s, lm.astype(np.float32))


def combine_faces(detections: Detections | None, manual_boxes: np.ndarray | None) -> Detections:
    """Detections followed by the manual ``(M, 4)`` boxes (landmarks estimated from the box)."""
    parts = [detections] if detections is not None else []
    if manual_boxes is not None and len(manual_boxes):
        parts.append(from_boxes(manual_boxes))
    return Detections.concat(parts)


def subset(dets: Detections, indices: Sequence[int]) -> Detections:
    """The faces ``indices`` of ``dets``, in that order."""
    idx = np.asarray(indices, dtype=np.intp)
    return Detections(dets.boxes[idx], dets.scores[idx], dets.landmarks[idx])
