"""Wall time of `facesr enhance --ray` with 1 and 2 local Ray workers on the bundled clips, and the speed-up.

    python benchmarks/bench_cluster.py                                   # four short 480x270 clips
    python benchmarks/bench_cluster.py --clips classroom.mp4,people-detection.mp4 --workers 1,2 --json out.json

Each configuration starts its own local Ray runtime (``num_cpus`` = workers, no dashboard; its start is
timed apart), enhances every clip as one task (one torch thread per task) into a fresh folder, and
reports the batch's wall time, frames per second and the speed-up over the first configuration. Ray
workers start and import torch inside the timed batch, as they do in a real run. A baseline without
Ray (``enhance_paths``, one torch thread) is timed first.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
VIDEOS = Path(os.environ.get("FACESR_SHARED_DATA", REPO.parent / "shared" / "data")) / "videos"
CLIPS = "classroom.mp4,face-demographics-walking.mp4,head-pose-face-detection-female.mp4,people-detection.mp4"


def _frames(report) -> int:
    return sum(n for _name, _status, n in _files(report))


def _files(report) -> list[tuple[str, str, int]]:
    """(output name, status, frames) of each item: what must match between runs."""
    from facesr_gui.pipeline.video import probe_video

    return [(item.output.name if item.output else "", item.status,
             probe_video(item.output).frames if item.output else 0) for item in report.items]


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--clips", default=CLIPS, help=f"comma-separated names in {VIDEOS}")
    p.add_argument("--workers", default="1,2", help="comma-separated local worker counts")
    p.add_argument("--model", default="bicubic")
    p.add_argument("--upscale", type=int, default=2)
    p.add_argument("--detect-every", type=int, default=10)
    p.add_argument("--no-local", action="store_true", help="skip the baseline without Ray")
    p.add_argument("--json", help="also write the rows to this file")
    args = p.parse_args()

    import ray
    import torch

    from facesr_gui.catalog import load_restorer, resolve
    from facesr_gui.cluster import RestorerSpec, enhance_on_ray
    from facesr_gui.pipeline.engine import enhance_paths

    clips = [VIDEOS / name for name in args.clips.split(",")]
    options = {"upscale": args.upscale, "detect_every": args.detect_every}
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        if not args.no_local:
            torch.set_num_threads(1)
            t0 = time.perf_counter()
            report = enhance_paths(clips, Path(tmp) / "local", load_restorer(args.model), **options)
            rows.append({"run": "local, no Ray (1 thread)", "workers": 1, "init_s": 0.0,
                         "wall_s": time.perf_counter() - t0, "frames": _frames(report), "ok": report.ok,
                         "files": _files(report), "item_s": [round(i.seconds, 1) for i in report.items]})
        for n in map(int, args.workers.split(",")):
            t0 = time.perf_counter()
            ray.init(num_cpus=n, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
            init = time.perf_counter() - t0
            try:
                t0 = time.perf_counter()
                out = Path(tmp) / f"ray{len(rows)}_{n}"   # a fresh folder: a repeated count would get _2 names
                report = enhance_on_ray(clips, out, RestorerSpec(resolve(args.model), "cpu"), **options)
                wall = time.perf_counter() - t0
            finally:
                ray.shutdown()
            rows.append({"run": f"Ray, {n} local worker(s)", "workers": n, "init_s": init, "wall_s": wall,
                         "frames": _frames(report), "ok": report.ok, "files": _files(report),
                         "item_s": [round(i.seconds, 1) for i in report.items]})
    ray_rows = [r for r in rows if r["run"].startswith("Ray")]
    base = ray_rows[0]["wall_s"] if ray_rows else rows[0]["wall_s"]
    print(f"{len(clips)} clips, model {args.model}, x{args.upscale}, detect every {args.detect_every}, "
          f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}")
    print(f"| run | Ray start, s | wall, s | frames | frames/s | speed-up vs {ray_rows[0]['run'] if ray_rows else ''} "
          "| seconds per clip (in its task) |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        r["fps"], r["speedup"] = r["frames"] / r["wall_s"], base / r["wall_s"]
        print(f"| {r['run']} | {r['init_s']:.1f} | {r['wall_s']:.1f} | {r['frames']} | {r['fps']:.2f} | "
              f"{r['speedup']:.2f}x | {', '.join(map(str, r['item_s']))} |")
    same = all(r["files"] == rows[0]["files"] for r in rows)
    print(f"same output names, statuses and frame counts in every run: {'yes' if same else 'NO'}")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2))
    return 0 if same and all(r["ok"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
