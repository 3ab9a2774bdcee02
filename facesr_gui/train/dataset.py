"""Training/validation dataset over any folder of face images.

Each item is a dict (tensors are float, images RGB in ``[0, 1]``):

* ``hr``: ``(3, S, S)`` with ``S = hr_size``;
* ``lr``: ``(3, S/scale, S/scale)`` made from ``hr`` by the ``degradation`` pipeline
  (:mod:`facesr_gui.train.degradations`; default ``bicubic``, :func:`degrade.downscale`);
* ``edges``: ``{"edge/x{r}": (1, S*r/scale, S*r/scale)}`` binary ``{0, 1}`` Canny maps of
  ``hr`` at ``r`` times the LR size, the targets of the networks' ``edge/x{r}`` maps, made by
  :func:`facesr_gui.train.losses.edge_targets` (default thresholds 100/255, EIPNet 3.1;
  ``canny_thresholds=None`` selects them adaptively per image); empty if ``with_edges=False``;
* ``parsing``: ``(K, S, S)`` float, only when ``parsing_dir`` is given (see :func:`load_parsing`);
* ``name``: the file stem.

Preprocessing follows EIPNet 4.2: ``crop="celeba"`` takes the centred 178x178 square of an
aligned CelebA image (178x218); ``"center"`` the centred square of the shorter side;
``"none"`` resizes the whole image (aspect ratio is not kept). The crop is resized to
``hr_size`` with PIL's (antialiased) bicubic on uint8 pixels. Augmentation: horizontal flip
(p=0.5), rotation by 0/90/180/270 degrees (EIPNet 4.2, JEANet; ``rotate=False`` keeps faces
upright) and, if ``rescale`` is given, a random zoom in ``[lo, hi]`` (JEANet uses 1.0-1.3). Randomness comes from a generator
seeded with ``(seed, epoch, index)`` so an item is the same whichever worker loads it.

Framing jitter (``jitter=j``): faces aligned by other tools are framed differently, so the crop is
zoomed by a factor in ``[1 - j, 1 + j]`` and shifted by up to ``j`` of its side in x and y (the image
is edge-extended where the box leaves it). Training draws it per ``(seed, epoch, index)``; without
augmentation (evaluation) it is drawn once per file name, so every run sees the same framing.
The degradation draw is keyed the same way: per ``(seed, epoch, index)`` in training, per
``(seed, file name)`` otherwise (``facesr eval --degradation realistic --seed 0`` is reproducible).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError
from torch import Tensor
from torch.utils.data import Dataset

from .degrade import downscale
from .degradations import degrade, get_degradation, sample_rng
from .losses import EIPNET_CANNY_THRESHOLDS, edge_targets

__all__ = ["FaceFolder", "IMAGE_EXTENSIONS", "list_images", "load_rgb", "load_parsing"]

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".webp")
CELEBA_CROP = 178

Box = tuple[float, float, float, float]
FULL: Box = (0.0, 0.0, 1.0, 1.0)


def list_images(root: str | Path) -> list[Path]:
    """Image files under ``root`` (recursive), sorted by relative path for determinism.
    Hidden files and folders (``.name``, e.g. macOS ``._x.jpg`` forks) are skipped."""
    root = Path(root)
    if not root.is_dir():
        raise ValueError(f"image folder not found: {root}")
    files = [p for p in root.rglob("*") if p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file()
             and not any(part.startswith(".") for part in p.relative_to(root).parts)]
    return sorted(files, key=lambda p: p.relative_to(root).as_posix())


def _to_rgb(img: Image.Image) -> Image.Image:
    """Any PIL mode -> 8-bit RGB. Alpha is composited over white; 16/32-bit grey is
    rescaled from its full range rather than clipped at 255."""
    if img.mode in ("I;16", "I;16L", "I;16B", "I;16N", "I", "F"):
        arr = np.asarray(img, dtype=np.float64)
        top = 65535.0 if img.mode != "F" else max(float(arr.max()), 1.0)
        arr = np.clip(arr / top * 255.0 + 0.5, 0, 255).astype(np.uint8)
        img = Image.fromarray(arr)
    if img.mode == "P":
        img = img.convert("RGBA" if "transparency" in img.info else "RGB")
    if img.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = img.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        img = Image.alpha_composite(white, rgba)
    return img.convert("RGB")


def load_rgb(path: str | Path) -> Image.Image:
    """Open an image as 8-bit RGB with EXIF orientation applied.

    Raises ``ValueError`` naming the file when it cannot be decoded."""
    try:
        with Image.open(path) as img:
            img.load()
            img = ImageOps.exif_transpose(img)
            return _to_rgb(img)
    except (OSError, UnidentifiedImageError, ValueError, SyntaxError) as e:
        raise ValueError(f"cannot read image {path}: {e}") from e


def _find_unreadable(paths: list[Path], sizes: dict[Path, tuple[int, int]] | None = None) -> list[str]:
    """Cheap header check (PIL ``verify``) of every file; returns 'path: reason' lines and puts
    each readable file's stored ``(width, height)`` into ``sizes`` when given."""
    bad = []
    for p in paths:
        try:
            with Image.open(p) as img:
                img.verify()
                if sizes is not None:
                    sizes[p] = img.size
        except Exception as e:  # noqa: BLE001 - any failure means the file is unusable
            bad.append(f"{p}: {e}")
    return bad


