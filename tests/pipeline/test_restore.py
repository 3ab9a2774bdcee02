"""Whole-image restoration: shapes, paste-back without seams, maps in frame coordinates."""
from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from facesr_gui.nets import create_net, get_info
from facesr_gui.nets._base import SRNet
from facesr_gui.nets.outputs import SROutput
from facesr_gui.pipeline.detect import Detections, from_boxes
from facesr_gui.pipeline.align import face_transform, warp_crop
from facesr_gui.catalog import load_restorer
from facesr_gui.pipeline.restore import NATIVE_DETAIL_FACTOR, FaceRestorer


def _frame(h=120, w=160, seed=0):
    rng = np.random.default_rng(seed)
    img = cv2.GaussianBlur(rng.integers(0, 255, (h, w, 3)).astype(np.float32), (0, 0), 4)
    return cv2.normalize(img, None, 30, 220, cv2.NORM_MINMAX).astype(np.uint8)


@pytest.fixture(scope="module")
def tiny_eipnet():
    return create_net("eipnet", **get_info("eipnet").tiny_cfg)


def test_enhance_upscales_the_frame_and_restores_each_face(tiny_eipnet):
    r = FaceRestorer(tiny_eipnet, batch_size=2)
    img = _frame()
    dets = from_boxes([[20, 20, 40, 44], [90, 30, 108, 52], [60, 70, 76, 90]])
    res = r.enhance(img, detections=dets, upscale=4)
    assert res.image.shape == (480, 640, 3) and res.image.dtype == np.uint8
    assert len(res.faces) == 3 and [f.index for f in res.faces] == [0, 1, 2]
    f = res.faces[0]
    assert f.lr.shape == (16, 16, 3) and f.sr.shape == f.bicubic.shape == (128, 128, 3)
    assert f.skipped is None and set(res.timings) == {"detect", "sr", "paste"}
    assert {"edge/x2", "edge/x4", "edge/x8"} <= set(res.map_names)


