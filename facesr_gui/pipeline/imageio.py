"""Robust image reading and writing for the batch engine and the CLI.

:func:`load_image` turns whatever PIL can open into ``(H, W, 3)`` uint8 **RGB** plus an
optional ``(H, W)`` uint8 alpha plane, and explains every bad input with an
:class:`ImageError` (a ``ValueError``) naming the file and the reason:

- EXIF orientation is applied (the pixels are rotated, the tag is not kept);
- grayscale, bilevel, palette, CMYK (through its ICC profile when it has one), YCbCr, LAB
  and HSV are converted to RGB; LA / RGBA / palette transparency keep their alpha;
- 16-bit and 32-bit grayscale (``I;16``, ``I;16B``, ``I``) are scaled by 255/65535, float
  (``F``) by 255 when in ``[0, 1]``; values outside those ranges are min-max stretched
  (never clipped), and :attr:`LoadedImage.notes` says so;
- empty files, unknown formats, truncated data and zero-size images are rejected;
- images over ``max_pixels`` (default :data:`DEFAULT_MAX_PIXELS`, 50 MP; environment
  ``FACESR_MAX_MEGAPIXELS``) are rejected from the header alone, before decoding, with
  the size, the limit and how to raise it.

:func:`save_image` writes atomically (:mod:`facesr_gui.atomic`) in the format the suffix
names, optionally with a one-line ``comment`` inside the file (PNG ``tEXt`` chunk, JPEG ``COM``
segment); a target that cannot be written raises :class:`ImageError`.
"""
from __future__ import annotations

import io
import os
import threading
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, PngImagePlugin, UnidentifiedImageError

from ..atomic import atomic_path

IMAGE_EXTENSIONS = frozenset({".png", ".jpg", ".jpeg", ".webp", ".tif", ".tiff", ".bmp", ".gif"})
VIDEO_EXTENSIONS = frozenset({".mp4", ".mov", ".m4v", ".mkv", ".avi", ".webm", ".mpg", ".mpeg", ".wmv",
                              ".flv", ".ts", ".mts", ".m2ts", ".3gp", ".ogv"})
#: PIL format written for each output suffix; alpha is dropped for formats without it
SAVE_FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".webp": "WEBP", ".tif": "TIFF",
                ".tiff": "TIFF", ".bmp": "BMP"}
_NO_ALPHA = {"JPEG"}
DEFAULT_MAX_PIXELS = 50_000_000
MAX_PIXELS_ENV = "FACESR_MAX_MEGAPIXELS"
_PIL_LIMIT_LOCK = threading.Lock()   # Image.MAX_IMAGE_PIXELS is process-global


