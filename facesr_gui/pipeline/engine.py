"""Batch enhancement of files and folders (images and videos): the engine behind
``facesr enhance``.

:func:`enhance_paths` runs every input through one :class:`~.restore.FaceRestorer`. One
bad input never stops the batch: its error is recorded in its :class:`ItemReport` and
the next input proceeds. An image where no face is found is still written (upscaled),
with status ``"no-face"``.

Output names: ``<stem>_facesr<ext>`` (images keep their format, GIF becomes PNG; videos
keep an MP4/MOV/M4V/MKV container, anything else becomes MKV, which holds H.264 and any
audio). With ``out_dir`` None each output goes beside its input; otherwise under
``out_dir``, mirroring the inputs' sub-folders relative to their common parent. A name
already taken in the batch, equal to an input, or of a file that exists already (the
user's own ``x_facesr.jpg``, or an earlier run's output) gets ``_2``, ``_3``... and the
item's message says so: the program never overwrites a file it did not write in this run.
With ``provenance`` a name is free only when its sidecar name (``<output>.json``) is free too, so
each output and its record keep one name (:mod:`.provenance`).
Files that look like earlier outputs (``*_facesr.*``) are not taken from folders; the
``skipped`` list of :func:`collect_inputs` says which and why.

Upscale ``"auto"``: :func:`.sizing.auto_upscale` (the one rule the GUI uses too): the
integer output scale that brings the typical (median) face's aligned crop to the network's
SR crop size, capped by the network's own factor and by an output long side of
:data:`~.sizing.MAX_SIDE` px (:data:`~.sizing.VIDEO_MAX_SIDE` for videos, read from the
first frame); 1 when no face is found.

Images are ``(H, W, 3)`` uint8 RGB throughout.
"""
from __future__ import annotations

import importlib.util
import os
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np

from .faces import Detections
from .imageio import classify, load_image, save_image
from .provenance import (TEXT_KEY, ModelFacts, VideoRecord, face_records, options_of, sidecar_path, summary_line,
                         write_provenance)
from .sizing import VIDEO_MAX_SIDE, auto_upscale, check_output_size

if TYPE_CHECKING:
    from .restore import EnhanceResult, FaceRestorer
    from .video import VideoReport

Progress = Callable[[float, str], None]
SUFFIX = "_facesr"
VIDEO_KEEP = (".mp4", ".mov", ".m4v", ".mkv")
STATUSES = ("ok", "no-face", "error", "cancelled")


@dataclass
class ItemReport:
    """One input's outcome. ``status``: ``"ok"`` (faces enhanced), ``"no-face"`` (written,
    upscaled only), ``"error"`` (nothing written; ``message`` says why) or ``"cancelled"``;
    ``faces``: faces found (videos: distinct face tracks); ``upscale``: output scale used;
    ``provenance``: the output's JSON sidecar when one was written (:mod:`.provenance`); ``restored``:
    faces restored and pasted (videos: face-frames; None: not counted), 0 for an ``"ok"`` photo whose
    faces were all left as they are (already larger than the network's output)."""

    path: Path
    kind: str | None
    status: str
    output: Path | None = None
    faces: int = 0
    message: str = ""
    seconds: float = 0.0
    upscale: int = 1
    provenance: Path | None = None
    restored: int | None = None

    def as_dict(self) -> dict:
        d = asdict(self)
        d["path"], d["output"] = str(self.path), str(self.output) if self.output else None
        d["provenance"] = str(self.provenance) if self.provenance else None
        return d


@dataclass
class BatchReport:
    items: list[ItemReport] = field(default_factory=list)

    def count(self, status: str) -> int:
        return sum(item.status == status for item in self.items)

    @property
    def cancelled(self) -> bool:
        return any(item.status == "cancelled" for item in self.items)

    @property
    def ok(self) -> bool:
        """Every input was enhanced or written without a face."""
        return all(item.status in ("ok", "no-face") for item in self.items)

    def as_dict(self) -> dict:
        return {"items": [i.as_dict() for i in self.items], "counts": {s: self.count(s) for s in STATUSES}}


