"""End-to-end video benchmark: frames per second and time per stage.

    python benchmarks/bench_pipeline.py [--video clip.mp4] [--frames 60] [--models bicubic,untrained:jeanet]
                                        [--upscale 1] [--detect-every 10] [--no-regions] [--no-stabilise] [--recall]
                                        [--device cpu] [--json out.json]

Without ``--video`` a 480p clip (854x480, 25 fps, with its AAC audio) is made from
``../shared/data/videos/facenet_street_1080p.mp4`` (a street with 3-7 faces of 11-42 px
per frame at 480p) in a temporary folder. Models default to ``bicubic`` plus the first
bundled model of ``models/manifest.json`` when there is one; ``untrained:<net>`` times a
registered network with random weights (speed does not depend on the weights).

Detection: the whole frame every ``--detect-every``-th frame (and at cuts and lost tracks), in
between around each tracked face (``--no-regions``: only tracked). ``--recall`` also runs every
frame through full-frame detection (the reference, and the "before" speed) and reports the share
of its face-frames that the tested setting restores too (a box with IoU >= 0.5): the faces it
detected and restored in each frame (``recall``), and with the boxes its tracker coasts on for a
few frames after a face was lost, where there may be no face any more (``+coasting``).
Flicker (pipeline/flicker.py): how much each tracked face's SR crop changes between consecutive
frames relative to its bicubic crop (1.0: no more than the input itself; above: added flicker).
The app's steady faces (pipeline/stabilise.py) run as they do in the app, by default; their time
counts in ``paste`` (``--no-stabilise``: without; until 2026-12-05 the benchmark ran without).

``load s``: building the restorer and its detector (reading the weights, OpenVINO's compilations; a
model's first conversion is kept on disk), before the clock starts, as the app loads a model once for
all its jobs.
Stages (seconds per frame): decode and encode run in their own threads, overlapping
detect/sr/paste, so they do not add up to the wall time; detect includes tracking.
A script, not a test: numbers are reported, never asserted.
"""
from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import torch

from facesr_gui.catalog import default_model, load_restorer
from facesr_gui.memory import limit_malloc_arenas
from facesr_gui.nets import create_net, list_nets
from facesr_gui.pipeline.flicker import FlickerMeter
from facesr_gui.pipeline.restore import FaceRestorer
from facesr_gui.pipeline.stabilise import FaceStabiliser
from facesr_gui.pipeline.accel import BACKENDS
from facesr_gui.pipeline.video import (DEFAULT_DETECT_EVERY, STAGES, VideoWriter, enhance_video, iter_frames,
                                       probe_video)

REPO = Path(__file__).resolve().parents[1]
STREET = REPO.parent / "shared" / "data" / "videos" / "facenet_street_1080p.mp4"


def make_480p(src: Path, dst: Path, frames: int) -> Path:
    """The first ``frames`` frames of ``src`` resized to 480 lines (area filter), audio copied, encoded at
    ``superfast``, CRF 13: the same file every run. The tables before 2026-12-04 used ``veryfast``, whose
    lookahead made libx264 encode the same frames differently from run to run (five encodes in one process,
    five different clips), so their recall and frame rates moved between runs (recall by +-0.005, and
    16-18 whole-frame detections in 100 frames for one setting)."""
    info = probe_video(src)
    w = round(info.width * 480 / info.height / 2) * 2
    with VideoWriter(dst, w, 480, info.fps, audio_from=src, time_base=info.time_base,
                     start_pts=info.start_pts, preset="superfast", crf=13) as writer:
        for _, _, rgb in iter_frames(src, max_frames=frames):
            writer.write(cv2.resize(rgb, (w, 480), interpolation=cv2.INTER_AREA))
    return dst


def default_models() -> list[str]:
    """``bicubic`` and the default (first bundled) model."""
    first = default_model().id
    return ["bicubic"] + ([first] if first != "bicubic" else [])


def make_restorer(model: str, device: str, backend: str = "auto", half: bool = False) -> FaceRestorer:
    """``model`` as ``load_restorer`` takes it; ``untrained:<net>`` builds a registered net with
    random weights (same speed as the trained one: for timing before weights exist). ``half``: fp16
    SR on CUDA."""
    if model.startswith("untrained:"):
        name = model.split(":", 1)[1]
        if name not in list_nets():
            raise SystemExit(f"unknown net {name!r}; registered: {', '.join(list_nets())}")
        return FaceRestorer(create_net(name), device=device, keep_maps=False, net_name=name, backend=backend,
                            half=half)
    return load_restorer(model, device=device, keep_maps=False, backend=backend, half=half)


