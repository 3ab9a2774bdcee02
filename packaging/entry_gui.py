"""Entry point of the frozen ``facesr-gui`` executable (PyInstaller script).

:func:`facesr_gui.__main__.main` does the work, ``--self-test`` included (run before any
QApplication exists, so it needs no display; in a windowed Windows build, where there is
no stdout, the report goes to ``self-test.log`` in the user data folder).
"""
import multiprocessing
import sys

if __name__ == "__main__":
    multiprocessing.freeze_support()   # DataLoader workers under spawn (Windows, macOS)
    from facesr_gui.__main__ import main

    sys.exit(main())
