"""Whole-image face restoration: detect -> align -> SR (batched) -> colour match -> paste back.

``FaceRestorer.enhance(rgb)`` returns the enhanced frame and, per face, the aligned LR
input, the bicubic and SR crops and the network's internal maps, so the GUI can compare
and overlay them. The frame can be upscaled as a whole (``upscale``): the background is
resized bicubically and every face is pasted from the network's output, which is where
an x8 net pays off for 10-40 px surveillance faces.

Each face is cropped at the network's LR input size (16 px for the x8 nets, 64 for
CAGFace) in the CelebA framing the nets were trained on. A face the frame holds at more
pixels than that (say 28 px for a 16 px net) keeps its own detail: the SR output only adds
what lies above the frame's resolution (:func:`keep_native_detail`; measured on the
obama-480p photo shrunk to a 28 px face: face Y-PSNR 21.7 -> 23.3 dB with eipnet_w128). A
face already larger in the output than the SR crop would only lose detail; it is restored
(so its maps and crops can be inspected) but not pasted, and marked ``skipped="large"``.

Conventions: images are ``(H, W, 3)`` uint8 RGB; maps are float32 ``(h, w)`` or
``(K, h, w)`` raw network values unless stated; coordinates as in :mod:`.align`.
"""
from __future__ import annotations

import copy
import threading
import time
import warnings
from dataclasses import dataclass, field
from typing import Callable

import cv2
import numpy as np
import torch
from torch import nn

from ..nets import net_lr_side
from ..nets.ensemble import flip_ensemble
from ..precision import cpu_has_bf16
from . import accel, blend
from .align import FaceCrop, crop_faces, face_transform, warp_crop
from .detect import Detections, FaceDetector
from .provenance import ModelFacts
from .sizing import is_large

Progress = Callable[[float, str], None]
#: a face whose crop side in the frame exceeds the net's LR input by this factor keeps its own detail
NATIVE_DETAIL_FACTOR = 1.2
_OPTIONS = {"mask", "flip_ensemble", "colour_match", "native_detail", "keep_maps"}
# OpenVINO's SR network (:class:`.accel.CompiledModule`; the backend of long jobs: videos, batches): batches cut
# into 4s, 2s and 1s, each of those shapes compiled for itself when the network is built (JEANet: 1.4 s for the
# three on two cores, where the one model with a free batch took 0.7 s). The default jeanet_s_cctv on the 480p
# street clip's 6.4 faces a frame, one thread: 53 -> 42 ms a frame.
SR_STATIC = {"chunk": 4, "eager": True}


def keep_native_detail(sr: np.ndarray, frame: np.ndarray, crop: FaceCrop, side: float) -> np.ndarray:
    """Fuse ``sr`` with the face as the frame holds it, when the frame has it at more pixels
    than the net's LR input (e.g. a 28 px face fed to a 16 px x8 net): the frame's own content
    up to its resolution (the aligned crop at ``side`` px, bicubic-upscaled) plus only the SR
    detail above that resolution (``sr`` minus its ``side``-px low-pass). Otherwise the
    downscale to the LR size would throw away real detail that bicubic keeps."""
    n = int(round(side))
    if n <= crop.size * NATIVE_DETAIL_FACTOR:
        return sr
    big = sr.shape[0]
    native = warp_crop(frame, face_transform(crop.box, crop.landmarks, n), n)
    base = cv2.resize(native, (big, big), interpolation=cv2.INTER_CUBIC).astype(np.float32)
    low = cv2.resize(cv2.resize(sr, (n, n), interpolation=cv2.INTER_AREA), (big, big), interpolation=cv2.INTER_CUBIC)
    return np.clip(base + (sr.astype(np.float32) - low.astype(np.float32)) + 0.5, 0, 255).astype(np.uint8)


