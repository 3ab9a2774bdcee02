"""Measure bundled models on camera-like inputs (the 'realistic' degradation, seed 0, dlib identity)
and record it in their cards; the weights and their sha256 stay as they are.

    python scripts/measure_realistic.py --dev ../shared/data/celeba_dev [ID ...]   # default: every model
"""
from __future__ import annotations

import argparse
import json
import sys

from facesr_gui.manifest import read_manifest
from facesr_gui.paths import models_dir
from facesr_gui.train.bundle import measure_realistic, realistic_set_name


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("ids", nargs="*", help="model ids (default: every bundled model)")
    p.add_argument("--dev", required=True, help="held-out folder of HR faces (celeba_dev)")
    p.add_argument("--models", default=str(models_dir()))
    p.add_argument("--limit", type=int, default=None)
    a = p.parse_args(argv)
    ids = a.ids or [c.id for c in read_manifest(f"{a.models}/manifest.json")]
    for model_id in ids:
        card = measure_realistic(model_id, a.models, a.dev, limit=a.limit)
        print(json.dumps({"id": model_id, **card.metrics[realistic_set_name(a.dev)]}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
