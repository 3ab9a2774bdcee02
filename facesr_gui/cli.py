"""Headless command line over the same engine the GUI uses.

    facesr train --model NAME --data DIR [--val DIR] [--steps N] [--resume CKPT] [--out DIR]
    facesr eval  --model NAME|CKPT --hr DIR [--scale 8] [--json]
    facesr bench [--nets a,b] [--device cpu|cuda] [--tiny] [--json]
    facesr models
    facesr enhance INPUT... [--model NAME] [--out DIR] [--upscale auto|N] [--provenance] [--json]
    facesr enhance --demo [--out DIR] [--provenance]
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Sequence

from .cli_support import (NON_NEGATIVE, POSITIVE, ArgParser, Progress, StopOnSignal, add_degradation_args,
                          add_enhance_args, default_detect_every, finite_or_null, item_line, json_object_arg, left_over,
                          loss_weight_arg, number_arg, weights_arg)
from .memory import limit_malloc_arenas


def _cmd_bench(args: argparse.Namespace) -> int:
    from .bench import format_table, run_bench

    names = args.nets.split(",") if args.nets else None
    rows = run_bench(names, device=args.device, tiny=args.tiny, repeats=args.repeats, batch=args.batch,
                     progress=None if args.json else Progress())
    if args.json:
        print(json.dumps([r.as_dict() for r in rows], indent=2))
    else:
        print(format_table(rows))
    return 0


def _cmd_models(args: argparse.Namespace) -> int:
    from .catalog import list_models
    from .nets import get_info, list_nets
    from .paths import models_dir

    print("networks:")
    for name in list_nets():
        info = get_info(name)
        print(f"  {name:<12} x{info.scale}  {info.paper}")
    bundled = [e for e in list_models(strict=True) if e.source == "bundled"]
    print(f"bundled checkpoints ({models_dir()}):" if bundled else "bundled checkpoints: none")
    for i, entry in enumerate(bundled):
        where, m = next(((k, v) for k, v in entry.metrics.items() if isinstance(v, dict)), ("", {}))
        measured = "not measured"
        if "psnr" in m:   # numbers: checked by read_manifest
            measured = (f"{m['psnr']:.2f} dB" + (f" / {m['ssim']:.3f}" if "ssim" in m else "") + f" on {where}"
                        + (f" (bicubic {m['bicubic_psnr']:.2f} dB)" if "bicubic_psnr" in m else ""))
        print(f"  {entry.id:<16} {entry.net:<12} x{entry.scale}  for {entry.degradation:<12} {measured}"
              f"{'  [default]' if i == 0 else ''}")
    return 0


def _cmd_eval(args: argparse.Namespace) -> int:
    from .catalog import load_net, resolve
    from .train.evaluate import evaluate_folder

    if args.lr and (args.degradation != "bicubic" or args.jitter):
        raise ValueError("--lr uses the paired LR faces as they are: drop --degradation/--jitter")
    entry = resolve(args.model, scale=args.scale)
    net = load_net(entry, args.device)
    label = f"{entry.net}:{entry.checkpoint.name}" if entry.source == "file" else entry.id
    result = evaluate_folder(net, args.hr, hr_size=args.hr_size, limit=args.limit, batch_size=args.batch,
                             face_region=args.face, progress=None if args.json else Progress(),
                             flip_ensemble=args.flip_ensemble, degradation=args.degradation, seed=args.seed,
                             jitter=args.jitter, lr_dir=args.lr)
    summary = {"model": label, "scale": net.scale, "images": len(result.per_image), **result.setup,
               **({"flip_ensemble": True} if args.flip_ensemble else {}), **result.mean}
    if args.json:
        report = {**summary, "skipped": [{"name": n, "reason": r} for n, r in result.skipped],
                  "per_image": result.per_image if args.per_image else None}
        print(json.dumps(finite_or_null(report), indent=2, allow_nan=False))
    else:
        for name, reason in result.skipped:
            sys.stderr.write(f"skipped {name}: {reason}\n")
        print(" ".join(f"{k}={v:.4f}" if isinstance(v, float) else f"{k}={v}" for k, v in summary.items()))
    return 0


def _teacher_checkpoint(spec: str) -> str:
    """The checkpoint file a ``--teacher`` names (a bundled or fine-tuned model id, or a file)."""
    from .catalog import resolve

    try:
        entry = resolve(spec)
    except ValueError as exc:
        raise ValueError(f"--teacher: {exc}") from exc
    if entry.checkpoint is None:
        raise ValueError(f"--teacher {spec}: {entry.id} has no trained weights to learn from")
    return str(entry.checkpoint)


def _cmd_train(args: argparse.Namespace) -> int:
    from .train.loop import TrainConfig, train

    cfg = TrainConfig(net=args.model, data=args.data, val=args.val, steps=args.steps, batch_size=args.batch,
                      lr=args.lr, out=args.out, resume=args.resume, device=args.device, val_every=args.val_every,
                      val_limit=args.val_limit, net_cfg=args.net_cfg or {},
                      seed=args.seed, workers=args.workers, parsing_dir=args.parsing, init=args.init,
                      crop=args.crop, gan=not args.no_gan, schedule=args.schedule, warmup=args.warmup,
                      save_every=args.save_every, amp=not args.fp32,
                      gan_weight=args.gan_weight, rotate=args.rotate, preload=args.preload,
                      degradation=args.degradation, jitter=args.jitter, clean_share=args.clean_share,
                      loss_weights=dict(args.loss_weight or []),
                      teachers=tuple(_teacher_checkpoint(t) for t in args.teacher or ()),
                      distill_weight=args.distill_weight,
                      teacher_weights=tuple(args.teacher_weights or ()), teacher_flip=args.teacher_flip,
                      time_budget_s=args.time_budget * 60 if args.time_budget else None)
    quiet = int(os.environ.get("RANK", "0")) != 0   # under torchrun only rank 0 reports
    bar = Progress()
    if cfg.preload and not quiet:
        sys.stderr.write("decoding the training faces into memory (--preload) ...\n")
    last = None
    # under torchrun every rank gets the signal and may stop at another step than the others: not caught
    with StopOnSignal("the current step, saving the training state", enabled=int(os.environ.get("WORLD_SIZE", "1")) == 1
                       ) as stop:
        events = train(cfg, should_stop=stop)
        try:
            for event in events:
                last = event   # a finished step (its state is saved however the run ends)
                _report_event(event, quiet, bar)
        except KeyboardInterrupt:
            events.close()   # the loop saves the state of the last finished step
            if not quiet:
                step = last.step if last is not None else 0
                sys.stderr.write(f"\nstopped at once after step {step}: training state in "
                                 f"{Path(cfg.out) / 'state.pt'} (continue with --resume)\n")
            return 130
    if not quiet and last is not None and last.checkpoint:
        print(f"checkpoint: {last.checkpoint}")
    if stop.requested:
        if not quiet and last is None:
            print("stopped before the first step (while the training faces were being decoded): "
                  "nothing was trained or written")
        elif not quiet:
            print(f"stopped after step {last.step}: training state in {Path(cfg.out) / 'state.pt'} "
                  "(continue with --resume)")
        return 130
    return 0


def _report_event(event, quiet: bool, bar: Progress) -> None:
    """Print one TrainEvent (rank 0 only)."""
    if not quiet:
        msg = " ".join(f"{k}={v:.4f}" for k, v in event.losses.items())
        if event.val:
            sys.stderr.write("\n" + " ".join(f"val_{k}={v:.4f}" for k, v in event.val.items()) + "\n")
        bar(event.step / event.total, f"step {event.step} {msg}")


def _cmd_labels(args: argparse.Namespace) -> int:
    from .train.dataset import list_images
    from .train.parsing_labels import build_cache

    counts = build_cache(list_images(args.data), args.out, hr_size=args.hr_size, crop=args.crop, progress=Progress())
    print(f"labelled {counts.done}, already cached {counts.skipped}, no face found {counts.no_face}")
    return 0


def _default_model() -> str:
    """:func:`facesr_gui.catalog.default_model`'s id, with a warning when that is ``bicubic``."""
    from .catalog import default_model
    from .paths import models_dir

    entry = default_model()
    if entry.source == "net":
        sys.stderr.write(f"warning: no bundled model in {models_dir() / 'manifest.json'}; using 'bicubic' (upscaling "
                         "only, no face detail added). Pass --model NAME or a .safetensors checkpoint.\n")
    return entry.id


