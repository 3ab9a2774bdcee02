"""Installation self-test: ``facesr-gui --self-test``, ``python -m facesr_gui.selftest``, or
``facesr self-test`` in the frozen app (packaging/entry_cli.py; not a pip-installed ``facesr`` command).

Checks, with timings, that an installed or frozen (PyInstaller) FaceSR Studio can do its
job on this machine without network or a Python environment:

1. every model in ``models/manifest.json`` passes its sha256 check and loads strictly
   (an empty manifest is reported, and the ``bicubic`` baseline is still tested);
2. the bundled sample portrait (``resources/samples/obama-240p.jpg``) is degraded at run
   time to a surveillance-like frame whose face is ~16 px wide;
3. MTCNN (weights from the facenet-pytorch wheel) finds that face;
4. each model enhances the frame through :func:`facesr_gui.catalog.load_restorer`:
   output shape, dtype, face count and finiteness of the maps are checked;
5. dlib identity embeddings (the GUI's "Identity" measure) see the portrait and a JPEG copy
   of it as one person (required in the frozen app, optional from source);
6. the Qt main window (:func:`facesr_gui.app.create_window`) is built offscreen and closed
   (settings go to a temporary folder).

Prints one line per check and returns an exit code: 0 when every check passed, 1
otherwise. Images here are numpy ``(H, W, 3)`` uint8 **RGB**.
"""
from __future__ import annotations

import os
import platform
import sys
import tempfile
import time
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

import numpy as np

from .paths import app_root, models_dir, resources_dir

SAMPLE = "samples/obama-240p.jpg"
# The sample's face is ~54 px wide; 0.3x brings it to ~16 px (8x nets take 16 px faces).
DEGRADE_FACTOR = 0.3
DEGRADE_JPEG_QUALITY = 75
FACE_WIDTH_RANGE = (10.0, 24.0)   # accepted detected face width in the degraded frame, px


class CheckFailed(RuntimeError):
    """A self-test check did not pass (the message says what was expected)."""


@dataclass
class Report:
    """Collects check results and writes one line per check to ``stream``."""

    stream: TextIO
    failures: list[str] = field(default_factory=list)
    count: int = 0

    def line(self, status: str, name: str, detail: str, seconds: float | None) -> None:
        took = f"{seconds:7.2f} s" if seconds is not None else " " * 9
        self.stream.write(f"[{status:^4}] {took}  {name}: {detail}\n")
        self.stream.flush()

    @contextmanager
    def check(self, name: str) -> Iterator[dict[str, str]]:
        """Run the block as one check; the block sets ``info["detail"]`` for the report line.

        Exceptions are recorded as failures (with the exception's message) and not re-raised.
        """
        info = {"detail": ""}
        self.count += 1
        start = time.perf_counter()
        try:
            yield info
        except Exception as exc:  # noqa: BLE001 - every failure becomes a report line
            message = f"{type(exc).__name__}: {exc}" if not isinstance(exc, CheckFailed) else str(exc)
            self.failures.append(f"{name}: {message}")
            self.line("FAIL", name, message, time.perf_counter() - start)
            if os.environ.get("FACESR_SELFTEST_TRACEBACK"):
                traceback.print_exc(file=self.stream)
        else:
            self.line("ok", name, info["detail"], time.perf_counter() - start)

    def skip(self, name: str, reason: str) -> None:
        self.count += 1
        self.failures.append(f"{name}: skipped ({reason})")
        self.line("SKIP", name, reason, None)


