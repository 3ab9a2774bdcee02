"""Widen a trained EIPNet checkpoint without changing what it computes (facesr_gui/train/widen.py).

    python scripts/widen_eipnet.py models/eipnet_w128.safetensors 192 runs/eipnet_w192_init.safetensors

The output is float32 weights with the wider config; fine-tune it with ``facesr train --init``.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from facesr_gui.checkpoints import load_checkpoint, save_checkpoint  # noqa: E402
from facesr_gui.errors import USER_ERRORS, describe  # noqa: E402
from facesr_gui.train.widen import widen_eipnet  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("weights", help="EIPNet weights (.safetensors)")
    ap.add_argument("width", type=int, help="new width (a multiple of 8, at least the old one)")
    ap.add_argument("out", help="where to write the wider weights")
    ap.add_argument("--noise", type=float, default=1e-3,
                    help="noise on the copied channels' weights, relative to each layer's std (breaks symmetry)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    try:
        net, header = load_checkpoint(args.weights)
        if header.get("net") != "eipnet":
            sys.exit(f"error: {args.weights}: holds {header.get('net')} weights, not eipnet")
        wide = widen_eipnet(net.float(), args.width, noise=args.noise, seed=args.seed)
    except USER_ERRORS as exc:
        sys.exit(f"error: {describe(exc)}")
    meta = {"widened_from": str(args.weights), "from_width": net.config["width"], "noise": args.noise,
            "seed": args.seed}
    print(save_checkpoint(args.out, wide, meta=meta))
    return 0


if __name__ == "__main__":
    sys.exit(main())
