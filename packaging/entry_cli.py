"""Entry point of the frozen ``facesr`` command-line executable (PyInstaller script).

``facesr self-test [--no-gui] [--model ID]`` runs the installation self-test
(:func:`facesr_gui.selftest.main`); every other command goes to :func:`facesr_gui.cli.main`.
"""
import multiprocessing
import sys


def main() -> int:
    if sys.argv[1:2] == ["self-test"]:   # until facesr_gui.cli has the subcommand itself
        from facesr_gui.selftest import main as self_test

        return self_test(sys.argv[2:])
    from facesr_gui.cli import main as cli_main

    return cli_main()


if __name__ == "__main__":
    multiprocessing.freeze_support()   # DataLoader workers under spawn (Windows, macOS)
    sys.exit(main())
