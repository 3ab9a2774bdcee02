"""The temporal stabiliser: less change on a still face with new noise, none across real change or cuts."""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from facesr_gui.pipeline.stabilise import FaceStabiliser


def _face(sr: np.ndarray, bic: np.ndarray, index: int = 0, skipped=None):
    return SimpleNamespace(index=index, sr=sr.copy(), bicubic=bic.copy(), skipped=skipped)


def _pattern(seed: int = 0) -> np.ndarray:
    yy, xx = np.mgrid[0:64, 0:64]
    base = 128 + 60 * np.sin(xx / 5.0) * np.cos(yy / 7.0)
    return np.repeat(base[..., None], 3, axis=2).astype(np.float32)


def test_noise_on_a_still_face_is_damped_and_real_change_kept():
    rng = np.random.default_rng(0)
    base = _pattern()
    stab = FaceStabiliser()
    ids = np.array([5])
    outs = []
    for t in range(6):   # the input is the same face; the SR crop carries new "hallucinated" noise every frame
        sr = np.clip(base + rng.normal(0, 12, base.shape), 0, 255).astype(np.uint8)
        face = _face(sr, base.astype(np.uint8))
        stab(t, [face], ids)
        outs.append(face.sr.astype(np.float32))
    raw = np.mean([np.abs(np.diff([np.clip(base + rng.normal(0, 12, base.shape), 0, 255)
                                   for _ in range(2)], axis=0)).mean()])
    steady = np.mean([np.abs(outs[t] - outs[t - 1]).mean() for t in range(2, 6)])
    assert steady < 0.75 * raw
    # the input changes for real (another face): the new SR crop is taken as it is
    other = (255 - base).astype(np.uint8)
    face = _face(other, other)
    stab(6, [face], ids)
    assert np.abs(face.sr.astype(np.float32) - other).mean() < 1.0


def test_reset_gaps_new_tracks_and_skipped_faces_start_over():
    base = _pattern().astype(np.uint8)
    noisy = np.clip(base.astype(int) + 20, 0, 255).astype(np.uint8)
    stab = FaceStabiliser()
    stab(0, [_face(base, base)], np.array([1]))
    after_gap = _face(noisy, base)
    stab(2, [after_gap], np.array([1]))                  # frame 1 missing: nothing to blend with
    assert np.array_equal(after_gap.sr, noisy)
    stab(3, [_face(base, base)], np.array([1]))
    stab.reset()                                         # a scene cut
    after_cut = _face(noisy, base)
    stab(4, [after_cut], np.array([1]))
    assert np.array_equal(after_cut.sr, noisy)
    other_track = _face(base, base)
    stab(5, [other_track], np.array([2]))                # another id: its own history
    assert np.array_equal(other_track.sr, base)
    skipped = _face(noisy, base, skipped="large")
    stab(6, [skipped], np.array([2]))
    assert np.array_equal(skipped.sr, noisy)
    with pytest.raises(ValueError):
        FaceStabiliser(strength=1.0)
