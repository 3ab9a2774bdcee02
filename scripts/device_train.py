"""Train bundled-model recipes on a lent GPU (the device tool) inside one call, then bundle them here.

A device call carries the working tree and at most 64 MiB, runs at most 10 minutes and brings back at
most 8 files of 16 MiB from ``$OUT``; the machine has PyTorch, NumPy, OpenCV, Pillow and safetensors but
not this package's other dependencies and no ``../shared``. So::

    python scripts/device_train.py pack                    # here: .devdata/ (training faces, 64 dev faces,
                                                           # the parsing labels as PNG), ~50 MB, git-ignored
    # device run with carry [".devdata"], e.g. timeout_s 600:
    python3 scripts/device_train.py run --minutes 8 --deadline 540 eipnet_paper priorsr_paper
    python scripts/device_train.py unpack /work/.device/... # here: runs/<id>/<net>.safetensors, device_run.json
    bash scripts/train_models.sh bundle <id> <wall s> "NVIDIA H200, ..."

``pack --no-parsing`` leaves the parsing labels out (EIPNet and JEANet recipes need none; 42 MiB).

``run`` starts every recipe id of ``scripts/train_models.sh`` at once with ``BUDGET`` minutes
(``train --time-budget``: each run fixes its length from the pace it measures), ``--preload`` and
``DEVICE=cuda``, then writes each run's EMA weights to ``$OUT`` in fp16, split into parts below the
file limit, with the logs. States (optimiser included) are too large to bring back: a later session
continues from the weights with ``--init``; each run's step count and batch come back in the summary
(``unpack`` writes them to ``runs/<id>/device_run.json``, which ``train_models.sh bundle`` reads when
there is no ``state.pt``). ``--deadline S`` stops every run still going S seconds after the start
(SIGTERM to each trainer: it finishes its step and saves its weights), so that a run whose pace was measured while
the others were still loading cannot outlast the device call and lose everything.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tarfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PART_BYTES = 15 * 2**20            # below the device tool's 16 MiB per returned file
DEV_FACES = 64


def _pack(args: argparse.Namespace) -> int:
    import numpy as np
    from PIL import Image

    data, out = Path(args.data), Path(args.out)
    parsing = Path(args.parsing)
    if not args.no_parsing and not parsing.is_dir():
        sys.exit(f"no parsing cache at {parsing}: run `bash scripts/train_models.sh labels` first "
                 "(or pack --no-parsing for recipes that need none)")
    if out.exists():
        shutil.rmtree(out)
    shutil.copytree(data / "celeba_train", out / "celeba_train")
    (out / "celeba_dev").mkdir(parents=True)
    for p in sorted((data / "celeba_dev").iterdir())[:DEV_FACES]:
        shutil.copy(p, out / "celeba_dev" / p.name)
    (out / "parsing_train").mkdir()
    # the label map alone, lossless: the loader reads PNG maps too
    for f in [] if args.no_parsing else sorted(parsing.glob("*.npz")):
        with np.load(f) as z:
            Image.fromarray(z["parsing"]).save(out / "parsing_train" / f"{f.stem}.png", optimize=True)
    size = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    print(f"{out}: {size / 2**20:.1f} MiB (the device call carries 64 MiB with the repository)")
    return 0


def _split(path: Path, dest: Path) -> list[Path]:
    blob = path.read_bytes()
    parts = []
    for k in range(0, max(len(blob), 1), PART_BYTES):
        part = dest / f"{path.name}.part{k // PART_BYTES:02d}"
        part.write_bytes(blob[k:k + PART_BYTES])
        parts.append(part)
    return parts


def _to_fp16(src: Path, dst: Path) -> None:
    from safetensors import safe_open
    from safetensors.torch import save_file

    with safe_open(str(src), "pt") as f:
        meta = f.metadata()
        tensors = {k: f.get_tensor(k) for k in f.keys()}
    tensors = {k: v.half() if v.is_floating_point() else v for k, v in tensors.items()}
    save_file({k: v.contiguous() for k, v in tensors.items()}, str(dst), metadata=meta)


def _run(args: argparse.Namespace) -> int:
    out = Path(os.environ.get("OUT", args.out))
    runs = Path(args.runs)
    runs.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, DATA=args.data, DEVICE=args.device, RUNS=str(runs), PARSING=f"{args.data}/parsing_train",
               BUDGET=str(args.minutes), FACESR=f"{sys.executable} -m facesr_gui.cli",
               PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])))
    t0 = time.monotonic()
    procs = {}
    for rid in args.ids:
        log = open(runs / f"{rid}.log", "w")
        # its own process group: the deadline's signal reaches the trainer, and the end waits for all of it
        procs[rid] = (subprocess.Popen(["bash", str(REPO / "scripts" / "train_models.sh"), rid], env=env,
                                       stdout=log, stderr=subprocess.STDOUT, cwd=REPO, start_new_session=True), log)
    summary = {rid: {} for rid in args.ids}
    stopped: set[str] = set()
    while len(stopped) < len(procs):
        for rid, (proc, log) in procs.items():
            if rid not in stopped and proc.poll() is not None:
                _wait_group(proc.pid, 120.0)   # the trainer under bash may still be saving
                summary[rid].update(returncode=proc.returncode, wall_s=round(time.monotonic() - t0, 1))
                log.close()
                stopped.add(rid)
        if args.deadline and time.monotonic() - t0 > args.deadline:
            for rid, (proc, _) in procs.items():
                if rid not in stopped and not summary[rid].get("deadline"):
                    summary[rid]["deadline"] = True
                    print(f"{rid}: deadline of {args.deadline:.0f} s reached, stopping it", flush=True)
                    _stop_trainer(proc.pid)
        time.sleep(0.5)
    out.mkdir(parents=True, exist_ok=True)
    for rid in args.ids:
        weights = sorted((runs / rid).glob("*.safetensors"))
        summary[rid].update(_state_info(runs / rid / "state.pt"))
        if weights:
            half = runs / rid / f"{rid}__{weights[0].stem}.fp16.safetensors"
            _to_fp16(weights[0], half)
            summary[rid]["parts"] = [p.name for p in _split(half, out)]
        print(rid, json.dumps(summary[rid]), flush=True)
    (runs / "summary.json").write_text(json.dumps(summary, indent=1))
    with tarfile.open(out / "logs.tar.gz", "w:gz") as tar:
        for p in [runs / "summary.json", *sorted(runs.glob("*.log"))]:
            tar.add(p, arcname=p.name)
    return 0 if all(s["returncode"] == 0 for s in summary.values()) else 1


def _signal_group(pid: int, sig: int) -> None:
    try:
        os.killpg(pid, sig)
    except ProcessLookupError:
        pass


def _stop_trainer(pid: int) -> None:
    """SIGTERM to the trainer(s) bash ``pid`` runs, not to their DataLoader workers (a killed worker
    fails the step the trainer would otherwise finish and save); the whole group if none is found."""
    try:
        children = [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except (OSError, ValueError):
        children = []
    for child in children:
        try:
            os.kill(child, signal.SIGTERM)
        except ProcessLookupError:
            pass
    if not children:
        _signal_group(pid, signal.SIGTERM)


def _wait_group(pid: int, timeout: float) -> None:
    """Wait until no process of the group ``pid`` leads is left (SIGKILL after ``timeout`` s)."""
    end = time.monotonic() + timeout
    while True:
        try:
            os.killpg(pid, 0)
        except ProcessLookupError:
            return
        if time.monotonic() > end:
            _signal_group(pid, signal.SIGKILL)
            return
        time.sleep(0.2)


def _state_info(state: Path) -> dict:
    """Step reached, planned length and batch of a run, from its training state (``{}`` without one)."""
    if not state.is_file():
        return {}
    import torch

    s = torch.load(state, map_location="cpu", weights_only=True)
    cfg = json.loads(s["config"])
    return {"step": int(s["step"]), "steps": int(cfg["steps"]), "batch": int(cfg["batch_size"])}


def _unpack(args: argparse.Namespace) -> int:
    src, runs = Path(args.files_at), Path(args.runs)
    groups: dict[str, list[Path]] = {}
    for part in sorted(src.glob("*.part[0-9][0-9]")):
        groups.setdefault(part.name.rsplit(".part", 1)[0], []).append(part)
    for name, parts in groups.items():
        rid, rest = name.split("__", 1)          # <id>__<net>.fp16.safetensors
        dest = runs / rid / rest.replace(".fp16", "")
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_bytes(b"".join(p.read_bytes() for p in parts))
        print(dest)
    if (src / "logs.tar.gz").is_file():
        with tarfile.open(src / "logs.tar.gz") as tar:
            tar.extractall(runs / "device_logs", filter="data")
        print(runs / "device_logs")
        summary = runs / "device_logs" / "summary.json"
        for rid, info in (json.loads(summary.read_text()) if summary.is_file() else {}).items():
            if (runs / rid).is_dir():
                (runs / rid / "device_run.json").write_text(json.dumps(info, indent=1))
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("pack", help="here: .devdata/ for the device call")
    p.add_argument("--data", default=str(REPO.parent / "shared" / "data"))
    p.add_argument("--parsing", default=str(REPO / "runs" / "parsing_train"))
    p.add_argument("--out", default=str(REPO / ".devdata"))
    p.add_argument("--no-parsing", action="store_true", help="leave the parsing labels out (EIPNet/JEANet recipes)")
    p.set_defaults(func=_pack)
    r = sub.add_parser("run", help="on the device: train recipe ids in parallel, weights to $OUT")
    r.add_argument("ids", nargs="+", help="recipe ids of scripts/train_models.sh")
    r.add_argument("--minutes", type=float, required=True, help="training time of every run")
    r.add_argument("--data", default=".devdata")
    r.add_argument("--device", default="cuda")
    r.add_argument("--deadline", type=float, default=None,
                   help="seconds after the start at which runs still going are stopped (they save their weights)")
    r.add_argument("--runs", default="/tmp/device_runs")
    r.add_argument("--out", default="device_out", help="where $OUT is unset (a dry run here)")
    r.set_defaults(func=_run)
    u = sub.add_parser("unpack", help="here: returned parts -> runs/<id>/<net>.safetensors")
    u.add_argument("files_at")
    u.add_argument("--runs", default=str(REPO / "runs"))
    u.set_defaults(func=_unpack)
    args = ap.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
