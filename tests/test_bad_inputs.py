"""A corpus of bad inputs, made at test time (no binary blobs): every one gets a clear answer.

One parametrized test per kind (arguments, images, videos, checkpoints, manifests, training
states). Each asserts the exit code, that the answer is one line without a traceback naming
what is wrong, and that no file the user had changed. Commands run in-process
(``facesr_gui.cli.main``); the signal tests at the end use a subprocess where they must.
"""
from __future__ import annotations

import hashlib
import json
import os
import pickle
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import save_file

from facesr_gui.checkpoints import save_checkpoint
from facesr_gui.cli import main
from facesr_gui.nets import create_net

pytestmark = pytest.mark.usefixtures("one_thread")
REPO = Path(__file__).resolve().parents[1]


# ---------------------------------------------------------------- helpers

def _snapshot(root: Path) -> dict[Path, str]:
    return {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(root.rglob("*")) if p.is_file()}


def _assert_unchanged(before: dict[Path, str]) -> None:
    after = {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in before if p.is_file()}
    assert after == before, "a user file was changed or removed"


def _error_line(err: str) -> str:
    """The one ``error: ...`` line of stderr (progress bars aside); no traceback."""
    assert "Traceback" not in err
    lines = [ln for ln in err.replace("\r", "\n").splitlines() if ln.startswith("error:")]
    assert len(lines) == 1, err
    return lines[0]


def _run(capsys, argv: list[str]) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out = capsys.readouterr()
    assert "Traceback" not in out.out + out.err
    return code, out.out, out.err


def _faces(folder: Path, n: int = 2, size: int = 128) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for i in range(n):
        Image.fromarray(rng.integers(0, 255, (size, size, 3), np.uint8)).save(folder / f"{i}.png")
    return folder


def _video(path: Path, frames: int = 4, w: int = 64, h: int = 48) -> Path:
    from facesr_gui.pipeline.video_io import VideoWriter

    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(1)
    with VideoWriter(path, w, h, 10) as writer:
        for _ in range(frames):
            writer.write(rng.integers(0, 255, (h, w, 3), np.uint8))
    return path


# ---------------------------------------------------------------- arguments

ARGUMENTS = {
    "train --batch 0": (["train", "--model", "eipnet", "--data", "{faces}", "--batch", "0"], "--batch"),
    "train --batch -1": (["train", "--model", "eipnet", "--data", "{faces}", "--batch", "-1"], "--batch"),
    "train --steps 0": (["train", "--model", "eipnet", "--data", "{faces}", "--steps", "0"], "--steps"),
    "train --save-every 0": (["train", "--model", "eipnet", "--data", "{faces}", "--save-every", "0"], "--save-every"),
    "train --val-every 0": (["train", "--model", "eipnet", "--data", "{faces}", "--val-every", "0"], "--val-every"),
    "train --net-cfg not JSON": (["train", "--model", "eipnet", "--data", "{faces}", "--net-cfg", "{width"], "--net-cfg"),
    "train --net-cfg a list": (["train", "--model", "eipnet", "--data", "{faces}", "--net-cfg", "[64]"], "--net-cfg"),
    "train --net-cfg width 8192": (["train", "--model", "eipnet", "--data", "{faces}", "--net-cfg", '{"width": 8192}',
                                    "--out", "{tmp}/run"], "M parameters"),
    "train --lr 0": (["train", "--model", "eipnet", "--data", "{faces}", "--lr", "0"], "--lr"),
    "train --teacher unknown": (["train", "--model", "eipnet", "--data", "{faces}", "--teacher", "nosuchmodel",
                                 "--out", "{tmp}/run"], "--teacher"),
    "train --teacher of another scale": (["train", "--model", "eipnet", "--data", "{faces}", "--teacher", "cagface_s32",
                                          "--out", "{tmp}/run"], "is x4"),
    "train --teacher-weights negative": (["train", "--model", "eipnet", "--data", "{faces}", "--teacher-weights",
                                          "1,-1"], "--teacher-weights"),
    "train --distill-weight -1": (["train", "--model", "eipnet", "--data", "{faces}", "--distill-weight", "-1"],
                                  "--distill-weight"),
    "eval --scale 0": (["eval", "--model", "bicubic", "--hr", "{faces}", "--scale", "0"], "--scale"),
    "eval --limit 0": (["eval", "--model", "bicubic", "--hr", "{faces}", "--limit", "0"], "--limit"),
    "eval --hr of non-images": (["eval", "--model", "bicubic", "--hr", "{nonimages}"], "unreadable"),
    "eval --hr of nothing": (["eval", "--model", "bicubic", "--hr", "{tmp}/missing"], "not found"),
    "enhance --max-megapixels -1": (["enhance", "{faces}/0.png", "--model", "bicubic", "--max-megapixels", "-1"],
                                    "--max-megapixels"),
    "enhance --min-face 0": (["enhance", "{faces}/0.png", "--model", "bicubic", "--min-face", "0"], "--min-face"),
    "enhance --min-face 1": (["enhance", "{faces}/0.png", "--model", "bicubic", "--min-face", "1"], ">= 8"),
    "enhance --detect-every 0": (["enhance", "{faces}/0.png", "--model", "bicubic", "--detect-every", "0"],
                                 "--detect-every"),
    "enhance --upscale 0": (["enhance", "{faces}/0.png", "--model", "bicubic", "--upscale", "0"], "--upscale"),
}


