"""bf16 only where the hardware runs it natively."""
from __future__ import annotations

import torch

from facesr_gui import precision


def test_bf16_autocast_only_where_the_cpu_runs_it_natively(monkeypatch):
    monkeypatch.setattr(precision, "cpu_has_bf16", lambda: False)
    assert not precision.use_bf16(True, torch.device("cpu"))      # emulated bf16 would be slower
    assert precision.use_bf16(True, torch.device("cuda"))
    monkeypatch.setattr(precision, "cpu_has_bf16", lambda: True)
    assert precision.use_bf16(True, torch.device("cpu"))
    assert not precision.use_bf16(False, torch.device("cpu"))     # --fp32


def test_cpu_probe_answers_a_bool():
    assert isinstance(precision.cpu_has_bf16(), bool)