def collect_inputs(paths: Iterable[str | os.PathLike], skipped: list[tuple[Path, str]] | None = None) -> list[Path]:
    """Expand ``paths`` into the files to process, in the order given.

    A folder contributes every image and video below it (recursive, sorted by path),
    skipping hidden files and folders and earlier outputs (``*_facesr.*``; each is added to
    ``skipped`` as ``(path, reason)`` when a list is given). A file is kept whatever its type,
    and a missing path is kept too, so that :func:`enhance_paths` reports it. Duplicates are dropped.
    """
    out: list[Path] = []
    seen: set[Path] = set()
    for p in map(Path, paths):
        if p.is_dir():
            media = sorted(f for f in p.rglob("*") if f.is_file() and classify(f) is not None
                           and not any(part.startswith(".") for part in f.relative_to(p).parts))
            found = [f for f in media if not f.stem.endswith(SUFFIX)]
            if skipped is not None:
                skipped.extend((f, f"named like an output of an earlier run (*{SUFFIX}); not enhanced again and "
                                   "never overwritten (name it on its own to enhance it)")
                               for f in media if f.stem.endswith(SUFFIX))
        else:
            found = [p]
        for f in found:
            key = f.resolve()
            if key not in seen:
                seen.add(key)
                out.append(f)
    return out


def output_suffix(path: Path, kind: str) -> str:
    """Suffix of ``path``'s output (see the module docstring)."""
    suffix = path.suffix.lower()
    if kind == "video":
        if suffix in VIDEO_KEEP:
            return suffix
        return ".mkv" if importlib.util.find_spec("av") is not None else ".mp4"   # OpenCV fallback: MPEG-4
    return ".png" if suffix == ".gif" else path.suffix


def plan_outputs(inputs: Sequence[Path], out_dir: str | os.PathLike | None,
                 notes: dict[int, str] | None = None, sidecars: bool = False) -> list[Path]:
    """Output path of each input (see the module docstring); never an input's path nor an existing
    file, nor (``sidecars``) a path whose ``<output>.json`` exists. ``notes[i]`` (when a dict is given)
    says why input ``i``'s output got another name."""
    taken = {p.resolve() for p in inputs}
    root = None
    if out_dir is not None and inputs:
        try:
            root = Path(os.path.commonpath([str(p.resolve().parent) for p in inputs]))
        except ValueError:   # different drives (Windows): no common parent, flat names
            root = None
    outputs = []
    for p in inputs:
        kind = classify(p) or "image"
        if out_dir is None:
            folder = p.parent
        else:
            folder = Path(out_dir) / (p.resolve().parent.relative_to(root) if root is not None else "")
        name, ext = f"{p.stem}{SUFFIX}", output_suffix(p, kind)
        target, n = folder / f"{name}{ext}", 1
        while target.resolve() in taken or _existing(target, sidecars):
            if n == 1 and notes is not None and _existing(target, sidecars) and target.resolve() not in taken:
                notes[len(outputs)] = f"{_existing(target, sidecars)} exists already, not overwritten"
            n += 1
            target = folder / f"{name}_{n}{ext}"
        taken.add(target.resolve())
        outputs.append(target)
    return outputs


def _exists(path: Path) -> bool:
    return os.path.lexists(path)


def _existing(target: Path, sidecars: bool) -> str | None:
    """The name of the file that makes ``target`` taken (itself or, with ``sidecars``, its sidecar), or None."""
    for path in (target, sidecar_path(target)) if sidecars else (target,):
        if _exists(path):
            return path.name
    return None


def _item_progress(progress: Progress | None, i: int, n: int, name: str) -> Progress:
    def report(fraction: float, msg: str) -> None:
        if progress is not None:
            progress((i + min(max(fraction, 0.0), 1.0)) / n, f"{i + 1}/{n} {name}: {msg}")
    return report