def _crop_box(w: int, h: int, crop: str) -> Box:
    """Crop region ``(x0, y0, x1, y1)`` in source pixels for a ``w`` x ``h`` image."""
    if crop == "none":
        return (0.0, 0.0, float(w), float(h))
    side = CELEBA_CROP if crop == "celeba" else min(w, h)
    if crop == "celeba" and min(w, h) < CELEBA_CROP:
        raise ValueError(f"crop='celeba' needs images of at least {CELEBA_CROP}x{CELEBA_CROP}, got {w}x{h}")
    x0, y0 = (w - side) // 2, (h - side) // 2
    return (float(x0), float(y0), float(x0 + side), float(y0 + side))


def _sub_box(box: Box, frac: Box) -> Box:
    """The part ``frac`` (fractions of width/height) of ``box``."""
    x0, y0, x1, y1 = box
    bw, bh = x1 - x0, y1 - y0
    return (x0 + frac[0] * bw, y0 + frac[1] * bh, x0 + frac[2] * bw, y0 + frac[3] * bh)


def _resample(channel: np.ndarray, size: int, frac: Box, nearest: bool) -> np.ndarray:
    """Resize the ``frac`` part of a 2-D map to ``size`` x ``size`` (float32)."""
    h, w = channel.shape
    if (h, w) == (size, size) and frac == FULL:
        return channel.astype(np.float32)
    box = _sub_box((0.0, 0.0, float(w), float(h)), frac)
    mode = Image.Resampling.NEAREST if nearest else Image.Resampling.BILINEAR
    img, box = _extend(Image.fromarray(channel.astype(np.float32)), box)
    return np.asarray(img.resize((size, size), mode, box=box))


def load_parsing(path: Path, size: int, frac: Box = FULL, key: str = "parsing",
                 classes: int | None = 19) -> Tensor:
    """Load a cached parsing map as a ``(K, size, size)`` float tensor.

    Files: ``<stem>.png``, an ``(H, W)`` uint8 label map; or ``<stem>.npz`` with the array
    ``key`` (as written by :func:`facesr_gui.train.parsing_labels.build_cache`, whose
    ``parsing`` is the label map and ``priorsr``/``cagface``/``wnet_components`` are
    ``(K, H, W)`` 0/1 maps). An ``(H, W)`` map of integer class ids (CelebAMask-HQ ids,
    0 = background) is one-hot encoded to ``classes`` channels, or returned as ``(1, H, W)``
    when ``classes`` is None (e.g. a binary mask); a ``(K, H, W)`` map is returned as is.
    The map must cover the un-augmented HR frame (the crop), at any resolution; the ``frac``
    part of it is resized to ``size`` (nearest for integer maps, bilinear for float ones).
    """
    if path.suffix.lower() == ".png":
        with Image.open(path) as img:
            arr = np.asarray(img)
    else:
        with np.load(path) as z:
            if key not in z.files:
                raise KeyError(f"parsing file {path} has no array {key!r}; it has {z.files}")
            arr = z[key]
    nearest = not np.issubdtype(arr.dtype, np.floating)
    if arr.ndim == 2 and classes is not None:
        lab = torch.from_numpy(_resample(arr, size, frac, True).astype(np.int64))
        if int(lab.max()) >= classes or int(lab.min()) < 0:
            raise ValueError(f"parsing labels in {path} are outside 0..{classes - 1}")
        return torch.nn.functional.one_hot(lab, classes).permute(2, 0, 1).float()
    if arr.ndim == 2:
        arr = arr[None]
    if arr.ndim != 3:
        raise ValueError(f"parsing map {path} has shape {arr.shape}, expected (H, W) or (K, H, W)")
    return torch.from_numpy(np.stack([_resample(c, size, frac, nearest) for c in arr]))


