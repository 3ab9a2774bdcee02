"""Print the bundled models of models/manifest.json as a Markdown table (for README.md).

    python scripts/model_table.py

Every number comes from the manifest, which scripts/bundle_model.py measured on the held-out
folder; the paper column is each paper's own figure under its own protocol.
"""
from __future__ import annotations

import sys

from facesr_gui.checkpoints import read_manifest
from facesr_gui.paths import models_dir

# each paper's reported CelebA figure at the bundled scale (PSNR dB / SSIM), with its protocol
PAPER = {
    "eipnet": "25.16 / 0.749 (x8, w/o GAN, EIPNet Table 6)",
    "jeanet": "28.19 / 0.808 (x8, Y, JEANet Table II)",
    "priorsr": "24.66 / 0.723 (x8, thesis Table 4.1)",
    "priorsr_gan": "23.38 / 0.669 (x8, thesis Table 4.1)",
    "wnet": "27.40 / 0.801 (x8, 128 px, 18k training faces; W-Net Table 1, bicubic 23.46)",
    "cagface": "27.42 / 0.816 (x4, 256 px FFHQ whole faces; CAGFace Table 3, bicubic 25.57)",
}


def params(card) -> str:
    """Parameter count of the bundled file itself (sha256-checked, strictly loaded)."""
    from facesr_gui.bench import count_params
    from facesr_gui.checkpoints import load_checkpoint, verify_card

    net, _ = load_checkpoint(verify_card(card, models_dir()))
    return f"{count_params(net) / 1e6:.2f}M"


def changed(card) -> dict:
    """The card's config entries that differ from the network's paper defaults."""
    from facesr_gui.nets import paper_config

    defaults = paper_config(card.net)
    norm = lambda v: list(v) if isinstance(v, tuple) else v  # noqa: E731
    return {k: v for k, v in card.config.items() if k != "scale" and norm(defaults.get(k)) != norm(v)}


def main() -> int:
    cards = read_manifest(models_dir() / "manifest.json")
    if not cards:
        print("no bundled models", file=sys.stderr)
        return 1
    print("| model | net (config) | params | trained | Y-PSNR / SSIM (ours) | bicubic | gain | paper |")
    print("|---|---|---|---|---|---|---|---|")
    for card in cards:
        where, m = next(iter(card.metrics.items()))
        cfg = ", ".join(f"{k}={v}" for k, v in changed(card).items()) or "paper config"
        t = card.training
        trained = f"{t.get('steps', '?')} steps, {t.get('wall_time_s', 0) / 3600:.1f} h, {t.get('hardware', '').split(' (')[0]}"
        print(f"| `{card.id}` | {card.net} x{card.scale} ({cfg}) | {params(card)} | {trained} "
              f"| {m['psnr']:.2f} / {m['ssim']:.3f} | {m['bicubic_psnr']:.2f} / {m['bicubic_ssim']:.3f} "
              f"| +{m['psnr'] - m['bicubic_psnr']:.2f} dB | {PAPER.get(card.net, '')} |")
    protocols = dict.fromkeys(next(iter(c.metrics.values())).get("protocol", "") for c in cards)
    print(f"\nMeasured on {where} ({m['images']} faces): {'; '.join(p for p in protocols if p)}.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
