"""The installation self-test, run in-process: bundled models (sha256 + strict load), the
degraded sample, MTCNN, enhancement through load_restorer and the offscreen main window."""
from __future__ import annotations

import io

import pytest

from facesr_gui import selftest
from facesr_gui.checkpoints import save_checkpoint
from facesr_gui.manifest import ModelCard, sha256_file, write_manifest
from facesr_gui.nets import create_net, get_info
from facesr_gui.paths import resources_dir


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture
def models_dir(tmp_path, monkeypatch):
    """A models folder with one tiny checkpoint listed in its manifest (FACESR_MODELS_DIR)."""
    root = tmp_path / "models"
    root.mkdir()
    monkeypatch.setenv("FACESR_MODELS_DIR", str(root))
    monkeypatch.setenv("FACESR_HOME", str(tmp_path / "home"))   # no user models from the real home
    return root


def _add_tiny_model(root, model_id="jeanet-tiny", net_name="jeanet", corrupt=False, card_net=None):
    path = save_checkpoint(root / f"{model_id}.safetensors", create_net(net_name, **get_info(net_name).tiny_cfg))
    digest = sha256_file(path)
    if corrupt:
        digest = "0" * 64
    card = ModelCard(id=model_id, net=card_net or net_name, file=path.name, sha256=digest,
                     scale=get_info(net_name).scale)
    write_manifest(root / "manifest.json", [card])


def _run(**kw) -> tuple[int, str]:
    out = io.StringIO()
    code = selftest.run_self_test(out, **kw)
    return code, out.getvalue()


def test_sample_is_bundled_and_degrades_to_a_tiny_face():
    assert (resources_dir() / selftest.SAMPLE).is_file()
    assert (resources_dir() / "samples" / "README.md").is_file()
    rgb = selftest.load_sample()
    low = selftest.degrade(rgb)
    assert rgb.shape == (240, 427, 3)
    assert low.shape == (72, 128, 3) and low.dtype == rgb.dtype


def test_empty_manifest_still_tests_bicubic_and_gui(models_dir, qapp):
    code, text = _run()
    assert code == 0, text
    assert "no trained models bundled, testing 'bicubic' only" in text
    lines = [ln for ln in text.splitlines() if ln.startswith("[")]
    names = [ln.split(" s  ", 1)[1].split(":")[0] for ln in lines]
    assert names == ["environment", "manifest", "sample", "detect (MTCNN)", "enhance bicubic",
                     "identity (dlib)", "main window (offscreen)"]
    assert all(ln.startswith("[ ok ]") for ln in lines)
    assert "x8 -> 1024x576, 1 face(s) at 128 px" in text
    assert text.rstrip().splitlines()[-1].startswith("self-test passed: 7 checks")


def test_bundled_model_is_verified_loaded_and_run(models_dir):
    _add_tiny_model(models_dir)
    code, text = _run(gui=False)
    assert code == 0, text
    assert "1 bundled models: jeanet-tiny" in text
    assert "load jeanet-tiny: jeanet-tiny.safetensors sha256 ok, strict load ok (jeanet, x8" in text
    assert "[ ok ]" in next(ln for ln in text.splitlines() if "enhance jeanet-tiny" in ln)
    assert "enhance bicubic" in text and "main window" not in text


def test_failures_give_exit_code_1_and_say_why(models_dir):
    _add_tiny_model(models_dir, corrupt=True)
    code, text = _run(gui=False, models=["bicubic", "no-such-model"])
    assert code == 1
    assert "[FAIL]" in next(ln for ln in text.splitlines() if "load jeanet-tiny" in ln)
    assert "sha256 mismatch" in text
    assert "[FAIL]" in next(ln for ln in text.splitlines() if "enhance no-such-model" in ln)
    assert "[ ok ]" in next(ln for ln in text.splitlines() if "enhance bicubic" in ln)
    summary = text[text.index("SELF-TEST FAILED"):]
    assert "2 of" in summary and "load jeanet-tiny" in summary and "enhance no-such-model" in summary


@pytest.mark.parametrize("card_net, ok", [("priorsr_gan", True), ("wnet", False)])
def test_manifest_network_must_match_the_checkpoint(models_dir, card_net, ok):
    """priorsr_gan shares priorsr's generator (its checkpoints say "priorsr"); wnet does not."""
    _add_tiny_model(models_dir, model_id="m", net_name="priorsr", card_net=card_net)
    code, text = _run(gui=False, models=["bicubic"])
    line = next(ln for ln in text.splitlines() if "load m:" in ln)
    assert (code == 0) == ok and line.startswith("[ ok ]" if ok else "[FAIL]"), text
    if not ok:
        assert "m.safetensors holds 'priorsr', the manifest says 'wnet'" in line


def test_missing_sample_skips_enhancement(models_dir, monkeypatch, tmp_path):
    monkeypatch.setattr(selftest, "resources_dir", lambda: tmp_path / "nowhere")
    code, text = _run(gui=False)
    assert code == 1
    assert "cannot read sample image" in text
    assert "[SKIP]" in next(ln for ln in text.splitlines() if "enhance bicubic" in ln)


def test_command_line_entry(models_dir, capsys):
    assert selftest.main(["--no-gui", "--model", "bicubic"]) == 0
    out = capsys.readouterr().out
    assert "enhance bicubic" in out and "self-test passed" in out
