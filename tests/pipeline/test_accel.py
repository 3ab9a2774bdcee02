"""The optional OpenVINO backend (pipeline/accel.py): same outputs as PyTorch, and PyTorch whenever
OpenVINO is missing or cannot compile a network."""
from __future__ import annotations

import os
import time

import numpy as np
import pytest
import torch

from facesr_gui.nets import create_net
from facesr_gui.pipeline import accel
from facesr_gui.pipeline.detect import FaceDetector
from facesr_gui.pipeline.restore import FaceRestorer


@pytest.fixture
def no_openvino(monkeypatch):
    monkeypatch.setattr(accel, "openvino_missing", lambda: "OpenVINO is not installed (test); pip install openvino")


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("FACESR_HOME", str(tmp_path))
    return tmp_path / "facesr-studio" / "openvino"


def _tiny() -> torch.nn.Module:
    torch.manual_seed(0)
    return create_net("eipnet", width=16)


def _faces(n: int = 3, side: int = 16) -> np.ndarray:
    return (np.random.default_rng(0).random((n, side, side, 3)) * 255).astype(np.uint8)


def test_backend_choice(no_openvino):
    assert accel.resolve_backend("torch", "cpu") == "torch"
    assert accel.resolve_backend("auto", "cpu") == "torch"          # missing: PyTorch, no error
    with pytest.raises(RuntimeError, match="pip install openvino"):
        accel.resolve_backend("openvino", "cpu")                     # asked for by name: one clear line
    with pytest.raises(ValueError, match="auto, torch, openvino"):
        accel.resolve_backend("onnx", "cpu")


def test_without_openvino_the_restorer_and_detector_run_pytorch(no_openvino):
    r = FaceRestorer(_tiny(), backend="auto", bf16=False)
    assert r.backend == "torch" and r._compiled is None
    assert FaceDetector(backend="auto").backend == "torch"
    sr, _, _ = r._forward(_faces())
    assert sr.shape == (3, 128, 128, 3)


def test_a_network_openvino_cannot_compile_falls_back_with_a_warning(monkeypatch, cache):
    pytest.importorskip("openvino")

    def broken(*args, **kwargs):
        raise RuntimeError("unsupported operation (test)")

    monkeypatch.setattr(accel, "CompiledModule", broken)
    reference = FaceRestorer(_tiny(), bf16=False)
    with pytest.warns(RuntimeWarning, match="running it with PyTorch"):
        r = FaceRestorer(_tiny(), backend="auto", bf16=False)
    assert r.backend == "torch"
    assert np.array_equal(r._forward(_faces())[0], reference._forward(_faces())[0])
    with pytest.raises(RuntimeError, match="could not compile"):
        FaceRestorer(_tiny(), backend="openvino", bf16=False)


def test_openvino_gives_pytorchs_faces_and_maps(cache):
    pytest.importorskip("openvino")
    torch_r = FaceRestorer(_tiny(), bf16=False)
    ov_r = FaceRestorer(_tiny(), backend="openvino", bf16=False)
    assert ov_r.backend == "openvino"
    faces = _faces(5)
    (sr_t, maps_t, vals_t), (sr_o, maps_o, vals_o) = torch_r._forward(faces), ov_r._forward(faces)
    assert np.abs(sr_t.astype(int) - sr_o.astype(int)).max() <= 1         # float32 both: rounding only
    assert sorted(maps_t) == sorted(maps_o) and sorted(vals_t) == sorted(vals_o)
    for k in maps_t:
        assert np.allclose(maps_t[k], maps_o[k], atol=1e-3)
    # any batch size; the converted model is kept and read back by the next restorer
    assert ov_r._forward(faces[:1])[0].shape == (1, 128, 128, 3)
    assert len(list(cache.glob("*.xml"))) == 1 and not list(cache.glob(".*"))
    again = FaceRestorer(_tiny(), backend="openvino", bf16=False)
    assert np.array_equal(again._forward(faces)[0], sr_o)
    # not pinned to cores: a video's detector and SR network run at once in two threads (accel.CompiledModule)
    compiled = [model for model, _ in ov_r._compiled._fixed.values()]
    assert compiled and all(m.get_property("ENABLE_CPU_PINNING") is False for m in compiled)


def test_a_batch_is_cut_into_chunks_and_powers_of_two():
    module = accel.CompiledModule.__new__(accel.CompiledModule)   # pieces() needs only the chunk
    module.chunk = 4
    assert [module.pieces(n) for n in (0, 1, 2, 3, 4, 5, 6, 7, 9)] == [
        [0], [1], [2], [2, 1], [4], [4, 1], [4, 2], [4, 2, 1], [4, 4, 1]]
    module.chunk = 64
    assert module.pieces(913) == [64] * 14 + [16, 1] and sum(module.pieces(913)) == 913
    module.chunk = None
    assert module.pieces(913) == [913]


