"""Detection around tracked faces: what a video frame between two full-frame detections costs.

MTCNN on a whole 480p frame, upscaled 2x so that 12 px faces are found, takes ~0.75 s on two
CPU cores; the faces it finds cover a few percent of the frame, and most of that time goes to its
first two stages proposing and filtering candidate boxes everywhere. Between full-frame detections
(every ``detect_every``-th frame and at scene cuts,
:func:`facesr_gui.pipeline.video.enhance_video`) the tracker already says where each face is
expected, so only MTCNN's last stage (O-Net, which scores a 48x48 crop and regresses the box and
the five landmarks) runs, on a few candidate boxes per face:

* the predicted box made square (as MTCNN squares its candidates before O-Net), and that square
  shifted by ``SHIFT`` of its side left, right, up and down, and grown by ``GROW``: faces move
  between frames and the prediction is only a prediction;
* each candidate is cropped (zero outside the frame), resampled to 48x48 with an area filter
  (MTCNN's own resampling) and scored; the best candidate whose face probability is at least
  ``THRESHOLD`` and whose regressed box overlaps the predicted box (IoU >= ``MIN_MATCH_IOU``)
  gives the face's box and landmarks, regressed exactly as MTCNN does. ``THRESHOLD`` is 0.5, not
  MTCNN's 0.7 for proposals anywhere in the frame: a face was detected right there a frame ago.
  Measured on the 480p street clip (faces of 8-42 px, boxes of frame t looked for in frame t+1):
  87% of the faces found at 0.7, 92% at 0.5, and one accepted box in 77 overlapping no full-frame
  detection by IoU 0.5; the rest coast on the tracker until the next full-frame detection.

All candidates of a frame go through O-Net as one batch: a frame of six faces costs ~1-3 ms
instead of hundreds. Faces that enter the frame are found by the next full-frame detection.

A face O-Net does not find around its track, or finds only with a probability under
``CONFIDENT`` (it moved further than a shift, turned, or the predicted box is off: from a poor
candidate O-Net regresses a poor box, and fed back as the next prediction a track's box drifts off
its face), is looked for by the whole cascade in a window around it (:func:`detect_windows`): the
square of ``WINDOW`` times its side, resampled to ``WINDOW_PX`` px (the face then measures about
``WINDOW_PX / WINDOW`` px, and MTCNN's 12 px smallest face is about half its side), all windows of a
frame as one batch. That costs a few ms where a whole-frame detection costs ~0.45 s; on the 480p
street clip it took the whole-frame detections lost faces asked for then (a face missed twice brought
one) from 24 to 11 in 100 frames.
:func:`detect_tracked` puts the two together.

Coordinates: ``boxes`` ``(K, 4)`` float ``x0, y0, x1, y1`` and the returned
:class:`~.faces.Detections` are in pixels of ``rgb`` (``(H, W, 3)`` uint8 RGB), MTCNN's own
convention (its boxes and landmarks come back unchanged through this path).
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import cv2
import numpy as np

from .faces import Detections
from .motion import TRACK_WINDOW
from .mtcnn import decode_onet, square
from .track import iou_matrix

if TYPE_CHECKING:
    from .detect import FaceDetector

__all__ = ["CONFIDENT", "GROW", "MIN_MATCH_IOU", "SHIFT", "THRESHOLD", "WINDOW", "WINDOW_PX", "candidate_boxes", "detect_in_rects",
           "detect_regions", "detect_tracked", "detect_windows"]

SHIFT = 0.15          # candidate shifts, in sides of the squared box
GROW = 1.25           # a larger candidate, for a face coming closer (or a box that shrank)
MIN_MATCH_IOU = 0.3   # a detection further from the predicted box than this is not the track's face
THRESHOLD = 0.5       # O-Net face probability a tracked face needs (module docstring)
SURE_MARGIN = 0.05    # candidates within this of the best probability count as equally sure
CONFIDENT = 0.9       # below it, the window's cascade is asked too (module docstring)
ONET_SIZE = 48
WINDOW = TRACK_WINDOW  # a lost face's search window, in sides of its predicted (squared) box (motion.py's too)
WINDOW_PX = 60        # the window's side for the cascade: the face at ~24 px, twice MTCNN's smallest


def candidate_boxes(boxes: np.ndarray) -> np.ndarray:
    """``(K, C, 4)`` float64 candidate squares for each predicted ``(K, 4)`` box (module docstring)."""
    sq = square(np.asarray(boxes, np.float64).reshape(-1, 4))
    side = (sq[:, 2] - sq[:, 0])[:, None]
    centre = (sq[:, :2] + sq[:, 2:]) / 2
    offsets = np.array([[0, 0], [-SHIFT, 0], [SHIFT, 0], [0, -SHIFT], [0, SHIFT], [0, 0]], np.float64)
    scales = np.array([1, 1, 1, 1, 1, GROW], np.float64)
    c = centre[:, None, :] + offsets[None] * side[:, :, None]
    half = (side * scales[None])[..., None] / 2
    return np.concatenate([c - half, c + half], axis=2)


def _crop(rgb: np.ndarray, box: np.ndarray, size: int = ONET_SIZE) -> np.ndarray:
    """MTCNN's crop of ``box`` (columns ``trunc(x0) - 1`` to ``trunc(x1) - 1``, zero outside
    the frame), resampled to ``size`` px square with an area filter (cubic when enlarging)."""
    h, w = rgb.shape[:2]
    x, y, ex, ey = int(box[0]), int(box[1]), int(box[2]), int(box[3])   # trunc, as MTCNN's pad()
    cw, ch = max(ex - x + 1, 1), max(ey - y + 1, 1)
    out = np.zeros((ch, cw, 3), np.uint8)
    sx0, sy0, sx1, sy1 = max(x - 1, 0), max(y - 1, 0), min(ex, w), min(ey, h)
    if sx1 > sx0 and sy1 > sy0:
        out[sy0 - (y - 1):sy1 - (y - 1), sx0 - (x - 1):sx1 - (x - 1)] = rgb[sy0:sy1, sx0:sx1]
    interp = cv2.INTER_AREA if max(cw, ch) >= size else cv2.INTER_CUBIC
    return cv2.resize(out, (size, size), interpolation=interp)


def _detections(boxes: list, scores: list, landmarks: list) -> Detections:
    """The faces kept, one row each, as :class:`Detections` (float32; empty when none)."""
    if not boxes:
        return Detections.empty()
    return Detections(np.array(boxes, np.float32), np.array(scores, np.float32), np.array(landmarks, np.float32))


def detect_regions(detector: FaceDetector, rgb: np.ndarray, boxes: np.ndarray) -> tuple[Detections, np.ndarray]:
    """The face near each predicted box (module docstring).

    Returns ``(detections, found)``: one detection per box whose face was found, in the order
    of ``boxes``, and ``found`` ``(K,)`` bool saying which boxes those were."""
    pred = np.asarray(boxes, np.float64).reshape(-1, 4)
    k = len(pred)
    if k == 0:
        return Detections.empty(), np.zeros(0, bool)
    cands = candidate_boxes(pred)
    n_c = cands.shape[1]
    flat = cands.reshape(-1, 4)
    reg, points, prob = detector.score_crops(np.stack([_crop(rgb, b) for b in flat]))
    out_boxes, lm = decode_onet(flat, reg, points)
    found = np.zeros(k, bool)
    keep_b, keep_s, keep_l = [], [], []
    for i in range(k):
        rows = slice(i * n_c, (i + 1) * n_c)
        iou = iou_matrix(pred[i:i + 1].astype(np.float32), out_boxes[rows].astype(np.float32))[0]
        valid = (prob[rows] >= THRESHOLD) & (iou >= MIN_MATCH_IOU)
        if not valid.any():
            continue
        # of the candidates about as sure as the surest, the one O-Net moved least: it was centred on
        # the face (as MTCNN's own O-Net input is), and its box is MTCNN's; a box regressed far from an
        # off-centre candidate is a few px off, and fed back as the next prediction, drifts
        near_best = valid & (prob[rows] >= prob[rows][valid].max() - SURE_MARGIN)
        best = int(np.argmin(np.where(near_best, np.abs(reg[rows]).sum(axis=1), np.inf)))
        found[i] = True
        keep_b.append(out_boxes[rows][best])
        keep_s.append(prob[rows][best])
        keep_l.append(lm[rows][best])
    return _detections(keep_b, keep_s, keep_l), found


def detect_windows(detector: FaceDetector, rgb: np.ndarray, boxes: np.ndarray) -> tuple[Detections, np.ndarray]:
    """The face near each predicted ``(K, 4)`` box found by the whole cascade in a window around it
    (module docstring), with :func:`detect_regions`'s return convention.

    Of the faces a window holds, the box's face is the one nearest its centre (within one side) whose
    size is within half and twice the box's; a face of another track in the window is left to it."""
    pred = np.asarray(boxes, np.float64).reshape(-1, 4)
    k = len(pred)
    found = np.zeros(k, bool)
    if k == 0:
        return Detections.empty(), found
    sq = square(pred)
    side = sq[:, 2] - sq[:, 0]
    centre = (sq[:, :2] + sq[:, 2:]) / 2
    win = np.concatenate([centre - side[:, None] * WINDOW / 2, centre + side[:, None] * WINDOW / 2], axis=1)
    crops = [_crop(rgb, b, WINDOW_PX) for b in win]
    keep_b, keep_s, keep_l = [], [], []
    for i, det in enumerate(detector.detect_batch(crops, upscale=1.0)):
        if not len(det):
            continue
        # window pixels -> frame pixels (the crop starts at trunc(x0) - 1, like MTCNN's own)
        f = (int(win[i, 2]) - int(win[i, 0]) + 1) / WINDOW_PX
        origin = np.array([int(win[i, 0]) - 1, int(win[i, 1]) - 1], np.float64)
        b = det.boxes.astype(np.float64) * f + np.tile(origin, 2)
        lm = det.landmarks.astype(np.float64) * f + origin
        sides = np.maximum(b[:, 2] - b[:, 0], b[:, 3] - b[:, 1])
        dist = np.hypot(*(((b[:, :2] + b[:, 2:]) / 2 - centre[i]).T))
        ok = (dist <= side[i]) & (sides >= side[i] / 2) & (sides <= side[i] * 2)
        if not ok.any():
            continue
        j = int(np.argmin(np.where(ok, dist, np.inf)))
        found[i] = True
        keep_b.append(b[j])
        keep_s.append(det.scores[j])
        keep_l.append(lm[j])
    return _detections(keep_b, keep_s, keep_l), found