def _restorer_spec(args: argparse.Namespace):
    """The ``--model`` and restorer options as one :class:`~facesr_gui.catalog.RestorerSpec`."""
    from .catalog import RestorerSpec, resolve

    return RestorerSpec(resolve(args.model), args.device, args.half, args.mask, False if args.fp32 else None,
                        args.flip_ensemble, args.min_face, args.backend)


def _make_restorer(args: argparse.Namespace):
    import torch

    args.device = args.device or "cpu"
    if str(args.device).startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"--device {args.device}: CUDA is not available on this machine (use --device cpu)")
    return _restorer_spec(args).build()


def _on_cpu(args: argparse.Namespace):
    """An input ran out of GPU memory: say so, drop the GPU's memory and go on on the CPU, that input first."""
    import torch

    from .service import FALLBACK_MESSAGE

    sys.stderr.write(f"\n{FALLBACK_MESSAGE}\n")
    torch.cuda.empty_cache()
    args.device = "cpu"
    return _make_restorer(args)


def _ray_batch(args: argparse.Namespace):
    """``(enhance_on_ray with the --ray options, the restorer's spec)``, once connected (:mod:`facesr_gui.cluster`)."""
    import functools

    from . import cluster

    cluster.require_ray()   # one line saying how to install it, before anything else
    args.device = args.device or "auto"
    spec = _restorer_spec(args)
    args.ray_connected = cluster.connect(None if args.ray == "local" else args.ray)
    return functools.partial(cluster.enhance_on_ray, segment_s=args.ray_segment_s, retries=args.ray_retries), spec


