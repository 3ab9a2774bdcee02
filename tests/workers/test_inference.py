"""InferenceWorker: model catalogue, detect / enhance / grid requests, metrics, latest-wins, OOM fallback, shutdown."""
from __future__ import annotations

import json
import time

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from facesr_gui.checkpoints import save_checkpoint
from facesr_gui.manifest import ModelCard, sha256_file, write_manifest
from facesr_gui.nets import SROutput, create_net, get_info
from facesr_gui.nets._base import SRNet
from facesr_gui.pipeline.detect import from_boxes
from facesr_gui.catalog import CHECKPOINTS_ENV, ModelEntry, list_models, load_net
from facesr_gui.workers.inference import DetectRequest, EnhanceRequest, GridRequest, InferenceWorker

BOXES = [[20, 20, 40, 44], [90, 30, 108, 52], [60, 70, 76, 90]]


class _FakeNet(SRNet):
    """x8 'network': bicubic plus one heat map; optionally slow."""

    def __init__(self, delay: float = 0.0):
        super().__init__(scale=8)
        self.delay = delay

    def forward(self, lr):
        time.sleep(self.delay)
        up = F.interpolate(lr, scale_factor=8, mode="bicubic", align_corners=False)
        return SROutput(up, {"edge/x8": up[:, :1], "attn": torch.ones(lr.shape[0], 4, 1, 1)})


class _Usable(ModelEntry):
    @property
    def available(self) -> bool:
        return True


def _catalogue():
    return [ModelEntry("bicubic", "bicubic", 8), _Usable("fake", "fake", 8),
            _Usable("slow", "slow", 8), ModelEntry("jeanet", "jeanet", 8)]


def _loader(entry, device):
    if entry.id == "fake":
        return _FakeNet()
    if entry.id == "slow":
        return _FakeNet(delay=0.4)
    return load_net(entry, device)


def _fake_detect(image):
    return from_boxes(BOXES)


@pytest.fixture(autouse=True)
def _user_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("FACESR_HOME", str(tmp_path / "home"))
    monkeypatch.delenv(CHECKPOINTS_ENV, raising=False)


@pytest.fixture
def worker(qtbot):
    w = InferenceWorker(_catalogue(), loader=_loader, device="cpu", detect_fn=_fake_detect)
    w.start()
    yield w
    assert w.stop(5000)


def _image(h=120, w=160, seed=0):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (h, w, 3), dtype=np.uint8)


# --- catalogue ------------------------------------------------------------------------------------
def _tiny_checkpoint(path):
    net = create_net("eipnet", **get_info("eipnet").tiny_cfg)
    save_checkpoint(path, net, meta={"val": {"psnr": 23.5, "ssim": 0.7, "bicubic_psnr": 22.0}})
    return path


def test_list_models_reads_bundled_user_and_checkpoint_files(tmp_path):
    bundled, user = tmp_path / "models", tmp_path / "home" / "facesr-studio" / "models"
    for root, model_id in ((bundled, "eipnet-celeba"), (user, "my-eipnet")):
        weights = _tiny_checkpoint(root / f"{model_id}.safetensors")
        write_manifest(root / "manifest.json", [ModelCard(
            model_id, "eipnet", weights.name, sha256_file(weights), 8, get_info("eipnet").tiny_cfg,
            metrics={"celeba_dev": {"psnr": 25.1234, "ssim": 0.75, "bicubic_psnr": 23.9}})])
    loose = _tiny_checkpoint(tmp_path / "run" / "eipnet.safetensors")
    entries = list_models(bundled / "manifest.json", user / "manifest.json", checkpoints=[str(loose)])
    by_id = {e.id: e for e in entries}
    assert [e.id for e in entries][:4] == ["eipnet-celeba", "my-eipnet", str(loose), "bicubic"]
    assert by_id["eipnet-celeba"].source == "bundled" and by_id["my-eipnet"].source == "user"
    assert "measured on celeba_dev: PSNR 25.12 dB" in by_id["my-eipnet"].tooltip()
    assert "Kim et al." in by_id["my-eipnet"].tooltip()
    assert by_id[str(loose)].name == "eipnet (run)" and "PSNR 23.50 dB" in by_id[str(loose)].tooltip()
    assert "eipnet" not in by_id                      # a net with weights is not listed again untrained
    assert not by_id["jeanet"].available and by_id["jeanet"].label.endswith("untrained")
    assert by_id["cagface"].sr_size == 256 and by_id["bicubic"].sr_size == 128
    net = load_net(by_id["my-eipnet"], "cpu")       # sha256 checked, strict load
    assert sum(p.numel() for p in net.parameters()) > 0