def detect_tracked(detector: FaceDetector, rgb: np.ndarray, boxes: np.ndarray) -> tuple[Detections, np.ndarray]:
    """The face near each predicted ``(K, 4)`` box: :func:`detect_regions`, then :func:`detect_windows`
    for the boxes it found no face for or one under ``CONFIDENT`` (the window's face replaces that
    one); :func:`detect_regions`'s return convention."""
    pred = np.asarray(boxes, np.float64).reshape(-1, 4)
    near, found = detect_regions(detector, rgb, pred)
    k = len(pred)
    b, s, lm = np.zeros((k, 4), np.float32), np.zeros(k, np.float32), np.zeros((k, 5, 2), np.float32)
    b[found], s[found], lm[found] = near.boxes, near.scores, near.landmarks
    redo = np.flatnonzero(~found | (s < CONFIDENT))
    if len(redo):
        again, found_again = detect_windows(detector, rgb, pred[redo])
        idx = redo[found_again]
        b[idx], s[idx], lm[idx] = again.boxes, again.scores, again.landmarks
        found[idx] = True
    if not found.any():
        return Detections.empty(), found
    return Detections(b[found], s[found], lm[found]), found


def detect_in_rects(detector: FaceDetector, rgb: np.ndarray, rects: list[tuple[int, int, int, int]],
                    min_face: float | None = None) -> Detections:
    """The faces MTCNN's whole cascade finds in the ``(x0, y0, x1, y1)`` rectangles of ``rgb`` (int
    pixels, ``x1``/``y1`` exclusive, not overlapping: :func:`.motion.merge_rects`), each looked at with the
    zoom the whole frame would get (:meth:`.detect.FaceDetector.factor_for`) and ``min_face`` (px of
    ``rgb``, as :meth:`~.detect.FaceDetector.detect_batch`), in ``rgb``'s pixels, by decreasing score."""
    h, w = rgb.shape[:2]
    zoom = detector.factor_for(h, w)
    found = []
    for x0, y0, x1, y1 in rects:
        crop = np.ascontiguousarray(rgb[y0:y1, x0:x1])
        if crop.size:
            found.append(detector.detect_batch([crop], upscale=zoom, min_face=min_face)[0].shifted(x0, y0))
    return Detections.concat(found).sorted_by_score()
