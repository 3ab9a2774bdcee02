"""Degradation pipelines: how an HR face becomes the LR face a network is trained and measured on.

Faces from real cameras are not clean bicubic downscales: optics and motion blur them, the sensor
adds noise, the scaler aliases, and a codec (JPEG for photos, H.264 for surveillance) quantises
them. A network trained on bicubic inputs only treats that noise as detail and amplifies it, so
on such faces it can be *worse than bicubic*. Each pipeline here is a named, seedable function
``HR uint8 (H, W, 3) RGB -> LR float32 (H/s, W/s, 3) RGB in [0, 1]``:

``bicubic``
    antialiased bicubic (:func:`degrade.downscale`), the papers' protocol; bit-identical to it.
``realistic``
    a photo or phone camera, after Real-ESRGAN's "high-order" model (Wang et al. 2021, Table/
    options ``train_realesrnet_x4plus.yml``) and BSRGAN (Zhang et al. 2021), with ranges
    narrowed to *mild* real-camera damage at x8 (a 16 px face is one sixty-fourth of its HR
    pixels: Real-ESRGAN's full ranges, made for x4 scenes, leave little face to restore):

    * 12% of samples stay clean (bicubic): the models must keep serving clean inputs;
    * blur of the HR face, p = 0.8: isotropic (60%) or anisotropic Gaussian, sigma 0.2-3.0 px
      (Real-ESRGAN's first-order range is 0.2-3; GFPGAN draws 0.1-10 at 512 px, i.e. up to
      2.5 px at our 128 px);
    * one round (70%) or two (30%, Real-ESRGAN's second order: down to half the HR size,
      noise and JPEG there, then a second blur of sigma 0.2-1.5 and on to the LR size);
    * the downscale kernel, drawn per round: area (30%), bilinear without antialiasing
      (20%, a cheap scaler's aliasing), antialiased bicubic (30%), nearest then a
      Gaussian of sigma 0.3-0.8 at the target size (20%);
    * noise, p = 0.7 per round: Gaussian (60%) sigma 1-10 / 255 (Real-ESRGAN 1-30, GFPGAN
      0-20: narrowed, at 16 px stronger noise is the whole signal) or Poisson (40%) at
      scale 0.05-1.5 (Real-ESRGAN 0.05-3); 40% of either is grey (the same on R, G, B);
    * JPEG, p = 0.85 per round: quality 40-95 (Real-ESRGAN 30-95, GFPGAN 60-100).

    The order is the camera's (optics, sampling, sensor noise, codec); BSRGAN shuffles its
    steps, but noise after compression or blur after noise does not happen in one camera.
``surveillance``
    ``realistic`` whose last codec step is, with p = 0.6, one H.264 intra frame (libx264
    through PyAV, yuv420p so chroma at half the face's resolution, CRF 26-40) instead of JPEG:
    the CCTV and video-call case.

Every draw comes from the ``numpy.random.Generator`` passed in, so a pipeline is a pure function
of ``(image, scale, generator state)``: :func:`sample_rng` keys the generator for evaluation
(seed and file name, whatever the order or subset) and training (seed, epoch, index).
"""
from __future__ import annotations

import zlib
from dataclasses import dataclass
from typing import Callable

import cv2
import numpy as np

__all__ = ["DEGRADATIONS", "Degradation", "degrade", "get_degradation", "sample_rng", "list_degradations"]

Pipeline = Callable[[np.ndarray, int, np.random.Generator], np.ndarray]


@dataclass(frozen=True)
class Degradation:
    """A named pipeline: ``fn(hr_uint8_rgb, scale, rng) -> lr float32 RGB [0, 1]``; ``summary`` is
    the one line the model picker, the Training tab and the cards show."""
    name: str
    summary: str
    fn: Pipeline


def _bicubic(hr: np.ndarray, scale: int, rng: np.random.Generator | None = None) -> np.ndarray:
    import torch   # here, not at the top: the UI reads the pipelines' names without loading torch

    from .degrade import downscale

    t = torch.from_numpy(np.ascontiguousarray(hr)).permute(2, 0, 1)[None].float().div_(255.0)
    return downscale(t, scale)[0].permute(1, 2, 0).numpy()


