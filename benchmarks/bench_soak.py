"""Soak benchmark: resident memory (RSS) over a long video, to show it stays flat.

    python benchmarks/bench_soak.py [--video clip.mp4] [--frames N] [--model ID|NET|CKPT]
                                    [--detect-every 10] [--every 10] [--json out.json]

Runs the whole pipeline (decode -> detect/track -> restore -> paste -> encode, the engine
behind ``facesr enhance``) on ``../shared/data/videos/one-by-one-person-detection-139s.mp4``
(768x432, 10 fps, 1394 frames) and samples the process's RSS after every frame (psutil when
installed, else ``/proc/self/statm``). Reports RSS after the first 100 frames (the warm-up:
allocator pools, oneDNN kernels, MTCNN pyramids of every size) and the growth after them,
which should stay under 100 MB for the whole clip. A script, not a test: numbers are
reported, never asserted (see benchmarks/README.md for measured ones).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CLIP = REPO.parent / "shared" / "data" / "videos" / "one-by-one-person-detection-139s.mp4"
WARMUP = 100


def rss_bytes() -> int:
    """This process's resident set size in bytes (psutil, else /proc/self/statm)."""
    try:
        import psutil

        return psutil.Process().memory_info().rss
    except ImportError:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def soak(video: Path, frames: int | None, model: str, detect_every: int, every: int) -> dict:
    from facesr_gui.catalog import load_restorer
    from facesr_gui.pipeline.video import enhance_video

    restorer = load_restorer(model, device="cpu")
    samples: list[tuple[int, float]] = [(0, rss_bytes() / 2**20)]

    def progress(fraction: float, msg: str) -> None:
        done = len(samples)
        samples.append((done, rss_bytes() / 2**20))
        if done % every == 0:
            print(f"frame {done:5d}  rss {samples[-1][1]:8.1f} MB  {msg}", flush=True)

    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        report = enhance_video(video, Path(tmp) / "soak.mp4", restorer, upscale=1, detect_every=detect_every,
                               progress=progress, max_frames=frames)
    wall = time.perf_counter() - t0
    per_frame = [mb for i, mb in samples[1:] if i <= report.frames_out]
    after = per_frame[WARMUP - 1] if len(per_frame) >= WARMUP else None
    rest = per_frame[WARMUP - 1:] if after is not None else []
    return {
        "video": video.name, "model": model, "frames": report.frames_out, "detect_every": detect_every,
        "seconds": round(wall, 1), "fps": round(report.frames_out / wall, 2), "faces_mean": round(report.faces_mean, 2),
        "rss_start_mb": round(samples[0][1], 1), "rss_after_100_mb": round(after, 1) if after else None,
        "rss_end_mb": round(per_frame[-1], 1) if per_frame else None,
        "rss_peak_after_100_mb": round(max(rest), 1) if rest else None,
        "growth_after_100_mb": round(per_frame[-1] - after, 1) if after else None,
        "python": platform.python_version(), "cpu": platform.processor() or platform.machine(),
        "samples": [(i, round(mb, 1)) for i, mb in samples[::every]],
    }


def main() -> None:
    from facesr_gui.memory import limit_malloc_arenas

    limit_malloc_arenas()   # as the facesr and facesr-gui entry points do, before any thread allocates
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--video", type=Path, default=CLIP)
    ap.add_argument("--frames", type=int, default=None, help="process only the first N frames (default: all)")
    ap.add_argument("--model", default=None, help="default: the first bundled model, else bicubic")
    ap.add_argument("--detect-every", type=int, default=None,
                    help="full-frame detection every N frames (default: the app's, regions in between)")
    ap.add_argument("--every", type=int, default=25, help="print a sample every N frames")
    ap.add_argument("--json", type=Path, help="also write the result here")
    args = ap.parse_args()
    if args.model is None:
        from facesr_gui.manifest import read_manifest
        from facesr_gui.paths import models_dir

        cards = read_manifest(models_dir() / "manifest.json")
        args.model = cards[0].id if cards else "bicubic"
    from facesr_gui.pipeline.video import DEFAULT_DETECT_EVERY

    result = soak(args.video, args.frames, args.model, args.detect_every or DEFAULT_DETECT_EVERY, args.every)
    print(json.dumps({k: v for k, v in result.items() if k != "samples"}, indent=2))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
