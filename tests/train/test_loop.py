"""Training loop: every net learns on real faces, resume is exact, cancel keeps the state."""
from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch

from facesr_gui.checkpoints import load_checkpoint
from facesr_gui.nets import get_info
from facesr_gui.train.dataset import FaceFolder, list_images
from facesr_gui.train.loop import TrainConfig, fit_steps, lr_factor, train, validate
from facesr_gui.train.recipes import recipe_for

TRAINABLE = ["jeanet", "eipnet", "cagface", "wnet", "priorsr", "priorsr_gan"]


@pytest.fixture(scope="module")
def faces(tmp_path_factory, shared_data):
    """12 CelebA training faces and, when mediapipe is available, their pseudo parsing labels."""
    root = tmp_path_factory.mktemp("faces")
    img = root / "img"
    img.mkdir()
    for p in list_images(shared_data / "celeba_train")[:12]:
        shutil.copy(p, img / p.name)
    parsing = None
    try:
        from facesr_gui.train.parsing_labels import build_cache

        build_cache(list_images(img), root / "parsing")
        parsing = str(root / "parsing")
    except ImportError:
        pass
    return str(img), parsing


def _cfg(name, faces, tmp_path, steps, **kw):
    img, parsing = faces
    return TrainConfig(net=name, data=img, val=img, steps=steps, batch_size=4, lr=kw.pop("lr", 1e-3),
                       out=str(tmp_path / name), net_cfg=get_info(name).tiny_cfg, val_every=steps, val_limit=8,
                       parsing_dir=parsing, save_every=10_000, **kw)


@pytest.mark.parametrize("name", TRAINABLE)
def test_short_run_improves_validation_psnr(name, faces, tmp_path):
    cfg = _cfg(name, faces, tmp_path, steps=20)
    gen = train(cfg)
    first = next(gen)
    events = [first, *gen]
    assert [e.step for e in events] == list(range(1, 21))
    last = events[-1]
    assert last.finished and last.val is not None and last.checkpoint
    assert last.preview is not None and last.preview.dtype == np.uint8 and last.preview.shape[2] == 3
    assert all(np.isfinite(e.losses["total"]) for e in events)
    # the saved EMA weights must beat the untrained network on the validation faces
    trained, header = load_checkpoint(last.checkpoint)
    assert header["meta"]["steps"] == 20
    assert header["net"] == name
    from facesr_gui.nets import create_net

    torch.manual_seed(cfg.seed)
    untrained = create_net(name, **cfg.net_cfg)
    val = FaceFolder(cfg.val, hr_size=128 if get_info(name).scale == 8 else 64 * 4, scale=get_info(name).scale,
                     augment=False, with_edges=False)
    items = [val[i] for i in range(4)]
    before, _ = validate(untrained, items, torch.device("cpu"))
    after, _ = validate(trained, items, torch.device("cpu"))
    if abs(before["psnr"] - before["bicubic_psnr"]) < 1e-6:   # W-Net's zero tail: it starts exactly at bicubic
        assert after["psnr"] > before["psnr"], (before, after)
    else:
        assert after["psnr"] > before["psnr"] + 0.3, (before, after)
    if recipe_for(name).needs_parsing and faces[1] is not None:
        assert not last.skipped_terms, f"terms skipped despite parsing labels: {last.skipped_terms}"


def test_resume_continues_exactly(faces, tmp_path):
    sched = {"schedule": "cosine", "warmup": 2}
    straight = list(train(_cfg("eipnet", faces, tmp_path / "a", steps=6, **sched)))
    first = train(_cfg("eipnet", faces, tmp_path / "b", steps=6, **sched), should_stop=lambda: True)
    assert [e.step for e in first] == [1]   # cancelled after one step; state written on the way out
    state = tmp_path / "b" / "eipnet" / "state.pt"
    resumed = list(train(_cfg("eipnet", faces, tmp_path / "b", steps=6, resume=str(state), **sched)))
    assert [e.step for e in resumed] == [2, 3, 4, 5, 6]
    assert [e.lr for e in resumed] == [e.lr for e in straight[1:]]
    a, _ = load_checkpoint(straight[-1].checkpoint)
    b, _ = load_checkpoint(resumed[-1].checkpoint)
    for (k, va), vb in zip(a.state_dict().items(), b.state_dict().values()):
        assert torch.allclose(va, vb, atol=1e-6), k


