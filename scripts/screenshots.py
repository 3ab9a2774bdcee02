"""Screenshots of FaceSR Studio on real photos and clips (for the docs).

Run it under a virtual X server so the real xcb platform (fonts, styles) is used::

    xvfb-run -a -s "-screen 0 1600x1000x24" python scripts/screenshots.py --out docs/screenshots

It drives the real app: a surveillance-sized Obama portrait (the 480p photo shrunk until the
face is ~12 px) enhanced and measured against the original, the face view with an edge map
overlaid, the model grid, a group selfie shrunk the same way, a hallway clip in the Video tab
and a short tiny training run in the Training tab. Each tab is saved with ``QWidget.grab()``.

Models: ``--checkpoint`` (default: ``$FACESR_SCREENSHOT_CHECKPOINT``) is added to the picker;
without one the default bundled model (first in models/manifest.json) is shown and fine-tuned,
and without any bundled model the bicubic baseline. Settings and user data go to a temporary folder.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, default=REPO / "docs" / "screenshots")
    p.add_argument("--data", type=Path,
                   default=Path(os.environ.get("FACESR_SHARED_DATA", REPO.parent / "shared" / "data")))
    p.add_argument("--checkpoint", default=os.environ.get("FACESR_SCREENSHOT_CHECKPOINT", ""))
    p.add_argument("--size", default="1440x900", help="window size WxH")
    p.add_argument("--skip", nargs="*", default=[], choices=["photos", "selfie", "batch", "video", "training"])
    p.add_argument("--train-steps", type=int, default=40)
    return p.parse_args()


class Shooter:
    """Owns the app and the window; ``wait`` pumps events until a condition holds."""

    def __init__(self, args: argparse.Namespace, tmp: Path):
        from PySide6.QtCore import QSettings
        from PySide6.QtWidgets import QApplication

        QSettings.setDefaultFormat(QSettings.Format.IniFormat)
        QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, str(tmp / "settings"))
        self.app = QApplication.instance() or QApplication([sys.argv[0]])
        from facesr_gui.app import create_window

        self.args, self.tmp = args, tmp
        self.window = create_window()
        w, h = (int(v) for v in args.size.split("x"))
        self.window.resize(w, h)
        self.window.show()
        self.wait(lambda: False, 0.5)
        args.out.mkdir(parents=True, exist_ok=True)

    def wait(self, condition, timeout: float = 60.0) -> bool:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            self.app.processEvents()
            if condition():
                return True
            time.sleep(0.02)
        self.app.processEvents()
        return condition()

    def shoot(self, name: str) -> None:
        self.wait(lambda: False, 0.3)              # let pending repaints land
        path = self.args.out / f"{name}.png"
        self.window.grab().save(str(path))
        print(f"wrote {path}")

    def shoot_widget(self, name: str, widget) -> None:
        """A separate window (a dialog) as it is on screen."""
        widget.resize(max(widget.width(), 900), max(widget.height(), 420))
        self.wait(lambda: False, 0.3)
        path = self.args.out / f"{name}.png"
        widget.grab().save(str(path))
        print(f"wrote {path}")

    def model(self) -> str:
        ckpt = self.args.checkpoint
        if ckpt and self.window.select_model(str(Path(ckpt).resolve())):
            return str(Path(ckpt).resolve())
        bundled = bundled_default()
        if bundled and self.window.select_model(bundled[0]):
            return bundled[0]
        self.window.select_model("bicubic")
        return "bicubic"


def bundled_default() -> tuple[str, Path] | None:
    """Id and file of the default bundled model (the first manifest card), if any."""
    from facesr_gui.manifest import read_manifest
    from facesr_gui.paths import models_dir

    cards = read_manifest(models_dir() / "manifest.json")
    return (cards[0].id, models_dir() / cards[0].file) if cards else None


def shrunk(src: Path, factor: float, dst: Path) -> Path:
    """``src`` resized by ``factor`` (area), written to ``dst``: a surveillance-sized photo."""
    import cv2
    import numpy as np
    from PIL import Image

    rgb = np.asarray(Image.open(src).convert("RGB"))
    small = cv2.resize(rgb, None, fx=factor, fy=factor, interpolation=cv2.INTER_AREA)
    Image.fromarray(small).save(dst)
    return dst


def enhance_and_wait(s: Shooter) -> None:
    tab = s.window.photos
    s.wait(lambda: tab.detections is not None and not tab.is_busy(), 60)
    tab.enhance()
    s.wait(lambda: not tab.is_busy() and tab.outcome is not None, 120)
    s.wait(lambda: set(tab.outcome.face_ids) <= set(tab.measures), 60)


def photos(s: Shooter) -> None:
    tab, win = s.window.photos, s.window
    src = s.args.data / "photos/face_recognition/obama-480p.jpg"
    small = shrunk(src, 0.12, s.tmp / "obama-480p-x0.12.png")
    win.tabs.setCurrentWidget(tab)
    model = s.model()
    win.open_paths([small])
    s.wait(lambda: tab.detections is not None, 60)
    win.load_ground_truth(src)
    enhance_and_wait(s)
    tab.mode_combo.setCurrentIndex(tab.mode_combo.findData("slider"))
    tab.compare.set_split(0.5)
    s.shoot("photos_whole_slider")
    tab.view_combo.setCurrentIndex(tab.view_combo.findData("face"))
    tab.mode_combo.setCurrentIndex(tab.mode_combo.findData("side"))
    names = tab.overlays.names()
    if names:
        tab.overlays.select("edge/x8" if "edge/x8" in names else names[0])
        tab.overlays.slider.setValue(55)
    s.shoot("photos_face_maps")
    tab.overlays.select(None)
    tab.pages.setCurrentWidget(tab.grid)
    from facesr_gui.manifest import read_manifest
    from facesr_gui.paths import models_dir

    bundled = [c.id for c in read_manifest(models_dir() / "manifest.json")]
    tab.grid.set_checked_models(list(dict.fromkeys([model, *bundled, "bicubic"])))
    tab.grid.run_button.click()
    s.wait(lambda: not tab.is_busy(), 120)
    s.shoot("photos_model_grid")
    tab.pages.setCurrentIndex(0)
    tab.view_combo.setCurrentIndex(tab.view_combo.findData("whole"))


def selfie(s: Shooter) -> None:
    tab, win = s.window.photos, s.window
    small = shrunk(s.args.data / "photos/deepface_tests/selfie-many-people.jpg", 0.1, s.tmp / "selfie-x0.1.png")
    win.tabs.setCurrentWidget(tab)
    s.model()
    win.open_paths([small])
    enhance_and_wait(s)
    tab.mode_combo.setCurrentIndex(tab.mode_combo.findData("side"))
    tab.faces_list.set_current(min(1, len(tab.faces) - 1))
    s.shoot("photos_many_faces")


def batch(s: Shooter) -> None:
    """A folder of real photos, shrunk to surveillance size, enhanced all at once (File > Enhance all)."""
    win = s.window
    folder = s.tmp / "batch"
    folder.mkdir()
    for name, factor in (("face_recognition/obama-480p.jpg", 0.12), ("deepface_tests/selfie-many-people.jpg", 0.1),
                         ("face_recognition/biden.jpg", 0.1)):
        src = s.args.data / "photos" / name
        if src.is_file():
            shrunk(src, factor, folder / f"{src.stem}-x{factor}.png")
    win.tabs.setCurrentWidget(win.photos)
    s.model()
    win.open_paths([folder])
    if not win.enhance_all(s.tmp / "batch-out"):
        print("Enhance all did not start")
        return
    s.wait(lambda: not win.batch.is_running(), 300)
    s.shoot_widget("batch", win.batch)


def video(s: Shooter) -> None:
    win = s.window
    clip = s.args.data / "videos/face-demographics-walking.mp4"
    win.open_paths([clip])
    tab = win.video
    s.wait(lambda: tab.shown_index >= 0, 30)
    tab.slider.setValue(min(tab.slider.maximum(), 20))
    s.wait(lambda: tab.shown_index == tab.slider.value(), 30)
    tab.detect_faces()
    s.wait(lambda: "Detecting" not in tab.message_label.text(), 60)
    s.shoot("video")


def training(s: Shooter) -> None:
    win = s.window
    tab = win.training
    faces, val = s.tmp / "faces", s.tmp / "val"
    for folder, src, n in ((faces, "celeba_train", 48), (val, "celeba_dev", 8)):
        folder.mkdir()
        for p in sorted((s.args.data / src).glob("*.jpg"))[:n]:
            shutil.copy(p, folder / p.name)
    win.tabs.setCurrentWidget(tab)
    bundled = bundled_default()
    start = s.args.checkpoint or (str(bundled[1]) if bundled else "")
    header = checkpoint_header(start)
    if header.get("net") in tab.nets:    # fine-tune the checkpoint: curves and previews that mean something
        tab.select_net(header["net"])
        tab.net_cfg_edit.setText(json.dumps({k: v for k, v in header.get("config", {}).items() if k != "scale"}))
        tab.start_mode_combo.setCurrentIndex(tab.start_mode_combo.findData("finetune"))
        tab.start_path_combo.setEditText(str(Path(start).resolve()))
    else:                                # from scratch: a tiny net, so the run takes seconds
        tab.select_net("priorsr")
        tab.preset_combo.setCurrentIndex(tab.preset_combo.findData("tiny"))
    tab.data_edit.setText(str(faces))
    tab.val_edit.setText(str(val))
    tab.out_edit.setText(str(s.tmp / "run"))
    tab.steps_spin.setValue(s.args.train_steps)
    tab.batch_spin.setValue(4)
    tab.val_every_spin.setValue(max(1, s.args.train_steps // 4))
    if not tab.start():
        print("training did not start:", tab.eta_label.text())
    s.wait(lambda: tab.run_state().value == "idle", 600)
    s.shoot("training")


def checkpoint_header(path: str) -> dict:
    """The ``facesr`` header of a safetensors checkpoint ({} without one)."""
    if not path or not Path(path).is_file():
        return {}
    from safetensors import safe_open

    with safe_open(path, framework="pt") as fh:
        raw = (fh.metadata() or {}).get("facesr")
    return json.loads(raw) if raw else {}


def main() -> int:
    args = parse_args()
    import torch

    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory(prefix="facesr-shots-") as tmp_name:
        tmp = Path(tmp_name)
        os.environ["FACESR_HOME"] = str(tmp / "home")
        if args.checkpoint:
            os.environ["FACESR_CHECKPOINTS"] = str(Path(args.checkpoint).resolve())
        s = Shooter(args, tmp)
        try:
            for name, step in (("photos", photos), ("selfie", selfie), ("batch", batch), ("video", video),
                               ("training", training)):
                if name not in args.skip:
                    step(s)
        finally:
            s.window.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
