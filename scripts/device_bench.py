"""The video benchmark (benchmarks/bench_pipeline.py) on a lent GPU, in one device call.

The GPU machine has PyTorch, NumPy, OpenCV and Pillow but not PyAV (video I/O) or facenet-pytorch
(MTCNN's weights), and no ``../shared``. So::

    python scripts/device_bench.py pack                  # here: .devbench/ = the 480p street clip (first
                                                         # 100 frames) + the two packages' wheels, ~40 MiB
    # device run with carry [".devbench"], timeout_s ~240; there:
    python3 scripts/device_bench.py run                  # bicubic and the default model, fp16, batched faces,
                                                         # per-frame reference for recall; JSON to $OUT

After a training call (scripts/device_train.py) the machine stays warm for a short while: call this
right after it to pay for one machine start only. ``run`` passes its further arguments to
bench_pipeline.py (e.g. ``--models bicubic,eipnet_w128_cctv``).
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
WHEELS = ["av==19.0.2", "facenet-pytorch==2.6.0"]
PLATFORMS = ["manylinux_2_28_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64", "any"]


def _pack(args: argparse.Namespace) -> int:
    sys.path.insert(0, str(REPO / "benchmarks"))
    from bench_pipeline import STREET, make_480p

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    clip = make_480p(Path(args.video or STREET), out / "street_480p.mp4", args.frames)
    print(f"{clip}: {clip.stat().st_size / 2**20:.1f} MiB")
    if not args.no_wheels:
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--python-version", "3.12",
               "--implementation", "cp", *[f"--platform={p}" for p in PLATFORMS], "-d", str(out), *WHEELS]
        subprocess.run(cmd, check=True)
    size = sum(p.stat().st_size for p in out.iterdir() if p.is_file())
    print(f"{out}: {size / 2**20:.1f} MiB (the device call carries 64 MiB with the repository)")
    return 0


def _run(args: argparse.Namespace, rest: list[str]) -> int:
    src = Path(args.devbench)
    site = Path(args.site)
    env = dict(os.environ)
    wheels = sorted(src.glob("*.whl"))
    if wheels:
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-index", "--no-deps", "--no-compile",
                        "--target", str(site), *map(str, wheels)], check=True)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(site), str(REPO), env.get("PYTHONPATH")]))
    else:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    out = Path(os.environ.get("OUT", args.out))
    out.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, str(REPO / "benchmarks" / "bench_pipeline.py"), "--video", str(src / "street_480p.mp4"),
           "--frames", str(args.frames), "--device", args.device, "--recall", "--json", str(out / "bench_gpu.json")]
    if args.device.startswith("cuda"):
        cmd.append("--half")
    return subprocess.run(cmd + rest, env=env, cwd=REPO).returncode


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("pack", help="here: .devbench/ for the device call")
    p.add_argument("--video", default=None, help="source clip (default: the street clip in ../shared/data/videos)")
    p.add_argument("--frames", type=int, default=100)
    p.add_argument("--out", default=str(REPO / ".devbench"))
    p.add_argument("--no-wheels", action="store_true", help="leave the wheels out (where the packages are installed)")
    r = sub.add_parser("run", help="on the device: the benchmark on the carried clip, JSON to $OUT")
    r.add_argument("--devbench", default=".devbench")
    r.add_argument("--site", default="/tmp/site", help="where the carried wheels are installed")
    r.add_argument("--frames", type=int, default=100)
    r.add_argument("--device", default="cuda")
    r.add_argument("--out", default="device_out", help="where $OUT is unset (a dry run here)")
    args, rest = ap.parse_known_args(argv)
    if args.cmd == "pack":
        if rest:
            ap.error(f"unrecognized arguments: {' '.join(rest)}")
        return _pack(args)
    return _run(args, rest)


if __name__ == "__main__":
    sys.exit(main())