def enhance_image(path: Path, output: Path, restorer: FaceRestorer, upscale: int | str = "auto",
                  progress: Progress | None = None, should_stop: Callable[[], bool] | None = None,
                  max_pixels: int | None = None, quality: int = 95, provenance: ModelFacts | None = None) -> ItemReport:
    """Load, detect, enhance and save one image (errors propagate; see :func:`enhance_paths`).
    ``provenance``: the model's facts (:meth:`.provenance.ModelFacts.hashed`): the output gets a summary
    line inside (PNG, JPEG) and a JSON sidecar with one record per face."""
    t0 = time.perf_counter()
    report = progress or (lambda f, m: None)
    report(0.0, "loading")
    img = load_image(path, max_pixels=max_pixels)
    h, w = img.rgb.shape[:2]
    report(0.05, "detecting faces")
    dets = restorer.detect(img.rgb)
    up = (auto_upscale(h, w, dets, restorer.sr_size, restorer.scale) if upscale == "auto" else int(upscale))
    check_output_size(h, w, up)
    res = restorer.enhance(img.rgb, detections=dets, upscale=up, should_stop=should_stop,
                           progress=lambda f, m: report(0.3 + 0.6 * f, m))
    alpha = img.alpha
    if alpha is not None and up != 1:
        alpha = cv2.resize(alpha, (w * up, h * up), interpolation=cv2.INTER_LINEAR)
    report(0.95, "saving")
    comment = (TEXT_KEY, summary_line(provenance)) if provenance is not None else None
    save_image(output, res.image, alpha, quality=quality, icc_profile=img.icc_profile, comment=comment)
    item = ItemReport(path, "image", "ok" if res.faces else "no-face", output, len(res.faces),
                      _image_message(img, res), time.perf_counter() - t0, up,
                      restored=sum(f.skipped is None for f in res.faces))
    if provenance is not None:
        report(0.98, "writing provenance")
        _write_provenance(item, provenance, options_of(restorer, up), faces=face_records(res.faces))
    report(1.0, "done")
    return item


def _write_provenance(item: ItemReport, model: ModelFacts, options: dict, **kind) -> None:
    """Write ``item``'s sidecar and set ``item.provenance``; a failure is told in its message (the output stays)."""
    try:
        item.provenance = write_provenance(item.path, item.output, model, options, **kind)
    except OSError as exc:   # FileExistsError: the name was taken after the outputs were planned
        item.message = f"{item.message}; provenance not written: {exc}"



def _image_message(img, res: EnhanceResult) -> str:
    h, w = res.image.shape[:2]
    parts = [f"{len(res.faces)} face(s)", f"x{res.upscale} -> {w}x{h}"]
    large = sum(f.skipped == "large" for f in res.faces)
    if large:
        parts.append(f"{large} already large, left as is")
    return ", ".join(parts + img.notes)


def enhance_video_item(path: Path, output: Path, restorer: FaceRestorer, upscale: int | str = "auto",
                       progress: Progress | None = None, should_stop: Callable[[], bool] | None = None,
                       detect_every: int = 1, max_pixels: int | None = None,
                       provenance: ModelFacts | None = None, stabilise: bool = True) -> ItemReport:
    """One video through :func:`.video.enhance_video` (errors propagate); ``provenance`` as in
    :func:`enhance_image`, with a :class:`.provenance.VideoRecord` instead of faces (no summary inside);
    ``stabilise``: steady faces (:class:`.stabilise.FaceStabiliser`)."""
    from .stabilise import FaceStabiliser
    from .video import enhance_video

    t0 = time.perf_counter()
    up = video_upscale(path, restorer, upscale, max_pixels)
    rep = enhance_video(path, output, restorer, upscale=up, detect_every=detect_every, progress=progress,
                        should_stop=should_stop, max_pixels=max_pixels,
                        stabiliser=FaceStabiliser() if stabilise else None)
    return video_item(path, output, restorer, up, rep, time.perf_counter() - t0, provenance,
                      detect_every=detect_every, stabilise=stabilise)


def video_upscale(path: Path, restorer: FaceRestorer, upscale: int | str = "auto", max_pixels: int | None = None) -> int:
    """The output scale of a video: ``upscale``, or for ``"auto"`` the rule of :func:`.sizing.auto_upscale` on
    its first frame (raises :class:`.video.VideoError` for an unreadable or too large video, ``ValueError``
    for too large an output)."""
    from .video import VideoReader

    with VideoReader(path, max_frames=1, max_pixels=max_pixels) as reader:   # VideoError: unreadable, too large
        info = reader.info
        first = next((rgb for _i, _t, rgb in reader), None)
    if upscale == "auto":
        dets = restorer.detect(first) if first is not None else Detections.empty()
        up = auto_upscale(info.height, info.width, dets, restorer.sr_size, restorer.scale, VIDEO_MAX_SIDE)
    else:
        up = int(upscale)
    check_output_size(info.height, info.width, up)
    return up


