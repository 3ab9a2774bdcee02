"""Provenance records: sidecar content for real images and a real video, sha256s, never overwriting,
and the summary line inside PNG and JPEG outputs."""
from __future__ import annotations

import hashlib
import json
import re

import numpy as np
import pytest
from PIL import Image

from facesr_gui import __version__
from facesr_gui.catalog import load_restorer
from facesr_gui.pipeline.engine import enhance_paths, plan_outputs
from facesr_gui.pipeline.provenance import (SKIP_REASONS, TEXT_KEY, build_record, face_records, options_of,
                                            summary_line, write_sidecar)
from facesr_gui.pipeline.sizing import LARGE_FACE_FACTOR

PHOTO = "photos/face_recognition/obama_small.jpg"


def _sha(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_real_photo_sidecar_and_jpeg_comment(shared_data, tmp_path, restorer):
    src = shared_data / PHOTO
    item, = enhance_paths([src], tmp_path, restorer, upscale=2, provenance=True).items
    assert item.status == "ok" and item.provenance == tmp_path / "obama_small_facesr.jpg.json"
    record = json.loads(item.provenance.read_text())
    assert record["app"] == "FaceSR Studio" and record["version"] == __version__
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", record["created_utc"])
    assert record["input"] == {"name": "obama_small.jpg", "sha256": _sha(src)}
    assert record["output"] == {"name": "obama_small_facesr.jpg", "sha256": _sha(item.output)}
    model = record["model"]
    assert model["id"] == "bicubic" and model["checkpoint"] is None and model["checkpoint_sha256"] is None
    assert model["config"] is None and model["degradation"] is None and "no checkpoint" in model["note"]
    assert record["options"] == {"upscale": 2, "mask": "ellipse", "flip_ensemble": False, "colour_match": True,
                                 "native_detail": True}
    assert "video" not in record and len(record["faces"]) == item.faces >= 1
    w, h = Image.open(src).size
    for face in record["faces"]:                       # input pixels, not the x2 output's
        x0, y0, x1, y1 = face["box"]
        assert 0 <= x0 < x1 <= w and 0 <= y0 < y1 <= h and face["size_px"] > x1 - x0
        large = face["size_px"] * 2 > restorer.sr_size * LARGE_FACE_FACTOR   # the restorer's own rule
        assert 0.5 < face["score"] <= 1 and face["status"] == (f"skipped: {SKIP_REASONS['large']}" if large else "pasted")
    assert Image.open(item.output).info["comment"] == b"FaceSR Studio %s; model bicubic; no checkpoint" % (
        __version__.encode())


def test_a_large_face_says_why_it_was_not_pasted(restorer, face_frame):
    res = restorer.enhance(face_frame, upscale=8)      # x8: the face is larger than the SR crop
    records = face_records(res.faces)
    assert [r.status for r in records] == [
        "pasted" if f.skipped is None else f"skipped: {SKIP_REASONS['large']}" for f in res.faces]
    assert any(f.skipped == "large" for f in res.faces)
    assert records[0].box == tuple(round(float(v), 2) for v in res.detections.boxes[0])


def test_png_text_chunk_with_a_bundled_checkpoint(tmp_path, face_frame):
    from facesr_gui.manifest import read_manifest
    from facesr_gui.paths import models_dir

    cards = read_manifest(models_dir() / "manifest.json")
    if not cards:
        pytest.skip("no bundled model in models/manifest.json")
    card = cards[0]
    Image.fromarray(face_frame).save(tmp_path / "face.png")
    item, = enhance_paths([tmp_path / "face.png"], None, load_restorer(card.id), provenance=True).items
    model = json.loads(item.provenance.read_text())["model"]
    ckpt = models_dir() / card.file
    assert model["checkpoint"] == card.file and model["checkpoint_sha256"] == _sha(ckpt) == card.sha256
    assert model["config"] == card.config and model["degradation"] == card.training["degradation"]
    assert Image.open(item.output).text == {TEXT_KEY: f"FaceSR Studio {__version__}; model {card.id}; "
                                                      f"checkpoint sha256 {card.sha256[:12]}"}


def test_a_users_json_is_never_overwritten(tmp_path, restorer, face_frame):
    src = tmp_path / "x.png"
    Image.fromarray(face_frame).save(src)
    mine = tmp_path / "x_facesr.png.json"
    mine.write_text("the user's own notes")
    assert plan_outputs([src], None) == [tmp_path / "x_facesr.png"]          # no sidecar: the name is free
    item, = enhance_paths([src], None, restorer, provenance=True).items
    assert item.output == tmp_path / "x_facesr_2.png" and item.provenance == tmp_path / "x_facesr_2.png.json"
    assert "x_facesr.png.json exists already, not overwritten" in item.message
    assert mine.read_text() == "the user's own notes" and not (tmp_path / "x_facesr.png").exists()
    # a sidecar name taken after the names were planned: refused, not replaced
    record = build_record(src, item.output, restorer.model, options_of(restorer, 1))
    with pytest.raises(FileExistsError, match="not overwritten"):
        write_sidecar(record, item.output)
    assert json.loads(item.provenance.read_text())["output"]["name"] == "x_facesr_2.png"


def test_without_provenance_nothing_extra_is_written(tmp_path, restorer, face_frame):
    Image.fromarray(face_frame).save(tmp_path / "x.png")
    item, = enhance_paths([tmp_path / "x.png"], tmp_path / "out", restorer).items
    assert item.provenance is None and [p.name for p in (tmp_path / "out").iterdir()] == ["x_facesr.png"]
    assert TEXT_KEY not in Image.open(item.output).info


def test_video_sidecar(tmp_path, restorer, face_frame):
    from facesr_gui.pipeline import video, video_io
    if video_io.av is None:
        pytest.skip("PyAV not installed")
    with video.VideoWriter(tmp_path / "clip.mp4", 128, 72, 10) as w:
        for i in range(6):
            w.write(np.roll(face_frame, i, axis=1))
    item, = enhance_paths([tmp_path / "clip.mp4"], tmp_path / "out", restorer, upscale=2, detect_every=3,
                          provenance=True).items
    assert item.status == "ok" and item.provenance == tmp_path / "out/clip_facesr.mp4.json"
    record = json.loads(item.provenance.read_text())
    assert record["input"] == {"name": "clip.mp4", "sha256": _sha(tmp_path / "clip.mp4")}
    assert record["output"] == {"name": "clip_facesr.mp4", "sha256": _sha(item.output)}
    assert record["options"]["detect_every"] == 3 and record["options"]["upscale"] == 2 and "faces" not in record
    v = record["video"]
    assert v["frames"] == 6 and v["fps"] == 10.0 and v["tracks"] == item.faces >= 1
    assert 0.5 <= v["faces_per_frame_mean"] <= 1.0


def test_summary_line_names_what_is_known(restorer):
    assert summary_line(restorer.model) == f"FaceSR Studio {__version__}; model bicubic; no checkpoint"