class FaceFolder(Dataset):
    """Torch dataset over a folder of face images; see the module docstring for the item layout.

    Args:
        root: folder searched recursively for jpg/jpeg/png/bmp/webp files.
        hr_size, scale: HR side ``S`` and the LR factor (``S`` divisible by ``scale``).
        augment: flip/rotate (and ``rescale``) with the per-item generator; off for validation.
        rotate: include the quarter turns in the augmentation (the papers'); False: flips only.
        crop: ``"celeba"`` | ``"center"`` | ``"none"`` (module docstring).
        edge_scales, with_edges, canny_thresholds: which ``edge/x{r}`` targets, and Canny's
            ``(low, high)`` (None: adaptive per image, ``losses.adaptive_canny_thresholds``).
        parsing_dir, parsing_key, parsing_classes: cached parsing maps, see :func:`load_parsing`;
            images without a parsing file are left out (listed in ``without_parsing``).
        rescale: ``(lo, hi)`` random zoom range, or None.
        degradation: name of the LR pipeline (:func:`facesr_gui.train.degradations.list_degradations`).
        jitter: framing jitter ``j`` (module docstring), 0 for none; at most 0.25.
        clean_share: in training (``augment``), this share of the samples gets the clean bicubic LR
            instead of the ``degradation`` draw (on top of the pipeline's own clean share): a model
            meant for camera-like inputs that must still serve clean ones. Evaluation ignores it.
        seed: base seed; the draw of item ``i`` in epoch ``e`` depends on ``(seed, e, i)`` only.
        validate: check every file's header at construction and list all unreadable ones.
    """

    def __init__(
        self,
        root: str | Path,
        hr_size: int = 128,
        scale: int = 8,
        augment: bool = True,
        crop: str = "celeba",
        edge_scales: tuple[int, ...] = (2, 4, 8),
        with_edges: bool = True,
        parsing_dir: str | Path | None = None,
        parsing_key: str = "parsing",
        parsing_classes: int | None = 19,
        canny_thresholds: tuple[float, float] | None = EIPNET_CANNY_THRESHOLDS,
        rescale: tuple[float, float] | None = None,
        seed: int = 0,
        validate: bool = True,
        rotate: bool = True,
        degradation: str = "bicubic",
        jitter: float = 0.0,
        clean_share: float = 0.0,
    ):
        get_degradation(degradation)   # an unknown name fails here, before any file is read
        if not 0.0 <= jitter <= 0.25:
            raise ValueError(f"jitter must be in [0, 0.25], got {jitter}")
        if not 0.0 <= clean_share <= 1.0:
            raise ValueError(f"clean_share must be in [0, 1], got {clean_share}")
        if crop not in ("celeba", "center", "none"):
            raise ValueError(f"crop must be 'celeba', 'center' or 'none', got {crop!r}")
        if hr_size % scale:
            raise ValueError(f"hr_size {hr_size} is not divisible by scale {scale}")
        for r in edge_scales:
            if r < 1 or hr_size * r % scale:
                raise ValueError(f"edge scale {r} gives no integer size for hr_size {hr_size}, scale {scale}")
        self.root = Path(root)
        self.paths = list_images(self.root)
        if not self.paths:
            raise ValueError(f"no images ({', '.join(IMAGE_EXTENSIONS)}) found under {self.root}")
        # each file's stored (width, height), from the validation's header pass (empty without it)
        self.sizes: dict[Path, tuple[int, int]] = {}
        if validate:
            bad = _find_unreadable(self.paths, self.sizes)
            if bad:
                raise ValueError(f"{len(bad)} unreadable image(s) under {self.root}:\n" + "\n".join(bad))
        self.hr_size, self.scale, self.augment, self.crop = hr_size, scale, augment, crop
        self.edge_scales = tuple(edge_scales) if with_edges else ()
        self.canny_thresholds = canny_thresholds
        self.parsing_dir = Path(parsing_dir) if parsing_dir is not None else None
        self.without_parsing: list[Path] = []
        if self.parsing_dir is not None:
            # images whose face the labeller did not find have no parsing file: train without them
            have = {p.stem for p in self.parsing_dir.glob("*.np[z]")} | {p.stem for p in self.parsing_dir.glob("*.png")}
            self.without_parsing = [p for p in self.paths if p.stem not in have]
            self.paths = [p for p in self.paths if p.stem in have]
            if not self.paths:
                raise ValueError(f"no parsing maps in {self.parsing_dir} for the images under {self.root}")
        self.parsing_key, self.parsing_classes = parsing_key, parsing_classes
        self.rescale, self.seed, self.rotate = rescale, seed, rotate
        self.degradation, self.jitter, self.clean_share = degradation, float(jitter), float(clean_share)
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Select the augmentation draw of ``epoch`` (call before each epoch; with
        ``persistent_workers=True`` DataLoader workers keep their own copy, so don't use both)."""
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.paths)

    def _draw(self, index: int) -> tuple[Box, bool, int]:
        """Random zoom sub-box (fractions), horizontal flip, and quarter turns for an item."""
        if not self.augment:
            frac = self._jitter_box(FULL, sample_rng(self.seed, self.paths[index].stem, "jitter")) if self.jitter else FULL
            return frac, False, 0
        rng = np.random.default_rng([self.seed, self.epoch, index])
        flip, turns = bool(rng.random() < 0.5), int(rng.integers(4))
        turns = turns if self.rotate else 0   # drawn either way: the zoom draw stays the same
        frac = FULL
        if self.rescale is not None:
            side = 1.0 / rng.uniform(*self.rescale)
            u, v = rng.uniform(0.0, 1.0 - side, size=2)
            frac = (u, v, u + side, v + side)
        return self._jitter_box(frac, rng), flip, turns

    def _jitter_box(self, frac: Box, rng: np.random.Generator) -> Box:
        """``frac`` zoomed by ``[1 - j, 1 + j]`` about its centre and shifted by up to ``j`` of its side."""
        if not self.jitter:
            return frac
        zoom = rng.uniform(1.0 - self.jitter, 1.0 + self.jitter)
        dx, dy = rng.uniform(-self.jitter, self.jitter, size=2)
        side_x, side_y = (frac[2] - frac[0]) / zoom, (frac[3] - frac[1]) / zoom
        cx = (frac[0] + frac[2]) / 2 + dx * (frac[2] - frac[0])
        cy = (frac[1] + frac[3]) / 2 + dy * (frac[3] - frac[1])
        return (cx - side_x / 2, cy - side_y / 2, cx + side_x / 2, cy + side_y / 2)

    def make_lr(self, hr: Tensor, index: int) -> Tensor:
        """LR ``(3, S/scale, S/scale)`` of item ``index``'s (augmented) ``hr`` ``(3, S, S)`` through the
        degradation pipeline, with the draw keyed as the module docstring says."""
        if self.degradation == "bicubic":
            return downscale(hr[None], self.scale)[0]
        if self.augment:
            if self.clean_share and sample_rng(self.seed, self.epoch, index, "clean").random() < self.clean_share:
                return downscale(hr[None], self.scale)[0]
            rng = sample_rng(self.seed, self.epoch, index, "lr")
        else:
            rng = sample_rng(self.seed, self.paths[index].stem, "lr")
        pixels = hr.mul(255.0).round_().clamp_(0, 255).to(torch.uint8).permute(1, 2, 0).numpy()
        return torch.from_numpy(degrade(pixels, self.scale, self.degradation, rng)).permute(2, 0, 1).contiguous()

    def _parsing_path(self, stem: str) -> Path:
        for ext in (".npz", ".png"):
            p = self.parsing_dir / f"{stem}{ext}"
            if p.is_file():
                return p
        raise FileNotFoundError(f"no parsing map {stem}.npz or {stem}.png in {self.parsing_dir}")

    def _edges(self, hr: Tensor) -> dict[str, Tensor]:
        """Canny targets ``{"edge/x{r}": (1, h, w)}`` of ``hr`` ``(3, S, S)`` (losses.edge_targets)."""
        if not self.edge_scales:
            return {}
        low, high = self.canny_thresholds if self.canny_thresholds is not None else (None, None)
        maps = edge_targets(hr[None], self.edge_scales, self.hr_size // self.scale, low, high)
        return {k: v[0] for k, v in maps.items()}

    def variants(self) -> list[tuple[bool, int]] | None:
        """Every ``(flip, turns)`` an augmented item can take, or None when the draw is continuous
        (``rescale``); :class:`facesr_gui.train.cache.PreloadedFaces` keeps each one in memory."""
        if self.rescale is not None or self.jitter:
            return None
        if not self.augment:
            return [(False, 0)]
        return [(f, k) for f in (False, True) for k in (range(4) if self.rotate else (0,))]

    def __getitem__(self, index: int) -> dict:
        return self.item(index, *self._draw(index))

    def item(self, index: int, frac: Box = FULL, flip: bool = False, turns: int = 0, with_lr: bool = True) -> dict:
        """Item ``index`` with the given zoom box, flip and quarter turns (``__getitem__`` draws them);
        ``with_lr=False`` leaves out ``lr`` (a caller that draws the degradation itself, per epoch)."""
        path = self.paths[index]
        img = load_rgb(path)
        try:
            box = _sub_box(_crop_box(*img.size, self.crop), frac)
        except ValueError as e:
            raise ValueError(f"{path}: {e}") from e
        img, box = _extend(img, box)
        size = (self.hr_size, self.hr_size)
        pixels = np.asarray(img.resize(size, Image.Resampling.BICUBIC, box=box))
        hr = torch.from_numpy(pixels.copy()).permute(2, 0, 1).float().div_(255.0)
        item: dict = {"name": path.stem, "hr": _flip_rotate(hr, flip, turns)}
        if self.parsing_dir is not None:
            parsing = load_parsing(self._parsing_path(path.stem), self.hr_size, frac,
                                   self.parsing_key, self.parsing_classes)
            if flip and parsing.shape[0] == 19:
                parsing = parsing[list(_MIRROR_IDS)]  # a mirrored left eye is a right eye
            item["parsing"] = _flip_rotate(parsing, flip, turns)
        if with_lr:
            item["lr"] = self.make_lr(item["hr"], index)
        item["edges"] = self._edges(item["hr"])
        return item


def _extend(img: Image.Image, box: Box) -> tuple[Image.Image, Box]:
    """Edge-extend ``img`` so that ``box`` (pixels) lies inside it; returns the image and the moved box."""
    w, h = img.size
    pad = int(np.ceil(max(0.0, -box[0], -box[1], box[2] - w, box[3] - h)))
    if pad == 0:
        return img, box
    arr = np.asarray(img)
    arr = np.pad(arr, ((pad, pad), (pad, pad)) + ((0, 0),) * (arr.ndim - 2), mode="edge")
    return Image.fromarray(arr), (box[0] + pad, box[1] + pad, box[2] + pad, box[3] + pad)


#: CelebAMask-HQ ids after a horizontal flip: l/r eye (4, 5), brow (6, 7) and ear (8, 9) swap
_MIRROR_IDS = (0, 1, 2, 3, 5, 4, 7, 6, 9, 8, 10, 11, 12, 13, 14, 15, 16, 17, 18)


def _flip_rotate(t: Tensor, flip: bool, turns: int) -> Tensor:
    """Horizontal flip then ``turns`` counter-clockwise quarter turns of ``(C, H, W)``."""
    if flip:
        t = t.flip(-1)
    return torch.rot90(t, turns, dims=(-2, -1)).contiguous() if turns else t
