"""What the Photos tab says on the canvas: why faces were left as they are, or that none was found.

Plain functions over the worker's results (read by attribute only; no Qt, no torch). The numbers
come from the one sizing rule (:mod:`facesr_gui.pipeline.sizing`): faces whose aligned crop would
be larger in the output than the network's SR crop are not pasted, and :func:`~.sizing.face_range`
turns that into face-box sides in input pixels.
"""
from __future__ import annotations

from ..pipeline.sizing import crop_sides, face_range, is_large


def helps_with(sr_size: int, upscale: int) -> str:
    """One sentence on the face sizes the app helps with for a net of ``sr_size`` px output crops."""
    low, high = face_range(sr_size, upscale)
    at = f"; at this output size (x{upscale}) up to {high} px" if upscale > 1 else ""
    return (f"FaceSR helps with small faces: boxes of about {low} to {face_range(sr_size)[1]} px{at}, "
            f"where the network's {sr_size} px face adds detail the photo lacks.")


def large_faces_text(outcome, model: str, sr_size: int) -> str:
    """Banner text when some faces of ``outcome`` were not pasted for being large; "" otherwise."""
    large = [fid + 1 for fid, face in zip(outcome.face_ids, outcome.result.faces) if face.skipped == "large"]
    return _large_text(large, len(outcome.face_ids), model, sr_size, int(outcome.result.upscale), done=True)


def expected_large_text(sides, upscale: int, model: str, sr_size: int) -> str:
    """Before Enhance: the same note for faces whose aligned crops (``sides``, input px) will be too large."""
    large = [i + 1 for i, side in enumerate(sides) if is_large(side, upscale, sr_size)]
    return _large_text(large, len(sides), model, sr_size, upscale, done=False)


def face_guidance(index: int, face, detections, upscale: int, model: str, sr_size: int) -> str:
    """The face-by-face view's banner, about face ``index`` (0-based) alone: after Enhance ``face`` is its
    result (pasted or left as it was for being large), before it ``detections`` says whether it will be;
    "" when it is not too large (or nothing is known of it)."""
    if face is not None:
        large, done = face.skipped == "large", True
    elif detections is not None and 0 <= index < len(detections):
        large, done = is_large(float(crop_sides(detections)[index]), upscale, sr_size), False
    else:
        return ""
    return _large_text([index + 1] if large else [], 1, model, sr_size, upscale, done)


def _large_text(large: list[int], total: int, model: str, sr_size: int, upscale: int, done: bool) -> str:
    if not large:
        return ""
    count = f"All {total}" if len(large) == total else f"{len(large)} of {total}"
    which = f"Face #{large[0]} is" if len(large) == 1 else f"{count} faces (#{', #'.join(map(str, large))}) are"
    keeps = ("the output keeps the original there (\"not pasted (large)\" in the list)" if done else
             "Enhance will keep the original there")
    return f"{which} already larger than {model}'s {sr_size} px output at x{upscale}: {keeps}.\n" + \
        helps_with(sr_size, upscale)


def no_face_text(sr_size: int) -> str:
    """Banner text when the detector found no face (and none was drawn)."""
    low = face_range(sr_size)[0]
    return (f"No face found: Enhance only enlarges this photo (bicubic). The detector finds faces from "
            f"about {low} px; draw a box by hand (Draw box) around a face it missed.\n"
            f"{helps_with(sr_size, 1)}")


def canvas_guidance(has_image: bool, detections, n_faces: int, outcome, model: str, sr_size: int,
                    expected: str = "") -> str:
    """The banner for the current state ("" for none): large faces after Enhance, no face found, or
    ``expected`` (:func:`expected_large_text`, before Enhance)."""
    if not has_image:
        return ""
    if outcome is not None:
        text = large_faces_text(outcome, model, sr_size)
        if text or outcome.face_ids:
            return text
    if detections is not None and n_faces == 0:
        return no_face_text(sr_size)
    return expected
