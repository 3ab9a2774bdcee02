"""Side-by-side of a PSNR-trained model and its GAN fine-tune on held-out faces (for the README).

    python scripts/gan_compare.py --psnr priorsr_c32 --gan priorsr_gan_c32 --out docs/gan_tradeoff.png

Models are bundled ids (models/manifest.json) or checkpoint files. Columns: the 16 px input
(nearest), bicubic, the PSNR model, the GAN model, the 128 px ground truth; under each tile its
Y-PSNR. Printed as a markdown table over ``--limit`` faces: mean Y-PSNR / SSIM and a sharpness ratio
(mean |Laplacian| of the Y channel over the ground truth's: 1.0 = as much fine detail as the real
face, lower = smoother). High-frequency energy says nothing about whether the detail is *right*;
that is what PSNR/SSIM measure, so both are shown.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from facesr_gui.catalog import load_net, resolve
from facesr_gui.metrics import psnr, rgb_to_y, ssim
from facesr_gui.train.dataset import FaceFolder
from facesr_gui.train.degrade import upscale_bicubic

REPO = Path(__file__).resolve().parents[1]
TILE = 192


def sharpness(x: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
    """Per-image mean |Laplacian| of Y(x) over that of Y(ref)."""
    k = torch.tensor([[0.0, 1.0, 0.0], [1.0, -4.0, 1.0], [0.0, 1.0, 0.0]]).view(1, 1, 3, 3)
    lap = lambda t: F.conv2d(rgb_to_y(t), k).abs().mean(dim=(1, 2, 3))  # noqa: E731
    return lap(x) / lap(ref).clamp_min(1e-8)


def to_tile(x: torch.Tensor, label: str) -> np.ndarray:
    img = (x.clamp(0, 1).permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
    img = cv2.resize(img, (TILE, TILE), interpolation=cv2.INTER_NEAREST)
    if label:
        cv2.rectangle(img, (0, TILE - 22), (TILE, TILE), (0, 0, 0), -1)
        cv2.putText(img, label, (6, TILE - 6), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 255), 1, cv2.LINE_AA)
    return img


def header(titles: list[str]) -> np.ndarray:
    row = np.full((28, TILE * len(titles), 3), 255, np.uint8)
    for i, t in enumerate(titles):
        cv2.putText(row, t, (i * TILE + 6, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 1, cv2.LINE_AA)
    return row


@torch.no_grad()
def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--psnr", default="priorsr_c32")
    p.add_argument("--gan", default="priorsr_gan_c32")
    p.add_argument("--dev", type=Path, default=Path(os.environ.get("FACESR_SHARED_DATA", REPO.parent / "shared" / "data"))
                   / "celeba_dev")
    p.add_argument("--faces", type=int, nargs="*", default=[0, 7, 21, 42], help="celeba_dev indices shown")
    p.add_argument("--limit", type=int, default=534, help="faces in the mean table")
    p.add_argument("--out", type=Path, default=REPO / "docs" / "gan_tradeoff.png")
    a = p.parse_args(argv)
    nets = {"PSNR model": load_net(resolve(a.psnr, scale=8)), "GAN model": load_net(resolve(a.gan, scale=8))}
    ds = FaceFolder(a.dev, hr_size=128, scale=8, augment=False, crop="celeba", with_edges=False)
    n = min(a.limit, len(ds))
    stats: dict[str, list[torch.Tensor]] = {k: [] for k in ("bicubic", *nets)}

    def run(idx: list[int]) -> tuple[torch.Tensor, torch.Tensor, dict[str, torch.Tensor]]:
        hr = torch.stack([ds[i]["hr"] for i in idx])
        lr = torch.stack([ds[i]["lr"] for i in idx])
        srs = {"bicubic": upscale_bicubic(lr, 8).clamp(0, 1)}
        srs.update({k: net(lr).clamped().float() for k, net in nets.items()})
        return lr, hr, srs

    for start in range(0, n, 32):
        _, hr, srs = run(list(range(start, min(n, start + 32))))
        for k, sr in srs.items():
            stats[k].append(torch.stack([psnr(sr, hr), ssim(sr, hr), sharpness(sr, hr)], dim=1))
    lr, hr, srs = run(a.faces)
    outputs = {i: {"lr": lr[j], "hr": hr[j], **{k: sr[j] for k, sr in srs.items()}} for j, i in enumerate(a.faces)}
    rows = []
    for i in a.faces:
        o = outputs[i]
        row = [to_tile(F.interpolate(o["lr"][None], size=(128, 128), mode="nearest")[0], "16 px input")]
        for k in ("bicubic", *nets):
            row.append(to_tile(o[k], f"{float(psnr(o[k][None], o['hr'][None])):.2f} dB"))
        row.append(to_tile(o["hr"], "ground truth"))
        rows.append(np.concatenate(row, axis=1))
    titles = ["input (x8 nearest)", "bicubic", Path(a.psnr).stem, Path(a.gan).stem, "HR 128 px"]
    grid = np.concatenate([header(titles), *rows], axis=0)
    a.out.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(a.out), cv2.cvtColor(grid, cv2.COLOR_RGB2BGR)):
        raise SystemExit(f"could not write {a.out}")
    print(f"wrote {a.out} ({grid.shape[1]}x{grid.shape[0]})")
    print(f"\n| {n} celeba_dev faces, x8 | Y-PSNR | SSIM | sharpness (HR = 1.00) |\n|---|---|---|---|")
    for k, name in (("bicubic", "bicubic"), ("PSNR model", Path(a.psnr).stem), ("GAN model", Path(a.gan).stem)):
        m = torch.cat(stats[k]).mean(dim=0).tolist()
        print(f"| {name} | {m[0]:.2f} | {m[1]:.3f} | {m[2]:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
