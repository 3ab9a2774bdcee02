"""Do pasted faces beat the frame they came from? Face-region quality of the whole photo path.

    python benchmarks/bench_paste.py [--faces 40] [--shrink 12,8,6,4] [--upscales 1,2,3]
                                     [--degradation realistic] [--models bicubic,ID] [--json out.json]

``facesr eval`` measures the networks on aligned crops. This measures what a user gets: held-out
CelebA faces (``../shared/data/celeba_dev``, the first ``--faces``) are shrunk ``--shrink`` times
by a ``--degradation`` pipeline of :mod:`facesr_gui.train.degradations` (seed 0, one generator per
face), framed in a replicated border, found by the app's detector, and restored by
:meth:`FaceRestorer.enhance` at each output scale ``--upscales`` (warp into the LR crop, SR,
colour match, native detail, paste-back: the app's own path). Reported per shrink, output scale and
model: the Y-PSNR of the face's box (the detector's, times the output scale) against the clean photo
area-resized to the output's size, and beside it the frame without any face restored (x1: the input
as it is; above: the input upscaled bicubically, as the app does under the faces).

A script, not a test: numbers are reported, never asserted (benchmarks/README.md has measured ones).
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import cv2
import numpy as np
import torch

from facesr_gui.catalog import default_model, load_restorer
from facesr_gui.metrics import y_psnr_ssim
from facesr_gui.pipeline.faces import Detections
from facesr_gui.train.dataset import list_images
from facesr_gui.train.degradations import degrade, sample_rng

REPO = Path(__file__).resolve().parents[1]
DEV = REPO.parent / "shared" / "data" / "celeba_dev"


def y_psnr(a: np.ndarray, b: np.ndarray) -> float:
    """Y-PSNR of two uint8 RGB arrays, dB, as ``facesr eval`` and the GUI measure it (:func:`y_psnr_ssim`)."""
    return y_psnr_ssim(a, b)[0]


def case(hr: np.ndarray, index: int, shrink: int, degradation: str):
    """The degraded frame (the LR photo in a replicated border as wide as the photo is tall), that
    border's width, the clean photo cut to a multiple of ``shrink``, and the LR photo's ``(h, w)``."""
    h, w = (hr.shape[0] // shrink) * shrink, (hr.shape[1] // shrink) * shrink
    hr = hr[:h, :w]
    lr = degrade(hr, shrink, degradation, sample_rng(0, index))
    lr = np.clip(lr * 255.0 + 0.5, 0, 255).astype(np.uint8)
    pad = lr.shape[0]
    frame = cv2.copyMakeBorder(lr, pad, pad, pad, pad, cv2.BORDER_REPLICATE)
    return frame, pad, hr, lr.shape[:2]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--faces", type=int, default=40)
    ap.add_argument("--shrink", default="12,8,6,4", help="how many times each photo is shrunk (comma-separated)")
    ap.add_argument("--upscales", default="1,2,3", help="output scales (comma-separated)")
    ap.add_argument("--degradation", default="realistic")
    ap.add_argument("--models", default=None, help="comma-separated ids (default: bicubic and the default model)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    models = args.models.split(",") if args.models else ["bicubic", default_model().id]
    restorers = {m: load_restorer(m, keep_maps=False) for m in models}
    finder = restorers[models[0]]
    photos = [cv2.cvtColor(cv2.imread(str(p)), cv2.COLOR_BGR2RGB) for p in list_images(DEV)[:args.faces]]
    rows = []
    for shrink in (int(s) for s in args.shrink.split(",")):
        for up in (int(u) for u in args.upscales.split(",")):
            scores: dict[str, list[float]] = {"frame": [], **{m: [] for m in models}}
            sides = []
            for i, photo in enumerate(photos):
                frame, pad, hr, (lh, lw) = case(photo, i, shrink, args.degradation)
                found = finder.detect(frame)
                if not len(found):
                    continue
                k = int(np.argmax(found.scores))
                det = Detections(found.boxes[[k]], found.scores[[k]], found.landmarks[[k]])
                truth = cv2.resize(hr, (lw * up, lh * up), interpolation=cv2.INTER_AREA)
                box = (det.boxes[0] - pad) * up
                x0, y0 = max(int(box[0]), 0), max(int(box[1]), 0)
                x1, y1 = min(int(np.ceil(box[2])), lw * up), min(int(np.ceil(box[3])), lh * up)
                if x1 - x0 < 4 or y1 - y0 < 4:
                    continue
                photo_at = (slice(pad * up, (pad + lh) * up), slice(pad * up, (pad + lw) * up))
                face_at = (slice(y0, y1), slice(x0, x1))
                plain = frame if up == 1 else cv2.resize(frame, None, fx=up, fy=up, interpolation=cv2.INTER_CUBIC)
                scores["frame"].append(y_psnr(plain[photo_at][face_at], truth[face_at]))
                for m, restorer in restorers.items():
                    out = restorer.enhance(frame, detections=det, upscale=up)
                    scores[m].append(y_psnr(out.image[photo_at][face_at], truth[face_at]))
                    sides.append(out.faces[0].side_px)
            row = {"shrink": shrink, "upscale": up, "faces": len(scores["frame"]),
                   "crop_side_px": round(float(np.median(sides)), 1) if sides else None,
                   **{k: round(float(np.mean(v)), 3) for k, v in scores.items() if v}}
            rows.append(row)
            print(row, flush=True)
    print(f"\n{args.degradation}, face-box Y-PSNR (dB) against the clean photo; 'frame': no face restored")
    print("shrink  x  faces  crop px  " + "  ".join(f"{k:>16}" for k in ["frame", *models]))
    for r in rows:
        print(f"{r['shrink']:>6} {r['upscale']:>2} {r['faces']:>6} {r['crop_side_px']!s:>8}  "
              + "  ".join(f"{r.get(k, float('nan')):>16.3f}" for k in ["frame", *models]))
    if args.json:
        args.json.write_text(json.dumps({"degradation": args.degradation, "rows": rows}, indent=2))


if __name__ == "__main__":
    main()