def test_an_sr_network_runs_batches_of_any_size_on_models_compiled_for_4_2_and_1_faces(cache):
    pytest.importorskip("openvino")
    reference = FaceRestorer(_tiny(), bf16=False)
    r = FaceRestorer(_tiny(), backend="openvino", bf16=False, keep_maps=False)
    module = r._compiled
    assert module.static_shapes == [(1, 3, 16, 16), (2, 3, 16, 16), (4, 3, 16, 16)]
    assert module._dynamic is None                      # eager: the model with a free batch is never compiled
    for n in (1, 3, 7):
        faces = _faces(n)
        assert np.abs(r._forward(faces)[0].astype(int) - reference._forward(faces)[0].astype(int)).max() <= 1
    assert module._dynamic is None and len(module.static_shapes) == 3


def test_a_shape_gets_its_own_model_once_the_free_one_spent_long_enough_on_it(cache, monkeypatch):
    pytest.importorskip("openvino")
    monkeypatch.setattr(accel, "MAX_STATIC", 2)
    detector = FaceDetector(backend="torch")
    pnet = detector._mtcnn.pnet
    module = accel.CompiledModule(pnet, torch.zeros(1, 3, 64, 64), (0, 2, 3))
    x = torch.rand(1, 3, 40, 56)
    first = module(x)
    assert module.static_shapes == []                  # a one-off input: no compilation
    monkeypatch.setattr(accel, "STATIC_AFTER_S", 0.0)
    module(x)                                           # its time so far earned it a model of its own ...
    assert module.static_shapes == [(1, 3, 40, 56)]
    for a, b in zip(first, module(x)):                  # ... that gives the same outputs
        assert torch.allclose(a, b, atol=1e-5)
    for shape in ((1, 3, 30, 30), (1, 3, 20, 30)):    # the two used last are kept
        module(torch.rand(*shape))
        module(torch.rand(*shape))
    assert module.static_shapes == [(1, 3, 30, 30), (1, 3, 20, 30)]
    with torch.inference_mode():
        expected = pnet(x)
    for a, b in zip(expected, module(x)):
        assert torch.allclose(a, b, atol=1e-5)


def test_a_shape_openvino_cannot_compile_stays_on_the_model_with_free_dimensions(cache, monkeypatch):
    pytest.importorskip("openvino")
    monkeypatch.setattr(accel, "STATIC_AFTER_S", 0.0)
    module = accel.CompiledModule(FaceDetector(backend="torch")._mtcnn.onet, torch.zeros(1, 3, 48, 48), chunk=8)
    compile_free = module._compile

    def failing(shape):
        if shape is not None:
            raise RuntimeError("no kernel for that shape (test)")
        return compile_free(shape)

    monkeypatch.setattr(module, "_compile", failing)
    x = torch.rand(11, 3, 48, 48)
    outs = [module(x) for _ in range(3)]
    assert module.static_shapes == [] and set(module._static) == {(8, 3, 48, 48), (2, 3, 48, 48), (1, 3, 48, 48)}
    for a, b in zip(outs[0], outs[2]):
        assert torch.allclose(a, b, atol=1e-6) and a.shape[0] == 11


def test_without_maps_openvino_runs_an_image_only_network_shared_by_copies(cache):
    pytest.importorskip("openvino")
    full = FaceRestorer(_tiny(), backend="openvino", bf16=False)
    lean = full.with_options(keep_maps=False)
    faces = _faces(4)
    sr_full, maps, _ = full._forward(faces)
    sr_lean, no_maps, no_values = lean._forward(faces)
    assert not full._forward(faces, keep_maps=False)[1]             # one call without them
    assert maps and not no_maps and not no_values
    assert np.abs(sr_full.astype(int) - sr_lean.astype(int)).max() <= 1
    compiled = lean._networks[False]
    assert compiled is not full._compiled and compiled.map_names == ()
    # the full restorer keeps its maps; a second copy without them reuses the first one's network
    assert full._network(True) is full._compiled
    assert full._network(False) is compiled
    assert len(list(cache.glob("*.xml"))) == 2
    # made without maps: the image-only network is compiled at once, the full one on a request with maps
    made_lean = FaceRestorer(_tiny(), backend="openvino", bf16=False, keep_maps=False)
    assert made_lean._compiled.map_names == () and set(made_lean._networks) == {False}
    assert made_lean._forward(faces, keep_maps=True)[1] and set(made_lean._networks) == {False, True}


def test_a_change_to_the_networks_code_converts_again(cache, monkeypatch):
    pytest.importorskip("openvino")
    FaceRestorer(_tiny(), backend="openvino", bf16=False)
    FaceRestorer(_tiny(), backend="openvino", bf16=False)
    assert len(list(cache.glob("*.xml"))) == 1                      # the same code: read back
    monkeypatch.setattr(accel, "_nets_code", lambda: "changed forward")
    FaceRestorer(_tiny(), backend="openvino", bf16=False)
    assert len(list(cache.glob("*.xml"))) == 2


