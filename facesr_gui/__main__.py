"""``facesr-gui`` / ``python -m facesr_gui``: parse arguments, start Qt, show the main window."""
from __future__ import annotations

import argparse
import os
import sys

from .memory import limit_malloc_arenas


def parse_args(argv: list[str]) -> tuple[argparse.Namespace, list[str]]:
    parser = argparse.ArgumentParser(prog="facesr-gui", description="FaceSR Studio desktop app.")
    parser.add_argument("paths", nargs="*", help="photos, a folder of photos, or a video to open")
    parser.add_argument("--model", help="model id to select (e.g. bicubic)")
    parser.add_argument("--checkpoint", action="append", default=[], metavar="FILE",
                        help="add a .safetensors checkpoint to the model picker (repeatable)")
    parser.add_argument("--self-test", action="store_true",
                        help="check the installation (models, detection, enhancement, window) and exit")
    return parser.parse_known_args(argv)  # leftovers go to Qt (-platform, -style, ...)


def _self_test() -> int:
    try:
        from .selftest import run_self_test
    except ImportError as exc:
        print(f"self-test unavailable: {exc}", file=sys.stderr)
        return 2
    return run_self_test(sys.stdout)


def main(argv: list[str] | None = None) -> int:
    limit_malloc_arenas()   # before any thread allocates (facesr_gui.memory)
    args, qt_args = parse_args(sys.argv[1:] if argv is None else argv)
    if args.self_test:   # before any QApplication: the self-test builds its own, offscreen
        return _self_test()
    if args.checkpoint:
        from .catalog import CHECKPOINTS_ENV
        known = [p for p in os.environ.get(CHECKPOINTS_ENV, "").split(os.pathsep) if p]
        os.environ[CHECKPOINTS_ENV] = os.pathsep.join(known + [os.path.abspath(p) for p in args.checkpoint])
    from PySide6.QtGui import QIcon
    from PySide6.QtWidgets import QApplication

    from .app import create_window
    from .paths import resources_dir
    from .ui.settings import APPLICATION, ORGANIZATION

    app = QApplication([sys.argv[0], *qt_args])
    app.setOrganizationName(ORGANIZATION)
    app.setApplicationName(APPLICATION)
    app_icon = resources_dir() / "icons" / "facesr-studio-256.png"
    if app_icon.is_file():
        app.setWindowIcon(QIcon(str(app_icon)))
    window = create_window()
    if args.model and not window.select_model(args.model):
        window.statusBar().showMessage(f"model {args.model!r} is not available", 8000)
    window.show()
    if args.paths:
        window.open_paths(args.paths)
    return app.exec()


if __name__ == "__main__":
    sys.exit(main())