def run(video: Path, model: str, frames: int, upscale: int, detect_every: int, device: str,
        out_dir: Path, regions: bool = True, boxes: dict | None = None, found: list | None = None,
        backend: str = "auto", phase: int = 0, motion_gate: bool = True, half: bool = False,
        preset: str | None = None, stabilise: bool = True) -> dict:
    """One timed run; ``boxes`` (when given) collects each frame's restored face boxes, ``found``
    the boxes of each whole-frame detection in order (with ``detect_every`` 1: one per frame);
    ``stabilise``: the app's steady faces (:class:`~facesr_gui.pipeline.stabilise.FaceStabiliser`, on
    by default there too), whose time counts in ``paste``."""
    t_load = time.perf_counter()
    restorer = make_restorer(model, device, backend, half)
    restorer.detector.detect(np.zeros((64, 64, 3), np.uint8))   # build (and convert) before the clock starts
    load_s = time.perf_counter() - t_load
    meter = FlickerMeter()
    if found is not None:
        detect = restorer.detect

        def detect_and_keep(rgb, min_face=None):
            det = detect(rgb)   # the reference: the whole pyramid in every frame
            found.append(det.boxes)
            return det

        restorer.detect = detect_and_keep

    def keep(index, result) -> None:
        meter.add(index, result)
        if boxes is not None:
            boxes[index] = np.array([f.box for f in result.faces if f.skipped is None], np.float32).reshape(-1, 4)

    report = enhance_video(video, out_dir / f"{model.replace('/', '_')}.mp4", restorer, upscale=upscale,
                           detect_every=detect_every, max_frames=frames, regions=regions,
                           on_frame=keep, detect_phase=phase, motion_gate=motion_gate,
                           stabiliser=FaceStabiliser() if stabilise else None,
                           **({"preset": preset} if preset else {}))
    n = max(report.frames_out, 1)
    return {"model": model, "backend": f"{restorer.backend}/{restorer.detector.backend}", "phase": phase,
            "frames": report.frames_out,
            "upscale": upscale, "detect_every": detect_every,
            "regions": regions and detect_every > 1, "stabilise": stabilise, "full_detections": report.full_detections,
            "gated_detections": report.gated_detections,
            "fps": round(report.fps, 3), "seconds": round(report.seconds, 3), "load_s": round(load_s, 2),
            "faces_per_frame": round(report.faces_mean, 2), "tracks": report.tracks, "audio": report.audio,
            "flicker": round(meter.ratio, 3),
            "ms_per_frame": {k: round(1000 * report.timings[k] / n, 2) for k in STAGES}}


def _matched(a: np.ndarray, b: np.ndarray, iou: float) -> list[tuple[int, int]]:
    from facesr_gui.pipeline.track import greedy_match, iou_matrix

    return greedy_match(iou_matrix(a, b), iou - 1e-9) if len(a) and len(b) else []


def recall(reference: dict, tested: dict, found: list | None = None, iou: float = 0.5) -> float:
    """Share of the reference's face-frames that ``tested`` restores too (a box with IoU >= ``iou``).

    With ``found`` (the reference run's detections per frame) a face-frame is one the detector found
    in that frame and the reference restored: not the few frames a track coasts on after its face
    was lost (a box where there may be no face any more)."""
    total = hit = 0
    for index, ref in reference.items():
        if found is not None:
            ref = ref[sorted(a for a, _ in _matched(ref, found[index], iou))]
        got = tested.get(index, np.zeros((0, 4), np.float32))
        total += len(ref)
        if len(ref) and len(got):
            hit += len(_matched(ref, got, iou))
    return hit / total if total else float("nan")


def mean_row(runs: list[dict]) -> dict:
    """One row for the runs of one setting at several phases: the means of the numbers (fps as frames
    over summed seconds), the per-phase recall kept beside them."""
    row = dict(runs[0])
    n = len(runs)
    row["phases"] = [r["phase"] for r in runs]
    for key in ("full_detections", "gated_detections", "faces_per_frame", "flicker"):
        row[key] = round(sum(r[key] for r in runs) / n, 3)
    row["seconds"] = round(sum(r["seconds"] for r in runs), 3)
    row["load_s"] = round(sum(r["load_s"] for r in runs) / n, 2)
    row["fps"] = round(sum(r["frames"] for r in runs) / max(row["seconds"], 1e-9), 3)
    row["ms_per_frame"] = {k: round(sum(r["ms_per_frame"][k] for r in runs) / n, 2) for k in runs[0]["ms_per_frame"]}
    if "recall" in runs[0]:
        row["recall_per_phase"] = [round(r["recall"], 4) for r in runs]
        row["recall"] = round(sum(r["recall"] for r in runs) / n, 4)
        row["recall_with_coasting"] = round(sum(r["recall_with_coasting"] for r in runs) / n, 4)
    return row


