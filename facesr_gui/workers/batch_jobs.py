"""What the GUI asks the batch thread for, and the small rules around it: torch-free, so the UI imports it.

A batch is :func:`facesr_gui.pipeline.engine.enhance_paths` (the engine behind ``facesr enhance``)
over the photos the Photos tab lists; its per-input :class:`~facesr_gui.pipeline.engine.ItemReport`
and the closing :class:`~facesr_gui.pipeline.engine.BatchReport` are what comes back.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from ..pipeline.engine import STATUSES, BatchReport, ItemReport  # noqa: F401  (re-exported)

__all__ = ["BatchReport", "BatchRequest", "ItemReport", "STATUSES", "OUT_FOLDER", "default_out_dir", "eta_text", "status_text",
           "summary"]

OUT_FOLDER = "facesr"   # the default output folder, inside the inputs' common folder


@dataclass(frozen=True)
class BatchRequest:
    """Enhance ``inputs`` (files) into ``out_dir`` with ``model_id`` (a catalogue id).

    ``upscale``: ``"auto"`` (the engine's rule, per photo) or a positive integer; ``mask``:
    ``"ellipse"`` or ``"parsing"``; ``flip_ensemble``: see :class:`~facesr_gui.pipeline.restore.FaceRestorer`;
    ``provenance``: a ``<output>.json`` sidecar per output (:mod:`facesr_gui.pipeline.provenance`);
    ``quality``: JPEG/WebP quality.
    """

    inputs: tuple[Path, ...]
    out_dir: Path
    model_id: str = "bicubic"
    upscale: int | str = "auto"
    mask: str = "ellipse"
    flip_ensemble: bool = False
    provenance: bool = True
    quality: int = 95


def default_out_dir(inputs: list[Path] | tuple[Path, ...], remembered: str | Path | None = None) -> Path:
    """Where a batch writes unless the user picks another folder: ``remembered`` (the last one chosen)
    when it is still a folder, else ``<the inputs' common folder>/facesr`` (beside the photos, not among
    them; a dropped folder with sub-folders gets it at its top, where the engine mirrors the sub-folders)."""
    if remembered and Path(remembered).is_dir():
        return Path(remembered)
    if not inputs:
        return Path.home() / OUT_FOLDER
    try:
        common = Path(os.path.commonpath([Path(p).absolute().parent for p in inputs]))
    except ValueError:        # no common folder (Windows drives)
        common = Path(inputs[0]).absolute().parent
    return common / OUT_FOLDER


def eta_text(fraction: float, elapsed: float) -> str:
    """``"37% - about 1 min 05 s left"`` for ``fraction`` in [0, 1] of the batch done after ``elapsed`` seconds."""
    pct = f"{100 * min(max(fraction, 0.0), 1.0):.0f}%"
    if fraction <= 0.02 or elapsed < 1.0:
        return pct
    left = max(0.0, elapsed * (1.0 - fraction) / fraction)
    minutes, seconds = divmod(round(left), 60)
    return f"{pct} - about {minutes} min {seconds:02d} s left" if minutes else f"{pct} - about {seconds} s left"


_WORDS = {"ok": "enhanced", "as-is": "with faces left as they are", "no-face": "without a face",
          "error": "failed", "cancelled": "cancelled"}
_STATUS_TEXT = {"ok": "enhanced", "as-is": "faces left as is", "no-face": "no face (upscaled)", "error": "failed",
                "cancelled": "cancelled"}


def _outcome(item) -> str:
    """``item.status``, with ``"as-is"`` for an ``"ok"`` photo none of whose faces was restored (all larger
    than the network's output: written, but not enhanced)."""
    return "as-is" if item.status == "ok" and item.kind == "image" and item.restored == 0 else item.status


def status_text(item) -> str:
    """What the batch table's Status column says for one :class:`ItemReport`."""
    return _STATUS_TEXT.get(_outcome(item), item.status)


def summary(report: BatchReport) -> str:
    """One line: how many inputs ended each way, e.g. ``"3 enhanced, 1 without a face"``."""
    counts = {key: sum(_outcome(item) == key for item in report.items) for key in _WORDS}
    parts = [f"{counts[key]} {_WORDS[key]}" for key in ("ok", "as-is", *STATUSES[1:]) if counts[key]]
    return ", ".join(parts) or "nothing to do"
