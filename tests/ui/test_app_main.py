"""``facesr-gui`` entry point: --self-test runs before any QApplication, --checkpoint feeds the picker."""
from __future__ import annotations

import facesr_gui.__main__ as app_main


def test_self_test_runs_without_a_qapplication(monkeypatch):
    import facesr_gui.selftest as selftest

    monkeypatch.setattr(selftest, "run_self_test", lambda stream=None, *a, **k: 0)
    created = []
    monkeypatch.setattr("PySide6.QtWidgets.QApplication.__init__", lambda *a, **k: created.append(a))
    assert app_main.main(["--self-test"]) == 0 and not created


def test_arguments():
    args, qt = app_main.parse_args(["a.jpg", "--model", "bicubic", "--checkpoint", "x.safetensors", "-style", "fusion"])
    assert args.paths == ["a.jpg"] and args.model == "bicubic" and args.checkpoint == ["x.safetensors"]
    assert qt == ["-style", "fusion"] and not args.self_test