def test_sr_size_follows_a_checkpoints_own_lr_size(tmp_path):
    """A CAGFace variant trained on 128 px faces (lr_size 32) crops faces at 32, not the paper's 64."""
    cfg = {**get_info("cagface").tiny_cfg, "lr_size": 32}
    net = create_net("cagface", **cfg)
    weights = save_checkpoint(tmp_path / "models" / "cag.safetensors", net)
    write_manifest(tmp_path / "models" / "manifest.json",
                   [ModelCard("cag-s", "cagface", weights.name, sha256_file(weights), 4, net.config)])
    entries = list_models(tmp_path / "models" / "manifest.json", tmp_path / "none.json",
                          checkpoints=[str(weights)])
    by_id = {e.id: e for e in entries}
    assert by_id["cag-s"].sr_size == 128 and by_id[str(weights)].sr_size == 128


def test_refresh_models_sees_a_newly_registered_model(qtbot, tmp_path):
    w = InferenceWorker(device="cpu")                 # default catalogue: reads the user manifest
    assert "fresh" not in {e.id for e in w.models()}
    root = tmp_path / "home" / "facesr-studio" / "models"
    weights = _tiny_checkpoint(root / "fresh.safetensors")
    write_manifest(root / "manifest.json", [ModelCard("fresh", "eipnet", weights.name, sha256_file(weights), 8,
                                                      get_info("eipnet").tiny_cfg)])
    with qtbot.waitSignal(w.models_changed, timeout=1000):
        entries = w.refresh_models()
    assert "fresh" in {e.id for e in entries} and "fresh" in {e.id for e in w.models()}
    assert json.loads((root / "manifest.json").read_text())["models"][0]["id"] == "fresh"


# --- requests -------------------------------------------------------------------------------------
def test_detect_request(qtbot, worker):
    with qtbot.waitSignal(worker.detected, timeout=5000) as blocker:
        rid = worker.submit(DetectRequest(_image()))
    out = blocker.args[0]
    assert out.request_id == rid and len(out.detections) == 3 and out.device == "CPU"


def test_enhance_selected_and_manual_faces(qtbot, worker):
    img = _image()
    dets = from_boxes(BOXES)
    with qtbot.waitSignal(worker.enhanced, timeout=10000) as blocker:
        rid = worker.enhance(img, "fake", detections=dets, manual_boxes=np.array([[120, 60, 150, 100]]),
                             selected=(0, 3), upscale=2, identity=False)
    out = blocker.args[0]
    assert out.request_id == rid and out.face_ids == [0, 3]
    assert out.result.image.shape == (240, 320, 3) and len(out.result.faces) == 2
    assert out.face(3).sr.shape == (128, 128, 3) and out.face(1) is None
    assert np.allclose(out.face(3).box, [120, 60, 150, 100])
    assert out.result.map_names == ["edge/x8"] and set(out.result.timings) == {"detect", "sr", "paste"}
    restorer = worker.service._restorers[("fake", "cpu", False, "torch")]
    with qtbot.waitSignal(worker.enhanced, timeout=10000):
        worker.enhance(img, "fake", detections=dets, identity=False, mask="parsing")
    assert worker.service._restorers[("fake", "cpu", False, "torch")] is restorer        # cached, whatever the mask
    with qtbot.waitSignal(worker.enhanced, timeout=10000):
        worker.enhance(img, "fake", detections=dets, identity=False, flip_ensemble=True)
    assert not restorer.flip_ensemble and restorer.mask == "ellipse"            # per request: never changed
    with qtbot.waitSignal(worker.enhanced, timeout=10000):
        worker.enhance(img, "fake", detections=dets, identity=False)
    assert not restorer.flip_ensemble


def test_enhance_without_faces_detects_first(qtbot, worker):
    with qtbot.waitSignal(worker.enhanced, timeout=10000) as blocker:
        worker.submit(EnhanceRequest(_image(), "bicubic", identity=False))
    assert blocker.args[0].face_ids == [0, 1, 2]


def test_identity_and_ground_truth_metrics(qtbot, worker, shared_data):
    from PIL import Image

    from facesr_gui.identity import DlibIdentity

    hr = np.asarray(Image.open(shared_data / "photos/face_recognition/obama-480p.jpg").convert("RGB"))
    lr = np.asarray(Image.fromarray(hr).resize((213, 120), Image.BICUBIC))
    measures = []
    worker.measured.connect(measures.append)
    with qtbot.waitSignal(worker.enhanced, timeout=10000):
        worker.enhance(lr, "fake", detections=from_boxes([[97, 10, 124, 46]]), upscale=4, ground_truth=hr)
    qtbot.waitUntil(lambda: len(measures) == 2, timeout=30000)   # dlib loads in ~1 s, 10+ s on a busy CPU
    whole, face = measures
    assert whole.face_id == -1 and face.face_id == 0
    assert 20 < whole.values["psnr"] < 40 and 0 < whole.values["ssim"] <= 1
    assert 15 < face.values["psnr"] < 40 and 15 < face.values["bicubic_psnr"] < 40
    if DlibIdentity.available():
        assert 0.8 < face.values["identity"] <= 1.0            # a bicubic-like net keeps the identity
    else:
        assert face.values["identity"] is None and face.note


