"""Stand-ins for the few torchvision (and tqdm) names that facenet-pytorch 2.6.0 imports.

facenet-pytorch is installed with ``--no-deps`` (it pins ``torch<2.3`` and
``torchvision<0.18``); torchvision must not be installed next to our torch. Its
``models/utils/detect_face.py`` does, at import time::

    from torchvision.transforms import functional as F   # uses F.to_tensor
    from torchvision.ops.boxes import batched_nms

and ``models/utils/download.py`` imports ``tqdm`` (only used to download weights,
which we never do: the MTCNN weights ship in the wheel's ``data/*.pt``).

:func:`stand_ins` registers minimal modules in ``sys.modules`` for exactly those
names, only for packages that are not importable, and removes them again on exit:
facenet_pytorch keeps the functions it bound, and nothing else in the process ever
sees a fake ``torchvision``. :func:`import_facenet_pytorch` wraps the import.
"""
from __future__ import annotations

import contextlib
import importlib.util
import sys
import types
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch
from torch import Tensor


def box_iou_one_to_many(box: Tensor, boxes: Tensor) -> Tensor:
    """IoU of one ``(4,)`` box against ``(N, 4)`` boxes, both ``x0, y0, x1, y1`` (area = w*h)."""
    x0 = torch.maximum(box[0], boxes[:, 0])
    y0 = torch.maximum(box[1], boxes[:, 1])
    x1 = torch.minimum(box[2], boxes[:, 2])
    y1 = torch.minimum(box[3], boxes[:, 3])
    inter = (x1 - x0).clamp(min=0) * (y1 - y0).clamp(min=0)
    area = (box[2] - box[0]) * (box[3] - box[1])
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    return inter / (area + areas - inter)


def nms(boxes: Tensor, scores: Tensor, iou_threshold: float) -> Tensor:
    """Greedy non-maximum suppression with torchvision's semantics.

    ``boxes`` ``(N, 4)`` as ``x0, y0, x1, y1``; ``scores`` ``(N,)``. A box is dropped
    when its IoU with a higher-scoring kept box is ``> iou_threshold``. Returns the
    int64 indices of kept boxes, in decreasing score order. The loop runs once per
    *kept* box and shrinks the candidate set each time.
    """
    if boxes.numel() == 0:
        return torch.empty((0,), dtype=torch.int64, device=boxes.device)
    boxes = boxes.float()  # half/int inputs: compute IoU in float32, like torchvision's kernels
    order = torch.argsort(scores, descending=True, stable=True)
    keep = []
    while order.numel() > 0:
        best = order[0]
        keep.append(best)
        rest = order[1:]
        if rest.numel() == 0:
            break
        iou = box_iou_one_to_many(boxes[best], boxes[rest])
        order = rest[~(iou > iou_threshold)]  # NaN IoU (degenerate boxes) keeps the box
    return torch.stack(keep).to(torch.int64)


def batched_nms(boxes: Tensor, scores: Tensor, idxs: Tensor, iou_threshold: float) -> Tensor:
    """NMS done independently per category ``idxs`` (torchvision.ops.boxes.batched_nms).

    Coordinate-offset trick: every category's boxes are shifted by
    ``idx * (max_coordinate + 1)`` so boxes of different categories never overlap,
    then one plain :func:`nms` runs. Returns int64 indices sorted by decreasing score.
    """
    if boxes.numel() == 0:
        return torch.empty((0,), dtype=torch.int64, device=boxes.device)
    max_coordinate = boxes.max()
    offsets = idxs.to(boxes) * (max_coordinate + 1)
    return nms(boxes + offsets[:, None], scores, iou_threshold)