@pytest.mark.parametrize("name", ["eipnet", "priorsr"])   # edge targets / parsing maps
def test_preloaded_faces_train_the_same_as_the_folder(name, faces, tmp_path):
    plain = list(train(_cfg(name, faces, tmp_path / "a", steps=3)))
    preloaded = list(train(_cfg(name, faces, tmp_path / "b", steps=3, preload=True)))
    assert [e.losses for e in preloaded] == [e.losses for e in plain]
    a, _ = load_checkpoint(plain[-1].checkpoint)
    b, _ = load_checkpoint(preloaded[-1].checkpoint)
    for (k, va), vb in zip(a.state_dict().items(), b.state_dict().values()):
        assert torch.equal(va, vb), k


def test_a_stop_while_faces_are_decoded_ends_the_run_before_its_first_step(faces, tmp_path):
    asked = []

    def stop_soon():    # asked every 8 of the 12 faces' 24 forms while they are decoded
        asked.append(1)
        return True

    cfg = _cfg("eipnet", faces, tmp_path, steps=50, preload=True)
    assert list(train(cfg, should_stop=stop_soon)) == []
    assert asked == [1]                                          # after 8 forms, not after all 24
    out = tmp_path / "eipnet"
    assert not (out / "state.pt").exists() and not (out / "eipnet.safetensors").exists()
    # a later, unstopped run with the same folder starts normally (nothing half-written is in its way)
    assert len(list(train(_cfg("eipnet", faces, tmp_path, steps=2, preload=True)))) == 2


def test_fit_steps_fills_the_time_left():
    assert fit_steps(12, 10_000, pace_s=0.5, left_s=100.0, margin=1.0) == 212
    assert fit_steps(12, 100, pace_s=0.5, left_s=100.0) == 100        # never longer than asked
    assert fit_steps(12, 10_000, pace_s=0.5, left_s=-3.0) == 12       # over budget: stop now


def test_time_budget_shortens_the_run_and_its_schedule(faces, tmp_path):
    cfg = _cfg("eipnet", faces, tmp_path, steps=100_000, schedule="cosine", warmup=12, time_budget_s=4.0)
    events = list(train(cfg))
    total = events[-1].step
    assert 12 <= total < 100_000 and events[-1].finished and events[-1].total == total
    assert all(e.total == total for e in events[11:])
    assert events[-1].lr == pytest.approx(cfg.lr * lr_factor(total - 1, total, "cosine", 12))
    state = torch.load(tmp_path / "eipnet" / "state.pt", weights_only=True)
    assert json.loads(state["config"])["steps"] == total


def test_a_time_budgeted_run_resumes_on_its_fitted_length(faces, tmp_path, monkeypatch):
    """Resumed without --time-budget (or with --steps as the recipe has it), a fitted run keeps the length
    its schedule was fitted to: a longer --steps would raise the learning rate mid-run."""
    from facesr_gui.train import loop

    monkeypatch.setattr(loop, "fit_steps", lambda *args, **kwargs: 40)   # the pace, made deterministic
    cfg = _cfg("eipnet", faces, tmp_path, steps=100_000, schedule="cosine", warmup=12, time_budget_s=600.0)
    seen = []
    run = train(cfg, should_stop=lambda: len(seen) >= 16)
    for event in run:
        seen.append(event)
    fitted = seen[-1].total
    assert seen[-1].step == 16 and fitted == 40
    state = tmp_path / "eipnet" / "state.pt"
    again = []
    for event in train(_cfg("eipnet", faces, tmp_path, steps=100_000, schedule="cosine", warmup=12,
                            resume=str(state)), should_stop=lambda: len(again) >= 2):
        again.append(event)
    assert [e.step for e in again] == [seen[-1].step + 1, seen[-1].step + 2]
    assert all(e.total == fitted for e in again)
    assert again[0].lr == pytest.approx(cfg.lr * lr_factor(seen[-1].step, fitted, "cosine", 12))


