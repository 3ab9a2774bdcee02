"""Bundle a trained checkpoint into models/: measure it on celeba_dev, fp16 if it holds, write the card.

    python scripts/bundle_model.py RUN/eipnet.safetensors --id eipnet \\
        --dev ../shared/data/celeba_dev --steps 20000 --wall-time-s 8000 \\
        --data "celeba_train (4,806 aligned CelebA photos)" --notes "..."
"""
from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from pathlib import Path

from facesr_gui.paths import models_dir
from facesr_gui.train.bundle import bundle_model, hardware_label


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("checkpoint")
    p.add_argument("--id", required=True, help="model id in the manifest")
    p.add_argument("--dev", required=True, help="held-out folder of HR faces (celeba_dev)")
    p.add_argument("--models", default=str(models_dir()))
    p.add_argument("--limit", type=int, default=None)
    p.add_argument("--data", required=True, help="what it was trained on")
    p.add_argument("--steps", type=int, required=True)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--wall-time-s", type=float, required=True)
    p.add_argument("--hardware", default=None, help="default: this machine")
    p.add_argument("--recipe", default="", help="losses and schedule used")
    p.add_argument("--notes", default="")
    p.add_argument("--parsing-dev", default=None,
                   help="parsing labels of --dev (facesr labels): CAGFace's component IoU is measured on them")
    a = p.parse_args(argv)
    training = {"data": a.data, "steps": a.steps, "batch_size": a.batch, "wall_time_s": a.wall_time_s,
                "hardware": a.hardware or hardware_label(), "recipe": a.recipe}
    card = bundle_model(a.checkpoint, a.id, a.models, a.dev, training, limit=a.limit, notes=a.notes,
                        parsing_dev=a.parsing_dev)
    print(json.dumps(asdict(card), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
