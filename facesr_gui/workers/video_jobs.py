"""What the Video tab asks the video thread for, and what comes back; scrubber frame access.

Torch-free (numpy, OpenCV, the pipeline's video I/O), so the UI imports it directly. Frames
are ``(H, W, 3)`` uint8 RGB numpy arrays throughout.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from ..pipeline.video import (DEFAULT_DETECT_EVERY, VideoError, VideoInfo, VideoReport, partial_path,  # noqa: F401
                              probe_video)   # (re-exported)

__all__ = ["DecodedFrame", "FrameReader", "FrameRequest", "PreviewFrame", "VideoError", "VideoInfo", "VideoJob",
           "VideoReport", "default_output", "partial_path", "probe_video", "read_frame", "shrink"]

PREVIEW_PER_SECOND = 4.0
PREVIEW_MAX_SIDE = 960   # enhanced previews are shrunk to this long side before they cross threads


def default_output(src: str | Path, suffix: str = ".mkv", fallback_dir: str | Path | None = None) -> Path:
    """``clip.mp4`` -> ``clip_facesr.mkv`` beside the source, or in ``fallback_dir`` when the source's
    folder is not writable (a camera card, a network share mounted read-only)."""
    src = Path(src)
    out = src.with_name(f"{src.stem}_facesr{suffix}")
    if fallback_dir is not None and not os.access(out.parent, os.W_OK):
        return Path(fallback_dir) / out.name
    return out


class FrameReader:
    """Random access to one video's frames with OpenCV (the scrubber preview).

    Keeps the capture open between calls: reading ``index + 1`` after ``index`` costs one
    decode; any other index seeks (OpenCV decodes forward from the previous keyframe, so
    frame ``i`` is the same frame :func:`~facesr_gui.pipeline.video.iter_frames` yields as ``i``).
    """

    def __init__(self) -> None:
        self._path: Path | None = None
        self._cap: cv2.VideoCapture | None = None
        self._next = -1

    def read(self, path: str | Path, index: int) -> np.ndarray:
        """Frame ``index`` of ``path`` as ``(H, W, 3)`` uint8 RGB; raises :class:`VideoError`."""
        path = Path(path)
        if path != self._path or self._cap is None:
            self.close()
            if not path.is_file():
                raise VideoError(path, "file not found")
            cap = cv2.VideoCapture(str(path))
            if not cap.isOpened():
                raise VideoError(path, "not a readable video (OpenCV could not open it)")
            self._path, self._cap, self._next = path, cap, 0
        if index < 0:
            raise VideoError(path, f"no frame {index}")
        if index != self._next:
            self._cap.set(cv2.CAP_PROP_POS_FRAMES, index)
        ok, bgr = self._cap.read()
        if not ok or bgr is None:
            self._next = -1
            raise VideoError(path, f"frame {index} could not be decoded (past the end, or damaged)")
        self._next = index + 1
        return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)

    def close(self) -> None:
        if self._cap is not None:
            self._cap.release()
        self._path, self._cap, self._next = None, None, -1


def read_frame(path: str | Path, index: int) -> np.ndarray:
    """One frame, ``(H, W, 3)`` uint8 RGB (opens and closes the file; see :class:`FrameReader`)."""
    reader = FrameReader()
    try:
        return reader.read(path, index)
    finally:
        reader.close()


@dataclass(frozen=True)
class FrameRequest:
    path: Path
    index: int
    detect: bool = False
    device: str = "cpu"


@dataclass(frozen=True, eq=False)
class DecodedFrame:
    """A scrubber frame: ``rgb`` ``(H, W, 3)`` uint8 RGB; ``boxes`` ``(K, 4)`` float32
    ``x0, y0, x1, y1`` in frame pixels and ``scores`` ``(K,)`` when detection was asked for, else None."""

    path: Path
    index: int
    rgb: np.ndarray
    boxes: np.ndarray | None = None
    scores: np.ndarray | None = None


@dataclass(frozen=True, eq=False)
class PreviewFrame:
    """An enhanced frame during processing: ``index`` in the source, ``rgb`` ``(h, w, 3)``
    uint8 RGB shrunk to at most :data:`PREVIEW_MAX_SIDE` on its long side."""

    index: int
    rgb: np.ndarray


@dataclass(frozen=True)
class VideoJob:
    """What to process: ``src`` -> ``dst`` with ``model_id`` (a catalogue id, :mod:`facesr_gui.catalog`).

    ``upscale``: whole-frame output scale (1-4); ``detect_every``: run MTCNN on the whole
    frame every N-th frame, and in between look for each tracked face only around it;
    ``mask``: ``"ellipse"`` or ``"parsing"``; ``max_frames``: only the first frames (None: all);
    ``flip_ensemble``: see :class:`FaceRestorer`; ``stabilise``: blend each face with its previous
    frame where the input did not change (:mod:`facesr_gui.pipeline.stabilise`).
    """

    src: Path
    dst: Path
    model_id: str = "bicubic"
    upscale: int = 1
    detect_every: int = DEFAULT_DETECT_EVERY
    mask: str = "ellipse"
    device: str = "cpu"
    half: bool = False
    max_frames: int | None = None
    flip_ensemble: bool = False
    stabilise: bool = True


def shrink(rgb: np.ndarray, max_side: int = PREVIEW_MAX_SIDE) -> np.ndarray:
    """``rgb`` resized (area) so its long side is at most ``max_side``; a copy either way."""
    h, w = rgb.shape[:2]
    if max(h, w) <= max_side:
        return rgb.copy()
    f = max_side / max(h, w)
    return cv2.resize(rgb, (max(1, round(w * f)), max(1, round(h * f))), interpolation=cv2.INTER_AREA)
