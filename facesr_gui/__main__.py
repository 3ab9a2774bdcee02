"""``facesr-gui`` / ``python -m facesr_gui``: parse arguments, start Qt, show the main window."""
from __future__ import annotations

import argparse
import sys


def parse_args(argv: list[str]) -> tuple[argparse.Namespace, list[str]]:
    parser = argparse.ArgumentParser(prog="facesr-gui", description="FaceSR Studio desktop app.")
    parser.add_argument("paths", nargs="*", help="photo to open")
    parser.add_argument("--model", help="model id to select (e.g. bicubic)")
    return parser.parse_known_args(argv)  # leftovers go to Qt (-platform, -style, ...)


def main(argv: list[str] | None = None) -> int:
    args, qt_args = parse_args(sys.argv[1:] if argv is None else argv)
    from PySide6.QtWidgets import QApplication

    from .ui.main_window import MainWindow
    from .ui.settings import APPLICATION, ORGANIZATION

    app = QApplication([sys.argv[0], *qt_args])
    app.setOrganizationName(ORGANIZATION)
    app.setApplicationName(APPLICATION)
    window = MainWindow()
    if args.model and not window.select_model(args.model):
        window.statusBar().showMessage(f"model {args.model!r} is not available", 8000)
    window.show()
    if args.paths:
        window.open_paths(args.paths)
    return app.exec()


if __name__ == "__main__":
    sys.exit(main())
