"""The one output-size rule: how much a frame is enlarged so its faces reach the network's SR crop.

Used by ``facesr enhance`` (:mod:`.engine`), the Video tab and the Photos tab's *Auto*
output size, so the same photo gets the same output size everywhere. Torch-free (numpy
and the alignment geometry only), so the UI may import it.

Rule (:func:`auto_upscale`): ``round(sr_size / median aligned-crop side)``, so the typical
face fills the network's SR output at its native resolution (larger faces are left as they
are by the restorer, smaller ones get all the detail the net has); at most the net's own
factor (beyond it only the background grows) and at most ``max_side // long side`` so the
output's long side stays <= :data:`MAX_SIDE` px (:data:`VIDEO_MAX_SIDE` for videos); at least
1, and 1 without faces.

A face whose aligned crop would be larger in the output than :data:`LARGE_FACE_FACTOR` times
the net's SR crop is not pasted (:func:`is_large`; the restorer keeps the original there);
:func:`face_range` says which face boxes the app helps with, in input pixels, for the GUI's guidance.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .align import BOX_SIDE_IN_CROP, affine_scale, face_transform
from .faces import Detections

MAX_SIDE = 4096          # auto upscale: longest output side of an image
VIDEO_MAX_SIDE = 1920    # ... of a video (every frame is encoded: 4K H.264 on a CPU is very slow)
MAX_OUTPUT_PIXELS = 200_000_000   # any upscale: refuse outputs over 200 MP (600 MB as RGB)
LARGE_FACE_FACTOR = 1.25  # a face over 1.25x the SR crop in the output would only lose detail: not pasted
MIN_FACE_PX = 12          # the detector's smallest face (MTCNN min_face_size) in the image it sees


def crop_sides(detections: Detections) -> np.ndarray:
    """Side in frame pixels of each face's aligned (CelebA-framed) crop, ``(N,)`` float."""
    sides = []
    for box, lm in zip(detections.boxes, detections.landmarks):
        affine = face_transform(box, lm, 128)
        sides.append(128.0 / affine_scale(affine))
    return np.asarray(sides, np.float64)


def auto_upscale(height: int, width: int, faces: Detections | Sequence[float], sr_size: int,
                 max_scale: int | None = None, max_side: int = MAX_SIDE) -> int:
    """Integer output scale for a ``height`` x ``width`` frame (the rule of the module docstring).

    ``faces``: detections, or the side of each face's aligned crop in pixels; ``sr_size``:
    the net's SR crop side; ``max_scale``: the net's factor."""
    sides = crop_sides(faces) if isinstance(faces, Detections) else np.asarray(list(faces), np.float64)
    if sides.size == 0:
        return 1
    want = round(sr_size / max(float(np.median(sides)), 1e-6))
    cap = max_side // max(height, width, 1)
    if max_scale is not None:
        cap = min(cap, int(max_scale))
    return max(1, min(want, cap))


def check_output_size(height: int, width: int, upscale: int) -> None:
    """Refuse an output over :data:`MAX_OUTPUT_PIXELS` (``ValueError`` saying what to do)."""
    if height * width * upscale * upscale > MAX_OUTPUT_PIXELS:
        raise ValueError(f"upscale x{upscale} would make a {width * upscale}x{height * upscale} output "
                         f"(over {MAX_OUTPUT_PIXELS / 1e6:.0f} MP); use a smaller --upscale or 'auto'")


def is_large(side_px: float, upscale: int, sr_size: int) -> bool:
    """Whether a face whose aligned crop is ``side_px`` input pixels is too large to paste at ``upscale``."""
    return side_px * upscale > sr_size * LARGE_FACE_FACTOR


def face_range(sr_size: int, upscale: int = 1) -> tuple[int, int]:
    """``(smallest, largest)`` face box side, in input pixels, the app finds and pastes at ``upscale``.

    The smallest is the detector's :data:`MIN_FACE_PX`; the largest the box of the largest aligned
    crop :func:`is_large` still pastes (an MTCNN box is :data:`~.align.BOX_SIDE_IN_CROP` of its crop)."""
    return MIN_FACE_PX, int(sr_size * LARGE_FACE_FACTOR * BOX_SIDE_IN_CROP / max(1, upscale))
