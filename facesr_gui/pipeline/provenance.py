"""Provenance of an enhanced file: what made it, from what, and how (``facesr enhance --provenance``).

A :class:`Provenance` record is written as a JSON sidecar ``<output>.json`` beside each output
(``photo_facesr.jpg`` -> ``photo_facesr.jpg.json``), atomically (:mod:`facesr_gui.atomic`), and never
over an existing file: the engine picks output names whose sidecar name is free too
(:func:`.engine.plan_outputs`), and :func:`write_sidecar` refuses a name taken meanwhile. PNG and
JPEG outputs also carry :func:`summary_line` inside the file (a PNG ``tEXt`` chunk with key
:data:`TEXT_KEY`, a JPEG ``COM`` comment; :func:`.imageio.save_image`).

The record (:meth:`Provenance.as_dict`, strict JSON):

- ``app``, ``version``: ``"FaceSR Studio"`` and ``facesr_gui.__version__``; ``created_utc``: ISO 8601
  UTC time the record was made, to the second (``2025-01-31T12:00:00Z``);
- ``input`` / ``output``: ``{"name", "sha256"}``: file names only (no folders, which may be private),
  the sha256 of the bytes on disk (hex);
- ``model``: :class:`ModelFacts`: ``id``, ``net``, ``scale`` (the net's factor), ``lr_size`` (px of
  the face crops it takes), ``checkpoint`` (file name) and ``checkpoint_sha256``, ``config`` (the
  net's constructor arguments) and ``degradation`` (the LR inputs it was trained for: ``"bicubic"``,
  ``"realistic"``, ``"surveillance"``); null where there is none (``bicubic`` has no checkpoint, no
  config, no training) or it is not known, and ``note`` says which;
- ``options``: ``upscale`` (integer output scale of the whole frame actually used), ``mask``,
  ``flip_ensemble``, ``colour_match``, ``native_detail``; videos add ``detect_every``;
- images: ``faces``, one :class:`FaceRecord` per detected face; videos: ``video``, a :class:`VideoRecord`.

Torch-free and Qt-free: it takes plain values, and objects with a face's ``box``/``score``/
``side_px``/``skipped`` (:class:`.restore.FaceResult`).
"""
from __future__ import annotations

import json
import os
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from .. import __version__
from ..atomic import sha256_file, write_text_atomic

APP = "FaceSR Studio"
#: key of the PNG ``tEXt`` chunk holding :func:`summary_line`
TEXT_KEY = "facesr"
SIDECAR_SUFFIX = ".json"
#: why a restored face was not pasted, per :attr:`.restore.FaceResult.skipped`
SKIP_REASONS = {"large": "already larger in the output than the net's SR crop, left as upscaled"}


@dataclass(frozen=True)
class ModelFacts:
    """What is known of the model a restorer runs (built by :meth:`facesr_gui.catalog.ModelEntry.facts`).

    ``checkpoint``: the weights file, None without one; ``checkpoint_sha256``: its hash when already
    known (a manifest card's, checked when the weights were loaded), else :meth:`hashed` reads the
    file; ``config``: the net's constructor arguments; ``degradation``: what the LR training inputs
    were made with; ``note``: why something is null."""

    id: str
    net: str
    scale: int
    lr_size: int
    checkpoint: Path | None = None
    checkpoint_sha256: str | None = None
    config: dict | None = None
    degradation: str | None = None
    note: str | None = None

    @classmethod
    def unknown(cls, name: str, scale: int, lr_size: int) -> ModelFacts:
        """A restorer built without the catalogue: only its net's name and sizes are known."""
        return cls(name, name, scale, lr_size, note="built without the model catalogue: checkpoint not known")

    def hashed(self) -> ModelFacts:
        """These facts with ``checkpoint_sha256`` filled in from the file when missing."""
        if self.checkpoint is None or self.checkpoint_sha256:
            return self
        return replace(self, checkpoint_sha256=sha256_file(self.checkpoint))

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["checkpoint"] = self.checkpoint.name if self.checkpoint is not None else None
        return d


@dataclass(frozen=True)
class FaceRecord:
    """One detected face. ``box``: ``(x0, y0, x1, y1)`` in pixels of the input image as loaded (EXIF
    orientation applied; pixel centres at integers, x right, y down); ``size_px``: side of its aligned
    face crop in input pixels (the size the upscale rule works with; the box is tighter); ``score``:
    detector confidence in ``[0, 1]``; ``status``: ``"pasted"`` or ``"skipped: <why>"``."""

    box: tuple[float, float, float, float]
    size_px: float
    score: float
    status: str


