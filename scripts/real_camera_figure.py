"""Real faces, not bicubic downscales: bicubic, a clean-trained and a real-camera model side by side (README).

    python scripts/real_camera_figure.py --models bicubic eipnet_w128 eipnet_w128_real jeanet_s_cctv --out docs/real_camera.png

Rows: frames of the bundled hallway clip (``videos/face-demographics-walking.mp4``, faces of 15-25 px
as the camera recorded them, H.264) and a real photo (``photos/face_recognition/obama-480p.jpg``)
shrunk with area averaging so the face is ~14 px wide and saved as JPEG quality 75, as a phone
would share it. Every model gets the same detections and the same output scale; each tile is the
largest face's region of the enhanced frame. The first column is the input region, pixel-repeated.
There is no ground truth for these faces: the figure shows what a user sees, the numbers are in
the README's table (``facesr eval --degradation realistic``).
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import cv2
import numpy as np
import torch

from facesr_gui.pipeline.imageio import save_image
from facesr_gui.catalog import load_restorer
from facesr_gui.pipeline.video_io import iter_frames

REPO = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("FACESR_SHARED_DATA", REPO.parent / "shared" / "data"))
TILE = 176


def _shrunk_photo(path: Path, face_px: int = 14, face_frac: float = 0.30) -> np.ndarray:
    """The photo shrunk so a face spanning ``face_frac`` of its height becomes ~``face_px`` wide, then JPEG q75."""
    bgr = cv2.imread(str(path))
    h, w = bgr.shape[:2]
    f = face_px / (face_frac * h * 0.75)
    small = cv2.resize(bgr, (max(1, round(w * f)), max(1, round(h * f))), interpolation=cv2.INTER_AREA)
    ok, buf = cv2.imencode(".jpg", small, [cv2.IMWRITE_JPEG_QUALITY, 75])
    return cv2.cvtColor(cv2.imdecode(buf, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)


def _frames(path: Path, indices: list[int]) -> list[np.ndarray]:
    want, out = set(indices), []
    for i, _, rgb in iter_frames(path, max_frames=max(indices) + 1):
        if i in want:
            out.append(rgb)
    return out


def _tile(img: np.ndarray, box, label: str, interp: int) -> np.ndarray:
    x0, y0, x1, y1 = [int(round(v)) for v in box]
    crop = img[max(0, y0):y1, max(0, x0):x1]
    tile = cv2.resize(crop, (TILE, TILE), interpolation=interp)
    if label:
        cv2.rectangle(tile, (0, TILE - 20), (TILE, TILE), (0, 0, 0), -1)
        cv2.putText(tile, label, (5, TILE - 6), cv2.FONT_HERSHEY_SIMPLEX, 0.42, (255, 255, 255), 1, cv2.LINE_AA)
    return tile


def _header(titles: list[str]) -> np.ndarray:
    row = np.full((26, TILE * len(titles), 3), 255, np.uint8)
    for i, t in enumerate(titles):
        cv2.putText(row, t[:24], (i * TILE + 5, 18), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 1, cv2.LINE_AA)
    return row


@torch.no_grad()
def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--models", nargs="+", default=["bicubic", "eipnet_w128", "eipnet_w128_real", "jeanet_s_cctv"],
                   help="bundled ids or checkpoint files; the first is the reference that detects")
    p.add_argument("--labels", nargs="*", default=None, help="column titles (default: the model specs)")
    p.add_argument("--video", type=Path, default=DATA / "videos" / "face-demographics-walking.mp4")
    p.add_argument("--frames", type=int, nargs="*", default=[4, 17, 30])
    p.add_argument("--photo", type=Path, default=DATA / "photos" / "face_recognition" / "obama-480p.jpg")
    p.add_argument("--upscale", type=int, default=4)
    p.add_argument("--out", type=Path, default=REPO / "docs" / "real_camera.png")
    a = p.parse_args(argv)
    torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))
    restorers = [load_restorer(m, mask="ellipse") for m in a.models]
    sources = [(f"frame {i}", f) for i, f in zip(a.frames, _frames(a.video, a.frames))]
    sources.append(("photo", _shrunk_photo(a.photo)))
    rows = []
    for name, rgb in sources:
        dets = restorers[0].detect(rgb)
        if len(dets.boxes) == 0:
            print(f"{name}: no face detected, row left out", file=sys.stderr)
            continue
        k = int(np.argmax([(b[2] - b[0]) * (b[3] - b[1]) for b in dets.boxes]))
        x0, y0, x1, y1 = dets.boxes[k][:4]
        side = 1.3 * max(x1 - x0, y1 - y0)
        cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
        box = (cx - side / 2, cy - side / 2, cx + side / 2, cy + side / 2)
        tiles = [_tile(rgb, box, f"{name}: {x1 - x0:.0f} px face", cv2.INTER_NEAREST)]
        for r in restorers:
            out = r.enhance(rgb, detections=dets, upscale=a.upscale).image
            tiles.append(_tile(out, [v * a.upscale for v in box], "", cv2.INTER_AREA))
        rows.append(np.hstack(tiles))
    if not rows:
        print("no face found in any source", file=sys.stderr)
        return 1
    titles = ["input"] + (a.labels or a.models)
    save_image(a.out, np.vstack([_header(titles)] + rows))
    print(f"wrote {a.out} ({len(rows)} rows)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
