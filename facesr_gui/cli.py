"""Headless command line over the same engine the GUI uses.

    facesr train --model NAME --data DIR [--val DIR] [--steps N] [--resume CKPT] [--out DIR]
    facesr eval  --model NAME|CKPT --hr DIR [--scale 8] [--json]
    facesr bench [--nets a,b] [--device cpu|cuda] [--tiny] [--json]
    facesr models
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Sequence


class _Progress:
    """A single-line terminal progress bar with ETA (stderr), for long jobs."""

    def __init__(self, stream=sys.stderr, width: int = 30):
        self.stream, self.width, self.t0 = stream, width, time.monotonic()

    def __call__(self, fraction: float, msg: str = "") -> None:
        fraction = min(max(fraction, 0.0), 1.0)
        elapsed = time.monotonic() - self.t0
        eta = elapsed * (1 - fraction) / fraction if fraction > 0 else float("nan")
        bar = "#" * int(self.width * fraction)
        eta_s = f"{eta:6.0f}s" if eta == eta else "     ?s"
        self.stream.write(f"\r[{bar:<{self.width}}] {fraction * 100:5.1f}% ETA {eta_s} {msg[:60]:<60}")
        if fraction >= 1.0:
            self.stream.write("\n")
        self.stream.flush()


def _cmd_bench(args: argparse.Namespace) -> int:
    from .bench import format_table, run_bench

    names = args.nets.split(",") if args.nets else None
    rows = run_bench(names, device=args.device, tiny=args.tiny, repeats=args.repeats, batch=args.batch,
                     progress=None if args.json else _Progress())
    if args.json:
        print(json.dumps([r.as_dict() for r in rows], indent=2))
    else:
        print(format_table(rows))
    return 0


def _cmd_models(args: argparse.Namespace) -> int:
    from .nets import get_info, list_nets

    for name in list_nets():
        info = get_info(name)
        print(f"{name:<12} x{info.scale}  {info.paper}")
    return 0


def _cmd_eval(args: argparse.Namespace) -> int:
    from .train.evaluate import evaluate_folder, load_model

    net, label = load_model(args.model, scale=args.scale, device=args.device)
    result = evaluate_folder(net, args.hr, hr_size=args.hr_size, limit=args.limit, batch_size=args.batch,
                             face_region=args.face, progress=None if args.json else _Progress())
    summary = {"model": label, "scale": net.scale, "images": len(result.per_image), **result.mean}
    if args.json:
        print(json.dumps({**summary, "per_image": result.per_image if args.per_image else None}, indent=2))
    else:
        print(" ".join(f"{k}={v:.4f}" if isinstance(v, float) else f"{k}={v}" for k, v in summary.items()))
    return 0


def _cmd_train(args: argparse.Namespace) -> int:
    from .train.loop import TrainConfig, train

    cfg = TrainConfig(net=args.model, data=args.data, val=args.val, steps=args.steps, batch_size=args.batch,
                      lr=args.lr, out=args.out, resume=args.resume, device=args.device, val_every=args.val_every,
                      val_limit=args.val_limit, net_cfg=json.loads(args.net_cfg) if args.net_cfg else {},
                      seed=args.seed, workers=args.workers, parsing_dir=args.parsing, init=args.init,
                      crop=args.crop, gan=not args.no_gan)
    quiet = int(os.environ.get("RANK", "0")) != 0   # under torchrun only rank 0 reports
    bar = _Progress()
    last = None
    for event in train(cfg):
        last = event
        if quiet:
            continue
        msg = " ".join(f"{k}={v:.4f}" for k, v in event.losses.items())
        if event.val:
            sys.stderr.write("\n" + " ".join(f"val_{k}={v:.4f}" for k, v in event.val.items()) + "\n")
        bar(event.step / event.total, f"step {event.step} {msg}")
    if not quiet and last is not None and last.checkpoint:
        print(f"checkpoint: {last.checkpoint}")
    return 0


def _cmd_labels(args: argparse.Namespace) -> int:
    from .train.dataset import list_images
    from .train.parsing_labels import build_cache

    counts = build_cache(list_images(args.data), args.out, hr_size=args.hr_size, crop=args.crop, progress=_Progress())
    print(f"labelled {counts.done}, already cached {counts.skipped}, no face found {counts.no_face}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="facesr", description="FaceSR Studio command line")
    sub = p.add_subparsers(dest="cmd", required=True)

    b = sub.add_parser("bench", help="parameter count, GMACs, latency and throughput per network")
    b.add_argument("--nets", help="comma-separated network names (default: all)")
    b.add_argument("--device", default="cpu")
    b.add_argument("--tiny", action="store_true", help="benchmark the tiny test variants")
    b.add_argument("--repeats", type=int, default=3)
    b.add_argument("--batch", type=int, default=16)
    b.add_argument("--json", action="store_true")
    b.set_defaults(func=_cmd_bench)

    m = sub.add_parser("models", help="list the networks")
    m.set_defaults(func=_cmd_models)

    e = sub.add_parser("eval", help="PSNR/SSIM (Y channel) of a model on a folder of HR faces")
    e.add_argument("--model", required=True, help="network name (bundled weights) or a checkpoint file")
    e.add_argument("--hr", required=True, help="folder of HR face images")
    e.add_argument("--scale", type=int, default=None)
    e.add_argument("--device", default="cpu")
    e.add_argument("--limit", type=int, default=None, help="evaluate only the first N images")
    e.add_argument("--batch", type=int, default=16)
    e.add_argument("--hr-size", type=int, default=128, help="HR side the faces are resized to (default 128)")
    e.add_argument("--face", action="store_true",
                   help="also FR-PSNR/FR-SSIM on the detected face region and dlib identity similarity SR vs HR")
    e.add_argument("--json", action="store_true")
    e.add_argument("--per-image", action="store_true", help="include per-image values in --json output")
    e.set_defaults(func=_cmd_eval)

    t = sub.add_parser("train", help="train or fine-tune a network on a folder of faces")
    t.add_argument("--model", required=True, help="network name")
    t.add_argument("--data", required=True, help="folder of training face images")
    t.add_argument("--val", help="folder of validation face images")
    t.add_argument("--steps", type=int, default=1000)
    t.add_argument("--batch", type=int, default=16)
    t.add_argument("--lr", type=float, default=None, help="learning rate (default: the paper's)")
    t.add_argument("--out", default="runs", help="output folder for checkpoints")
    t.add_argument("--resume", help="resume from a training state (.pt) written by a previous run")
    t.add_argument("--device", default="cpu")
    t.add_argument("--val-every", type=int, default=200)
    t.add_argument("--val-limit", type=int, default=64)
    t.add_argument("--net-cfg", help='JSON network config, e.g. \'{"width": 64}\'')
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--workers", type=int, default=0)
    t.add_argument("--parsing", help="parsing-label cache made by `facesr labels` (W-Net, CAGFace, priorsr)")
    t.add_argument("--no-gan", action="store_true", help="skip the paper's GAN phase (PSNR-oriented training)")
    t.add_argument("--init", help="weights (.safetensors) to fine-tune from")
    t.add_argument("--crop", default="celeba", choices=["celeba", "center", "none"],
                   help="how faces are cut from the images (celeba: centre 178x178 of aligned CelebA)")
    t.set_defaults(func=_cmd_train)

    lb = sub.add_parser("labels", help="build the pseudo parsing-label cache (mediapipe face mesh) for a face folder")
    lb.add_argument("--data", required=True, help="folder of face images")
    lb.add_argument("--out", required=True, help="cache folder (one .npz per image)")
    lb.add_argument("--hr-size", type=int, default=128)
    lb.add_argument("--crop", default="celeba", choices=["celeba", "center", "none"])
    lb.set_defaults(func=_cmd_labels)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except KeyboardInterrupt:
        sys.stderr.write("\ninterrupted\n")
        return 130
    except (FileNotFoundError, ValueError, KeyError, RuntimeError) as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 2


if __name__ == "__main__":
    sys.exit(main())