def video_item(path: Path, output: Path, restorer: FaceRestorer, up: int, rep: VideoReport, seconds: float,
               provenance: ModelFacts | None = None, *, detect_every: int = 1, stabilise: bool = True) -> ItemReport:
    """A video's :class:`ItemReport` from its :class:`.video.VideoReport` (and its sidecar, with ``provenance``)."""
    status = "cancelled" if rep.cancelled else ("ok" if rep.tracks else "no-face")
    out = rep.output if rep.output is not None else (None if rep.cancelled else output)
    item = ItemReport(path, "video", status, out, rep.tracks, f"x{up}, " + rep.summary(), seconds, up,
                      restored=rep.faces_total)
    if provenance is not None and not rep.cancelled:
        video = VideoRecord(rep.frames_out, round(float(rep.fps_video), 4), round(rep.faces_mean, 4), rep.tracks)
        _write_provenance(item, provenance, options_of(restorer, up, detect_every=detect_every, stabilise=stabilise), video=video)
    return item


def error_message(exc: BaseException) -> str:
    """An item's error text: the message of a bad input (``ValueError``), else the exception's type too."""
    text = str(exc) if isinstance(exc, ValueError) else f"{type(exc).__name__}: {exc}"
    return "; ".join([text, *getattr(exc, "__notes__", [])])


def enhance_paths(inputs: Iterable[str | os.PathLike], out_dir: str | os.PathLike | None, restorer: FaceRestorer,
                  upscale: int | str = "auto", progress: Progress | None = None,
                  should_stop: Callable[[], bool] | None = None, on_item: Callable[[ItemReport], None] | None = None,
                  *, detect_every: int = 1, max_pixels: int | None = None, quality: int = 95,
                  provenance: bool = False, stabilise: bool = True,
                  fallback: Callable[[], FaceRestorer] | None = None) -> BatchReport:
    """Enhance every input (files; expand folders with :func:`collect_inputs` first).

    ``upscale``: ``"auto"`` or a positive integer; ``progress(fraction, msg)`` over the
    whole batch; ``should_stop()`` is polled between inputs and inside each (the input
    being processed and those left are reported ``"cancelled"``; a cancelled video keeps
    its ``.partial`` file); ``on_item(report)`` after each input. Errors are recorded
    per input, never raised (except ``KeyboardInterrupt``). ``provenance``: record what made each
    output written (:mod:`.provenance`: ``<output>.json`` and, in PNG/JPEG, a summary line) from
    ``restorer.model``, whose checkpoint is hashed once here. ``detect_every`` and ``stabilise``: videos
    (:func:`.video.enhance_video`, :class:`.stabilise.FaceStabiliser`). ``fallback``: when an input fails
    with CUDA out-of-memory, ``fallback()`` (called once) gives the restorer that input is run again with
    and the rest of the batch goes on with (a CPU one); without it, such an input is an error like any other.
    """
    if upscale != "auto" and (not str(upscale).isdigit() or int(upscale) < 1):
        raise ValueError(f"upscale must be 'auto' or a positive integer, got {upscale!r}")
    inputs = [Path(p) for p in inputs]
    renamed: dict[int, str] = {}
    outputs = plan_outputs(inputs, out_dir, renamed, sidecars=provenance)
    model = restorer.model.hashed() if provenance else None
    stop = should_stop or (lambda: False)
    batch = BatchReport()
    for i, (path, output) in enumerate(zip(inputs, outputs)):
        kind = classify(path)
        t0 = time.perf_counter()
        if stop():
            item = ItemReport(path, kind, "cancelled", message="not started")
        else:
            options = dict(detect_every=detect_every, max_pixels=max_pixels, quality=quality, model=model,
                           stabilise=stabilise)
            item_progress = _item_progress(progress, i, len(inputs), path.name)
            out_of_memory = False
            try:
                item = _run_one(path, output, restorer, upscale, item_progress, stop, can_fall_back=fallback is not None,
                                **options)
            except _CudaOutOfMemory:
                out_of_memory = True
            if out_of_memory:   # outside the handler: its traceback no longer holds the GPU restorer
                restorer = None         # the caller's fallback() can free the GPU memory it held
                restorer, fallback = fallback(), None   # the batch goes on there, this input first
                item = _run_one(path, output, restorer, upscale, item_progress, stop, **options)
        item.seconds = time.perf_counter() - t0
        note_renamed(item, renamed.get(i))
        batch.items.append(item)
        if on_item is not None:
            on_item(item)
    return batch


