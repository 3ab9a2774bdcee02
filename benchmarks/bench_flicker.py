"""Flicker and per-frame quality of restored video faces, on synthetic clips with ground truth.

    python benchmarks/bench_flicker.py [--faces 4] [--frames 40] [--models bicubic,ID] [--json out.json]

Each clip is one held-out HQ face (``../shared/data/faces_hq_1024``, the first ``--faces`` files,
never trained on; shrunk to 224 px) on a grey 384x384 canvas, moving along a smooth path (up to 16
px, sub-pixel), filmed by a fixed camera: every frame is blurred (Gaussian sigma 2 px), downscaled
x8 (area: a 48x48 frame with a ~16 px face), given fresh Gaussian noise (sigma 3/255, a new draw
per frame) and JPEG (q 75). Only the noise and the motion change from frame to frame, so whatever
else changes in a restored face is flicker. The clips are written lossless (FFV1) and enhanced by
the app's video path at ``upscale`` 3 (the largest at which the app restores a face of this size:
its aligned crop is ~38 px, and 38 x 3 is the x8 net's 128 px output; the ground truth is the HR
canvas shrunk to the output's 144 px, the face's box where MTCNN finds it on the first HR frame,
moved along the path), with and without the temporal stabiliser
(:mod:`facesr_gui.pipeline.stabilise`). Reported per model and setting:

* ``flicker``: :class:`facesr_gui.pipeline.flicker.FlickerMeter`'s ratio (SR change between
  consecutive frames over bicubic's; 1.0 = no more than the input's own change);
* ``psnr``: Y-PSNR of the output frame against the HR frame on the face's known box, mean over
  frames and clips (bicubic's in its own row).

A script, not a test: numbers are reported, never asserted (benchmarks/README.md has measured ones).
"""
from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import cv2
import numpy as np
import torch

from facesr_gui.catalog import default_model, load_restorer
from facesr_gui.metrics import psnr
from facesr_gui.pipeline.flicker import FlickerMeter
from facesr_gui.pipeline.stabilise import FaceStabiliser
from facesr_gui.pipeline.video import VideoWriter, enhance_video
from facesr_gui.train.dataset import list_images

REPO = Path(__file__).resolve().parents[1]
FACES = REPO.parent / "shared" / "data" / "faces_hq_1024"
CANVAS, SCALE, FACE_PX, OUT = 384, 8, 224, 3