def to_tensor(pic: Any) -> Tensor:
    """torchvision's ``to_tensor`` for PIL images and numpy arrays.

    ``(H, W, C)`` or ``(H, W)`` input -> ``(C, H, W)`` tensor. uint8 data (and
    8-bit PIL images) become float32 in ``[0, 1]``; other dtypes are only
    transposed, not rescaled (facenet-pytorch passes ``np.float32`` crops in
    ``[0, 255]`` and expects them unscaled, as torchvision does). Channel order is
    kept as given (RGB for PIL).
    """
    if isinstance(pic, np.ndarray):
        arr = pic
    elif hasattr(pic, "mode") and hasattr(pic, "size"):  # PIL.Image without importing PIL here
        arr = np.asarray(pic)
        if pic.mode == "1":
            arr = arr.astype(np.uint8) * 255
    else:
        raise TypeError(f"pic should be a PIL Image or ndarray, got {type(pic)}")
    if arr.ndim == 2:
        arr = arr[:, :, None]
    if arr.ndim != 3:
        raise ValueError(f"pic should be 2 or 3 dimensional, got {arr.ndim} dimensions")
    img = torch.from_numpy(arr.transpose(2, 0, 1).copy())  # copy: PIL arrays are read-only
    if img.dtype == torch.uint8:
        return img.to(torch.float32).div(255)
    return img


class _NoProgress:
    """The part of ``tqdm.tqdm`` that facenet's (unused) weight download touches."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        pass

    def __enter__(self) -> _NoProgress:
        return self

    def __exit__(self, *exc: Any) -> None:
        return None

    def update(self, n: int = 1) -> None:
        pass


def _module(name: str, **attrs: Any) -> types.ModuleType:
    mod = types.ModuleType(name, "facesr_gui stand-in (see facesr_gui/pipeline/_tv_shim.py)")
    mod.__dict__.update(attrs)
    mod.__facesr_stand_in__ = True
    return mod


def _importable(name: str) -> bool:
    """Whether the real top-level package ``name`` imports (a broken install counts as missing)."""
    if name in sys.modules:
        return True
    if importlib.util.find_spec(name) is None:
        return False
    try:
        importlib.import_module(name)
    except Exception:  # e.g. a torchvision built for another torch: use the stand-ins instead
        for key in [k for k in sys.modules if k == name or k.startswith(name + ".")]:
            del sys.modules[key]
        return False
    return True


def _stand_in_modules() -> dict[str, types.ModuleType]:
    """The stand-in modules for every package that is not importable, keyed by module name."""
    mods: dict[str, types.ModuleType] = {}
    if not _importable("torchvision"):
        functional = _module("torchvision.transforms.functional", to_tensor=to_tensor)
        transforms = _module("torchvision.transforms", functional=functional)
        boxes = _module("torchvision.ops.boxes", batched_nms=batched_nms, nms=nms)
        ops = _module("torchvision.ops", boxes=boxes, batched_nms=batched_nms, nms=nms)
        root = _module("torchvision", transforms=transforms, ops=ops, __version__="0+facesr.stand_in")
        for mod in (root, transforms, functional, ops, boxes):
            mod.__path__ = []  # mark as a package so submodule imports resolve via sys.modules
            mods[mod.__name__] = mod
    if not _importable("tqdm"):
        auto = _module("tqdm.auto", tqdm=_NoProgress)
        root = _module("tqdm", tqdm=_NoProgress, auto=auto)
        root.__path__ = []
        mods.update({"tqdm": root, "tqdm.auto": auto})
    return mods


@contextlib.contextmanager
def stand_ins() -> Iterator[list[str]]:
    """Register stand-ins for missing torchvision/tqdm while the block runs.

    Yields the names registered (empty when the real packages are importable).
    On exit only the modules this call added are removed from ``sys.modules``.
    """
    mods = {k: v for k, v in _stand_in_modules().items() if k not in sys.modules}
    sys.modules.update(mods)
    try:
        yield sorted(mods)
    finally:
        for name, mod in mods.items():
            if sys.modules.get(name) is mod:
                del sys.modules[name]


def import_facenet_pytorch() -> types.ModuleType:
    """Import ``facenet_pytorch`` (with stand-ins where needed) and return the module."""
    if "facenet_pytorch" in sys.modules:
        return sys.modules["facenet_pytorch"]
    with stand_ins():
        import facenet_pytorch
    return facenet_pytorch