def _cmd_enhance(args: argparse.Namespace) -> int:
    from .pipeline.engine import collect_inputs, enhance_paths

    if args.demo:
        if args.inputs:
            raise ValueError("--demo takes no INPUT (it builds its own sample)")
        args.model = args.model or _default_model()
        return _run_demo(args, _make_restorer(args))
    if not args.inputs:
        raise ValueError("give at least one INPUT file or folder (or --demo)")
    skipped: list[tuple[Path, str]] = []
    inputs = collect_inputs(args.inputs, skipped)
    for path, reason in skipped:
        sys.stderr.write(f"skipped   {path}: {reason}\n")
    if not inputs:
        raise ValueError(f"no images or videos found in {', '.join(args.inputs)}"
                         + (f" ({len(skipped)} skipped, see above)" if skipped else ""))
    args.model = args.model or _default_model()
    batch, model = _ray_batch(args) if args.ray is not None else (enhance_paths, _make_restorer(args))
    models = [model]   # handed over below: only the batch holds a GPU restorer, so its fallback can free it
    del model
    bar = None if args.json else Progress(sys.stderr)

    def on_item(item) -> None:
        if not args.json:
            sys.stderr.write("\r" + " " * 110 + "\r")
            print(item_line(item), flush=True)

    max_pixels = None if args.max_megapixels is None else int(args.max_megapixels * 1_000_000)
    extra = {}
    if args.ray is None and str(args.device).startswith("cuda"):
        extra["fallback"] = lambda: _on_cpu(args)
    done: list = []
    try:
        with StopOnSignal() as stop:
            report = batch(inputs, args.out, models.pop(), upscale=args.upscale, progress=bar, should_stop=stop,
                           on_item=lambda item: (done.append(item), on_item(item)),
                           detect_every=args.detect_every or default_detect_every(), max_pixels=max_pixels,
                           provenance=args.provenance, stabilise=not args.no_stabilise, **extra)
    except KeyboardInterrupt as exc:   # a second signal: say what was done and what was left
        sys.stderr.write("\n" + left_over(inputs, done, exc) + "\n")
        return 130
    finally:
        if getattr(args, "ray_connected", False):
            from .cluster import disconnect

            disconnect()
    code = 130 if report.cancelled else (0 if report.ok else 1)
    if args.json:
        print(json.dumps({"model": args.model, "device": str(args.device), **report.as_dict(),
                          "skipped": [{"path": str(p), "reason": r} for p, r in skipped], "exit_code": code},
                         indent=2))
    else:
        counts = ", ".join(f"{report.count(s)} {s}" for s in ("ok", "no-face", "error", "cancelled") if report.count(s))
        print(f"{len(report.items)} input(s): {counts}")
    return code