def test_cosine_schedule_warms_up_then_decays():
    lrs = [lr_factor(s, 100, "cosine", warmup=10) for s in range(100)]
    assert lrs[0] == pytest.approx(0.1) and lrs[9] == pytest.approx(1.0)
    assert all(a >= b for a, b in zip(lrs[9:], lrs[10:])) and lrs[-1] == pytest.approx(0.01, abs=1e-3)
    assert lr_factor(50, 100) == 1.0
    with pytest.raises(ValueError, match="schedule"):
        lr_factor(0, 10, "step")


def test_gan_phase_trains_discriminator(faces, tmp_path):
    events = list(train(_cfg("priorsr_gan", faces, tmp_path, steps=3)))
    assert all(e.phase == "gan" and "d" in e.losses and "adv" in e.losses for e in events)


def test_bicubic_cannot_be_trained(faces, tmp_path):
    with pytest.raises(ValueError, match="no parameters"):
        next(train(_cfg("bicubic", faces, tmp_path, steps=2)))


def test_torchrun_ddp_on_cpu(faces, tmp_path):
    """Multi-process data parallel through torchrun (gloo on CPU), not a home-made launcher."""
    import subprocess
    import sys

    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2", "-m", "facesr_gui.cli", "train",
           "--model", "eipnet", "--data", faces[0], "--steps", "2", "--batch", "2", "--out", str(tmp_path),
           "--net-cfg", '{"width": 8}', "--no-gan"]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=240)
    assert res.returncode == 0, res.stderr[-2000:]
    assert res.stdout.count("checkpoint:") == 1          # only rank 0 writes and reports
    state = torch.load(tmp_path / "state.pt", weights_only=True)
    assert state["step"] == 2


def test_bf16_channels_last_steps_track_fp32(monkeypatch, faces, tmp_path):
    """The fast path (NHWC + bf16 forward) computes the same losses as plain fp32 to bf16 precision,
    and its checkpoint is an ordinary contiguous one."""
    from facesr_gui import precision

    monkeypatch.setattr(precision, "cpu_has_bf16", lambda: True)
    fast = [e.losses["total"] for e in train(_cfg("eipnet", faces, tmp_path / "fast", steps=3))]
    plain = [e.losses["total"] for e in train(_cfg("eipnet", faces, tmp_path / "plain", steps=3,
                                                   amp=False, channels_last=False))]
    assert np.allclose(fast, plain, rtol=0.05), (fast, plain)
    net, _ = load_checkpoint(tmp_path / "fast" / "eipnet" / "eipnet.safetensors")
    assert all(p.is_contiguous() for p in net.parameters())


def test_finetune_starts_from_the_weights_and_keeps_their_layout(faces, tmp_path):
    from facesr_gui.checkpoints import save_checkpoint
    from facesr_gui.nets import create_net

    torch.manual_seed(3)
    start = create_net("eipnet", **get_info("eipnet").tiny_cfg)
    init = save_checkpoint(tmp_path / "start.safetensors", start)
    # an empty config means "the checkpoint's"; a vanishing learning rate leaves the weights as they were
    cfg = _cfg("eipnet", faces, tmp_path, steps=1, lr=1e-12, init=str(init))
    cfg.net_cfg = {}
    last = list(train(cfg))[-1]
    tuned, _ = load_checkpoint(last.checkpoint)
    for (k, a), b in zip(start.named_parameters(), tuned.parameters()):   # (BN statistics do move)
        assert torch.allclose(a.float(), b.float(), atol=1e-6), k
    clash = _cfg("eipnet", faces, tmp_path / "clash", steps=1, init=str(init))
    clash.net_cfg = {"width": start.config["width"] * 2}
    with pytest.raises(ValueError, match="keeps the network's layout"):
        next(train(clash))


def test_gan_weight_overrides_the_recipe(faces, tmp_path):
    off = list(train(_cfg("priorsr_gan", faces, tmp_path / "off", steps=1, gan_weight=0.0)))
    assert "adv" not in off[-1].losses and off[-1].phase == "pixel"     # no discriminator at weight 0
    on = list(train(_cfg("priorsr_gan", faces, tmp_path / "on", steps=1, gan_weight=1e-4)))
    assert "adv" in on[-1].losses and on[-1].phase == "gan"
    with pytest.raises(ValueError, match=">= 0"):
        next(train(_cfg("priorsr_gan", faces, tmp_path / "bad", steps=1, gan_weight=-1.0)))