@dataclass(frozen=True)
class VideoRecord:
    """A video output: ``frames`` written, ``fps`` of source and output (frames per second of video
    time), ``faces_per_frame_mean`` (faces restored per written frame), ``tracks`` (distinct faces)."""

    frames: int
    fps: float
    faces_per_frame_mean: float
    tracks: int


@dataclass
class Provenance:
    """One output's record (see the module docstring for every field)."""

    input: dict[str, str]
    output: dict[str, str]
    model: dict[str, Any]
    options: dict[str, Any]
    faces: list[FaceRecord] | None = None
    video: VideoRecord | None = None
    app: str = APP
    version: str = __version__
    created_utc: str = field(default_factory=lambda: datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"))

    def as_dict(self) -> dict[str, Any]:
        d = {"app": self.app, "version": self.version, "created_utc": self.created_utc, "input": self.input,
             "output": self.output, "model": self.model, "options": self.options}
        if self.faces is not None:
            d["faces"] = [asdict(f) for f in self.faces]
        if self.video is not None:
            d["video"] = asdict(self.video)
        return d


def face_records(faces: Iterable[Any]) -> list[FaceRecord]:
    """:class:`FaceRecord` of each restored face (objects with ``box``, ``side_px``, ``score``, ``skipped``)."""
    out = []
    for f in faces:
        status = "pasted" if f.skipped is None else f"skipped: {SKIP_REASONS.get(f.skipped, f.skipped)}"
        box = tuple(round(float(v), 2) for v in f.box)
        out.append(FaceRecord(box, round(float(f.side_px), 2), round(float(f.score), 4), status))
    return out


def options_of(restorer: Any, upscale: int, **extra: Any) -> dict[str, Any]:
    """The ``options`` of a record: ``upscale`` used and the restorer's ``mask``, ``flip_ensemble``,
    ``colour_match``, ``native_detail`` (a :class:`.restore.FaceRestorer`), plus ``extra``."""
    return {"upscale": int(upscale), "mask": restorer.mask, "flip_ensemble": restorer.flip_ensemble,
            "colour_match": restorer.colour_match, "native_detail": restorer.native_detail, **extra}


def build_record(input_path: str | os.PathLike, output_path: str | os.PathLike, model: ModelFacts,
                 options: dict[str, Any], faces: list[FaceRecord] | None = None,
                 video: VideoRecord | None = None) -> Provenance:
    """The record of ``output_path`` made from ``input_path`` (both hashed now: call it once the output
    is written). ``model`` should be :meth:`ModelFacts.hashed` (else its checkpoint is read here)."""
    inp, out = Path(input_path), Path(output_path)
    return Provenance({"name": inp.name, "sha256": sha256_file(inp)}, {"name": out.name, "sha256": sha256_file(out)},
                      model.hashed().as_dict(), dict(options), faces, video)


def summary_line(model: ModelFacts) -> str:
    """One line for inside an output file: app version, model id, checkpoint sha256 prefix (12 hex digits),
    e.g. ``"FaceSR Studio 0.1.0; model jeanet_s_cctv; checkpoint sha256 69d2e3c386cf"``."""
    sha = model.checkpoint_sha256
    ckpt = f"checkpoint sha256 {sha[:12]}" if sha else ("no checkpoint" if model.checkpoint is None else "checkpoint ?")
    return f"{APP} {__version__}; model {model.id}; {ckpt}"


def sidecar_path(output: str | os.PathLike) -> Path:
    """``photo_facesr.jpg`` -> ``photo_facesr.jpg.json``."""
    output = Path(output)
    return output.with_name(output.name + SIDECAR_SUFFIX)


def write_sidecar(record: Provenance, output: str | os.PathLike) -> Path:
    """Write ``record`` to :func:`sidecar_path` atomically. Raises ``FileExistsError`` when that name is
    taken (never overwrites a file; the engine picks free names beforehand)."""
    path = sidecar_path(output)
    if os.path.lexists(path):
        raise FileExistsError(f"{path} exists already, not overwritten: no provenance written")
    write_text_atomic(path, json.dumps(record.as_dict(), indent=2, allow_nan=False) + "\n")
    return path


def write_provenance(input_path: str | os.PathLike, output_path: str | os.PathLike, model: ModelFacts,
                     options: dict[str, Any], **kind: Any) -> Path:
    """:func:`build_record` then :func:`write_sidecar` (``kind``: ``faces=`` or ``video=``); returns the sidecar."""
    return write_sidecar(build_record(input_path, output_path, model, options, **kind), output_path)