class ImageError(ValueError):
    """An image that cannot be read or written; the message names the file and the reason."""

    def __init__(self, path: str | os.PathLike, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path, self.reason = Path(path), reason


@dataclass(eq=False)
class LoadedImage:
    """A decoded image. ``rgb``: ``(H, W, 3)`` uint8 RGB, upright (EXIF applied);
    ``alpha``: ``(H, W)`` uint8 (255 = opaque) or None; ``original_mode``: PIL mode of the
    file (e.g. ``"I;16"``, ``"CMYK"``); ``icc_profile``: the file's ICC profile when its
    pixels were RGB already (kept on save), else None; ``notes``: conversions applied."""

    rgb: np.ndarray
    alpha: np.ndarray | None
    path: Path
    original_mode: str
    exif_rotated: bool = False
    notes: list[str] = field(default_factory=list)
    icc_profile: bytes | None = None

    @property
    def size(self) -> tuple[int, int]:
        """``(width, height)``."""
        return self.rgb.shape[1], self.rgb.shape[0]


def classify(path: str | os.PathLike) -> str | None:
    """``"image"``, ``"video"`` or None, from the file name's suffix (case-insensitive)."""
    suffix = Path(path).suffix.lower()
    if suffix in IMAGE_EXTENSIONS:
        return "image"
    if suffix in VIDEO_EXTENSIONS:
        return "video"
    return None


def default_max_pixels() -> int:
    """:data:`DEFAULT_MAX_PIXELS`, or ``FACESR_MAX_MEGAPIXELS`` (megapixels) when set."""
    env = os.environ.get(MAX_PIXELS_ENV)
    if env:
        try:
            return int(float(env) * 1_000_000)
        except ValueError:
            warnings.warn(f"ignoring {MAX_PIXELS_ENV}={env!r}: not a number", stacklevel=2)
    return DEFAULT_MAX_PIXELS


def too_large_reason(width: int, height: int, limit: int, what: str = "image") -> str:
    """Why a ``width`` x ``height`` image (or video frame) over ``limit`` pixels is refused, and how to
    raise the limit."""
    mp, lim = width * height / 1e6, limit / 1e6
    need = int(np.ceil(mp))
    return (f"{what} is {width}x{height} ({mp:.1f} MP), over the {lim:g} MP limit; "
            f"to process it anyway pass --max-megapixels {need} (CLI), "
            f"max_pixels={need * 1_000_000} (Python) or set {MAX_PIXELS_ENV}={need}")


def _too_large(path: Path, width: int, height: int, limit: int) -> ImageError:
    return ImageError(path, too_large_reason(width, height, limit))


def _open(path: Path) -> Image.Image:
    """``Image.open`` with PIL's own bomb check off: ours runs on the size, with a better message."""
    with _PIL_LIMIT_LOCK:
        saved = Image.MAX_IMAGE_PIXELS
        Image.MAX_IMAGE_PIXELS = None
        try:
            return Image.open(path)
        finally:
            Image.MAX_IMAGE_PIXELS = saved


def load_image(path: str | os.PathLike, max_pixels: int | None = None) -> LoadedImage:
    """Read ``path`` as upright 8-bit RGB (+ alpha); see the module docstring.

    ``max_pixels``: refuse larger images (default :func:`default_max_pixels`); 0 = no limit.
    Raises :class:`ImageError` for a missing, empty, unreadable, truncated, zero-size or
    too large image.
    """
    path = Path(path)
    limit = default_max_pixels() if max_pixels is None else int(max_pixels)
    if not path.exists():
        raise ImageError(path, "file not found")
    if not path.is_file():
        raise ImageError(path, "not a file")
    if path.stat().st_size == 0:
        raise ImageError(path, "empty file (0 bytes)")
    try:
        im = _open(path)
    except UnidentifiedImageError:
        raise ImageError(path, "not an image, or a corrupt one (no known image format recognised)") from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise ImageError(path, f"corrupt or truncated image header ({exc})") from exc
    with im:
        width, height = im.size
        if width < 1 or height < 1:
            raise ImageError(path, f"zero-size image ({width}x{height})")
        if limit and width * height > limit:
            raise _too_large(path, width, height, limit)
        notes: list[str] = []
        if getattr(im, "n_frames", 1) > 1:
            notes.append(f"{im.n_frames} frames: only the first is used")
        try:
            im.load()
        except (OSError, SyntaxError, ValueError, EOFError) as exc:
            reason = str(exc) or type(exc).__name__
            raise ImageError(path, f"corrupt or truncated image data ({reason})") from exc
        mode = im.mode
        rotated = False
        try:
            orientation = int(im.getexif().get(0x0112, 1) or 1)
            if orientation != 1:
                im = ImageOps.exif_transpose(im)
                rotated = orientation in range(2, 9)
                notes.append(f"EXIF orientation {orientation} applied")
        except Exception as exc:  # noqa: BLE001 - a broken EXIF block must not lose the pixels
            notes.append(f"EXIF orientation ignored (unreadable EXIF: {exc})")
        icc = im.info.get("icc_profile") if mode in ("RGB", "RGBA", "P", "PA") else None
        rgb, alpha = _to_rgb(im, notes)
    return LoadedImage(rgb, alpha, path, mode, rotated, notes, icc or None)


def _to_rgb(im: Image.Image, notes: list[str]) -> tuple[np.ndarray, np.ndarray | None]:
    """PIL image of any mode -> ``(H, W, 3)`` uint8 RGB and optional ``(H, W)`` uint8 alpha."""
    mode = im.mode
    if mode in ("I;16", "I;16L", "I;16B", "I;16N", "I", "F"):
        grey = _scale_to_uint8(np.asarray(im), mode, notes)
        return np.repeat(grey[:, :, None], 3, axis=2), None
    if (mode == "P" and "transparency" in im.info) or mode in ("PA", "LA", "La", "RGBa"):
        im = im.convert("RGBA")
    elif mode == "CMYK":
        im = _cmyk_to_rgb(im, notes)
    if im.mode == "RGBA":
        arr = np.asarray(im)
        return np.ascontiguousarray(arr[:, :, :3]), np.ascontiguousarray(arr[:, :, 3])
    if im.mode != "RGB":
        if mode not in ("L", "1", "P"):
            notes.append(f"{mode} converted to RGB")
        im = im.convert("RGB")
    return np.asarray(im).copy(), None


def _scale_to_uint8(arr: np.ndarray, mode: str, notes: list[str]) -> np.ndarray:
    """High-bit-depth grey -> uint8 by its nominal range (16 bit: x255/65535, float: x255),
    min-max stretched when the values do not fit that range."""
    a = arr.astype(np.float64)
    a[~np.isfinite(a)] = 0.0
    lo, hi = (float(a.min()), float(a.max())) if a.size else (0.0, 0.0)
    nominal = 1.0 if mode == "F" else 65535.0
    if lo >= 0 and hi <= nominal:
        out = a * (255.0 / nominal)
        notes.append(f"{mode} scaled to 8 bit (x255/{nominal:g})")
    else:
        out = (a - lo) * (255.0 / (hi - lo)) if hi > lo else np.zeros_like(a)
        notes.append(f"{mode} values {lo:g}..{hi:g} outside 0..{nominal:g}: stretched to 0..255")
    return np.clip(np.round(out), 0, 255).astype(np.uint8)


def _cmyk_to_rgb(im: Image.Image, notes: list[str]) -> Image.Image:
    profile = im.info.get("icc_profile")
    if profile:
        try:
            from PIL import ImageCms

            src = ImageCms.ImageCmsProfile(io.BytesIO(profile))
            out = ImageCms.profileToProfile(im, src, ImageCms.createProfile("sRGB"), outputMode="RGB")
            notes.append("CMYK converted to sRGB through its ICC profile")
            return out
        except Exception:  # noqa: BLE001, S110 - a bad profile: fall back to PIL's plain formula
            pass
    notes.append("CMYK converted to RGB (no usable ICC profile: approximate colours)")
    return im.convert("RGB")


def save_image(path: str | os.PathLike, rgb: np.ndarray, alpha: np.ndarray | None = None, quality: int = 95,
               icc_profile: bytes | None = None, comment: tuple[str, str] | None = None) -> Path:
    """Write ``rgb`` (``(H, W, 3)`` uint8 RGB) and optional ``alpha`` (``(H, W)`` uint8) to
    ``path`` atomically; the suffix picks the format (:data:`SAVE_FORMATS`). JPEG drops
    the alpha; ``quality`` applies to JPEG/WebP. ``comment``: ``(key, text)`` written into PNG
    as a ``tEXt`` chunk ``key`` (``iTXt`` when not Latin-1) and into JPEG as a ``COM`` comment
    ``text`` (UTF-8); other formats: not written. Raises :class:`ImageError`."""
    path = Path(path)
    fmt = SAVE_FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise ImageError(path, f"cannot write {path.suffix or 'files without an extension'!r}: "
                               f"use one of {', '.join(sorted(SAVE_FORMATS))}")
    if not (isinstance(rgb, np.ndarray) and rgb.ndim == 3 and rgb.shape[2] == 3 and rgb.dtype == np.uint8):
        raise ValueError(f"expected an (H, W, 3) uint8 RGB image, got {getattr(rgb, 'shape', None)}")
    im = Image.fromarray(np.ascontiguousarray(rgb), "RGB")
    if alpha is not None and fmt not in _NO_ALPHA:
        if alpha.shape != rgb.shape[:2] or alpha.dtype != np.uint8:
            raise ValueError(f"alpha must be {rgb.shape[:2]} uint8, got {alpha.shape} {alpha.dtype}")
        im.putalpha(Image.fromarray(np.ascontiguousarray(alpha), "L"))
    opts: dict = {}
    if fmt == "JPEG":
        opts = {"quality": quality, "subsampling": 0 if quality >= 90 else 2}
    elif fmt == "WEBP":
        opts = {"quality": quality}
    if icc_profile and fmt in ("JPEG", "PNG", "WEBP", "TIFF"):
        opts["icc_profile"] = icc_profile
    if comment is not None:
        opts.update(_comment_options(fmt, *comment))
    try:
        with atomic_path(path) as tmp:
            im.save(tmp, format=fmt, **opts)
            os.chmod(tmp, 0o666 & ~_umask())   # mkstemp makes 0600 files; outputs are ordinary files
    except OSError as exc:
        raise ImageError(path, f"cannot write the output: {_write_problem(path, exc)}") from exc
    return path


def _comment_options(fmt: str, key: str, text: str) -> dict:
    """PIL save options that put ``text`` into a PNG (``tEXt`` chunk ``key``; ``iTXt`` when not Latin-1)
    or a JPEG (``COM``, UTF-8)."""
    if fmt == "PNG":
        info = PngImagePlugin.PngInfo()
        info.add_text(key, text)
        return {"pnginfo": info}
    return {"comment": text.encode("utf-8")} if fmt == "JPEG" else {}


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _write_problem(path: Path, exc: OSError) -> str:
    """Why ``path`` could not be written, in words."""
    for parent in path.parents:
        if parent.exists():
            if not parent.is_dir():
                return f"{parent} is a file, not a folder"
            break
    if isinstance(exc, PermissionError):
        return f"permission denied in {path.parent}"
    return exc.strerror or str(exc)