@dataclass(eq=False)
class FaceResult:
    """One restored face. ``lr`` ``(s, s, 3)``, ``bicubic``/``sr`` ``(S, S, 3)`` uint8 RGB,
    aligned crops; ``maps``: spatial maps, crop-aligned, raw values, ``(h, w)`` or
    ``(K, h, w)``; ``values``: non-spatial maps (e.g. channel attention), flattened;
    ``crop``: the LR crop with its transforms in **output** coordinates; ``skipped``:
    None when pasted, else why not."""

    index: int
    box: np.ndarray
    score: float
    lr: np.ndarray
    bicubic: np.ndarray
    sr: np.ndarray
    crop: FaceCrop
    maps: dict[str, np.ndarray] = field(default_factory=dict)
    values: dict[str, np.ndarray] = field(default_factory=dict)
    skipped: str | None = None
    side_px: float = 0.0   # side of the aligned crop in the input image, in pixels


@dataclass(eq=False)
class EnhanceResult:
    """``image``: ``(H*upscale, W*upscale, 3)`` uint8 RGB; ``detections`` in input coordinates."""

    image: np.ndarray
    faces: list[FaceResult]
    detections: Detections
    upscale: int = 1
    timings: dict[str, float] = field(default_factory=dict)
    track_ids: np.ndarray | None = None   # videos: ``(K,)`` int64 tracker id of each detection, else None

    @property
    def map_names(self) -> list[str]:
        names: list[str] = []
        for f in self.faces:
            names += [n for n in f.maps if n not in names]
        return names

    def frame_map(self, name: str) -> np.ndarray:
        """Map ``name`` of every face warped into output coordinates, 0 elsewhere.

        One-channel maps are min-max normalised per face to ``[0, 1]`` -> ``(H, W)``;
        K-channel maps (parsing) are clipped to ``[0, 1]`` -> ``(K, H, W)``. Where faces
        overlap, the maximum is kept.
        """
        h, w = self.image.shape[:2]
        canvas: np.ndarray | None = None
        for f in self.faces:
            if name not in f.maps:
                continue
            m = f.maps[name]
            if m.ndim == 2:
                lo, hi = float(m.min()), float(m.max())
                m = (m - lo) / (hi - lo) if hi > lo else np.zeros_like(m)
            else:
                m = np.clip(m, 0, 1)
            if canvas is None:
                canvas = np.zeros(m.shape[:-2] + (h, w), np.float32)
            blend.warp_map_into(canvas, m, f.crop)
        if canvas is None:
            raise KeyError(f"no face has a map named {name!r}")
        return canvas


def _output_crop(face: FaceCrop, upscale: int) -> FaceCrop:
    """The same crop with its transforms expressed in an image ``upscale`` times larger."""
    if upscale == 1:
        return face
    u = float(upscale)
    to_in = np.array([[1 / u, 0, -(u - 1) / (2 * u)], [0, 1 / u, -(u - 1) / (2 * u)], [0, 0, 1]])
    affine = face.affine @ to_in
    return FaceCrop(box=face.box * u, landmarks=(face.landmarks + 0.5) * u - 0.5, affine=affine,
                    inverse_affine=cv2.invertAffineTransform(affine), crop=face.crop, size=face.size)


def foreground_map(maps: dict[str, np.ndarray]) -> np.ndarray | None:
    """Face-foreground probability from a net's parsing/component maps, or None."""
    if "parsing" in maps:
        p = maps["parsing"]
        if p.ndim == 3 and p.shape[0] == 3:        # W-Net: 3 copies of one skin mask
            return p.mean(0)
        return np.clip(p, 0, 1).sum(0) if p.ndim == 3 else p
    parts = [maps[k] for k in ("component/skin", "component/parts") if k in maps]
    return np.clip(sum(parts), 0, 1) if parts else None