class _CastNet(SRNet):
    """Bicubic plus a colour cast and a checkerboard: what a drifting network does."""

    def __init__(self):
        super().__init__(scale=8)

    def forward(self, lr):
        up = F.interpolate(lr, scale_factor=8, mode="bicubic", align_corners=False)
        yy, xx = torch.meshgrid(torch.arange(up.shape[-2]), torch.arange(up.shape[-1]), indexing="ij")
        checker = ((yy // 2 + xx // 2) % 2).float() * 0.2 - 0.1
        return SROutput(up + torch.tensor([0.15, -0.1, 0.05]).view(1, 3, 1, 1) + checker, {})


@pytest.mark.parametrize("colour_match", [True, False])
def test_no_seam_and_background_untouched(colour_match):
    img = _frame(seed=1)
    r = FaceRestorer(_CastNet(), colour_match=colour_match, native_detail=False)
    res = r.enhance(img, detections=from_boxes([[60, 40, 74, 56]]), upscale=4)
    assert res.faces[0].skipped is None
    bic = cv2.resize(img, (640, 480), interpolation=cv2.INTER_CUBIC).astype(np.float32)
    diff = res.image.astype(np.float32) - bic
    assert np.abs(diff[:, :180]).max() == 0 and np.abs(diff[:, 360:]).max() == 0   # outside the face ROI
    low = np.abs(cv2.GaussianBlur(diff, (0, 0), 8)).max()   # a seam or a colour cast survives a low-pass
    assert np.abs(diff).max() > 20                          # the detail was pasted
    assert (low < 6) if colour_match else (low > 15)


def test_native_detail_keeps_what_the_frame_has():
    """A 30 px face fed to a 16 px net: the frame's own detail (and colour) is kept, only the
    SR detail above its resolution is added; a face at or below the LR size is left as the net made it."""
    img = _frame(seed=2)
    box = [[60, 40, 76, 58]]
    with_native = FaceRestorer(_CastNet(), colour_match=False).enhance(img, from_boxes(box), upscale=2)
    without = FaceRestorer(_CastNet(), colour_match=False, native_detail=False).enhance(img, from_boxes(box), upscale=2)
    face = with_native.faces[0]
    assert face.skipped is None and face.side_px > 16 * NATIVE_DETAIL_FACTOR
    native = cv2.resize(warp_crop(img, face_transform(face.box, np.full((5, 2), np.nan), round(face.side_px)),
                                  round(face.side_px)), (128, 128), interpolation=cv2.INTER_CUBIC).astype(np.float32)
    err = lambda sr: np.abs(cv2.GaussianBlur(sr.astype(np.float32) - native, (0, 0), 4)).mean()  # noqa: E731
    assert err(face.sr) < 3 < 10 < err(without.faces[0].sr)   # the cast is gone, the frame's content kept
    assert np.abs(face.sr.astype(np.float32) - native).max() > 10   # SR detail (the checkerboard) was added
    tiny = FaceRestorer(_CastNet(), colour_match=False).enhance(img, from_boxes([[60, 40, 66, 47]]), upscale=4)
    plain = FaceRestorer(_CastNet(), colour_match=False, native_detail=False).enhance(img, from_boxes([[60, 40, 66, 47]]),
                                                                                      upscale=4)
    assert np.array_equal(tiny.faces[0].sr, plain.faces[0].sr)


def test_large_faces_are_restored_but_not_pasted():
    img = _frame(200, 200)
    r = FaceRestorer(create_net("bicubic"))
    res = r.enhance(img, detections=from_boxes([[20, 20, 180, 190]]), upscale=1)
    assert res.faces[0].skipped == "large" and np.array_equal(res.image, img)


def test_no_faces_is_a_normal_result():
    img = _frame()
    res = FaceRestorer(create_net("bicubic")).enhance(img, detections=Detections.empty(), upscale=2)
    assert res.faces == [] and res.image.shape == (240, 320, 3)
    with pytest.raises(KeyError):
        res.frame_map("edge/x8")


def test_frame_map_covers_the_face(tiny_eipnet):
    img = _frame()
    res = FaceRestorer(tiny_eipnet).enhance(img, detections=from_boxes([[60, 40, 90, 76]]), upscale=2)
    m = res.frame_map("edge/x8")
    assert m.shape == (240, 320) and 0 <= m.min() and m.max() <= 1
    ys, xs = np.nonzero(m)
    assert 90 < xs.mean() < 170 and 70 < ys.mean() < 150


def test_parsing_mask_and_cancel():
    net = create_net("priorsr", **get_info("priorsr").tiny_cfg)
    r = FaceRestorer(net, mask="parsing", batch_size=1)
    res = r.enhance(_frame(), detections=from_boxes([[60, 40, 90, 76]]), upscale=2)
    assert res.frame_map("parsing").shape == (11, 240, 320)
    with pytest.raises(InterruptedError):
        r.enhance(_frame(), detections=from_boxes([[10, 10, 30, 30], [60, 40, 90, 76]]), should_stop=lambda: True)


def test_bad_arguments():
    r = FaceRestorer(create_net("bicubic"))
    with pytest.raises(ValueError, match="uint8 RGB"):
        r.enhance(np.zeros((10, 10), np.uint8), detections=Detections.empty())
    with pytest.raises(ValueError, match="upscale"):
        r.enhance(_frame(), detections=Detections.empty(), upscale=0)
    with pytest.raises(ValueError, match="no bundled or registered model"):
        load_restorer("no-such-model")


def test_selfie_every_detected_face_enhanced(shared_data):
    img = np.asarray(Image.open(shared_data / "photos/deepface_tests/selfie-many-people.jpg").convert("RGB"))
    r = load_restorer("bicubic")
    res = r.enhance(img, upscale=1)
    assert len(res.faces) >= 3
    assert all(f.sr.shape == (128, 128, 3) for f in res.faces)
    assert res.image.shape == img.shape


def test_bf16_on_the_cpu_only_where_native_and_close_to_fp32(monkeypatch):
    import facesr_gui.pipeline.restore as restore_mod

    monkeypatch.setattr(restore_mod, "cpu_has_bf16", lambda: False)
    assert not load_restorer("eipnet_w128").bf16                     # emulated bf16 would be slower
    monkeypatch.setattr(restore_mod, "cpu_has_bf16", lambda: True)
    fast, plain = load_restorer("eipnet_w128"), load_restorer("eipnet_w128", bf16=False)
    assert fast.bf16 and not plain.bf16
    lr = np.stack([cv2.resize(_frame(seed=s), (16, 16), interpolation=cv2.INTER_AREA) for s in range(4)])
    sr_fast, _, _ = fast._forward(lr)
    sr_plain, _, _ = plain._forward(lr)
    diff = np.abs(sr_fast.astype(int) - sr_plain.astype(int))
    assert diff.mean() < 0.6 and diff.max() <= 4, (diff.mean(), diff.max())   # measured: 0.32, 2


def test_flip_ensemble_averages_the_mirrored_pass(tiny_eipnet):
    calls = []

    class _Counting(torch.nn.Module):
        scale = 8

        def forward(self, lr):
            calls.append(lr.shape[0])
            return tiny_eipnet(lr)

    img = _frame(seed=3)
    dets = from_boxes([[20, 20, 40, 44], [90, 30, 108, 52]])
    tiny_eipnet.eval()
    plain = FaceRestorer(_Counting(), batch_size=8, bf16=False, colour_match=False, native_detail=False)
    a = plain.enhance(img, detections=dets)
    assert calls == [2]
    plain.flip_ensemble = True                       # switchable between calls (the workers do)
    b = plain.enhance(img, detections=dets)
    assert calls == [2, 2, 2]
    with torch.no_grad():
        lr = torch.from_numpy(np.stack([f.lr for f in b.faces])).permute(0, 3, 1, 2).float() / 255
        want = ((tiny_eipnet(lr).image + tiny_eipnet(lr.flip(-1)).image.flip(-1)) / 2).clamp(0, 1)
    want = (want * 255).round().byte().permute(0, 2, 3, 1).numpy()
    got = np.stack([f.sr for f in b.faces])
    assert np.abs(got.astype(int) - want.astype(int)).max() <= 1
    assert not np.array_equal(got, np.stack([f.sr for f in a.faces]))
    assert FaceRestorer(tiny_eipnet, flip_ensemble=True).flip_ensemble