@pytest.mark.parametrize("case", list(ARGUMENTS))
def test_bad_arguments(case, tmp_path, capsys):
    faces = _faces(tmp_path / "faces")
    nonimages = tmp_path / "nonimages"
    nonimages.mkdir()
    (nonimages / "notes.txt").write_text("x")
    (nonimages / "fake.jpg").write_text("not a jpeg")
    argv, expected = ARGUMENTS[case]
    argv = [a.replace("{faces}", str(faces)).replace("{nonimages}", str(nonimages)).replace("{tmp}", str(tmp_path))
            for a in argv]
    before = _snapshot(tmp_path)
    code, _out, err = _run(capsys, argv)
    assert code == 2
    line = _error_line(err)
    assert expected in line, line
    _assert_unchanged(before)


def test_min_face_floor_is_documented_in_the_message(tmp_path, capsys):
    _faces(tmp_path)
    code, _out, err = _run(capsys, ["enhance", tmp_path / "0.png", "--model", "bicubic", "--min-face", "1"])
    assert code == 2 and ">= 8" in _error_line(err)


# ---------------------------------------------------------------- images

def _png(size=(32, 32)) -> bytes:
    import io

    buf = io.BytesIO()
    Image.new("RGB", size, (120, 90, 60)).save(buf, "PNG")
    return buf.getvalue()


IMAGES = {
    # name: (file name, bytes, extra args, exit code, text in the item line)
    "empty file": ("a.png", b"", [], 1, "empty file"),
    "random bytes": ("a.jpg", bytes(range(256)) * 4, [], 1, "not an image"),
    "text named .png": ("a.png", b"hello", [], 1, "not an image"),
    "truncated png": ("a.png", _png((64, 64))[:80], [], 1, "truncated"),
    "over the megapixel limit": ("a.png", _png((400, 300)), ["--max-megapixels", "0.1"], 1, "over the 0.1 MP limit"),
    "1x1 image": ("a.png", _png((1, 1)), [], 0, "0 face(s)"),
    "unsupported suffix": ("a.xyz", b"data", [], 1, "unsupported file type"),
}


@pytest.mark.parametrize("case", list(IMAGES))
def test_bad_images(case, tmp_path, capsys):
    name, data, extra, expected_code, expected = IMAGES[case]
    src = tmp_path / "in"
    src.mkdir()
    (src / name).write_bytes(data)
    before = _snapshot(tmp_path)
    code, out, err = _run(capsys, ["enhance", src / name, "--model", "bicubic", "--out", tmp_path / "out", *extra])
    assert code == expected_code
    item = next(ln for ln in out.splitlines() if str(src / name) in ln)
    assert expected in item and ("error" in item) == (expected_code == 1)
    _assert_unchanged(before)