def _run_demo(args: argparse.Namespace, restorer) -> int:
    """Degrade the bundled sample portrait to a surveillance-like frame, enhance it and
    write ``demo_input.png``, ``demo_enhanced.png`` and ``demo_faces.png`` into ``--out`` (``demo_*_2.png``
    and so on when any of them exists: nothing is overwritten); ``--provenance``: ``demo_enhanced.png.json`` too."""
    from .paths import resources_dir
    from .pipeline.engine import face_sheet
    from .pipeline.sizing import auto_upscale
    from .pipeline.imageio import load_image, save_image
    from .pipeline.provenance import TEXT_KEY, face_records, options_of, sidecar_path, summary_line, write_provenance
    from .selftest import DEGRADE_FACTOR, DEGRADE_JPEG_QUALITY, SAMPLE, degrade

    sample = resources_dir() / SAMPLE
    portrait = load_image(sample).rgb
    frame = degrade(portrait)
    h, w = frame.shape[:2]
    dets = restorer.detect(frame)
    up = auto_upscale(h, w, dets, restorer.sr_size, restorer.scale) if args.upscale == "auto" else args.upscale
    result = restorer.enhance(frame, detections=dets, upscale=up)
    out = Path(args.out or "facesr-demo")
    files, n = {name: out / f"demo_{name}.png" for name in ("input", "enhanced", "faces")}, 1
    while any(os.path.lexists(f) for f in [*files.values(), sidecar_path(files["enhanced"])]):
        n += 1   # never overwrite an earlier demo, its provenance or the user's file
        files = {name: out / f"demo_{name}_{n}.png" for name in ("input", "enhanced", "faces")}
    model = restorer.model.hashed() if args.provenance else None
    save_image(files["input"], frame)
    save_image(files["enhanced"], result.image, comment=(TEXT_KEY, summary_line(model)) if model else None)
    save_image(files["faces"], face_sheet(result, label=f"SR: {args.model}"))
    if model is not None:
        files["provenance"] = write_provenance(files["input"], files["enhanced"], model, options_of(restorer, up),
                                               faces=face_records(result.faces))
    widths = [float(b[2] - b[0]) for b in dets.boxes]
    if args.json:
        print(json.dumps({"model": args.model, "sample": str(sample), "input_size": [w, h], "upscale": up,
                          "faces": len(result.faces), "face_widths_px": widths,
                          "files": {k: str(v) for k, v in files.items()}}, indent=2))
    else:
        face_px = ", ".join(f"{x:.0f}" for x in widths) or "none"
        print(f"demo: {sample.name} {portrait.shape[1]}x{portrait.shape[0]} degraded (x{DEGRADE_FACTOR} area "
              f"downscale + JPEG q{DEGRADE_JPEG_QUALITY}) to {w}x{h}, face width {face_px} px; "
              f"enhanced x{up} with {args.model}: {len(result.faces)} face(s)")
        for name, path in files.items():
            print(f"  {name:<10} {path}")
    if not result.faces:
        sys.stderr.write("warning: no face was found in the degraded sample\n")
        return 1
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = ArgParser(prog="facesr", description="FaceSR Studio command line")
    sub = p.add_subparsers(dest="cmd", required=True)

    b = sub.add_parser("bench", help="parameter count, GMACs, latency and throughput per network")
    b.add_argument("--nets", help="comma-separated network names (default: all)")
    b.add_argument("--device", default="cpu")
    b.add_argument("--tiny", action="store_true", help="benchmark the tiny test variants")
    b.add_argument("--repeats", type=POSITIVE, default=3)
    b.add_argument("--batch", type=POSITIVE, default=16)
    b.add_argument("--json", action="store_true")
    b.set_defaults(func=_cmd_bench)

    m = sub.add_parser("models", help="list the networks")
    m.set_defaults(func=_cmd_models)

    e = sub.add_parser("eval", help="PSNR/SSIM (Y channel) of a model on a folder of HR faces")
    e.add_argument("--model", required=True, help="network name (bundled weights) or a checkpoint file")
    e.add_argument("--hr", required=True, help="folder of HR face images")
    e.add_argument("--scale", type=number_arg(int, 1, 16), default=None)
    e.add_argument("--device", default="cpu")
    e.add_argument("--limit", type=POSITIVE, default=None, help="evaluate only the first N images")
    e.add_argument("--batch", type=POSITIVE, default=16)
    e.add_argument("--hr-size", type=number_arg(int, 8, 4096), default=128, help="HR side the faces are resized to (default 128)")
    e.add_argument("--lr", metavar="DIR",
                   help="folder of paired LR faces (matched to --hr by file stem, any image extension) used instead "
                        "of LR inputs made from the HR faces")
    add_degradation_args(e, "how the LR inputs are made from the HR faces")
    e.add_argument("--seed", type=int, default=0,
                   help="seed of the degradation and jitter draws (per file name: the same inputs every run)")
    e.add_argument("--face", action="store_true",
                   help="also FR-PSNR/FR-SSIM on the face region dlib detects in the HR face, and dlib identity "
                        "similarity (cosine of 128-D embeddings) of SR vs HR and bicubic vs HR")
    e.add_argument("--flip-ensemble", action="store_true",
                   help="measure the net's mean over each face and its mirror image (2x the compute)")
    e.add_argument("--json", action="store_true")
    e.add_argument("--per-image", action="store_true", help="include per-image values in --json output")
    e.set_defaults(func=_cmd_eval)

    t = sub.add_parser("train", help="train or fine-tune a network on a folder of faces")
    t.add_argument("--model", required=True, help="network name")
    t.add_argument("--data", required=True, help="folder of training face images")
    t.add_argument("--val", help="folder of validation face images")
    t.add_argument("--steps", type=POSITIVE, default=1000)
    t.add_argument("--batch", type=POSITIVE, default=16)
    t.add_argument("--lr", type=number_arg(float, 0, 1, above=True), default=None, help="learning rate (default: the paper's)")
    t.add_argument("--out", default="runs", help="output folder for checkpoints")
    t.add_argument("--resume", help="resume from a training state (.pt) written by a previous run")
    t.add_argument("--device", default="cpu")
    t.add_argument("--val-every", type=POSITIVE, default=200)
    t.add_argument("--val-limit", type=POSITIVE, default=64)
    t.add_argument("--net-cfg", type=json_object_arg, help='JSON network config, e.g. \'{"width": 64}\'')
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--workers", type=NON_NEGATIVE, default=0)
    t.add_argument("--parsing", help="parsing-label cache made by `facesr labels` (W-Net, CAGFace, priorsr)")
    t.add_argument("--no-gan", action="store_true", help="skip the paper's GAN phase (PSNR-oriented training)")
    t.add_argument("--init", help="weights (.safetensors) to fine-tune from")
    t.add_argument("--gan-weight", type=number_arg(float, 0), default=None,
                   help="adversarial loss weight of the GAN phase (default: the recipe's, 1e-3 where the paper gives none)")
    t.add_argument("--fp32", action="store_true",
                   help="no bf16 autocast (default: bf16 forward pass on CUDA and on CPUs with native bf16)")
    t.add_argument("--schedule", default="constant", choices=["constant", "cosine"],
                   help="learning-rate schedule (cosine: warm-up, then decay to 1%% of --lr)")
    t.add_argument("--warmup", type=NON_NEGATIVE, default=0, help="warm-up steps of the cosine schedule")
    t.add_argument("--save-every", type=POSITIVE, default=500, help="write state and weights every N steps")
    t.add_argument("--time-budget", type=number_arg(float, 0, above=True), default=None, metavar="MIN",
                   help="fit the run into MIN minutes: --steps becomes the most the pace measured over the "
                        "warm-up allows (the schedule then follows that length)")
    t.add_argument("--preload", action="store_true",
                   help="decode every training face once and keep it in memory (about 90 KB per face and "
                        "augmented form; not with zoom augmentation): faster steps, on a GPU much faster")
    t.add_argument("--rotate", action="store_true",
                   help="also augment with 90/180/270-degree turns (EIPNet/JEANet); default flips only, "
                        "since the pipeline hands the nets upright aligned faces")
    t.add_argument("--crop", default="celeba", choices=["celeba", "center", "none"],
                   help="how faces are cut from the images (celeba: centre 178x178 of aligned CelebA)")
    add_degradation_args(t, "how LR training faces are made from the HR ones (validation uses the same); "
                             "realistic/surveillance: camera blur, noise, JPEG/H.264 (train/degradations.py)")
    t.add_argument("--clean-share", type=number_arg(float, 0, 1), default=0.0, metavar="P",
                   help="with --degradation realistic/surveillance: give this share of the training faces the clean "
                        "bicubic LR instead (on top of the pipeline's own 12%%), for a model that must serve both")
    t.add_argument("--loss-weight", type=loss_weight_arg, action="append", metavar="TERM=W",
                   help="replace one term's weight in the network's recipe (repeatable; 0 drops the term), e.g. "
                        "edge=0 for a final pixel-loss phase of EIPNet; the weights are written into the checkpoint")
    t.add_argument("--teacher", action="append", metavar="MODEL",
                   help="distillation: also learn the mean output of this trained model (a model id or a checkpoint "
                        "file; repeatable: an ensemble of several is a better target than any one of them); it must "
                        "have the trained network's scale and LR face size")
    t.add_argument("--teacher-weights", type=weights_arg, default=None, metavar="W,W,...",
                   help="the teachers' shares of their mean, one per --teacher in order (default equal; scaled to "
                        "sum to 1), e.g. 0.75,0.25 when one teacher is much the better")
    t.add_argument("--teacher-flip", action="store_true",
                   help="each teacher's output is its mean over the face and its mirror image (the flip ensemble "
                        "of facesr eval --flip-ensemble): a better target, at twice the teachers' cost")
    t.add_argument("--distill-weight", type=number_arg(float, 0), default=1.0, metavar="W",
                   help="weight of the teachers' term, times the recipe's first (pixel) term's weight (default 1: "
                        "the HR face and the teachers' output count the same)")
    t.set_defaults(func=_cmd_train)

    lb = sub.add_parser("labels", help="build the pseudo parsing-label cache (mediapipe face mesh) for a face folder")
    lb.add_argument("--data", required=True, help="folder of face images")
    lb.add_argument("--out", required=True, help="cache folder (one .npz per image)")
    lb.add_argument("--hr-size", type=number_arg(int, 8, 4096), default=128)
    lb.add_argument("--crop", default="celeba", choices=["celeba", "center", "none"])
    lb.set_defaults(func=_cmd_labels)

    en = sub.add_parser("enhance", help="enhance the faces in images, videos and folders of them")
    add_enhance_args(en)
    en.set_defaults(func=_cmd_enhance)
    return p


def report_error(exc: BaseException) -> int:
    """The CLI's one place for errors: one line ``error: ...`` on stderr, no traceback (unless
    ``FACESR_DEBUG=1``); exit code 2 for bad input (:mod:`facesr_gui.errors`), 1 for a bug."""
    from .errors import debug, describe, is_user_error

    if debug():
        import traceback

        traceback.print_exception(exc)
    sys.stderr.write(f"error: {describe(exc)}\n")
    return 2 if is_user_error(exc) else 1


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; returns the exit code (2: bad arguments or input, 130: interrupted)."""
    limit_malloc_arenas()   # before any thread allocates (facesr_gui.memory)
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:   # a usage error (one line already printed) or --help
        return exc.code if isinstance(exc.code, int) else 2
    try:
        return args.func(args)
    except KeyboardInterrupt:
        sys.stderr.write("\ninterrupted\n")
        return 130
    except Exception as exc:  # noqa: BLE001 - every error ends as one line (report_error)
        return report_error(exc)


if __name__ == "__main__":
    sys.exit(main())
