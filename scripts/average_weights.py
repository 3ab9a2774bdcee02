"""Average the weights of fine-tuned checkpoints of one network (facesr_gui/train/average.py).

    python scripts/average_weights.py runs/a/eipnet.safetensors runs/b/eipnet.safetensors runs/soup.safetensors

The output is float32 weights with the inputs' config; measure it like any checkpoint
(``facesr eval --model runs/soup.safetensors ...``) before keeping it.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from facesr_gui.checkpoints import load_checkpoint, save_checkpoint  # noqa: E402
from facesr_gui.cli_support import weights_arg  # noqa: E402
from facesr_gui.errors import USER_ERRORS, describe  # noqa: E402
from facesr_gui.train.average import average_nets  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("weights", nargs="+", help="two or more checkpoints of the same network and config, then the output")
    ap.add_argument("--weights-of", type=weights_arg, default=None, metavar="W,W,...",
                    help="comma-separated share of each input (default: equal)")
    args = ap.parse_args(argv)
    *inputs, out = args.weights
    if len(inputs) < 2:
        sys.exit("error: give at least two checkpoints to average, then the output file")
    if Path(out).exists():
        sys.exit(f"error: {out} already exists: choose another output file")
    try:
        loaded = [load_checkpoint(p) for p in inputs]
        shares = list(args.weights_of) if args.weights_of else None
        net = average_nets([n for n, _ in loaded], shares)
    except USER_ERRORS as exc:
        sys.exit(f"error: {describe(exc)}")
    meta = {"averaged_from": [str(p) for p in inputs], **({"shares": shares} if shares else {})}
    print(save_checkpoint(out, net, meta=meta))
    return 0


if __name__ == "__main__":
    sys.exit(main())