def test_the_users_own_facesr_file_is_never_overwritten(tmp_path, capsys):
    Image.new("RGB", (48, 48), (10, 20, 30)).save(tmp_path / "x.jpg")
    Image.new("RGB", (48, 48), (200, 100, 0)).save(tmp_path / "x_facesr.jpg")   # the user's, not ours
    before = _snapshot(tmp_path)
    code, out, err = _run(capsys, ["enhance", tmp_path, "--model", "bicubic"])
    assert code == 0
    _assert_unchanged(before)
    assert (tmp_path / "x_facesr_2.jpg").is_file()
    assert "x_facesr.jpg exists already, not overwritten" in out
    assert f"skipped   {tmp_path / 'x_facesr.jpg'}" in err and "earlier run" in err


# ---------------------------------------------------------------- videos

VIDEOS = ["empty file", "random bytes", "truncated", "frame over the megapixel limit", "unwritable output"]


@pytest.mark.parametrize("case", VIDEOS)
def test_bad_videos(case, tmp_path, capsys, monkeypatch):
    src = tmp_path / "in" / "clip.mp4"
    extra: list[str] = []
    if case == "empty file":
        src.parent.mkdir()
        src.write_bytes(b"")
        expected, code_expected = "clip.mp4", 1
    elif case == "random bytes":
        src.parent.mkdir()
        src.write_bytes(np.random.default_rng(0).integers(0, 255, 4096, np.uint8).tobytes())
        expected, code_expected = "clip.mp4", 1
    elif case == "truncated":
        data = _video(tmp_path / "full.mp4", frames=6).read_bytes()
        src.parent.mkdir()
        src.write_bytes(data[: len(data) // 2])
        expected, code_expected = "clip.mp4", None      # an error or the frames that decode, never a traceback
    elif case == "frame over the megapixel limit":
        _video(src, frames=2, w=160, h=120)
        extra = ["--max-megapixels", "0.01"]
        expected, code_expected = "over the 0.01 MP limit", 1
    else:   # a read-only output folder (root may write anywhere: the system's refusal is faked)
        import av

        _video(src, frames=2)
        real_open = av.open

        def refusing_open(file, mode="r", *args, **kwargs):
            if mode == "w":
                raise PermissionError(13, "Permission denied", str(file))
            return real_open(file, mode, *args, **kwargs)
        monkeypatch.setattr(av, "open", refusing_open)
        expected, code_expected = str(tmp_path / "out"), 1
    before = _snapshot(tmp_path)
    code, out, err = _run(capsys, ["enhance", src, "--model", "bicubic", "--out", tmp_path / "out", *extra])
    item = next(ln for ln in out.splitlines() if str(src) in ln)
    if code_expected is not None:
        assert code == code_expected
    assert code in (0, 1) and expected in item, item
    if case == "unwritable output":
        assert "Permission denied" in item
    _assert_unchanged(before)


# ---------------------------------------------------------------- checkpoints

def _tiny_state() -> dict:
    return {k: v.contiguous() for k, v in create_net("eipnet", width=16).state_dict().items()}


def _header_file(path: Path, header) -> Path:
    save_file(_tiny_state(), str(path), metadata={"facesr": json.dumps(header)})
    return path


class _Evil:
    def __reduce__(self):
        return (os.system, ("echo pwned > pwned.txt",))


CHECKPOINTS = {
    "width 8192 in the header": (lambda p: _header_file(p, {"net": "eipnet", "config": {"width": 8192}}), "limit"),
    "header is a list": (lambda p: _header_file(p, [1, 2]), "JSON object"),
    "unknown network": (lambda p: _header_file(p, {"net": "gpt", "config": {}}), "unknown network"),
    "unknown setting": (lambda p: _header_file(p, {"net": "eipnet", "config": {"widht": 16}}), "no setting 'widht'"),
    "setting of the wrong type": (lambda p: _header_file(p, {"net": "eipnet", "config": {"width": "wide"}}),
                                  "wrong type"),
    "config that cannot be built": (lambda p: _header_file(p, {"net": "eipnet", "config": {"width": -8}}),
                                    "cannot build"),
    "weights of another config": (lambda p: _header_file(p, {"net": "eipnet", "config": {"width": 32}}),
                                  "does not fit"),
    "empty file": (lambda p: p.write_bytes(b"") and p, "empty file"),
    "random bytes": (lambda p: p.write_bytes(os.urandom(2048)) and p, "not a valid safetensors"),
    "no FaceSR header": (lambda p: save_file(_tiny_state(), str(p)) or p, "no FaceSR header"),
}


@pytest.mark.parametrize("case", list(CHECKPOINTS))
def test_bad_checkpoints(case, tmp_path, capsys):
    make, expected = CHECKPOINTS[case]
    ckpt = tmp_path / "model.safetensors"
    make(ckpt)
    faces = _faces(tmp_path / "faces", n=1)
    before = _snapshot(tmp_path)
    code, _out, err = _run(capsys, ["eval", "--model", ckpt, "--hr", faces])
    line = _error_line(err)
    assert code == 2 and "model.safetensors" in line and expected in line, line
    _assert_unchanged(before)


def test_a_pickle_named_pt_is_never_run(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "model.pt").write_bytes(pickle.dumps(_Evil()))
    faces = _faces(tmp_path / "faces", n=1)
    code, _out, err = _run(capsys, ["eval", "--model", tmp_path / "model.pt", "--hr", faces])
    assert code == 2 and "model.pt" in _error_line(err) and not (tmp_path / "pwned.txt").exists()


def test_the_width_8192_header_is_refused_before_any_allocation(tmp_path):
    import tracemalloc

    from facesr_gui.checkpoints import CheckpointError, load_checkpoint

    path = _header_file(tmp_path / "bomb.safetensors", {"net": "eipnet", "config": {"width": 8192}})
    tracemalloc.start()
    with pytest.raises(CheckpointError, match="over the 200 M limit"):
        load_checkpoint(path)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 50 * 2**20


# ---------------------------------------------------------------- manifests

MANIFESTS = {
    "a list": ([{"id": "x"}], "expected an object"),
    "not JSON": ("{models: [", "not JSON"),
    "a card that is a string": ({"models": ["eipnet"]}, "models[0] is a str"),
    "missing fields": ({"models": [{"id": "x", "net": "eipnet"}]}, "missing file, sha256, scale"),
    "non-numeric PSNR": ({"models": [{"id": "x", "net": "eipnet", "file": "x.safetensors", "sha256": "0" * 64,
                                      "scale": 8, "metrics": {"dev": {"psnr": "high"}}}]},
                         "metrics.dev.psnr is 'high', expected a number"),
    "scale zero": ({"models": [{"id": "x", "net": "eipnet", "file": "x", "sha256": "0", "scale": 0}]}, "scale"),
}


@pytest.mark.parametrize("case", list(MANIFESTS))
@pytest.mark.parametrize("command", ["models", "eval"])
def test_bad_manifests(case, command, tmp_path, capsys, monkeypatch):
    data, expected = MANIFESTS[case]
    (tmp_path / "manifest.json").write_text(data if isinstance(data, str) else json.dumps(data))
    monkeypatch.setenv("FACESR_MODELS_DIR", str(tmp_path))
    faces = _faces(tmp_path / "faces", n=1)
    before = _snapshot(tmp_path)
    argv = ["models"] if command == "models" else ["eval", "--model", "eipnet", "--hr", faces]
    code, _out, err = _run(capsys, argv)
    line = _error_line(err)
    assert code == 2 and "manifest.json" in line and expected in line, line
    _assert_unchanged(before)


# ---------------------------------------------------------------- training states

def _train_state(net: str = "eipnet", **cfg) -> dict:
    model = create_net(net, **cfg)
    return {"step": 3, "config": json.dumps({"net": net}), "net_config": json.dumps(model.config),
            "net": model.state_dict(), "ema": model.state_dict(), "opt": {}}


STATES = {
    "--resume an empty file": ("resume", lambda p: p.write_bytes(b""), [], "empty file"),
    "--resume random bytes": ("resume", lambda p: p.write_bytes(os.urandom(4096)), [], "not a training state"),
    "--resume a pickle": ("resume", lambda p: p.write_bytes(pickle.dumps(_Evil())), [], "not a training state"),
    "--resume a weights file": ("resume", lambda p: save_checkpoint(p, create_net("eipnet", width=16)), [],
                                "a weights file"),
    "--resume bare weights": ("resume", lambda p: torch.save(create_net("eipnet", width=16).state_dict(), p), [],
                              "bare weights"),
    "--resume another network's state": ("resume", lambda p: torch.save(_train_state("jeanet", **_JEANET_TINY), p),
                                         [], "a training state of 'jeanet', not 'eipnet'"),
    "--resume with another --net-cfg": ("resume", lambda p: torch.save(_train_state("eipnet", width=16), p),
                                        ["--net-cfg", '{"width": 32}'], "trained with {'width': 16}, not {'width': 32}"),
    "--init another network's weights": ("init", lambda p: save_checkpoint(p, create_net("jeanet", **_JEANET_TINY)),
                                         [], "holds jeanet weights, not eipnet"),
    "--init a training state": ("init", lambda p: torch.save(_train_state("eipnet", width=16), p), [],
                                "a training state, not weights"),
    "--init an empty file": ("init", lambda p: p.write_bytes(b""), [], "empty file"),
}
_JEANET_TINY = {"min_ch": 16, "max_ch": 16, "n_middle": 1, "hg_bottleneck": 64}


@pytest.mark.parametrize("case", list(STATES))
def test_bad_training_states(case, tmp_path, capsys):
    flag, make, extra, expected = STATES[case]
    path = tmp_path / ("weights.safetensors" if "weights file" in case or (flag == "init" and "state" not in case
                                                                            and "empty" not in case) else "state.pt")
    make(path)
    faces = _faces(tmp_path / "faces", n=2)
    before = _snapshot(tmp_path)
    code, _out, err = _run(capsys, ["train", "--model", "eipnet", "--data", faces, "--steps", "1",
                                    "--out", tmp_path / "run", f"--{flag}", path, *extra])
    line = _error_line(err)
    assert code == 2 and path.name in line and expected in line, line
    _assert_unchanged(before)
    assert not (tmp_path / "run" / "state.pt").exists()



def test_a_fresh_run_never_overwrites_an_earlier_run(tmp_path, capsys):
    faces = _faces(tmp_path / "faces", n=2)
    run = tmp_path / "run"
    run.mkdir()
    (run / "state.pt").write_bytes(b"an earlier run")
    (run / "eipnet.safetensors").write_bytes(b"its weights")
    before = _snapshot(run)
    code, _out, err = _run(capsys, ["train", "--model", "eipnet", "--data", faces, "--steps", "1",
                                    "--net-cfg", '{"width": 16}', "--out", run])
    line = _error_line(err)
    assert code == 2 and "already holds a training run (state.pt, eipnet.safetensors)" in line and "--resume" in line
    _assert_unchanged(before)


def test_eval_of_images_smaller_than_the_hr_size(tmp_path, capsys):
    hr = tmp_path / "hr"
    hr.mkdir()
    Image.new("RGB", (1, 1), (120, 30, 200)).save(hr / "dot.png")
    code, _out, err = _run(capsys, ["eval", "--model", "bicubic", "--hr", hr])
    line = _error_line(err)
    assert code == 2 and "no image under" in line and "dot.png is 1x1" in line and "128 px HR" in line
    # with a measurable image beside it: the small one is skipped and named, the report stays JSON
    _faces(hr, n=1, size=160)
    code, out, err = _run(capsys, ["eval", "--model", "bicubic", "--hr", hr, "--json"])
    report = json.loads(out)
    assert code == 0 and report["images"] == 1 and report["skipped"][0]["name"] == "dot.png"
    assert isinstance(report["psnr"], float)
    # a flat image is reproduced exactly: PSNR inf is left out of the mean, counted, and null in JSON
    Image.new("RGB", (160, 160), (90, 90, 90)).save(hr / "0.png")
    code, out, _err = _run(capsys, ["eval", "--model", "bicubic", "--hr", hr, "--json"])
    report = json.loads(out)
    assert code == 0 and report["identical"] == 1 and report["psnr"] is None


# ---------------------------------------------------------------- signals

class _SignalAt:
    """A restorer that sends itself ``signals`` while restoring frame ``at`` (1-based)."""

    def __init__(self, restorer, at: int, signals: tuple[int, ...]):
        self._restorer, self._at, self._signals, self.calls = restorer, at, signals, 0

    def __getattr__(self, name):
        return getattr(self._restorer, name)

    def enhance(self, *args, **kwargs):
        self.calls += 1
        if self.calls == self._at:
            for sig in self._signals:
                signal.raise_signal(sig)
        return self._restorer.enhance(*args, **kwargs)


@pytest.mark.parametrize("signals", [(signal.SIGTERM,), (signal.SIGINT,), (signal.SIGTERM, signal.SIGINT)],
                         ids=["SIGTERM", "SIGINT", "twice"])
def test_a_signal_leaves_a_playable_partial_video_and_names_it(signals, tmp_path, capsys, monkeypatch):
    from facesr_gui import cli
    from facesr_gui.pipeline.video_io import probe_video

    src = _video(tmp_path / "in" / "clip.mp4", frames=8)
    real = cli._make_restorer
    monkeypatch.setattr(cli, "_make_restorer", lambda args: _SignalAt(real(args), 3, signals))
    code, out, err = _run(capsys, ["enhance", src, "--model", "bicubic", "--out", tmp_path / "out",
                                   "--upscale", "1"])
    partial = tmp_path / "out" / "clip_facesr.partial.mp4"
    assert code == 130 and partial.is_file() and not (tmp_path / "out" / "clip_facesr.mp4").exists()
    frames = probe_video(partial).frames
    if len(signals) == 1:    # the current frame is finished, the video ends with it
        assert frames == 3 and f"-> {partial}" in out and "cancelled" in out
    else:                    # at once: the frames done so far, and a line that says where they are
        assert frames == 2
        line = next(ln for ln in err.replace("\r", "\n").splitlines() if ln.startswith("stopped at once"))
        assert str(partial) in line and "0/1 input(s) finished" in line
    for sig in (signal.SIGINT, signal.SIGTERM):   # handlers restored
        assert signal.getsignal(sig) in (signal.default_int_handler, signal.SIG_DFL)


@pytest.mark.slow   # ~10 s alone, 30 s on a busy machine (a fresh interpreter imports torch)
def test_sigterm_in_a_subprocess(tmp_path):
    """What ``timeout`` or systemd send: exit 130 and a playable partial file the program names."""
    from facesr_gui.pipeline.video_io import probe_video

    src = _video(tmp_path / "clip.mp4", frames=300, w=96, h=64)
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    log = tmp_path / "stderr.txt"
    with open(log, "w") as err:
        proc = subprocess.Popen([sys.executable, "-m", "facesr_gui.cli", "enhance", str(src), "--model", "bicubic",
                                 "--out", str(tmp_path / "out"), "--upscale", "1"], stdout=subprocess.PIPE,
                                stderr=err, text=True, env=env)
        deadline = time.monotonic() + 120
        while "frame 3/" not in log.read_text() and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.1)
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=120)
    partial = tmp_path / "out" / "clip.partial.mp4".replace("clip.", "clip_facesr.")
    assert proc.returncode == 130, log.read_text()
    assert f"-> {partial}" in out and probe_video(partial).frames >= 3
    assert "SIGTERM: stopping after the current frame" in log.read_text()


@pytest.mark.parametrize("signals", [(signal.SIGTERM,), (signal.SIGTERM, signal.SIGINT)], ids=["once", "twice"])
def test_a_signal_during_training_saves_the_state_and_says_where(signals, tmp_path, capsys, monkeypatch):
    from facesr_gui import cli

    faces = _faces(tmp_path / "faces", n=4)
    real = cli._report_event

    def signalled_at_step_2(event, quiet, bar):
        if event.step == 2:
            for sig in signals:
                signal.raise_signal(sig)
        return real(event, quiet, bar)
    monkeypatch.setattr(cli, "_report_event", signalled_at_step_2)
    code, out, err = _run(capsys, ["train", "--model", "eipnet", "--net-cfg", '{"width": 16}', "--data", faces,
                                   "--crop", "center", "--steps", "50", "--batch", "2", "--save-every", "100",
                                   "--out", tmp_path / "run", "--fp32"])
    state = tmp_path / "run" / "state.pt"
    assert code == 130 and state.is_file()
    assert torch.load(state, weights_only=True)["step"] == 2
    said = out if len(signals) == 1 else err
    assert f"after step 2: training state in {state}" in said and "--resume" in said
