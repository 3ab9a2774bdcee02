"""Face detection: MTCNN (facenet-pytorch) boxes, scores and 5-point landmarks.

Boundary conventions:

* input images are ``(H, W, 3)`` uint8 **RGB** numpy arrays;
* :class:`~.faces.Detections` (torch-free, in :mod:`.faces`) holds numpy arrays in the coordinates of the image passed in
  (pixel centres at integer coordinates, x to the right, y down):
  ``boxes (K, 4) float32 x0, y0, x1, y1``, ``scores (K,) float32`` in ``[0, 1]``,
  ``landmarks (K, 5, 2) float32 (x, y)`` ordered eye, eye, nose, mouth corner, mouth
  corner, each pair left-to-right as seen in the image (MTCNN's order).
* "no face" is a normal result: ``K == 0`` arrays, never ``None``.

Tiny faces (12-40 px in surveillance frames) are found more reliably when the frame is
resized up before detection (``upscale``); results are mapped back to the original
image. The MTCNN weights ship inside the facenet-pytorch wheel (offline); the cascade runs in
:mod:`.mtcnn` (facenet-pytorch's, without its slow resampling and NMS). Between full-frame
detections of a video, :mod:`.regions` looks for the tracked faces with O-Net alone.
"""
from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np
import torch

from facesr_gui.pipeline import accel
from facesr_gui.pipeline._tv_shim import import_facenet_pytorch
from facesr_gui.pipeline.mtcnn import detect_faces, network_input
from facesr_gui.pipeline.sizing import MIN_FACE_PX
from facesr_gui.pipeline.faces import LANDMARKS_IN_BOX, Detections, combine_faces, from_boxes, subset  # noqa: F401
from facesr_gui.precision import cpu_has_bf16

__all__ = ["Detections", "FaceDetector", "LANDMARKS_IN_BOX", "combine_faces", "detection_zoom", "from_boxes", "subset"]

# Smallest ``min_face_size`` accepted: MTCNN's first pyramid level is the image times
# 12 / min_face_size (times ``upscale``), so 1 px would run P-Net on a 12x (24x upscaled) image,
# gigabytes for a small photo; 8 keeps it at 1.5x.
MIN_FACE_FLOOR = 8
# Auto upscale: frames whose long side is below this are detected at AUTO_FACTOR x.
AUTO_LONG_SIDE = 1000
AUTO_FACTOR = 2.0
# OpenVINO's P-, R- and O-Net (:class:`.accel.CompiledModule`): batches cut into single images, 64 and 8 candidates
# (and powers of two), and each input shape the networks spend long on compiled for itself (~0.03 s: a video's
# pyramid levels and candidate batches after a few frames). One thread, bf16 P-Net on a 480p frame's 2x level
# 45 -> 36 ms; R-Net 913 crops 30 -> 22 ms in 64s; O-Net 40 crops 8.0 -> 5.7 ms in 8s.
MTCNN_CHUNKS = (1, 64, 8)


def detection_zoom(height: int, width: int) -> float:
    """The factor ``upscale=None`` uses: ``AUTO_FACTOR`` below ``AUTO_LONG_SIDE`` px, else 1."""
    return AUTO_FACTOR if max(height, width) < AUTO_LONG_SIDE else 1.0


def _check_frame(img: np.ndarray) -> None:
    if not (isinstance(img, np.ndarray) and img.ndim == 3 and img.shape[2] == 3 and img.dtype == np.uint8):
        got = getattr(img, "shape", type(img)), getattr(img, "dtype", "")
        raise ValueError(f"expected an (H, W, 3) uint8 RGB array, got {got}")


def _resize(img: np.ndarray, factor: float) -> tuple[np.ndarray, float, float]:
    """``img`` resized by ``factor`` (cubic up, area down) and the exact x/y factors used."""
    h, w = img.shape[:2]
    nw, nh = max(1, round(w * factor)), max(1, round(h * factor))
    if (nw, nh) == (w, h):
        return img, 1.0, 1.0
    interp = cv2.INTER_CUBIC if factor > 1 else cv2.INTER_AREA
    return cv2.resize(img, (nw, nh), interpolation=interp), nw / w, nh / h


