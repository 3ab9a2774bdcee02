"""The one place that resolves bundled files and per-user directories.

Works from a source checkout, an installed wheel, and a PyInstaller bundle
(``sys._MEIPASS``), where ``models/`` and ``resources/`` are collected next to the package.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path


def app_root() -> Path:
    """Directory holding ``models/`` and ``resources/``."""
    frozen = getattr(sys, "_MEIPASS", None)
    if frozen:
        return Path(frozen)
    return Path(__file__).resolve().parent.parent


def models_dir() -> Path:
    return Path(os.environ.get("FACESR_MODELS_DIR", app_root() / "models"))


def resources_dir() -> Path:
    return app_root() / "resources"


def demo_photo() -> Path:
    """The bundled sample portrait (``resources/samples/obama-240p.jpg``; see its README)."""
    return resources_dir() / "samples" / "obama-240p.jpg"


def user_data_dir() -> Path:
    """Writable per-user directory for fine-tuned models and caches."""
    base = os.environ.get("FACESR_HOME") or os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    path = Path(base) / "facesr-studio"
    path.mkdir(parents=True, exist_ok=True)
    return path