def make_clip(photo: Path, frames: int, seed: int, out: Path) -> tuple[Path, list[np.ndarray], list[tuple]]:
    """The degraded LR clip of ``photo`` and, per frame, the HR canvas and the face's box in it."""
    from facesr_gui.pipeline.detect import FaceDetector

    face = cv2.resize(cv2.cvtColor(cv2.imread(str(photo)), cv2.COLOR_BGR2RGB), (FACE_PX, FACE_PX),
                      interpolation=cv2.INTER_AREA)
    rng = np.random.default_rng(seed)
    face_box = None
    hr_frames, boxes = [], []
    lr_size = CANVAS // SCALE
    x0, y0 = (CANVAS - face.shape[1]) / 2, (CANVAS - face.shape[0]) / 2
    with VideoWriter(out, lr_size, lr_size, 12, lossless=True) as writer:
        for t in range(frames):
            dx, dy = 16 * np.sin(t / 7.0), 10 * np.sin(t / 11.0 + 1.0)
            m = np.array([[1, 0, x0 + dx], [0, 1, y0 + dy]], np.float32)
            canvas = cv2.warpAffine(face, m, (CANVAS, CANVAS), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_CONSTANT,
                                    borderValue=(128, 128, 128))
            inside = cv2.warpAffine(np.ones(face.shape[:2], np.uint8), m, (CANVAS, CANVAS), flags=cv2.INTER_NEAREST)
            canvas[inside == 0] = 128
            out_size = CANVAS // SCALE * OUT
            hr_frames.append(cv2.resize(canvas, (out_size, out_size), interpolation=cv2.INTER_AREA))
            if face_box is None:
                found = FaceDetector(upscale=1.0).detect(canvas)
                face_box = found.boxes[0] - np.array([x0 + dx, y0 + dy] * 2) if len(found) else None
                if face_box is None:
                    raise SystemExit(f"{photo.name}: no face found in the HR frame")
            box = (face_box + np.array([x0 + dx, y0 + dy] * 2)) * OUT / SCALE
            boxes.append(tuple(int(round(v)) for v in box))
            lr = cv2.resize(cv2.GaussianBlur(canvas.astype(np.float32), (0, 0), 2.0), (lr_size, lr_size),
                            interpolation=cv2.INTER_AREA)
            lr = np.clip(lr + rng.normal(0, 3.0, lr.shape), 0, 255).astype(np.uint8)
            ok, jpg = cv2.imencode(".jpg", cv2.cvtColor(lr, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 75])
            writer.write(cv2.cvtColor(cv2.imdecode(jpg, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB))
    return out, hr_frames, boxes


def run(clip: Path, hr: list[np.ndarray], boxes: list[tuple], model: str, stabilise: bool, tmp: Path) -> dict:
    restorer = load_restorer(model, keep_maps=False)
    meter, scores = FlickerMeter(), []

    def measure(index, result) -> None:
        meter.add(index, result)
        x0, y0, x1, y1 = boxes[index]
        out = torch.from_numpy(result.image[y0:y1, x0:x1]).permute(2, 0, 1)[None].float() / 255
        ref = torch.from_numpy(hr[index][y0:y1, x0:x1]).permute(2, 0, 1)[None].float() / 255
        scores.append(float(psnr(out, ref)[0]))

    report = enhance_video(clip, tmp / f"{model}_{stabilise}.mkv", restorer, upscale=OUT, on_frame=measure,
                           stabiliser=FaceStabiliser() if stabilise else None, lossless=True)
    return {"sr": meter.sr_change, "bicubic": meter.bicubic_change, "pairs": meter.pairs, "psnr": scores,
            "faces": report.faces_total, "frames": report.frames_out}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--faces", type=int, default=4, help="clips (held-out faces)")
    ap.add_argument("--frames", type=int, default=40)
    ap.add_argument("--models", default=None, help="comma-separated ids (default: bicubic and the default model)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    models = args.models.split(",") if args.models else ["bicubic", default_model().id]
    rows = []
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        clips = [make_clip(p, args.frames, i, tmp / f"clip{i}.mkv")
                 for i, p in enumerate(list_images(FACES)[:args.faces])]
        for model in models:
            for stabilise in ((False,) if model == "bicubic" else (False, True)):
                runs = [run(c, hr, b, model, stabilise, tmp) for c, hr, b in clips]
                sr, bic = sum(r["sr"] for r in runs), sum(r["bicubic"] for r in runs)
                values = [v for r in runs for v in r["psnr"]]
                rows.append({"model": model, "stabiliser": stabilise, "flicker": round(sr / bic, 3) if bic else None,
                             "psnr": round(float(np.mean(values)), 3), "pairs": sum(r["pairs"] for r in runs),
                             "faces_per_frame": round(sum(r["faces"] for r in runs) / sum(r["frames"] for r in runs), 3)})
                print(rows[-1], flush=True)
    print(f"{args.faces} clips x {args.frames} frames, {CANVAS // SCALE} px LR frames, x{OUT} output")
    for r in rows:
        print(f"  {r['model']:<18} stabiliser {'on ' if r['stabiliser'] else 'off'}  flicker {r['flicker']}  "
              f"face PSNR {r['psnr']:.2f} dB  ({r['faces_per_frame']:.2f} faces/frame)")
    if args.json:
        args.json.write_text(json.dumps({"faces": args.faces, "frames": args.frames, "rows": rows}, indent=2))


if __name__ == "__main__":
    main()