def test_video_frames_are_restored_without_maps_unless_the_mask_needs_them():
    from facesr_gui.pipeline.video import VideoReport
    from facesr_gui.pipeline.detect import Detections
    from facesr_gui.pipeline.track import TrackedFaces
    from facesr_gui.pipeline.video_stages import FrameRestorer, Tracked

    r = FaceRestorer(_tiny(), bf16=False)
    assert r.keep_maps
    frame = np.zeros((64, 64, 3), np.uint8)
    no_faces = TrackedFaces(Detections.empty(), np.zeros(0, np.int64), np.zeros(0, np.int32))
    seen, enhance = [], r.enhance

    def recording(rgb, **kwargs):
        seen.append(kwargs["keep_maps"])                                  # what the video asks for
        return enhance(rgb, **kwargs)

    r.enhance = recording
    for mask, expected in (("ellipse", False), ("parsing", None)):        # None: the restorer's own
        r.mask = mask
        FrameRestorer(r, 1, VideoReport())(Tracked(0, frame, no_faces, False, 0))
        assert seen[-1] is expected


def test_openvino_detector_finds_pytorchs_faces(cache):
    pytest.importorskip("openvino")
    from facesr_gui.selftest import load_sample

    photo = load_sample()
    ref = FaceDetector().detect(photo)
    ov = FaceDetector(backend="openvino", pnet_bf16=False)
    got = ov.detect(photo)
    assert ov.backend == "openvino" and not ov.pnet_bf16 and len(ref) > 0 and len(got) == len(ref)
    assert np.allclose(got.boxes, ref.boxes, atol=0.05) and np.allclose(got.landmarks, ref.landmarks, atol=0.05)
    crops = np.zeros((2, 48, 48, 3), np.uint8)
    assert [a.shape for a in ov.score_crops(crops)] == [(2, 4), (2, 10), (2,)]
    # P-Net in bf16 proposes slightly different candidates; R-Net and O-Net (float32) settle on the same faces
    half = FaceDetector(backend="openvino", pnet_bf16=True)
    found = half.detect(photo)
    assert half.pnet_bf16 and len(found) == len(ref)
    assert np.abs(found.boxes - ref.boxes).max() < 0.05 * (ref.boxes[:, 2] - ref.boxes[:, 0]).min()


def test_the_detector_runs_p_net_in_bf16_only_where_the_cpu_has_it(monkeypatch, cache):
    pytest.importorskip("openvino")
    import facesr_gui.pipeline.detect as detect

    for native in (False, True):
        monkeypatch.setattr(detect, "cpu_has_bf16", lambda: native)
        assert FaceDetector(backend="openvino").pnet_bf16 is native
    assert FaceDetector(backend="torch").pnet_bf16 is False


def test_the_video_report_names_the_backends():
    from types import SimpleNamespace

    from facesr_gui.pipeline.video import VideoReport, _backends

    both = SimpleNamespace(backend="openvino", _detector=SimpleNamespace(backend="openvino"))
    mixed = SimpleNamespace(backend="torch", _detector=SimpleNamespace(backend="openvino"))
    assert _backends(both) == "openvino" and _backends(mixed) == "torch (SR), openvino (MTCNN)"
    assert _backends(SimpleNamespace()) == "torch"      # a fake restorer without one
    report = VideoReport(frames_out=4, frames_in=4, backend="openvino")
    assert report.stage_line().endswith("networks on openvino")


def _entry(folder, key: str, size: int, age_s: float) -> None:
    for suffix, n in ((".xml", 1000), (".bin", size - 1000)):
        path = folder / f"{key}{suffix}"
        path.write_bytes(b"\0" * n)
        os.utime(path, (time.time() - age_s,) * 2)


def test_the_cache_keeps_the_most_recently_used_entries_within_its_budget(tmp_path):
    keys = [f"{i:032x}" for i in range(5)]
    for i, key in enumerate(keys):
        _entry(tmp_path, key, 10_000, age_s=1000 * (5 - i))      # keys[0] used longest ago
    (tmp_path / "notes.txt").write_text("the user's")              # not ours: never touched
    crashed = tmp_path / f".{keys[0]}.123.456.xml"
    crashed.write_text("half")
    os.utime(crashed, (time.time() - 2 * accel.STALE_TMP_S,) * 2)
    fresh_tmp = tmp_path / f".{keys[1]}.123.456.bin"               # another process is writing it now
    fresh_tmp.write_text("half")
    deleted = accel.prune_cache(tmp_path, keep=keys[1], budget=30_000)
    assert deleted == [keys[0], keys[2]]                           # oldest first; keys[1] is the one just made
    left = sorted(p.name for p in tmp_path.iterdir())
    assert left == sorted([f".{keys[1]}.123.456.bin", "notes.txt"]
                          + [f"{k}{s}" for k in (keys[1], keys[3], keys[4]) for s in (".xml", ".bin")])
    assert accel.prune_cache(tmp_path, budget=10 ** 9) == []      # within budget: nothing goes


def test_reading_a_cached_model_marks_it_used(cache):
    r = FaceRestorer(_tiny(), backend="openvino", bf16=False)
    assert r.backend == "openvino"
    (xml,) = cache.glob("*.xml")
    os.utime(xml, (1, 1))
    FaceRestorer(_tiny(), backend="openvino", bf16=False)          # read back from the cache
    assert xml.stat().st_mtime > 1e9
