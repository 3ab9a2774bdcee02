"""Draw the FaceSR Studio app icon: a face, pixelated on the left, sharp on the right.

Writes ``resources/icons/facesr-studio.svg`` and PNGs at 256/128/64/32 px (plus ``.ico``
for Windows and ``.icns`` for macOS builds). The SVG and the PNGs come from the same
shape list (plain SVG Tiny: no clip paths, which Qt's renderer ignores); PNGs are drawn with PIL at 4x and downsampled (LANCZOS) for anti-aliasing.

    python packaging/make_icon.py [--out resources/icons]
"""
from __future__ import annotations

import argparse
from pathlib import Path

from PIL import Image, ImageDraw

VIEW = 256                       # design units (the SVG viewBox)
BG_TOP, BG_BOTTOM = (31, 58, 95), (12, 24, 40)
SKIN, SKIN_DARK = (242, 201, 160), (226, 178, 135)
FEATURE, MOUTH, ACCENT = (40, 36, 48), (170, 84, 70), (79, 209, 197)
CX, CY, RX, RY = 128, 128, 64, 80  # face ellipse
CELL = 16                          # mosaic cell of the "low-resolution" half
EYE_Y, EYE_DX, EYE_R = 116, 28, 8
MOUTH_Y = 164


def _hex(rgb: tuple[int, int, int]) -> str:
    return "#{:02x}{:02x}{:02x}".format(*rgb)


def _inside(x: float, y: float) -> bool:
    return ((x - CX) / RX) ** 2 + ((y - CY) / RY) ** 2 <= 1.0


