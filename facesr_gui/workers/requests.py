"""What the GUI asks the inference thread for, and what comes back: plain dataclasses, torch-free.

Images are ``(H, W, 3)`` uint8 RGB numpy arrays; boxes ``(x0, y0, x1, y1)`` in image pixels.
:class:`RequestKind` names the three kinds (one pending request each, newest wins).
"""
from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from ..pipeline.faces import Detections

if TYPE_CHECKING:
    from ..pipeline.restore import EnhanceResult, FaceResult


class RequestKind(enum.Enum):
    """The kinds of inference request; each has its own "newest wins" slot."""

    DETECT = "detect"
    ENHANCE = "enhance"
    GRID = "grid"


@dataclass(frozen=True, eq=False)
class DetectRequest:
    image: np.ndarray


@dataclass(frozen=True, eq=False)
class EnhanceRequest:
    """Faces are ``detections`` followed by ``manual_boxes`` (``(M, 4)`` x0, y0, x1, y1 in
    ``image`` pixels); ``selected`` indexes that combined list (None = all). Without
    detections and manual boxes the detector runs first. ``ground_truth``: the HR image,
    any size (resized to the output size) for PSNR/SSIM."""

    image: np.ndarray
    model_id: str
    detections: Detections | None = None
    manual_boxes: np.ndarray | None = None
    selected: tuple[int, ...] | None = None
    upscale: int = 1
    mask: str = "ellipse"
    identity: bool = True
    ground_truth: np.ndarray | None = None
    flip_ensemble: bool = False


@dataclass(frozen=True, eq=False)
class GridRequest:
    """Run every model of ``model_ids`` on face ``face_id`` of the combined face list."""

    image: np.ndarray
    model_ids: tuple[str, ...]
    face_id: int
    detections: Detections | None = None
    manual_boxes: np.ndarray | None = None
    flip_ensemble: bool = False


@dataclass(eq=False)
class DetectOutcome:
    request_id: int
    detections: Detections
    seconds: float
    device: str


@dataclass(eq=False)
class EnhanceOutcome:
    """``result.faces[k]`` is face ``face_ids[k]`` of the request's combined face list;
    ``seconds``: wall time without model loading."""

    request_id: int
    model_id: str
    result: EnhanceResult
    face_ids: list[int]
    seconds: float
    device: str
    image: np.ndarray            # the input, (H, W, 3) uint8 RGB

    def face(self, face_id: int) -> FaceResult | None:
        return self.result.faces[self.face_ids.index(face_id)] if face_id in self.face_ids else None


@dataclass(eq=False)
class FaceMeasure:
    """Metrics of face ``face_id`` (-1: the whole image): ``identity`` (cosine similarity of
    the dlib embeddings of the bicubic-upscaled LR crop and the SR crop), ``psnr``/``ssim``
    (Y channel, output vs ground truth inside the face box) and ``bicubic_psnr``/``bicubic_ssim``
    (the bicubic-upscaled input vs ground truth, same region). Missing values are None."""

    request_id: int
    face_id: int
    values: dict[str, float | None]
    note: str = ""


@dataclass(eq=False)
class GridTile:
    """One model's output for the grid: ``sr`` ``(S, S, 3)`` uint8 RGB or None with ``error``;
    ``seconds``: network time for this face."""

    request_id: int
    face_id: int
    model_id: str
    sr: np.ndarray | None
    seconds: float
    lr: np.ndarray | None = None
    bicubic: np.ndarray | None = None
    error: str = ""


@dataclass(eq=False)
class GridOutcome:
    request_id: int
    face_id: int
    tiles: list[GridTile] = field(default_factory=list)


