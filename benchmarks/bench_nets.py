"""Benchmark every network (paper configuration) and write a JSON report.

    python benchmarks/bench_nets.py [--device cuda] [--out benchmarks/results/nets-cpu.json]

Targets are reported, not asserted: speed belongs in benchmarks, not in timed tests.
"""
from __future__ import annotations

import argparse
import json
import platform
from pathlib import Path

import torch

from facesr_gui.bench import format_table, run_bench


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--nets", default=None)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    rows = run_bench(args.nets.split(",") if args.nets else None, device=args.device, repeats=args.repeats)
    print(format_table(rows))
    report = {"torch": torch.__version__, "machine": platform.machine(), "threads": torch.get_num_threads(),
              "gpu": torch.cuda.get_device_name() if args.device.startswith("cuda") else None,
              "rows": [r.as_dict() for r in rows]}
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
