"""The first run of FaceSR Studio, driven for real and photographed (for the README).

Run it under a virtual X server, with fresh settings (a temporary folder, as a new user has)::

    xvfb-run -a -s "-screen 0 1600x1000x24" python scripts/first_run.py --out docs/screenshots

Steps: the empty state of a fresh window; ``../shared/data/photos/`` dropped on the window (the real
drop handler; photos in sub-folders included); *Enhance all* pressed on the Photos tab, the output
folder dialog accepted (its default is pointed at a temporary folder, never the shared data), every
photo written with its provenance sidecar; one photo enhanced and shown with the slider and then
with a network map overlaid; a photo with large faces showing the canvas guidance; Help > Keyboard
shortcuts; a clip in the Video tab. It prints what it checked and exits 1 if a step failed.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from screenshots import REPO, Shooter  # noqa: E402  (the same window driver as the other screenshots)

LARGE_FACE_CANDIDATES = ("deepface_tests/selfie-many-people.jpg", "deepface_tests/img1.jpg",
                         "codeformer_inputs/cropped_faces/0143.png")
#: photos to show one result with, the first whose faces are pasted at x2 or more is taken
ONE_RESULT = ("codeformer_inputs/whole_imgs/00.jpg", "codeformer_inputs/whole_imgs/03.jpg",
              "face_recognition/obama-240p.jpg")
CLIP = "videos/head-pose-face-detection-female-and-male.mp4"


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, default=REPO / "docs" / "screenshots")
    p.add_argument("--data", type=Path,
                   default=Path(os.environ.get("FACESR_SHARED_DATA", REPO.parent / "shared" / "data")))
    p.add_argument("--photos", type=Path, default=None, help="the folder dropped (default: DATA/photos)")
    p.add_argument("--size", default="1400x880", help="window size WxH")
    p.add_argument("--checkpoint", default="")
    return p.parse_args()


class FirstRun:
    def __init__(self, s: Shooter, photos: Path):
        self.s, self.win, self.photos = s, s.window, photos
        self.failures: list[str] = []

    def check(self, ok: bool, what: str) -> bool:
        print(("ok   " if ok else "FAIL ") + what)
        if not ok:
            self.failures.append(what)
        return ok

    def empty_state(self) -> None:
        tab = self.win.photos
        self.check(tab.empty.isVisible(), "a fresh window shows the empty state")
        self.s.shoot("first_run_empty")

    def drop_folder(self) -> None:
        from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
        from PySide6.QtGui import QDropEvent

        mime = QMimeData()
        mime.setUrls([QUrl.fromLocalFile(str(self.photos))])
        event = QDropEvent(QPointF(200, 200), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                           Qt.KeyboardModifier.NoModifier)
        self.win.dropEvent(event)
        tab = self.win.photos
        self.check(event.isAccepted() and len(tab.files) > 1, f"dropping {self.photos} lists {len(tab.files)} photos")
        self.s.wait(lambda: tab.detections is not None and not tab.is_busy(), 60)
        self.check(tab.all_button.isVisible() and tab.all_button.isEnabled(),
                   f"the Photos tab offers '{tab.all_button.text()}'")
        self.s.shoot("first_run_folder")

    def enhance_all(self, out: Path) -> None:
        from PySide6.QtCore import QTimer
        from PySide6.QtWidgets import QApplication, QFileDialog

        from facesr_gui.ui.settings import Settings

        out.mkdir(parents=True)
        Settings("batch").set("out_dir", str(out))          # where the output-folder dialog starts
        seen = []

        def accept_dialog() -> None:
            dialogs = [w for w in QApplication.topLevelWidgets() if isinstance(w, QFileDialog) and w.isVisible()]
            if not dialogs:
                QTimer.singleShot(300, accept_dialog)
                return
            seen.append(dialogs[0].directory().absolutePath())
            dialogs[0].accept()

        QTimer.singleShot(500, accept_dialog)
        self.win.photos.all_button.click()                     # blocks in the dialog until accepted
        self.check(seen == [str(out)], f"the output-folder dialog opened at {seen} and was accepted")
        t0 = time.monotonic()
        self.s.wait(lambda: not self.win.batch.is_running(), 1800)
        panel = self.win.batch
        n = panel.table.rowCount()
        statuses = [panel.status(r) for r in range(n)]
        outputs = [panel.output(r) for r in range(n)]
        sidecars = [o for o in outputs if o is not None and Path(f"{o}.json").is_file()]
        self.check(n == len(self.win.photos.files) and len(sidecars) == n,
                   f"Enhance all: {n} photos in {time.monotonic() - t0:.0f} s, {len(sidecars)} outputs with sidecars "
                   f"({', '.join(f'{statuses.count(x)} {x}' for x in sorted(set(statuses)))})")
        panel.table.scrollToTop()
        self.s.shoot_widget("first_run_batch", panel)
        panel.hide()

    def one_result(self) -> None:
        tab, va = self.win.photos, self.win.view_actions
        listed = {p.resolve() for p in tab.files}
        for rel in ONE_RESULT:
            target = (self.s.args.data / "photos" / rel).resolve()
            if target not in listed:
                continue
            while tab.path is None or tab.path.resolve() != target:         # PgDown through the list
                va.next.trigger()
            self.s.wait(lambda: tab.detections is not None and not tab.is_busy(), 60)
            va.enhance.trigger()                                              # Ctrl+E
            self.s.wait(lambda: tab.outcome is not None and not tab.is_busy(), 120)
            faces = tab.outcome.result.faces if tab.outcome is not None else []
            if tab.outcome is not None and tab.outcome.result.upscale >= 2 and any(f.skipped is None for f in faces):
                break
        print(f"     one result: {tab.name}")
        if tab.compare.mode() != "slider":
            va.toggle_mode.trigger()                                          # Ctrl+T
        tab.compare.set_split(0.5)
        self.check(tab.outcome is not None and tab.compare.mode() == "slider", "one photo enhanced, slider shown")
        self.s.shoot("first_run_slider")
        tab.view_combo.setCurrentIndex(tab.view_combo.findData("face"))
        va.toggle_mode.trigger()                                              # back to side by side
        enhanced = [i for i in tab.outcome.face_ids if tab.outcome.face(i).skipped is None]
        if enhanced:
            tab.faces_list.set_current(enhanced[0])
        names = tab.overlays.names()
        if self.check(bool(names), f"network maps to overlay: {', '.join(names[:4])}..."):
            tab.overlays.select("edge/x8" if "edge/x8" in names else names[0])
            tab.overlays.slider.setValue(55)
        self.s.shoot("first_run_overlay")
        tab.overlays.select(None)
        tab.view_combo.setCurrentIndex(tab.view_combo.findData("whole"))

    def large_faces(self) -> None:
        tab = self.win.photos
        for rel in LARGE_FACE_CANDIDATES:
            path = self.s.args.data / "photos" / rel
            if not path.is_file():
                continue
            self.win.open_paths([path])
            self.s.wait(lambda: tab.detections is not None and not tab.is_busy(), 60)
            tab.enhance()
            self.s.wait(lambda: tab.outcome is not None and not tab.is_busy(), 180)
            if tab.compare.banner.isVisible():
                break
        banner = tab.compare.banner
        self.check(banner.isVisible() and "larger than" in banner.text(),
                   f"large faces ({tab.name}): the canvas says {banner.text()!r}")
        self.s.shoot("first_run_large_faces")

    def shortcuts(self) -> None:
        dialog = self.win.view_actions.show_help()
        self.check(self.win.view_actions.table.rowCount() >= 10, "Help > Keyboard shortcuts lists the keys")
        self.s.shoot_widget("first_run_shortcuts", dialog)
        dialog.hide()

    def video(self) -> None:
        clip = self.s.args.data / CLIP
        if not self.check(clip.is_file(), f"{CLIP} exists"):
            return
        self.win.open_paths([clip])
        tab = self.win.video
        self.s.wait(lambda: tab.shown_index >= 0, 30)
        tab.slider.setValue(min(tab.slider.maximum(), 30))
        self.s.wait(lambda: tab.shown_index == tab.slider.value(), 30)
        tab.detect_faces()
        self.s.wait(lambda: "Detecting" not in tab.message_label.text(), 60)
        self.check(self.win.tabs.currentWidget() is tab and tab.shown_index >= 0, "a clip opens in the Video tab")
        self.s.shoot("first_run_video")


def main() -> int:
    args = parse_args()
    import torch

    torch.set_num_threads(1)
    photos = args.photos or args.data / "photos"
    with tempfile.TemporaryDirectory(prefix="facesr-first-run-") as tmp_name:
        tmp = Path(tmp_name)
        os.environ["FACESR_HOME"] = str(tmp / "home")
        s = Shooter(args, tmp)                               # settings in tmp: a new user's first start
        run = FirstRun(s, photos)
        try:
            run.empty_state()
            run.drop_folder()
            run.enhance_all(tmp / "enhanced")
            run.one_result()
            run.large_faces()
            run.shortcuts()
            run.video()
        finally:
            s.window.close()
    print("first run:", "all steps passed" if not run.failures else f"{len(run.failures)} failed")
    return 1 if run.failures else 0


if __name__ == "__main__":
    sys.exit(main())
