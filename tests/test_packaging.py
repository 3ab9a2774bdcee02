"""Packaging: static checks of the spec, scripts, desktop entry and icons (fast), and the real
PyInstaller build + frozen self-test with no Python environment (slow, opt-in)."""
from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from facesr_gui import __version__

REPO = Path(__file__).resolve().parents[1]
PACKAGING = REPO / "packaging"


def _load(path: Path):
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_version_matches_pyproject():
    text = (REPO / "pyproject.toml").read_text(encoding="utf-8")
    assert re.search(r'^version = "([^"]+)"', text, re.MULTILINE).group(1) == __version__


def test_spec_and_scripts_parse():
    compile((PACKAGING / "facesr.spec").read_text(encoding="utf-8"), "facesr.spec", "exec")
    for script in ("build.sh", "linux/install.sh"):
        subprocess.run(["bash", "-n", str(PACKAGING / script)], check=True)
        assert os.access(PACKAGING / script, os.X_OK), f"{script} is not executable"


def test_spec_bundles_data_and_keeps_torchvision_out():
    spec = (PACKAGING / "facesr.spec").read_text(encoding="utf-8")
    for needed in ('"facenet_pytorch/data"', '"models"', '"resources"', "entry_gui.py", "entry_cli.py",
                   'name="facesr-gui"', 'name="facesr"'):
        assert needed in spec
    excludes = spec[spec.index("excludes = ["):spec.index("]", spec.index("excludes = ["))]
    for module in ("torchvision", "tkinter", "matplotlib", "IPython", "mediapipe"):
        assert f'"{module}"' in excludes


def test_desktop_entry_and_icons():
    from PIL import Image

    entry = (PACKAGING / "linux" / "facesr-studio.desktop").read_text(encoding="utf-8").splitlines()
    assert entry[0] == "[Desktop Entry]"
    keys = dict(line.split("=", 1) for line in entry[1:] if "=" in line)
    assert keys["Type"] == "Application" and keys["Name"] == "FaceSR Studio"
    assert keys["Exec"].split()[0] == "facesr-gui" and keys["Icon"] == "facesr-studio"
    assert keys["Categories"].endswith(";") and keys["MimeType"].endswith(";")
    icons = REPO / "resources" / "icons"
    for size in (256, 128, 64, 32):
        with Image.open(icons / f"facesr-studio-{size}.png") as img:
            assert img.size == (size, size) and img.mode == "RGBA"
            assert img.getpixel((0, 0))[3] == 0 and img.getpixel((size // 2, size // 2))[3] == 255
    svg = (icons / "facesr-studio.svg").read_text(encoding="utf-8")
    assert svg.startswith("<svg") and 'viewBox="0 0 256 256"' in svg and "clip-path" not in svg
    assert (icons / "facesr-studio.ico").is_file() and (icons / "facesr-studio.icns").is_file()


def test_cli_entry_dispatches(monkeypatch, capsys):
    entry = _load(PACKAGING / "entry_cli.py")
    monkeypatch.setattr(sys, "argv", ["facesr", "models"])
    assert entry.main() == 0
    assert "bicubic" in capsys.readouterr().out


def _build_allowed() -> str | None:
    """None when the slow build test may run, else why not."""
    if os.environ.get("FACESR_BUILD_TEST") != "1":
        return "set FACESR_BUILD_TEST=1 to build the package (several minutes, ~1 GB of disk)"
    if importlib.util.find_spec("PyInstaller") is None:
        return "PyInstaller is not installed (pip install pyinstaller)"
    if not sys.platform.startswith("linux"):
        return "build.sh builds the Linux package"
    return None


@pytest.mark.slow
@pytest.mark.skipif(_build_allowed() is not None, reason=str(_build_allowed()))
def test_build_and_frozen_self_test(tmp_path):
    dist, work = tmp_path / "dist", tmp_path / "build"
    env = {**os.environ, "FACESR_DIST_DIR": str(dist), "FACESR_BUILD_DIR": str(work), "PYTHON": sys.executable}
    run = subprocess.run(["bash", str(PACKAGING / "build.sh")], cwd=REPO, env=env, capture_output=True,
                         text=True, timeout=3600, check=False)
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-4000:]
    assert "self-test passed" in run.stdout

    app = dist / "facesr-studio"
    internal = app / "_internal"
    for path in ("facesr-gui", "facesr", "install.sh", "facesr-studio.desktop", "README.md"):
        assert (app / path).is_file(), path
    for path in ("resources/samples/obama-240p.jpg", "resources/icons/facesr-studio-256.png",
                 "facenet_pytorch/data/pnet.pt", "facenet_pytorch/data/onet.pt", "torch/lib/libtorch_cpu.so"):
        assert (internal / path).is_file(), path
    for absent in ("torchvision", "mediapipe", "matplotlib", "tkinter", "torch/test", "torch/include"):
        assert not (internal / absent).exists(), absent

    # the frozen app again, by hand: no Python environment at all, a fresh HOME
    home = tmp_path / "home"
    home.mkdir()
    clean = {"PATH": "/usr/bin:/bin", "HOME": str(home), "QT_QPA_PLATFORM": "offscreen"}
    gui = subprocess.run([str(app / "facesr-gui"), "--self-test"], env=clean, capture_output=True, text=True,
                         timeout=600, check=False)
    assert gui.returncode == 0, gui.stdout + gui.stderr
    assert "[FAIL]" not in gui.stdout and "frozen app at" in gui.stdout and "main window (offscreen)" in gui.stdout
    assert "backend (OpenVINO): MTCNN and" in gui.stdout         # the bundled OpenVINO ran, not the fallback
    cli = subprocess.run([str(app / "facesr"), "models"], env=clean, capture_output=True, text=True, timeout=300,
                         check=False)
    assert cli.returncode == 0 and "bicubic" in cli.stdout

    tarball = dist / f"facesr-studio-{__version__}-linux-{os.uname().machine}.tar.gz"
    with tarfile.open(tarball) as tar:
        names = set(tar.getnames())
    assert {"facesr-studio/facesr-gui", "facesr-studio/facesr", "facesr-studio/install.sh"} <= names
    shutil.rmtree(work, ignore_errors=True)