def format_table(rows: list[dict]) -> str:
    head = (["model", "backend", "load s", "frames", "up", "det/k", "regions", "full", "fps", "faces", "recall", "+coasting",
             "flicker"]
            + [f"{s} ms" for s in STAGES])
    lines = [head] + [[r["model"], r["backend"], f"{r['load_s']:.1f}", str(r["frames"]), f"x{r['upscale']}", str(r["detect_every"]),
                       "yes" if r["regions"] else "no",
                       f"{r['full_detections']:g}" + (f" ({r['gated_detections']:g} gated)" if r.get("gated_detections") else ""),
                       f"{r['fps']:.2f}",
                       f"{r['faces_per_frame']:.1f}", f"{r['recall']:.3f}" if "recall" in r else "-",
                       f"{r['recall_with_coasting']:.3f}" if "recall" in r else "-",
                       f"{r['flicker']:.2f}"]
                      + [f"{r['ms_per_frame'][s]:.1f}" for s in STAGES]
                      for r in rows]
    widths = [max(len(line[i]) for line in lines) for i in range(len(head))]
    return "\n".join("  ".join(c.rjust(w) for c, w in zip(line, widths)) for line in lines)


def main() -> None:
    limit_malloc_arenas()   # as the facesr and facesr-gui entry points do, before any thread allocates
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--video", type=Path, default=None, help="input clip (default: 480p street clip)")
    ap.add_argument("--frames", type=int, default=60)
    ap.add_argument("--models", default=None,
                    help="comma-separated model ids, or untrained:<net> (default: bicubic + first bundled)")
    ap.add_argument("--upscale", type=int, default=1)
    ap.add_argument("--detect-every", type=int, default=DEFAULT_DETECT_EVERY,
                    help="full-frame detection every N frames")
    ap.add_argument("--no-regions", action="store_true", help="between full detections only track (no regions)")
    ap.add_argument("--no-motion-gate", action="store_true",
                    help="every whole-frame detection looks at the whole frame (default: most look only where "
                         "the picture changed and around the tracks, pipeline/motion.py)")
    ap.add_argument("--recall", action="store_true",
                    help="also run per-frame full detection: the reference for recall, and the 'before' speed")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--backend", default="auto", choices=BACKENDS,
                    help="what runs the networks (SR/detector shown per row)")
    ap.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    ap.add_argument("--half", action="store_true", help="fp16 SR on CUDA (the faces of a frame in one batch)")
    ap.add_argument("--phases", default="0",
                    help="comma-separated whole-frame detection phases (enhance_video's detect_phase), e.g. 0,3,6: "
                         "the tested setting runs once per phase and the row gives the means (which frames are "
                         "detected whole decides which faces wait, so one phase's recall moves by +-0.01)")
    ap.add_argument("--preset", default=None,
                    help="libx264 preset of the output (default: the app's, VideoWriter's); e.g. veryfast to compare")
    ap.add_argument("--no-stabilise", action="store_true",
                    help="leave out the app's steady faces (on by default in the app: facesr enhance --no-stabilise); "
                         "flicker is then the raw SR crops'")
    ap.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    models = args.models.split(",") if args.models else default_models()
    phases = [int(p) for p in args.phases.split(",")]
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        video = args.video or make_480p(STREET, tmp / "street_480p.mp4", args.frames)
        rows = []
        for m in models:
            if args.recall:
                reference: dict = {}
                found: list = []
                rows.append(run(video, m, args.frames, args.upscale, 1, args.device, tmp, False, reference, found,
                                args.backend, half=args.half, stabilise=not args.no_stabilise))
            runs = []
            for phase in phases:
                tested: dict = {}
                runs.append(run(video, m, args.frames, args.upscale, args.detect_every, args.device, tmp,
                                not args.no_regions, tested, backend=args.backend, phase=phase,
                                motion_gate=not args.no_motion_gate, half=args.half, preset=args.preset,
                                stabilise=not args.no_stabilise))
                if args.recall:
                    runs[-1]["recall"] = recall(reference, tested, found)
                    runs[-1]["recall_with_coasting"] = recall(reference, tested)
            rows.append(mean_row(runs))
        info = probe_video(video)
    gpu = torch.cuda.get_device_name() if args.device.startswith("cuda") else None
    print(f"{video.name}: {info.width}x{info.height} @ {float(info.fps):.3f} fps, device {gpu or args.device}"
          f"{' fp16' if args.half else ''}, "
          f"{torch.get_num_threads()} torch thread(s)")
    print(format_table(rows))
    if args.json:
        report = {"video": str(args.video or "facenet_street_1080p.mp4 -> 480p"),
                  "size": [info.width, info.height], "device": args.device, "gpu": gpu, "half": args.half,
                  "threads": torch.get_num_threads(),
                  "torch": torch.__version__, "machine": platform.machine(), "rows": rows}
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
