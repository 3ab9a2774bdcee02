"""INT8 SR networks through OpenVINO (post-training quantisation by NNCF) against the bf16 path the app runs.

    pip install nncf        # not a dependency of the app: only this measurement needs it
    python benchmarks/bench_int8.py [--models eipnet_w128_cctv,jeanet_s_cctv] [--faces 200] [--json out.json]

Per model, OpenVINO's CPU plugin on one thread, 6 faces of the model's LR side per call (a frame of
the street clip), image output only:

* ``bf16``: what :mod:`facesr_gui.pipeline.accel` compiles today (bf16 where the CPU runs it natively);
* ``int8``: every convolution quantised (NNCF ``MIXED`` preset: symmetric weights, asymmetric
  activations; fast bias correction), calibrated on 300 ``celeba_train`` faces degraded the way the
  model was trained (``training.degradation``, seed 1: never the evaluation's draws);
* ``int8, first and last conv kept``: the same with the first and the last convolution left in bf16
  (the image-facing layers, whose errors reach the output unfiltered).

and, on the first ``--faces`` ``celeba_dev`` faces (x8, 128 px HR), the gain over bicubic in Y-PSNR on
camera-like inputs (``realistic``, seed 0) and on clean bicubic inputs. ms are the median of 5 rounds of
20 calls, one warm-up call first; run it with nothing else on the machine for speeds that compare with
``benchmarks/README.md``.

A script, not a test: numbers are reported, never asserted (benchmarks/README.md has measured ones).
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

from facesr_gui.catalog import load_net, resolve
from facesr_gui.nets.outputs import SROutput
from facesr_gui.pipeline import accel
from facesr_gui.precision import cpu_has_bf16
from facesr_gui.train.dataset import FaceFolder
from facesr_gui.train.evaluate import evaluate_folder

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


class _Compiled(nn.Module):
    """An OpenVINO compiled model in the shape :func:`evaluate_folder` measures: ``scale``, a parameter
    (the device is read from it) and SROutput out."""

    def __init__(self, compiled, scale: int) -> None:
        super().__init__()
        self.compiled, self.request, self.scale = compiled, compiled.create_infer_request(), scale
        self.anchor = nn.Parameter(torch.zeros(1))

    def forward(self, lr: torch.Tensor) -> SROutput:
        out = self.request.infer({0: np.ascontiguousarray(lr.numpy())})[self.compiled.outputs[0]]
        return SROutput(torch.from_numpy(np.array(out)), {})


def _ms(compiled, x: np.ndarray) -> float:
    request = compiled.create_infer_request()
    request.infer({0: x})
    rounds = []
    for _ in range(5):
        t = time.perf_counter()
        for _ in range(20):
            request.infer({0: x})
        rounds.append((time.perf_counter() - t) * 1000 / 20)
    return statistics.median(rounds)


def measure(model_id: str, faces: int, calibration: int, data: Path) -> list[dict]:
    import nncf
    import openvino as ov

    torch.set_num_threads(1)
    entry = resolve(model_id)
    net = load_net(entry).eval()
    side = entry.lr_size
    example = torch.zeros(1, 3, side, side)
    model = ov.convert_model(accel._Flat(net, ()).eval(), example_input=example,
                             input=[ov.PartialShape([-1, 3, side, side])])
    convs = [op.get_friendly_name() for op in model.get_ordered_ops() if op.get_type_name() == "Convolution"]
    train = FaceFolder(data / "celeba_train", hr_size=side * entry.scale, scale=entry.scale, augment=False,
                       crop="celeba", with_edges=False, degradation=entry.degradation, seed=1)
    step = max(1, len(train) // calibration)
    samples = [train[i * step]["lr"][None].numpy() for i in range(calibration)]
    variants = {"bf16": model}
    for name, kept in (("int8", None), ("int8, first and last conv kept", [convs[0], convs[-1]])):
        variants[name] = nncf.quantize(model, nncf.Dataset(samples), subset_size=calibration,
                                       preset=nncf.QuantizationPreset.MIXED,
                                       **({"ignored_scope": nncf.IgnoredScope(names=kept)} if kept else {}))
    core = ov.Core()
    x = np.random.default_rng(0).random((6, 3, side, side), dtype=np.float32)
    rows = []
    for name, variant in variants.items():
        compiled = core.compile_model(variant, "CPU", {
            "INFERENCE_NUM_THREADS": 1, "ENABLE_CPU_PINNING": False,
            "INFERENCE_PRECISION_HINT": "bf16" if cpu_has_bf16() else "f32"})
        row = {"model": model_id, "variant": name, "ms_6_faces": round(_ms(compiled, x), 1)}
        for degradation in ("realistic", "bicubic"):
            result = evaluate_folder(_Compiled(compiled, entry.scale), data / "celeba_dev", limit=faces,
                                     degradation=degradation, seed=0)
            row[f"gain_{degradation}"] = round(result.mean["psnr"] - result.mean["bicubic_psnr"], 4)
        rows.append(row)
        print(f"{model_id:18s} {name:32s} {row['ms_6_faces']:7.1f} ms   camera-like {row['gain_realistic']:+.3f} dB"
              f"   clean {row['gain_bicubic']:+.3f} dB", flush=True)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--models", default="eipnet_w128_cctv,jeanet_s_cctv", help="comma-separated model ids")
    ap.add_argument("--faces", type=int, default=200, help="celeba_dev faces measured (534: all)")
    ap.add_argument("--calibration", type=int, default=300, help="celeba_train faces NNCF calibrates on")
    ap.add_argument("--data", type=Path, default=DATA, help="folder with celeba_train/ and celeba_dev/")
    ap.add_argument("--json", type=Path, default=None, help="also write the rows here")
    args = ap.parse_args()
    try:
        import nncf  # noqa: F401 - only whether it is there
    except ImportError:
        sys.exit("error: this measurement needs NNCF: pip install nncf")
    rows = [row for model_id in args.models.split(",") for row in
            measure(model_id.strip(), args.faces, args.calibration, args.data)]
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
