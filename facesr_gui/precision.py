"""Reduced-precision arithmetic where the hardware runs it natively (training and inference share this).

bf16 on the CPU is only worth it where oneDNN runs it natively (AVX512-BF16 or AMX): elsewhere it is
emulated and slower than float32. Weights stay float32; ``torch.autocast`` casts per operation.
"""
from __future__ import annotations

import functools

import torch

__all__ = ["cpu_has_bf16", "use_bf16"]


@functools.lru_cache(maxsize=1)
def cpu_has_bf16() -> bool:
    """Whether oneDNN runs bf16 natively here (AVX512-BF16 or AMX); elsewhere bf16 is emulated and slow."""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def use_bf16(amp: bool, device: torch.device) -> bool:
    """bf16 autocast for a forward pass: on CUDA, and on CPUs with native bf16 (training: about 1.4x per
    step on top of channels-last's 1.4x; weights, optimiser state and loss sums stay fp32)."""
    return amp and (device.type == "cuda" or (device.type == "cpu" and cpu_has_bf16()))
