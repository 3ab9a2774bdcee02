"""What the Photos tab shows, computed from plain data (numpy; no torch, no widgets).

``FaceItem`` is one row of the face list; ``view_images`` picks the before / middle / after
images of the whole-image or selected-face view; ``overlay_patches`` colours a network map
for each face with its crop -> image transform; ``face_panel_values`` formats the numbers of
the per-face panel. Results are the worker's ``EnhanceOutcome`` / ``FaceResult`` objects,
read by attribute only. Images are ``(H, W, 3)`` uint8 RGB.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from PySide6.QtGui import QImage, QTransform

from ..overlay_render import colorize_map, crop_to_frame, map_kind
from ..qimage import rgba_to_qimage

THUMB_MARGIN = 0.25   # context around a face box in thumbnails, as a fraction of its size


@dataclass(eq=False)
class FaceItem:
    """A face of the photo: ``box`` ``(4,)`` float32 x0, y0, x1, y1 in photo pixels."""

    box: np.ndarray
    score: float
    manual: bool = False

    def size(self) -> tuple[int, int]:
        return int(round(self.box[2] - self.box[0])), int(round(self.box[3] - self.box[1]))

    def thumbnail(self, image: np.ndarray) -> np.ndarray:
        """The box with some context, clipped to the photo (at least 1 x 1)."""
        x0, y0, x1, y1 = (float(v) for v in self.box)
        mx, my = (x1 - x0) * THUMB_MARGIN, (y1 - y0) * THUMB_MARGIN
        h, w = image.shape[:2]
        left, top = int(max(0, min(w - 1, np.floor(x0 - mx)))), int(max(0, min(h - 1, np.floor(y0 - my))))
        right, bottom = int(min(w, max(left + 1, np.ceil(x1 + mx)))), int(min(h, max(top + 1, np.ceil(y1 + my))))
        return np.ascontiguousarray(image[top:bottom, left:right])

    def title(self, row: int) -> str:
        how = "drawn by hand" if self.manual else f"detected, score {self.score:.2f}"
        return f"Face #{row + 1} ({how})"

    def describe(self, row: int, result=None) -> str:
        """List text: number, source, size and what happened to it in the last enhance."""
        w, h = self.size()
        head = f"#{row + 1}  {'drawn' if self.manual else f'{self.score:.2f}'}  {w}x{h} px"
        if result is None:
            return head
        return head + ("\nnot pasted (large)" if result.skipped else "\nenhanced")


def nearest(rgb: np.ndarray, size: int) -> np.ndarray:
    return cv2.resize(rgb, (size, size), interpolation=cv2.INTER_NEAREST)


def view_images(view: str, image: np.ndarray, outcome, face, item: FaceItem | None, model: str = "SR"):
    """``(before, middle | None, after, (before caption, after caption, middle caption))`` or None.

    ``view`` "whole": the photo against the enhanced image; "face": the selected face's LR
    crop (nearest) | bicubic | SR, or its region of the photo when it was not enhanced.
    ``model``: the name shown over the output.
    """
    if view == "whole":
        h, w = image.shape[:2]
        if outcome is None:
            return image, None, image, (f"input {w}x{h}", "not enhanced yet", "")
        out = outcome.result.image
        return image, None, out, (f"input {w}x{h}", f"{model} {out.shape[1]}x{out.shape[0]}", "")
    if item is None:
        return None
    if face is None:
        crop = item.thumbnail(image)
        return crop, None, crop, ("input", "not enhanced: tick it and press Enhance", "")
    size = face.sr.shape[0]
    return (nearest(face.lr, size), face.bicubic, face.sr,
            (f"LR {face.lr.shape[0]} px", model, "bicubic"))


def face_crops(image: np.ndarray, item: FaceItem, face, model_id: str) -> list[tuple[str, np.ndarray]]:
    """Captioned crops for the face panel."""
    if face is None:
        return [("in photo", item.thumbnail(image))]
    return [(f"LR {face.lr.shape[0]} px", face.lr), ("bicubic", face.bicubic), (model_id, face.sr)]


def qtransform(m: np.ndarray) -> QTransform:
    """``(2, 3)`` affine ``x' = M[:, :2] x + M[:, 2]`` as a QTransform."""
    return QTransform(m[0, 0], m[1, 0], m[0, 1], m[1, 1], m[0, 2], m[1, 2])


def overlay_patches(name: str, faces: list, stretch: bool) -> list[tuple[QImage, QTransform | None]]:
    """Map ``name`` of each face, coloured; placed by the face's crop transform (output
    coordinates of the whole image), or stretched over the view (``stretch``, face view)."""
    out = []
    for face in faces:
        if face is None or name not in face.maps:
            continue
        arr = face.maps[name]
        image = rgba_to_qimage(colorize_map(arr, map_kind(name)))
        if stretch:
            out.append((image, None))
        else:
            h, w = arr.shape[-2:]
            out.append((image, qtransform(crop_to_frame(face.crop.inverse_affine, face.crop.size, h, w))))
    return out


def _pair(p: float | None, s: float | None) -> str:
    if p is None:
        return "-"
    return f"{p:.2f} dB / {s:.4f}" if s is not None else f"{p:.2f} dB / -"


def face_panel_values(item: FaceItem, face, outcome, measure: dict | None, image_measure: dict | None,
                      identity_on: bool, has_truth: bool, model: str = "") -> dict[str, str]:
    """Texts for :data:`facesr_gui.ui.widgets.face_panel.ROWS`."""
    x0, y0, x1, y1 = (float(v) for v in item.box)
    w, h = item.size()
    values = {"Box": f"({x0:.0f}, {y0:.0f}) - ({x1:.0f}, {y1:.0f})", "Size": f"{w}x{h} px box"}
    if face is None:
        values["Status"] = "not enhanced" if outcome is None else "not enhanced (unticked)"
    else:
        s, big = face.lr.shape[0], face.sr.shape[0]
        values["Size"] = f"{w}x{h} px box; crop {face.side_px:.0f} px -> LR {s} px -> SR {big} px"
        values["Status"] = ("not pasted: the face is already larger than the network's output" if face.skipped
                            else f"enhanced with {model}")
    pending = face is not None and measure is None
    if not identity_on:
        values["Identity LR vs SR"] = "off"
    elif face is None:
        values["Identity LR vs SR"] = "-"
    elif pending:
        values["Identity LR vs SR"] = "measuring..."
    else:
        sim = measure.get("identity")
        values["Identity LR vs SR"] = f"{sim:.3f}" if sim is not None else f"n/a {measure.get('note', '')}".strip()
    no_truth = "load a ground truth" if not has_truth else ("measuring..." if pending else "-")
    m = measure or {}
    values["Face PSNR / SSIM"] = _pair(m.get("psnr"), m.get("ssim")) if "psnr" in m else no_truth
    values["Bicubic PSNR / SSIM"] = _pair(m.get("bicubic_psnr"), m.get("bicubic_ssim")) if "psnr" in m else no_truth
    im = image_measure or {}
    values["Image PSNR / SSIM"] = _pair(im.get("psnr"), im.get("ssim")) if "psnr" in im else (
        "load a ground truth" if not has_truth else "-")
    values["Image bicubic"] = _pair(im.get("bicubic_psnr"), im.get("bicubic_ssim")) if "psnr" in im else "-"
    return values