class FaceRestorer:
    """Restores every face of an image with one SR network.

    Args:
        net: a registered SR network (:mod:`facesr_gui.nets`), any device.
        detector: MTCNN wrapper; built lazily on first use when None.
        device: where the network runs.
        half: fp16 inference on CUDA (ignored on CPU, with a warning).
        bf16: bf16 autocast on the CPU; None (default) where the CPU runs bf16 natively (AVX512-BF16,
            AMX: 1.2-2x faster, within 0.002 dB of float32 on held-out faces), False for float32.
        batch_size: faces per network forward.
        mask: ``"ellipse"`` (feathered face ellipse) or ``"parsing"`` (the net's predicted
            parsing/component map where it has one, else the ellipse).
        colour_match: low-frequency back-projection onto the LR input (:func:`blend.match_colour`).
        native_detail: for faces the frame holds at more pixels than the LR input, keep the
            frame's own detail and add only the SR detail above it (:func:`keep_native_detail`).
        keep_maps: return the internal maps (costs memory on many-face frames). Without them, the
            OpenVINO backend runs a network compiled to compute the image only (6% faster for JEANet,
            ``benchmarks/README.md``); a request of the other kind compiles the other network once, shared by
            :meth:`with_options` copies.
        flip_ensemble: average the net over each face and its mirror image (twice the SR time,
            +0.05-0.09 dB on held-out faces; :mod:`facesr_gui.nets.ensemble`).
        lr_size: side of the LR face crop fed to the net; default from the registry
            (:func:`facesr_gui.nets.net_lr_side`: 16 for the x8 nets, the config's for CAGFace).
        model: what is known of the model (checkpoint, config, degradation) for provenance records;
            None: only ``net_name`` and the sizes (:meth:`.provenance.ModelFacts.unknown`).
        backend: ``"torch"``, ``"openvino"`` or ``"auto"`` (:mod:`.accel`: OpenVINO on the CPU where
            installed, 1.3-2x faster SR); ``backend`` says which one runs.

    Build one from a model name with :func:`facesr_gui.catalog.load_restorer`.
    """

    def __init__(self, net: nn.Module, detector: FaceDetector | None = None, device: str | torch.device = "cpu",
                 half: bool = False, batch_size: int = 8, mask: str = "ellipse", colour_match: bool = True,
                 keep_maps: bool = True, net_name: str | None = None, native_detail: bool = True,
                 bf16: bool | None = None, flip_ensemble: bool = False, lr_size: int | None = None,
                 model: ModelFacts | None = None, backend: str = "torch") -> None:
        if mask not in ("ellipse", "parsing"):
            raise ValueError(f"mask must be 'ellipse' or 'parsing', got {mask!r}")
        self.device = torch.device(device)
        self.half = bool(half) and self.device.type == "cuda"
        if half and not self.half:
            warnings.warn("half precision needs a CUDA device; running in float32 on CPU", stacklevel=2)
        self.bf16 = self.device.type == "cpu" and (cpu_has_bf16() if bf16 is None else bool(bf16))
        self.net = net.to(self.device).eval()
        if self.half:
            self.net = self.net.half()
        if self.device.type == "cpu":
            # channels-last weights and inputs: oneDNN's convolutions and the edge blocks' stride-1 pooling
            # run 1.2-2.6x faster on the CPU (measured over the bundled models), outputs identical in float32
            self.net = self.net.to(memory_format=torch.channels_last)
        self.scale = int(getattr(net, "scale", 8))
        self.lr_size = int(lr_size or net_lr_side(net))
        self.sr_size = self.lr_size * self.scale
        self.net_name = net_name or type(net).__name__.lower()
        self.batch_size, self.mask, self.colour_match, self.keep_maps = max(1, batch_size), mask, colour_match, keep_maps
        self.native_detail = bool(native_detail)
        self.flip_ensemble = bool(flip_ensemble)
        self.model = model or ModelFacts.unknown(self.net_name, self.scale, self.lr_size)
        self._detector = detector
        # the network as OpenVINO runs it (:mod:`.accel`), or None: PyTorch runs ``self.net``
        self._compiled = None
        # what runs a batch with (True) and without (False) maps under OpenVINO: the one compiled here for
        # ``keep_maps``, the other on its first request; one dict and lock shared by every with_options copy
        self._networks: dict[bool, accel.CompiledModule | nn.Module] = {}
        self._networks_lock = threading.Lock()
        if accel.resolve_backend(backend, self.device) == "openvino":
            self._compiled = accel.compile_module(self.net, self._example(), (0,), bf16=self.bf16,
                                                  required=backend == "openvino", image_only=not keep_maps,
                                                  **SR_STATIC)
            if self._compiled is not None:
                self._networks[bool(keep_maps)] = self._compiled
        self.backend = "torch" if self._compiled is None else "openvino"
        self._backend_request = backend   # the lazily built detector's too

    def with_options(self, **options) -> FaceRestorer:
        """A copy with other per-request options (``mask``, ``flip_ensemble``, ``colour_match``,
        ``native_detail``, ``keep_maps``) sharing the network and the detector, so a cached
        restorer is never changed by one request for the next."""
        unknown = set(options) - _OPTIONS
        if unknown:
            raise TypeError(f"not a per-request option: {', '.join(sorted(unknown))}")
        if options.get("mask", self.mask) not in ("ellipse", "parsing"):
            raise ValueError(f"mask must be 'ellipse' or 'parsing', got {options['mask']!r}")
        clone = copy.copy(self)
        for name, value in options.items():
            setattr(clone, name, value)
        return clone

    @property
    def detector(self) -> FaceDetector:
        if self._detector is None:
            self._detector = FaceDetector(device=self.device, backend=self._backend_request)
        return self._detector

    def detect(self, rgb: np.ndarray, min_face: float | None = None) -> Detections:
        """The faces of ``rgb`` (:meth:`.detect.FaceDetector.detect`; ``min_face``: the smallest wanted, px)."""
        return self.detector.detect(rgb, min_face=min_face)

    def detect_in(self, rgb: np.ndarray, rects: list[tuple[int, int, int, int]],
                  min_face: float | None = None) -> Detections:
        """The faces of ``rgb`` inside the ``(x0, y0, x1, y1)`` rectangles (:func:`.regions.detect_in_rects`:
        a video frame's changed parts and tracked faces, :mod:`.motion`)."""
        from .regions import detect_in_rects

        return detect_in_rects(self.detector, rgb, rects, min_face=min_face)

    def detect_near(self, rgb: np.ndarray, boxes: np.ndarray) -> tuple[Detections, np.ndarray]:
        """The face near each predicted ``(K, 4)`` box of a video frame, and which were found
        (:func:`.regions.detect_tracked`: MTCNN's last stage on a few candidates per face, the
        whole cascade in a window around a face it misses; a few ms a frame)."""
        from .regions import detect_tracked

        return detect_tracked(self.detector, rgb, boxes)

    def enhance(self, rgb: np.ndarray, detections: Detections | None = None, upscale: int = 1,
                progress: Progress | None = None, should_stop: Callable[[], bool] | None = None,
                refine: Callable[[list[FaceResult]], None] | None = None,
                keep_maps: bool | None = None) -> EnhanceResult:
        """Enhance every face of ``rgb`` (``(H, W, 3)`` uint8 RGB); see the module docstring.

        ``detections`` None runs the detector; an empty one is a normal result (the frame
        is only upscaled). ``should_stop`` is checked between SR batches and raises
        :class:`InterruptedError`. ``refine(faces)`` may change the faces' ``sr`` crops in place
        before they are pasted (a video's temporal stabiliser, :mod:`.stabilise`). ``keep_maps``: this
        call's (None: the restorer's ``keep_maps``).
        """
        _check_image(rgb)
        upscale = int(upscale)
        if upscale < 1:
            raise ValueError(f"upscale must be a positive integer, got {upscale}")
        timings = {"detect": 0.0, "sr": 0.0, "paste": 0.0}
        t0 = time.perf_counter()
        if detections is None:
            detections = self.detect(rgb)
        timings["detect"] = time.perf_counter() - t0
        crops = crop_faces(rgb, detections, size=self.lr_size)
        keep = self.keep_maps if keep_maps is None else bool(keep_maps)
        faces = self._restore(rgb, crops, detections, upscale, timings, progress, should_stop, keep)
        t0 = time.perf_counter()
        if refine is not None:
            refine(faces)
        h, w = rgb.shape[:2]
        out = rgb.copy() if upscale == 1 else cv2.resize(rgb, (w * upscale, h * upscale), interpolation=cv2.INTER_CUBIC)
        for face in faces:
            if face.skipped is None:
                blend.paste(out, face.sr, self._mask_for(face), face.crop)
        timings["paste"] = time.perf_counter() - t0
        return EnhanceResult(out, faces, detections, upscale, timings)

    def _mask_for(self, face: FaceResult) -> np.ndarray:
        if self.mask == "parsing":
            fg = foreground_map(face.maps)
            if fg is not None:
                return blend.parsing_mask(fg, self.sr_size)
        return blend.ellipse_mask(self.sr_size)

    def _restore(self, rgb: np.ndarray, crops: list[FaceCrop], det: Detections, upscale: int, timings: dict,
                 progress: Progress | None, should_stop: Callable[[], bool] | None,
                 keep_maps: bool) -> list[FaceResult]:
        faces: list[FaceResult] = []
        for start in range(0, len(crops), self.batch_size):
            if should_stop is not None and should_stop():
                raise InterruptedError("cancelled")
            chunk = crops[start:start + self.batch_size]
            t0 = time.perf_counter()
            srs, maps, values = self._forward(np.stack([c.crop for c in chunk]), keep_maps)
            timings["sr"] += time.perf_counter() - t0
            for j, crop in enumerate(chunk):
                i = start + j
                sr = blend.match_colour(srs[j], crop.crop) if self.colour_match else srs[j]
                side = crop.side_in_frame
                if self.native_detail:
                    sr = keep_native_detail(sr, rgb, crop, side)
                large = is_large(side, upscale, self.sr_size)
                bic = cv2.resize(crop.crop, (self.sr_size, self.sr_size), interpolation=cv2.INTER_CUBIC)
                faces.append(FaceResult(
                    index=i, box=det.boxes[i].copy(), score=float(det.scores[i]), lr=crop.crop, bicubic=bic, sr=sr,
                    crop=_output_crop(crop, upscale), maps={k: v[j] for k, v in maps.items()},
                    values={k: v[j] for k, v in values.items()}, skipped="large" if large else None, side_px=side))
            if progress is not None:
                progress(min(start + len(chunk), len(crops)) / len(crops), f"{len(faces)}/{len(crops)} faces")
        return faces

    def _example(self) -> torch.Tensor:
        return torch.zeros(1, 3, self.lr_size, self.lr_size)

    def _network(self, keep_maps: bool):
        """What runs a batch: the PyTorch module, or OpenVINO's compiled network: image-only without maps
        (the full one where that cannot be compiled), with all maps with them (else PyTorch's module)."""
        if self._compiled is None:
            return self.net
        keep_maps = bool(keep_maps)
        with self._networks_lock:
            if keep_maps not in self._networks:
                other = accel.compile_module(self.net, self._example(), (0,), bf16=self.bf16, image_only=not keep_maps,
                                             **SR_STATIC)
                self._networks[keep_maps] = other if other is not None else self.net if keep_maps else self._compiled
            return self._networks[keep_maps]

    @torch.inference_mode()
    def _forward(self, lr_batch: np.ndarray, keep_maps: bool | None = None
                 ) -> tuple[np.ndarray, dict[str, np.ndarray], dict[str, np.ndarray]]:
        """``(B, s, s, 3)`` uint8 -> SR ``(B, S, S, 3)`` uint8, spatial maps, non-spatial values (none
        without ``keep_maps``; None: the restorer's)."""
        keep_maps = self.keep_maps if keep_maps is None else keep_maps
        x = torch.from_numpy(lr_batch).permute(0, 3, 1, 2).float().div(255.0).to(self.device)
        if self.half:
            x = x.half()
        if self.device.type == "cpu":
            x = x.contiguous(memory_format=torch.channels_last)
        net = self._network(keep_maps)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.bf16 and net is self.net):
            out = flip_ensemble(net, x) if self.flip_ensemble else net(x)
        sr = (out.clamped().float() * 255.0).round().byte().permute(0, 2, 3, 1).cpu().numpy()
        maps: dict[str, np.ndarray] = {}
        values: dict[str, np.ndarray] = {}
        if keep_maps:
            for name, m in out.maps.items():
                arr = m.float().cpu().numpy()
                if arr.ndim == 4 and arr.shape[-1] > 1 and arr.shape[-2] > 1:
                    maps[name] = arr[:, 0] if arr.shape[1] == 1 else arr
                else:
                    values[name] = arr.reshape(arr.shape[0], -1)
        return sr, maps, values


def _check_image(rgb: np.ndarray) -> None:
    if not isinstance(rgb, np.ndarray) or rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise ValueError(f"expected an (H, W, 3) uint8 RGB image, got {getattr(rgb, 'shape', None)} "
                         f"{getattr(rgb, 'dtype', type(rgb).__name__)}")
    if min(rgb.shape[:2]) < 1:
        raise ValueError(f"empty image {rgb.shape}")