def test_grid_runs_every_model_on_one_face(qtbot, worker):
    tiles = []
    worker.grid_progressed.connect(tiles.append)
    with qtbot.waitSignal(worker.grid_finished, timeout=10000) as blocker:
        worker.submit(GridRequest(_image(), ("bicubic", "fake", "jeanet"), 1, detections=from_boxes(BOXES)))
    out = blocker.args[0]
    assert [t.model_id for t in out.tiles] == ["bicubic", "fake", "jeanet"] == [t.model_id for t in tiles]
    assert out.face_id == 1 and out.tiles[0].sr.shape == (128, 128, 3) and out.tiles[1].seconds > 0
    assert out.tiles[0].lr.shape == (16, 16, 3)
    assert out.tiles[2].sr is None and "no trained weights" in out.tiles[2].error


def test_missing_weights_error(qtbot, worker):
    with qtbot.waitSignal(worker.errored, timeout=10000) as blocker:
        rid = worker.enhance(_image(), "jeanet", detections=from_boxes(BOXES))
    assert blocker.args[0] == rid and "no trained weights for jeanet" in blocker.args[1]


def test_latest_request_of_a_kind_wins_but_kinds_do_not_supersede(qtbot, worker):
    got, detected = [], []
    worker.enhanced.connect(lambda o: got.append(o.request_id))
    worker.detected.connect(lambda o: detected.append(o.request_id))
    dets = from_boxes(BOXES)
    ids = [worker.enhance(_image(), "slow", detections=dets, identity=False) for _ in range(4)]
    det_id = worker.detect(_image())
    qtbot.waitUntil(lambda: ids[-1] in got and det_id in detected, timeout=15000)
    assert got[-1] == ids[-1] and len(got) < 4


def test_gpu_out_of_memory_falls_back_to_cpu(qtbot, out_of_memory):
    class _OomOnCuda(InferenceWorker):
        def _restorer(self, model_id, device, half, **options):
            restorer = super()._restorer(model_id, torch.device("cpu"), False, **options)
            return out_of_memory(restorer) if device.type == "cuda" else restorer

    w = _OomOnCuda(_catalogue(), loader=_loader, device="cpu", detect_fn=_fake_detect)
    w.service._device, w.service._half = torch.device("cuda"), True     # as if the user had picked the GPU
    notes, devices = [], []
    w.notified.connect(notes.append)
    w.device_changed.connect(devices.append)
    w.start()
    try:
        with qtbot.waitSignal(w.enhanced, timeout=10000) as blocker:
            w.enhance(_image(), "fake", detections=from_boxes(BOXES), identity=False)
        assert blocker.args[0].device == "CPU" and len(blocker.args[0].face_ids) == 3
        assert notes and "out of memory" in notes[0] and devices[-1] == "CPU"
        assert w.device.type == "cpu" and not w.half()
    finally:
        assert w.stop(5000)


def test_gpu_refused_without_cuda(worker):
    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    assert not worker.cuda_available() and not worker.set_device("cuda", True)
    assert worker.device_label() == "CPU"


def test_stop_while_busy_does_not_hang(qtbot, worker):
    seen = []     # (a connected lambda, not waitSignal: more progress events stay queued after the first)
    worker.progressed.connect(lambda *args: seen.append(args))
    worker.enhance(_image(), "slow", detections=from_boxes(BOXES * 4), identity=False)
    qtbot.waitUntil(lambda: len(seen) >= 2, timeout=5000)
    t0 = time.perf_counter()
    assert worker.stop(5000)
    assert time.perf_counter() - t0 < 2.0 and not worker.is_running()


def test_fast_metrics_match_the_reference_implementation():
    from facesr_gui.metrics import psnr, ssim, y_psnr_ssim

    a = _image(40, 52, seed=1)
    b = np.clip(a.astype(int) + np.random.default_rng(2).integers(-30, 30, a.shape), 0, 255).astype(np.uint8)
    ta, tb = (torch.from_numpy(x).permute(2, 0, 1)[None].double() / 255 for x in (a, b))
    p, s = y_psnr_ssim(a, b)
    assert p == pytest.approx(float(psnr(ta, tb)), abs=1e-9) and s == pytest.approx(float(ssim(ta, tb)), abs=1e-9)
    assert y_psnr_ssim(a, a)[0] == float("inf") == float(psnr(ta, ta)) and y_psnr_ssim(a[:8, :8], b[:8, :8])[1] is None