def _gaussian_kernel(sx: float, sy: float, theta: float) -> np.ndarray:
    """Normalised 2-D Gaussian with std ``sx`` along the direction ``theta``, ``sy`` across it."""
    radius = min(10, int(np.ceil(3 * max(sx, sy))))
    ax = np.arange(-radius, radius + 1, dtype=np.float64)
    xx, yy = np.meshgrid(ax, ax)
    c, s = np.cos(theta), np.sin(theta)
    u, v = c * xx + s * yy, -s * xx + c * yy
    k = np.exp(-0.5 * ((u / sx) ** 2 + (v / sy) ** 2))
    return (k / k.sum()).astype(np.float32)


def _blur(img: np.ndarray, rng: np.random.Generator, lo: float, hi: float) -> np.ndarray:
    if rng.random() < 0.6:
        sx = sy = rng.uniform(lo, hi)
        theta = 0.0
    else:
        sx, sy, theta = rng.uniform(lo, hi), rng.uniform(lo, hi), rng.uniform(0.0, np.pi)
    return cv2.filter2D(img, -1, _gaussian_kernel(sx, sy, theta), borderType=cv2.BORDER_REFLECT_101)


def _resize(img: np.ndarray, size: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """Shrink float RGB ``img`` to ``size = (h, w)`` with a randomly drawn kernel."""
    h, w = size
    kind = rng.choice(4, p=[0.3, 0.2, 0.3, 0.2])
    if kind == 0:
        return cv2.resize(img, (w, h), interpolation=cv2.INTER_AREA)
    if kind == 1:
        return cv2.resize(img, (w, h), interpolation=cv2.INTER_LINEAR)
    if kind == 2:
        import torch

        t = torch.from_numpy(np.ascontiguousarray(img)).permute(2, 0, 1)[None]
        return torch.nn.functional.interpolate(t, size=(h, w), mode="bicubic", align_corners=False,
                                               antialias=True)[0].permute(1, 2, 0).numpy()
    out = cv2.resize(img, (w, h), interpolation=cv2.INTER_NEAREST)
    sigma = rng.uniform(0.3, 0.8)
    return cv2.GaussianBlur(out, (0, 0), sigma, borderType=cv2.BORDER_REFLECT_101)


def _noise(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    grey = rng.random() < 0.4
    shape = img.shape[:2] + (1,) if grey else img.shape
    if rng.random() < 0.6:
        noise = rng.normal(0.0, rng.uniform(1.0, 10.0) / 255.0, size=shape)
    else:   # Poisson (shot) noise as Real-ESRGAN draws it: counts at a random number of levels
        scale = rng.uniform(0.05, 1.5)
        base = img.mean(axis=2, keepdims=True) if grey else img
        levels = 2 ** np.ceil(np.log2(max(len(np.unique((base * 255).round())), 2)))
        noise = (rng.poisson(np.clip(base, 0, 1) * levels) / levels - base) * scale
    return img + noise.astype(np.float32)


def _jpeg(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    quality = int(rng.integers(40, 96))
    bgr = cv2.cvtColor(_to_uint8(img), cv2.COLOR_RGB2BGR)
    ok, buf = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise RuntimeError("JPEG encoding failed")
    return cv2.cvtColor(cv2.imdecode(buf, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB).astype(np.float32) / 255.0


def _h264(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One H.264 intra frame at a random CRF (libx264 through PyAV, yuv420p, one thread:
    deterministic). Odd sides are padded by edge replication for the codec and cut back."""
    import av

    crf = int(rng.integers(26, 41))
    rgb = _to_uint8(img)
    h, w = rgb.shape[:2]
    padded = np.pad(rgb, ((0, h % 2), (0, w % 2), (0, 0)), mode="edge")
    enc = av.CodecContext.create("libx264", "w")
    enc.width, enc.height, enc.pix_fmt = padded.shape[1], padded.shape[0], "yuv420p"
    enc.options = {"crf": str(crf), "preset": "ultrafast", "tune": "zerolatency", "threads": "1"}
    frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(padded), format="rgb24").reformat(format="yuv420p")
    packets = list(enc.encode(frame)) + list(enc.encode(None))
    dec = av.CodecContext.create("h264", "r")
    frames = [f for p in packets for f in dec.decode(p)] + list(dec.decode(None))
    if not frames:
        raise RuntimeError("H.264 round trip returned no frame")
    return frames[0].to_ndarray(format="rgb24")[:h, :w].astype(np.float32) / 255.0


def _to_uint8(img: np.ndarray) -> np.ndarray:
    return np.clip(img * 255.0 + 0.5, 0, 255).astype(np.uint8)


def _camera(hr: np.ndarray, scale: int, rng: np.random.Generator, video: bool) -> np.ndarray:
    if rng.random() < 0.12:
        return _bicubic(hr, scale)
    img = hr.astype(np.float32) / 255.0
    h, w = hr.shape[:2]
    if rng.random() < 0.8:
        img = _blur(img, rng, 0.2, 3.0)
    sizes = [(h // scale, w // scale)]
    if scale % 2 == 0 and scale > 2 and rng.random() < 0.3:
        sizes.insert(0, (h // 2, w // 2))
    for r, size in enumerate(sizes):
        if r > 0 and rng.random() < 0.8:
            img = _blur(img, rng, 0.2, 1.5)
        img = _resize(img, size, rng)
        if rng.random() < 0.7:
            img = _noise(img, rng)
        last = r == len(sizes) - 1
        if video and last and rng.random() < 0.6:
            img = _h264(img, rng)
        elif rng.random() < 0.85:
            img = _jpeg(img, rng)
    return np.clip(img, 0.0, 1.0).astype(np.float32)


def _realistic(hr: np.ndarray, scale: int, rng: np.random.Generator) -> np.ndarray:
    return _camera(hr, scale, rng, video=False)


def _surveillance(hr: np.ndarray, scale: int, rng: np.random.Generator) -> np.ndarray:
    return _camera(hr, scale, rng, video=True)


DEGRADATIONS: dict[str, Degradation] = {d.name: d for d in (
    Degradation("bicubic", "clean antialiased bicubic downscale (the papers' protocol)", _bicubic),
    Degradation("realistic", "camera-like: blur sigma 0.2-3 px, random scaler, noise 1-10/255, JPEG q40-95, "
                             "12% clean", _realistic),
    Degradation("surveillance", "as realistic, with H.264 intra frames at CRF 26-40 instead of JPEG 60% of the time",
                _surveillance),
)}


def list_degradations() -> list[str]:
    return list(DEGRADATIONS)


def get_degradation(name: str) -> Degradation:
    try:
        return DEGRADATIONS[name]
    except KeyError:
        raise ValueError(f"unknown degradation {name!r}; choose one of {', '.join(DEGRADATIONS)}") from None


def sample_rng(seed: int, *keys: int | str) -> np.random.Generator:
    """A generator keyed by ``seed`` and ``keys``; strings (file names) enter by their CRC-32, so
    the same face gets the same draw whatever else is in the folder."""
    ints = [int(seed)] + [zlib.crc32(k.encode()) if isinstance(k, str) else int(k) for k in keys]
    return np.random.default_rng(ints)


def degrade(hr: np.ndarray, scale: int, name: str = "bicubic", rng: np.random.Generator | None = None) -> np.ndarray:
    """HR ``(H, W, 3)`` uint8 RGB -> LR ``(H/scale, W/scale, 3)`` float32 RGB in ``[0, 1]`` through
    the pipeline ``name``. ``H`` and ``W`` must be divisible by ``scale``; ``rng`` is required for
    every pipeline but ``bicubic``."""
    if hr.dtype != np.uint8 or hr.ndim != 3 or hr.shape[2] != 3:
        raise ValueError(f"expected an (H, W, 3) uint8 image, got {hr.dtype} {hr.shape}")
    h, w = hr.shape[:2]
    if scale < 1 or h % scale or w % scale:
        raise ValueError(f"image size {h}x{w} is not divisible by scale {scale}")
    pipeline = get_degradation(name)
    if name != "bicubic" and rng is None:
        raise ValueError(f"degradation {name!r} needs a random generator (sample_rng)")
    out = pipeline.fn(hr, scale, rng)
    assert out.shape == (h // scale, w // scale, 3), out.shape
    return out
