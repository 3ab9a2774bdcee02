"""The flicker measure: SR change between consecutive frames of a track, relative to bicubic's."""
from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np

from facesr_gui.pipeline.flicker import FlickerMeter


def _face(index, sr, bic, skipped=None):
    return SimpleNamespace(index=index, sr=np.full((8, 8, 3), sr, np.uint8), bicubic=np.full((8, 8, 3), bic, np.uint8),
                           skipped=skipped)


def _frame(*faces, ids):
    return SimpleNamespace(faces=list(faces), track_ids=np.array(ids, np.int64))


def test_ratio_of_sr_change_to_bicubic_change_per_track():
    m = FlickerMeter()
    assert math.isnan(m.ratio)
    m.add(0, _frame(_face(0, 100, 100), _face(1, 50, 50), ids=[7, 9]))
    m.add(1, _frame(_face(0, 110, 105), _face(1, 50, 52), ids=[7, 9]))   # SR moved 10 and 0, bicubic 5 and 2
    assert m.pairs == 2 and math.isclose(m.ratio, 10 / 7, rel_tol=1e-4)


def test_tracks_are_matched_by_id_and_gaps_start_over():
    m = FlickerMeter()
    m.add(0, _frame(_face(0, 100, 100), ids=[3]))
    m.add(1, _frame(_face(0, 0, 100), _face(1, 100, 100), ids=[4, 3]))   # id 3 is now the second face
    assert m.pairs == 1 and m.sr_change == 0 and m.bicubic_change == 0
    m.add(3, _frame(_face(0, 200, 100), ids=[3]))                          # frame 2 missing: no pair
    assert m.pairs == 1
    m.add(4, _frame(_face(0, 200, 100, skipped="large"), ids=[3]))         # not pasted: not measured
    m.add(5, _frame(_face(0, 100, 100), ids=[3]))
    assert m.pairs == 1
    m.add(6, SimpleNamespace(faces=[], track_ids=None))                    # a still image: nothing
    assert m.pairs == 1