def degrade(rgb: np.ndarray, factor: float = DEGRADE_FACTOR, quality: int = DEGRADE_JPEG_QUALITY) -> np.ndarray:
    """Surveillance-like frame: area downscale by ``factor``, then a JPEG round trip.

    ``rgb`` (H, W, 3) uint8 RGB -> (round(H*factor), round(W*factor), 3) uint8 RGB.
    """
    import cv2

    h, w = rgb.shape[:2]
    small = cv2.resize(rgb, (max(1, round(w * factor)), max(1, round(h * factor))), interpolation=cv2.INTER_AREA)
    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(small, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise CheckFailed("cv2 could not encode JPEG")
    return cv2.cvtColor(cv2.imdecode(buf, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)


def load_sample(path: Path | None = None) -> np.ndarray:
    """The bundled sample portrait as (H, W, 3) uint8 RGB."""
    import cv2

    path = path or resources_dir() / SAMPLE
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if bgr is None:
        raise CheckFailed(f"cannot read sample image {path}")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def _check_environment(report: Report, threads: int) -> None:
    with report.check("environment") as info:
        import torch

        frozen = "frozen" if getattr(sys, "frozen", False) else "source"
        info["detail"] = (f"{frozen} app at {app_root()}, Python {platform.python_version()}, "
                          f"torch {torch.__version__} ({threads} threads; the test uses 1), "
                          f"CUDA {'yes' if torch.cuda.is_available() else 'no'}")


def _same_architecture(a: str | None, b: str) -> bool:
    """Registered names sharing one network class (priorsr / priorsr_gan: one generator, trained
    with or without the GAN phase; a checkpoint header names the first)."""
    from .nets import get_info, list_nets

    return a in list_nets() and b in list_nets() and get_info(a).builder is get_info(b).builder


def _check_models(report: Report) -> list[str]:
    """sha256 + strict load of every bundled model; returns the model ids to enhance with."""
    from .bench import count_params
    from .catalog import list_models, load_net
    from .manifest import read_manifest

    manifest = models_dir() / "manifest.json"
    bundled = []
    with report.check("manifest") as info:
        read_manifest(manifest)     # a broken manifest fails this check (the catalogue only warns)
        bundled = [e for e in list_models(manifest, checkpoints=[]) if e.source == "bundled"]
        if not bundled:
            state = "is empty" if manifest.is_file() else "is missing"
            info["detail"] = f"{manifest} {state}: no trained models bundled, testing 'bicubic' only"
        else:
            info["detail"] = f"{len(bundled)} bundled models: " + ", ".join(e.id for e in bundled)
    ids = []
    for entry in bundled:
        with report.check(f"load {entry.id}") as info:
            net = load_net(entry)
            if net.net_name != entry.net and not _same_architecture(net.net_name, entry.net):
                raise CheckFailed(f"{entry.card.file} holds {net.net_name!r}, the manifest says {entry.net!r}")
            params = count_params(net)
            info["detail"] = (f"{entry.card.file} sha256 ok, strict load ok ({entry.net}, x{entry.scale}, "
                              f"{params / 1e6:.2f} M params)")
            ids.append(entry.id)
    return ids + ["bicubic"]


def _check_detection(report: Report, frame: np.ndarray):
    """MTCNN on the degraded frame; returns the Detections or None on failure."""
    found = None
    with report.check("detect (MTCNN)") as info:
        from .pipeline._tv_shim import import_facenet_pytorch
        from .pipeline.detect import FaceDetector

        data = Path(import_facenet_pytorch().__file__).parent / "data"
        missing = [n for n in ("pnet.pt", "rnet.pt", "onet.pt") if not (data / n).is_file()]
        if missing:
            raise CheckFailed(f"MTCNN weights missing in {data}: {', '.join(missing)}")
        dets = FaceDetector().detect(frame)
        if len(dets) != 1:
            raise CheckFailed(f"expected 1 face in the {frame.shape[1]}x{frame.shape[0]} sample, found {len(dets)}")
        width = float(dets.boxes[0, 2] - dets.boxes[0, 0])
        lo, hi = FACE_WIDTH_RANGE
        if not lo <= width <= hi:
            raise CheckFailed(f"face width {width:.1f} px outside the expected {lo:.0f}-{hi:.0f} px")
        info["detail"] = f"1 face, {width:.1f} px wide, score {dets.scores[0]:.3f}, in a {frame.shape[1]}x{frame.shape[0]} frame"
        found = dets
    return found


def _check_enhance(report: Report, model_id: str, frame: np.ndarray, dets) -> None:
    with report.check(f"enhance {model_id}") as info:
        from .catalog import load_restorer

        restorer = load_restorer(model_id, device="cpu")
        up = int(restorer.scale)
        result = restorer.enhance(frame, detections=dets, upscale=up)
        h, w = frame.shape[:2]
        if result.image.shape != (h * up, w * up, 3) or result.image.dtype != np.uint8:
            raise CheckFailed(f"output {result.image.shape} {result.image.dtype}, expected ({h * up}, {w * up}, 3) uint8")
        if len(result.faces) != len(dets):
            raise CheckFailed(f"{len(result.faces)} faces enhanced, {len(dets)} detected")
        side = restorer.sr_size
        for face in result.faces:
            if face.skipped is None and face.sr.shape != (side, side, 3):
                raise CheckFailed(f"face {face.index}: SR crop {face.sr.shape}, expected ({side}, {side}, 3)")
            if face.sr.std() < 1.0:
                raise CheckFailed(f"face {face.index}: SR crop is flat (std {face.sr.std():.2f})")
            bad = [k for k, m in face.maps.items() if not np.isfinite(m).all()]
            if bad:
                raise CheckFailed(f"face {face.index}: non-finite maps {bad}")
        t = result.timings
        info["detail"] = (f"x{up} -> {w * up}x{h * up}, {len(result.faces)} face(s) at {side} px, maps {len(result.map_names)}, "
                          f"sr {t.get('sr', 0.0) * 1000:.0f} ms, paste {t.get('paste', 0.0) * 1000:.0f} ms")


def _check_backend(report: Report, model_id: str, frame: np.ndarray, dets) -> None:
    """The OpenVINO backend (pipeline/accel.py) gives PyTorch's faces and SR crops. Required in the
    frozen app, which bundles OpenVINO; skipped from source where it is not installed."""
    from .pipeline import accel

    frozen = getattr(sys, "frozen", False)
    if (why := accel.openvino_missing()) is not None and not frozen:
        report.skip("backend (OpenVINO)", why)
        return
    with report.check("backend (OpenVINO)") as info:
        from .catalog import load_restorer
        from .pipeline.detect import FaceDetector

        if why is not None:
            raise CheckFailed(why)
        app = FaceDetector(backend="openvino")   # as the app runs it: P-Net in bf16 where the CPU has it
        exact = FaceDetector(backend="openvino", pnet_bf16=False) if app.pnet_bf16 else app
        got = exact.detect(frame)
        if len(got) != len(dets) or not np.allclose(got.boxes, dets.boxes, atol=0.05):
            raise CheckFailed(f"OpenVINO's MTCNN found {got.boxes.round(1).tolist()}, PyTorch's {dets.boxes.round(1).tolist()}")
        if app.pnet_bf16:   # the same faces within a few % of their side
            found = app.detect(frame)
            side = float((dets.boxes[:, 2] - dets.boxes[:, 0]).min()) if len(dets) else 1.0
            if len(found) != len(dets) or (len(found) and np.abs(found.boxes - dets.boxes).max() > 0.05 * side):
                raise CheckFailed(f"OpenVINO's MTCNN (P-Net in bf16) found {found.boxes.round(1).tolist()}, "
                                  f"PyTorch's {dets.boxes.round(1).tolist()}")
        fast = load_restorer(model_id, backend="openvino", bf16=False)
        ref = load_restorer(model_id, backend="torch", bf16=False)
        a, b = (r.enhance(frame, detections=dets).faces[0].sr.astype(int) for r in (fast, ref))
        if np.abs(a - b).max() > 2:
            raise CheckFailed(f"{model_id}'s SR crop differs from PyTorch's by up to {np.abs(a - b).max()} levels")
        info["detail"] = f"MTCNN and {model_id} match PyTorch (SR within {np.abs(a - b).max()} levels)"


def _check_identity(report: Report, portrait: np.ndarray) -> None:
    """dlib identity embeddings (the GUI's "Identity" measure): the portrait and a JPEG copy
    must be the same person. Required in the frozen app, which bundles dlib; optional from source."""
    with report.check("identity (dlib)") as info:
        import cv2

        from .identity import SAME_PERSON_DISTANCE, DlibIdentity

        status = DlibIdentity.available()
        if not status:
            if getattr(sys, "frozen", False):
                raise CheckFailed(f"not bundled: {status.reason}")
            info["detail"] = f"not installed, the Identity measure is off ({status.reason})"
            return
        _, buf = cv2.imencode(".jpg", portrait[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, 40])
        copy = cv2.imdecode(buf, cv2.IMREAD_COLOR)[:, :, ::-1].copy()
        distance = DlibIdentity().distance(portrait, copy)
        if distance is None:
            raise CheckFailed("dlib found no face in the sample portrait")
        if distance >= SAME_PERSON_DISTANCE:
            raise CheckFailed(f"portrait vs JPEG copy distance {distance:.3f} >= {SAME_PERSON_DISTANCE}")
        info["detail"] = f"portrait vs JPEG q40 copy: distance {distance:.3f} (same person < {SAME_PERSON_DISTANCE})"


@contextmanager
def _offscreen_qt_settings() -> Iterator[None]:
    """QSettings (INI, user scope) in a temporary folder while the block runs, then restored."""
    from PySide6.QtCore import QSettings

    fmt, scope = QSettings.Format.IniFormat, QSettings.Scope.UserScope
    # QSettings has no getter for the path: read it back from a probe's file name (<path>/<org>/<app>.ini)
    previous = str(Path(QSettings(fmt, scope, "facesr-probe", "probe").fileName()).parent.parent)
    with tempfile.TemporaryDirectory(prefix="facesr-selftest-") as tmp:
        QSettings.setPath(fmt, scope, tmp)
        try:
            yield
        finally:
            QSettings.setPath(fmt, scope, previous)


def _check_gui(report: Report) -> None:
    with report.check("main window (offscreen)") as info:
        from PySide6.QtCore import QEvent
        from PySide6.QtWidgets import QApplication

        app = QApplication.instance()
        own_app = app is None
        saved = os.environ.get("QT_QPA_PLATFORM")
        if own_app:
            os.environ["QT_QPA_PLATFORM"] = "offscreen"
            app = QApplication([sys.argv[0] if sys.argv else "facesr-gui"])
        try:
            with _offscreen_qt_settings():
                from .app import create_window

                window = create_window()
                window.show()
                app.processEvents()
                models = window.model_combo.count()
                window.close()
                app.processEvents()
                running = window.worker.is_running()
                window.deleteLater()
                app.sendPostedEvents(None, QEvent.Type.DeferredDelete)
            if models == 0:
                raise CheckFailed("the model picker is empty")
            if running:
                raise CheckFailed("the inference thread did not stop on close")
            info["detail"] = f"platform {app.platformName()}, {models} models listed, closed cleanly"
        finally:
            if own_app:  # the app object stays: the process is about to exit
                if saved is None:
                    os.environ.pop("QT_QPA_PLATFORM", None)
                else:
                    os.environ["QT_QPA_PLATFORM"] = saved


def run_self_test(stream: TextIO | None = sys.stdout, models: list[str] | None = None, gui: bool = True) -> int:
    """Run every check, print one line each to ``stream`` and a summary; return the exit code.

    ``models`` restricts the enhancement checks to these ids (default: every bundled model
    plus ``bicubic``); ``gui=False`` skips the main-window check. When ``stream`` is None
    (a windowed app on Windows has no console) the report goes to
    ``<user data dir>/self-test.log``.
    """
    if stream is None:
        from .paths import user_data_dir

        with open(user_data_dir() / "self-test.log", "w", encoding="utf-8") as log:
            return run_self_test(log, models, gui)
    import torch

    from . import __version__

    threads = torch.get_num_threads()
    # One tiny frame: MTCNN's many small ops run fastest on one thread (and several threads
    # thrash on a busy machine: 0.3 s vs 3 s measured on 2 shared cores).
    torch.set_num_threads(1)
    report = Report(stream)
    stream.write(f"FaceSR Studio {__version__} self-test\n")
    start = time.perf_counter()
    try:
        _check_environment(report, threads)
        ids = _check_models(report)
        ids = [m for m in ids if models is None or m in models] + [m for m in models or [] if m not in ids]
        frame = None
        with report.check("sample") as info:
            portrait = load_sample()
            frame = degrade(portrait)
            info["detail"] = (f"{SAMPLE} {portrait.shape[1]}x{portrait.shape[0]} degraded x{DEGRADE_FACTOR} "
                              f"+ JPEG q{DEGRADE_JPEG_QUALITY} -> {frame.shape[1]}x{frame.shape[0]}")
        dets = _check_detection(report, frame) if frame is not None else None
        for model_id in ids:
            if dets is None:
                report.skip(f"enhance {model_id}", "no sample face to enhance")
            else:
                _check_enhance(report, model_id, frame, dets)
        if dets is not None and ids[0] != "bicubic":   # EIPNet converts in ~2 s (JEANet ~20 s, once)
            _check_backend(report, "eipnet_w128" if "eipnet_w128" in ids else ids[0], frame, dets)
        if frame is not None:
            _check_identity(report, portrait)
        if gui:
            _check_gui(report)
    finally:
        torch.set_num_threads(threads)
    total = time.perf_counter() - start
    if report.failures:
        stream.write(f"SELF-TEST FAILED: {len(report.failures)} of {report.count} checks ({total:.1f} s)\n")
        for failure in report.failures:
            stream.write(f"  - {failure}\n")
        stream.flush()
        return 1
    stream.write(f"self-test passed: {report.count} checks in {total:.1f} s\n")
    stream.flush()
    return 0


def main(argv: list[str] | None = None) -> int:
    """``python -m facesr_gui.selftest [--no-gui] [--model ID ...]``."""
    import argparse

    parser = argparse.ArgumentParser(prog="facesr self-test", description=__doc__.splitlines()[0])
    parser.add_argument("--no-gui", action="store_true", help="skip the main-window check")
    parser.add_argument("--model", action="append", help="only enhance with this model id (repeatable)")
    args = parser.parse_args(argv)
    return run_self_test(sys.stdout, models=args.model, gui=not args.no_gui)


if __name__ == "__main__":
    sys.exit(main())
