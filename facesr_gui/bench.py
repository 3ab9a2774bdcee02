"""Benchmarks: parameter count, multiply-accumulates, latency and throughput per network.

MACs are counted with forward hooks on convolution, transposed convolution and linear
layers (the layers that dominate these networks); element-wise ops, pooling and
interpolation are not counted, so the figure is a slight lower bound.
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Callable, Iterable

import torch
from torch import nn

from .nets import create_net, get_info, list_nets, net_lr_side
from .precision import cpu_has_bf16


@dataclass
class BenchRow:
    net: str
    params_m: float
    gmacs: float
    lr_size: int
    latency_ms: float            # batch 1, per face
    fps_b1: float                # faces per second at batch 1
    fps_b16: float               # faces per second at batch 16
    device: str
    half_fps_b16: float | None = None   # batch 16 with fp16 autocast on CUDA, bf16 on CPUs with native bf16
    half: str = ""                      # "fp16", "bf16" or "" (not measured)

    def as_dict(self) -> dict:
        return asdict(self)


def count_params(net: nn.Module) -> int:
    return sum(p.numel() for p in net.parameters())


def count_macs(net: nn.Module, x: torch.Tensor) -> int:
    """Multiply-accumulates of one forward pass on ``x`` (conv/deconv/linear layers)."""
    total = 0

    def conv_hook(mod: nn.Module, inp, out) -> None:
        nonlocal total
        if isinstance(mod, nn.ConvTranspose2d):
            n, cin, h, w = inp[0].shape
            total += n * cin * h * w * mod.out_channels // mod.groups * mod.kernel_size[0] * mod.kernel_size[1]
        else:
            kernel = mod.in_channels // mod.groups * mod.kernel_size[0] * mod.kernel_size[1]
            total += out.numel() * kernel

    def linear_hook(mod: nn.Linear, inp, out) -> None:
        nonlocal total
        total += out.numel() * mod.in_features

    handles = []
    for mod in net.modules():
        if isinstance(mod, (nn.Conv2d, nn.ConvTranspose2d)):
            handles.append(mod.register_forward_hook(conv_hook))
        elif isinstance(mod, nn.Linear):
            handles.append(mod.register_forward_hook(linear_hook))
    try:
        with torch.no_grad():
            net(x)
    finally:
        for h in handles:
            h.remove()
    return total


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_forward(net: nn.Module, x: torch.Tensor, repeats: int = 3, warmup: int = 1) -> float:
    """Median seconds of one forward pass."""
    times = []
    with torch.inference_mode():
        for i in range(warmup + repeats):
            _sync(x.device)
            t0 = time.perf_counter()
            net(x)
            _sync(x.device)
            if i >= warmup:
                times.append(time.perf_counter() - t0)
    times.sort()
    return times[len(times) // 2]


def bench_net(name: str, device: str = "cpu", cfg: dict | None = None, repeats: int = 3,
              batch: int = 16) -> BenchRow:
    dev = torch.device(device)
    net = create_net(name, **(cfg or {})).to(dev).eval()
    size = net_lr_side(net)
    x1 = torch.rand(1, 3, size, size, device=dev)
    macs = count_macs(net, x1)
    t1 = time_forward(net, x1, repeats)
    xb = torch.rand(batch, 3, size, size, device=dev)
    tb = time_forward(net, xb, repeats)
    half_fps, half = None, {"cuda": "fp16", "cpu": "bf16" if cpu_has_bf16() else ""}.get(dev.type, "")
    if half:
        with torch.autocast(dev.type, dtype=torch.float16 if half == "fp16" else torch.bfloat16):
            half_fps = batch / time_forward(net, xb, repeats)
    return BenchRow(net=name, params_m=count_params(net) / 1e6, gmacs=macs / 1e9, lr_size=size,
                    latency_ms=t1 * 1e3, fps_b1=1.0 / t1, fps_b16=batch / tb, device=str(dev),
                    half_fps_b16=half_fps, half=half)


def run_bench(names: Iterable[str] | None = None, device: str = "cpu", tiny: bool = False, repeats: int = 3,
              batch: int = 16, progress: Callable[[float, str], None] | None = None) -> list[BenchRow]:
    names = list(names or list_nets())
    rows = []
    for i, name in enumerate(names):
        if progress:
            progress(i / len(names), f"benchmarking {name}")
        cfg = get_info(name).tiny_cfg if tiny else None
        rows.append(bench_net(name, device, cfg, repeats, batch))
    if progress:
        progress(1.0, "done")
    return rows


def format_table(rows: list[BenchRow]) -> str:
    head = f"{'net':<12} {'params(M)':>9} {'GMACs':>8} {'LR':>4} {'ms/face':>9} {'fps@1':>8} {'fps@16':>8} {'half@16':>8}  device"
    lines = [head, "-" * len(head)]
    for r in rows:
        half = f"{r.half_fps_b16:8.1f}" if r.half_fps_b16 is not None else f"{'-':>8}"
        lines.append(f"{r.net:<12} {r.params_m:9.2f} {r.gmacs:8.2f} {r.lr_size:4d} {r.latency_ms:9.1f} "
                     f"{r.fps_b1:8.1f} {r.fps_b16:8.1f} {half}  {r.device}{' ' + r.half if r.half else ''}")
    return "\n".join(lines)