def mosaic_cells() -> list[tuple[int, int, tuple[int, int, int]]]:
    """Left-half cells ``(x, y, colour)``: face cells whose centre is inside the ellipse,
    dark where an eye or the mouth falls (as a 16 px downscale would show them)."""
    cells = []
    for y in range(0, VIEW, CELL):
        for x in range(0, CX, CELL):
            cx, cy = x + CELL / 2, y + CELL / 2
            if not _inside(cx, cy):
                continue
            colour = SKIN if (x // CELL + y // CELL) % 2 else SKIN_DARK
            if abs(cx - (CX - EYE_DX)) <= CELL / 2 and abs(cy - EYE_Y) <= CELL / 2:
                colour = FEATURE
            elif MOUTH_Y - CELL / 2 <= cy <= MOUTH_Y + CELL / 2 and CX - 32 <= cx < CX:
                colour = MOUTH
            cells.append((x, y, colour))
    return cells


def svg() -> str:
    cells = "\n".join(f'    <rect x="{x}" y="{y}" width="{CELL}" height="{CELL}" fill="{_hex(c)}"/>'
                      for x, y, c in mosaic_cells())
    return f"""<svg xmlns="http://www.w3.org/2000/svg" width="{VIEW}" height="{VIEW}" viewBox="0 0 {VIEW} {VIEW}">
  <title>FaceSR Studio</title>
  <defs>
    <linearGradient id="bg" x1="0" y1="0" x2="0" y2="1">
      <stop offset="0" stop-color="{_hex(BG_TOP)}"/><stop offset="1" stop-color="{_hex(BG_BOTTOM)}"/>
    </linearGradient>
  </defs>
  <rect x="8" y="8" width="240" height="240" rx="48" fill="url(#bg)"/>
  <g>
{cells}
    <path d="M {CX} {CY - RY} A {RX} {RY} 0 0 1 {CX} {CY + RY} Z" fill="{_hex(SKIN)}"/>
    <circle cx="{CX + EYE_DX}" cy="{EYE_Y}" r="{EYE_R}" fill="{_hex(FEATURE)}"/>
    <path d="M {CX} {MOUTH_Y} Q {CX + 22} {MOUTH_Y + 4} {CX + 30} {MOUTH_Y - 8}" fill="none"
          stroke="{_hex(MOUTH)}" stroke-width="7" stroke-linecap="round"/>
    <rect x="{CX - 3}" y="28" width="6" height="200" rx="3" fill="{_hex(ACCENT)}"/>
    <path d="M 206 34 L 212 50 L 228 56 L 212 62 L 206 78 L 200 62 L 184 56 L 200 50 Z" fill="{_hex(ACCENT)}"/>
  </g>
</svg>
"""


def render(size: int) -> Image.Image:
    """The icon as an RGBA ``size`` x ``size`` PIL image (drawn at 4x, then downsampled)."""
    k = 4 * size / VIEW

    def s(v: float) -> int:
        return round(v * k)

    big = 4 * size
    grad = Image.new("RGBA", (1, big))
    for y in range(big):
        t = y / max(1, big - 1)
        grad.putpixel((0, y), tuple(round(a + (b - a) * t) for a, b in zip(BG_TOP, BG_BOTTOM)) + (255,))
    card = Image.new("L", (big, big), 0)
    ImageDraw.Draw(card).rounded_rectangle([s(8), s(8), s(248) - 1, s(248) - 1], radius=s(48), fill=255)
    img = Image.new("RGBA", (big, big), (0, 0, 0, 0))
    img.paste(grad.resize((big, big)), (0, 0), card)

    draw = ImageDraw.Draw(img)
    for x, y, c in mosaic_cells():
        draw.rectangle([s(x), s(y), s(x + CELL) - 1, s(y + CELL) - 1], fill=c + (255,))
    right = Image.new("RGBA", (big, big), (0, 0, 0, 0))
    rd = ImageDraw.Draw(right)
    rd.ellipse([s(CX - RX), s(CY - RY), s(CX + RX), s(CY + RY)], fill=SKIN + (255,))
    ex = CX + EYE_DX
    rd.ellipse([s(ex - EYE_R), s(EYE_Y - EYE_R), s(ex + EYE_R), s(EYE_Y + EYE_R)], fill=FEATURE + (255,))
    # quadratic Bezier P0=(CX, MOUTH_Y), P1=(CX+22, MOUTH_Y+4), P2=(CX+30, MOUTH_Y-8)
    curve = [((1 - t) ** 2 * CX + 2 * (1 - t) * t * (CX + 22) + t * t * (CX + 30),
              (1 - t) ** 2 * MOUTH_Y + 2 * (1 - t) * t * (MOUTH_Y + 4) + t * t * (MOUTH_Y - 8))
             for t in (i / 20 for i in range(21))]
    rd.line([(s(x), s(y)) for x, y in curve], fill=MOUTH + (255,), width=s(7), joint="curve")
    for x, y in (curve[0], curve[-1]):
        rd.ellipse([s(x - 3.5), s(y - 3.5), s(x + 3.5), s(y + 3.5)], fill=MOUTH + (255,))
    half = Image.new("L", (big, big), 0)
    ImageDraw.Draw(half).rectangle([s(CX), 0, big, big], fill=255)
    img.paste(right, (0, 0), Image.composite(right.getchannel("A"), half, half))
    draw = ImageDraw.Draw(img)
    draw.rounded_rectangle([s(CX - 3), s(28), s(CX + 3), s(228)], radius=s(3), fill=ACCENT + (255,))
    star = [(206, 34), (212, 50), (228, 56), (212, 62), (206, 78), (200, 62), (184, 56), (200, 50)]
    draw.polygon([(s(x), s(y)) for x, y in star], fill=ACCENT + (255,))
    alpha = Image.composite(img.getchannel("A"), Image.new("L", (big, big), 0), card)
    img.putalpha(alpha)
    return img.resize((size, size), Image.Resampling.LANCZOS)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(Path(__file__).resolve().parent.parent / "resources" / "icons"))
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "facesr-studio.svg").write_text(svg(), encoding="utf-8")
    big = render(256)
    for size in (256, 128, 64, 32):
        (big if size == 256 else render(size)).save(out / f"facesr-studio-{size}.png", optimize=True)
    big.save(out / "facesr-studio.ico", sizes=[(256, 256), (128, 128), (64, 64), (48, 48), (32, 32), (16, 16)])
    render(512).save(out / "facesr-studio.icns")
    print(f"icons written to {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