def note_renamed(item: ItemReport, note: str | None) -> None:
    """Add :func:`plan_outputs`' note (why the output got another name) to a written item's message."""
    if note and item.output is not None:
        item.message = f"{item.message}; {note}" if item.message else note


def enhance_file(path: Path, output: Path, restorer: FaceRestorer, upscale: int | str = "auto",
                 progress: Progress | None = None, should_stop: Callable[[], bool] | None = None, *,
                 detect_every: int = 1, max_pixels: int | None = None, quality: int = 95,
                 model: ModelFacts | None = None, stabilise: bool = True) -> ItemReport:
    """One input of a batch into its planned ``output`` (:func:`plan_outputs`): the per-item step of
    :func:`enhance_paths`, and of each Ray task (:mod:`facesr_gui.cluster`). A missing or unsupported
    file and a cancel are reported; any other error propagates (the callers decide: :func:`enhance_paths`
    records it, a Ray task retries what is not a bad input). ``model``: provenance facts, hashed."""
    kind = classify(path)
    try:
        if kind == "image":
            return enhance_image(path, output, restorer, upscale, progress, should_stop, max_pixels, quality,
                                 provenance=model)
        if kind == "video":
            return enhance_video_item(path, output, restorer, upscale, progress, should_stop, detect_every,
                                      max_pixels, provenance=model, stabilise=stabilise)
    except InterruptedError:
        return ItemReport(path, kind, "cancelled", message="cancelled while processing; nothing written")
    reason = "file not found" if not path.exists() else f"unsupported file type {path.suffix or '(no extension)'!r}"
    return ItemReport(path, None, "error", message=f"{path}: {reason}")


class _CudaOutOfMemory(Exception):
    """An input ran out of GPU memory and the batch has somewhere else to run it (:func:`enhance_paths`)."""


def is_cuda_out_of_memory(exc: BaseException) -> bool:
    """Whether ``exc`` is PyTorch's CUDA out-of-memory error (torch is loaded once a network ran)."""
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(exc, torch.cuda.OutOfMemoryError)


def _run_one(path: Path, output: Path, restorer: FaceRestorer, upscale, progress: Progress,
             stop: Callable[[], bool], *, can_fall_back: bool = False, **options) -> ItemReport:
    try:
        return enhance_file(path, output, restorer, upscale, progress, stop, **options)
    except Exception as exc:  # noqa: BLE001 - one bad input must not stop the batch
        if can_fall_back and is_cuda_out_of_memory(exc):
            raise _CudaOutOfMemory() from exc
        return ItemReport(path, classify(path), "error", message=error_message(exc))


def face_sheet(result: EnhanceResult, label: str = "SR", gap: int = 4) -> np.ndarray:
    """One row per face: LR crop (nearest-neighbour enlarged) | bicubic | SR, with a
    header naming the columns. Returns ``(H, W, 3)`` uint8 RGB (a small blank header when
    there are no faces)."""
    s = result.faces[0].sr.shape[0] if result.faces else 128
    header, cols = 18, 3
    width = cols * s + (cols + 1) * gap
    sheet = np.full((header + len(result.faces) * (s + gap) + gap, width, 3), 255, np.uint8)
    for c, name in enumerate(("LR input", "bicubic", label)):
        cv2.putText(sheet, name[:18], (gap + c * (s + gap) + 2, header - 5), cv2.FONT_HERSHEY_SIMPLEX, 0.4,
                    (0, 0, 0), 1, cv2.LINE_AA)
    for r, face in enumerate(result.faces):
        lr = cv2.resize(face.lr, (s, s), interpolation=cv2.INTER_NEAREST)
        y = header + r * (s + gap)
        for c, tile in enumerate((lr, face.bicubic, face.sr)):
            x = gap + c * (s + gap)
            sheet[y:y + s, x:x + s] = tile
    return sheet