def test_distillation_pulls_the_net_toward_its_teachers(faces, tmp_path):
    """With teachers, the net also learns their mean output: trained on that term alone (the HR terms
    at weight 0 but one), it ends nearer the teachers than the same run without them."""
    from facesr_gui.checkpoints import save_checkpoint
    from facesr_gui.nets import create_net

    tiny = get_info("eipnet").tiny_cfg
    teachers = []
    for seed in (5, 6):
        torch.manual_seed(seed)
        teachers.append(save_checkpoint(tmp_path / f"teacher{seed}.safetensors", create_net("eipnet", **tiny)))
    weights = {"edge": 0.0, "lce": 0.0}
    runs = {}
    for name, kw in {"plain": {}, "taught": {"teachers": tuple(map(str, teachers)), "distill_weight": 50.0}}.items():
        cfg = _cfg("eipnet", faces, tmp_path / name, steps=15, lr=5e-3, amp=False, loss_weights=weights, **kw)
        events = list(train(cfg))
        assert ("distill" in events[-1].losses) == (name == "taught")
        runs[name] = events[-1].checkpoint
    taught, header = load_checkpoint(runs["taught"])
    assert header["meta"]["teachers"] == ["teacher5.safetensors", "teacher6.safetensors"]
    plain, _ = load_checkpoint(runs["plain"])
    lr = FaceFolder(faces[0], hr_size=128, scale=8, augment=False, with_edges=False)[0]["lr"][None]
    with torch.no_grad():
        target = torch.stack([load_checkpoint(t)[0].eval()(lr).image.clamp(0, 1) for t in teachers]).mean(0)
        gap = {k: float((n.eval()(lr).image - target).abs().mean()) for k, n in (("taught", taught), ("plain", plain))}
    assert gap["taught"] < 0.5 * gap["plain"], gap


def test_a_teacher_of_another_scale_is_refused(faces, tmp_path):
    from facesr_gui.checkpoints import save_checkpoint
    from facesr_gui.nets import create_net

    x4 = save_checkpoint(tmp_path / "x4.safetensors", create_net("cagface", **get_info("cagface").tiny_cfg))
    with pytest.raises(ValueError, match="teacher x4.safetensors is x4"):
        next(train(_cfg("eipnet", faces, tmp_path / "run", steps=1, teachers=(str(x4),))))
    with pytest.raises(ValueError, match="distillation weight"):
        next(train(_cfg("eipnet", faces, tmp_path / "neg", steps=1, teachers=(str(x4),), distill_weight=-1.0)))
    with pytest.raises(ValueError, match="2 teacher weights for 1 teachers"):
        next(train(_cfg("eipnet", faces, tmp_path / "w", steps=1, teachers=(str(x4),), teacher_weights=(1, 2))))


def test_weighted_flipped_teachers_make_the_target(faces, tmp_path):
    """The target is the teachers' outputs (each its flip ensemble with ``teacher_flip``) mixed by their
    weights scaled to sum to 1."""
    from facesr_gui.checkpoints import save_checkpoint
    from facesr_gui.nets import create_net
    from facesr_gui.nets.ensemble import flip_ensemble
    from facesr_gui.train.loop import Trainer

    tiny = get_info("eipnet").tiny_cfg
    paths = []
    for seed in (5, 6):
        torch.manual_seed(seed)
        paths.append(str(save_checkpoint(tmp_path / f"t{seed}.safetensors", create_net("eipnet", **tiny))))
    trainer = Trainer(_cfg("eipnet", faces, tmp_path / "run", steps=1, amp=False, teachers=tuple(paths),
                           teacher_weights=(3, 1), teacher_flip=True))
    trainer.setup()
    assert trainer.teacher_shares == [0.75, 0.25]
    lr = torch.rand(2, 3, 16, 16)
    with torch.no_grad():
        nets = [load_checkpoint(p)[0].eval() for p in paths]
        want = sum(w * flip_ensemble(n, lr).image.clamp(0, 1) for n, w in zip(nets, (0.75, 0.25)))
    assert torch.allclose(trainer._teacher_image(lr), want, atol=1e-5)
