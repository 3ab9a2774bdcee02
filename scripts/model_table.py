"""Print the bundled models of models/manifest.json as a Markdown table (for README.md).

    python scripts/model_table.py

Every number comes from the manifest, which scripts/bundle_model.py measured on the held-out
folder; the paper column is each paper's own figure under its own protocol.
"""
from __future__ import annotations

import sys

from facesr_gui.manifest import read_manifest
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
    from facesr_gui.checkpoints import load_checkpoint
    from facesr_gui.manifest import verify_card

    net, _ = load_checkpoint(verify_card(card, models_dir()))
    return f"{count_params(net) / 1e6:.2f}M"


def changed(card) -> dict:
    """The card's config entries that differ from the network's paper defaults."""
    from facesr_gui.nets import paper_config

    defaults = paper_config(card.net)
    norm = lambda v: list(v) if isinstance(v, tuple) else v  # noqa: E731
    return {k: v for k, v in card.config.items() if k != "scale" and norm(defaults.get(k)) != norm(v)}


def camera_like(card) -> tuple[str, str]:
    """``(PSNR cell, identity cell)`` of the card's camera-like set (``*_realistic``), or dashes."""
    m = next((v for k, v in card.metrics.items() if k.endswith("_realistic")), None)
    if m is None:
        return "-", "-"
    cell = f"{m['psnr']:.2f} ({m['psnr'] - m['bicubic_psnr']:+.2f})"
    ident = f"{m['identity']:.3f} ({m['bicubic_identity']:.3f})" if "identity" in m else "-"
    return cell, ident


def main() -> int:
    cards = read_manifest(models_dir() / "manifest.json")
    if not cards:
        print("no bundled models", file=sys.stderr)
        return 1
    print("| model | net (config) | params | trained for | trained | clean Y-PSNR / SSIM | bicubic | gain "
          "| camera-like Y-PSNR (vs bicubic) | identity (bicubic) | paper |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for card in cards:
        where, m = next((k, v) for k, v in card.metrics.items() if not k.endswith("_realistic"))
        cfg = ", ".join(f"{k}={v}" for k, v in changed(card).items()) or "paper config"
        t = card.training
        trained = f"{t.get('steps', '?')} steps, {t.get('wall_time_s', 0) / 3600:.1f} h, {t.get('hardware', '').split(' (')[0]}"
        real, ident = camera_like(card)
        print(f"| `{card.id}` | {card.net} x{card.scale} ({cfg}) | {params(card)} | {t.get('degradation', 'bicubic')} "
              f"| {trained} | {m['psnr']:.2f} / {m['ssim']:.3f} | {m['bicubic_psnr']:.2f} / {m['bicubic_ssim']:.3f} "
              f"| +{m['psnr'] - m['bicubic_psnr']:.2f} dB | {real} | {ident} | {PAPER.get(card.net, '')} |")
    protocols = dict.fromkeys(v.get("protocol", "") for c in cards for v in c.metrics.values())
    print(f"\nMeasured on {where} ({m['images']} faces): {'; '.join(p for p in protocols if p)}.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