class FaceDetector:
    """MTCNN face detector returning :class:`Detections` in original image coordinates.

    Args:
        device: torch device for the three MTCNN nets (``"cpu"``, ``"cuda"``, ...).
        min_face_size: smallest face MTCNN searches for, in pixels of the image it sees
            (after ``upscale``): the effective minimum in the original is
            ``min_face_size / upscale``.
        thresholds: P-, R- and O-net score thresholds.
        upscale: resize factor applied before detection; ``None`` = automatic
            (:func:`detection_zoom`: 2x for images under 1000 px on the long side, which
            recovers 6-24 px faces at ~4x the CPU cost); ``1.0`` = off; values below 1
            speed up detection of large faces in big frames.
        backend: ``"torch"``, ``"openvino"`` or ``"auto"`` (:mod:`.accel`).
        pnet_bf16: OpenVINO runs P-Net, the first stage and most of the time, in bf16 (R-Net and
            O-Net, which decide which candidates are faces and where, stay float32); ``None``: where
            the CPU runs bf16 natively (:func:`~facesr_gui.precision.cpu_has_bf16`). P-Net on a 480p frame
            at 2x took 140 -> 70 ms; a whole-frame detection of the 480p street clip 461 -> 386 ms, with
            356 of the 357 faces float32 finds on 60 frames and no other; video recall 0.9394 against
            0.9389 (three phases, every 4th frame, against the same float32 per-frame reference); on the
            143 test photos 200 of float32's 202 faces and 3 others, all near the thresholds. The PyTorch
            backend runs float32.
    """

    def __init__(self, device: str | torch.device = "cpu", min_face_size: int = MIN_FACE_PX,
                 thresholds: tuple[float, float, float] = (0.6, 0.7, 0.7),
                 upscale: float | None = None, backend: str = "torch", pnet_bf16: bool | None = None) -> None:
        if upscale is not None and upscale <= 0:
            raise ValueError(f"upscale must be positive or None, got {upscale}")
        if min_face_size < MIN_FACE_FLOOR:
            raise ValueError(f"the smallest face size is {MIN_FACE_FLOOR} px, got {min_face_size} (MTCNN's image "
                             "pyramid would be many times the image)")
        facenet_pytorch = import_facenet_pytorch()
        self.device = torch.device(device)
        self.min_face_size = min_face_size
        self.thresholds = tuple(thresholds)
        self.upscale = upscale
        self._mtcnn = facenet_pytorch.MTCNN(
            keep_all=True, select_largest=False, min_face_size=min_face_size,
            thresholds=list(thresholds), device=self.device,
        ).eval()
        # channels-last weights (the inputs already are: NHWC images permuted): P-Net ~1.9x, R-Net ~3x and
        # O-Net ~4.5x faster on the CPU (NCHW R-/O-Net fall back to a slow convolution), outputs within 3e-7
        for net in (self._mtcnn.pnet, self._mtcnn.rnet, self._mtcnn.onet):
            net.to(memory_format=torch.channels_last)
        # the three networks as they run: PyTorch's, or OpenVINO's (:mod:`.accel`: P-Net on a 480p frame at
        # 2x 2.5x faster in float32, 5x in bf16); ``backend`` says which, ``pnet_bf16`` P-Net's precision there
        self._nets = (self._mtcnn.pnet, self._mtcnn.rnet, self._mtcnn.onet)
        self.pnet_bf16 = False
        if accel.resolve_backend(backend, self.device) == "openvino":
            bf16 = cpu_has_bf16() if pnet_bf16 is None else bool(pnet_bf16)
            examples = ((torch.zeros(1, 3, 64, 64), (0, 2, 3), bf16), (torch.zeros(1, 3, 24, 24), (0,), False),
                        (torch.zeros(1, 3, 48, 48), (0,), False))
            compiled = [accel.compile_module(net, x, dims, bf16=half, required=backend == "openvino", chunk=chunk)
                        for net, (x, dims, half), chunk in zip(self._nets, examples, MTCNN_CHUNKS)]
            if all(c is not None for c in compiled):
                self._nets, self.pnet_bf16 = tuple(compiled), bf16
        self.backend = "torch" if self._nets[0] is self._mtcnn.pnet else "openvino"

    def factor_for(self, height: int, width: int) -> float:
        """The resize factor used for an image of this size."""
        return detection_zoom(height, width) if self.upscale is None else float(self.upscale)

    @torch.inference_mode()
    def score_crops(self, crops: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """MTCNN's last stage (O-Net) on ``(N, 48, 48, 3)`` uint8 RGB face crops, as MTCNN feeds
        it: ``(regression (N, 4), landmarks (N, 10) x then y as fractions of the crop, face
        probability (N,))`` float32 (:mod:`.regions` turns them into boxes)."""
        reg, points, prob = self._nets[2](network_input(crops).to(self.device))
        return reg.float().cpu().numpy(), points.float().cpu().numpy(), prob[:, 1].float().cpu().numpy()

    def detect(self, img_rgb_uint8: np.ndarray, min_face: float | None = None) -> Detections:
        """Faces in one ``(H, W, 3)`` uint8 RGB image, sorted by decreasing score (``min_face``: see
        :meth:`detect_batch`)."""
        return self.detect_batch([img_rgb_uint8], min_face=min_face)[0]

    def start_level(self, min_face: float | None, factor: float) -> int:
        """How many of the pyramid's first levels look only for faces under ``min_face`` px of the
        image given (``factor``: its resize before detection): a level is left out when even the next
        level's faces are smaller, so every face of ``min_face`` px or more keeps its levels."""
        if min_face is None:
            return 0
        first, step = self.min_face_size / factor, 1.0 / self._mtcnn.factor   # face side of level 0, growth
        level = 0
        while first * step ** (level + 1) <= min_face:
            level += 1
        return level

    def detect_batch(self, frames: Sequence[np.ndarray], batch_size: int = 8,
                     upscale: float | None = None, min_face: float | None = None) -> list[Detections]:
        """Faces in each of several same-size ``(H, W, 3)`` uint8 RGB frames.

        Frames are run through MTCNN ``batch_size`` at a time (one image pyramid per
        chunk). ``upscale`` overrides the detector's resize factor (regions already resampled
        to the scale their face needs, :mod:`.regions`, pass 1). ``min_face``: the smallest face
        wanted, px of the frames given: the pyramid's levels for smaller faces are left out
        (:meth:`start_level`; the largest levels cost most: without the first, a 480p frame at 2x
        takes a third less); None: every level down to ``min_face_size``. Returns one
        :class:`Detections` per frame, in order.
        """
        if len(frames) == 0:
            return []
        for f in frames:
            _check_frame(f)
        if any(f.shape != frames[0].shape for f in frames):
            raise ValueError("detect_batch needs frames of one size; call detect() per frame")
        factor = self.factor_for(*frames[0].shape[:2]) if upscale is None else float(upscale)
        if min(frames[0].shape[:2]) * factor < self.min_face_size:   # MTCNN's pyramid would be empty
            return [Detections.empty() for _ in frames]
        out: list[Detections] = []
        for start in range(0, len(frames), batch_size):
            chunk = [_resize(f, factor) for f in frames[start:start + batch_size]]
            sx, sy = chunk[0][1], chunk[0][2]
            batch = np.ascontiguousarray(np.stack([c[0] for c in chunk]))
            m = self._mtcnn
            for b, s, p in detect_faces(batch, *self._nets, m.min_face_size, m.thresholds, m.factor, device=self.device,
                                        start_level=self.start_level(min_face, factor)):
                det = Detections(b, s, p)
                out.append(det.rescaled(sx, sy) if (sx, sy) != (1.0, 1.0) else det)
        return out
