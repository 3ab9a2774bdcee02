"""facesr_gui/train/average.py and scripts/average_weights.py: the mean of fine-tuned weights."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch

from facesr_gui.checkpoints import load_checkpoint, save_checkpoint
from facesr_gui.nets import create_net
from facesr_gui.train.average import average_nets

REPO = Path(__file__).resolve().parents[1]


def _net(seed: int, width: int = 16) -> torch.nn.Module:
    torch.manual_seed(seed)
    net = create_net("eipnet", width=width)
    with torch.no_grad():
        for p in net.parameters():
            p.add_(0.05 * torch.randn_like(p))
    return net.eval()


def test_average_is_the_elementwise_weighted_mean():
    a, b = _net(0), _net(1)
    soup = average_nets([a, b], [3, 1])
    for (key, va), vb, vs in zip(a.state_dict().items(), b.state_dict().values(), soup.state_dict().values()):
        if va.is_floating_point():
            assert torch.allclose(vs, 0.75 * va + 0.25 * vb, atol=1e-7), key
    assert soup.config == a.config
    # the inputs are left as they were, and the soup runs
    for va, vf in zip(a.state_dict().values(), _net(0).state_dict().values()):
        assert torch.equal(va, vf)
    assert soup(torch.rand(1, 3, 16, 16)).image.shape == (1, 3, 128, 128)


def test_average_of_copies_is_the_same_net():
    a = _net(0)
    soup = average_nets([a, a, a])
    x = torch.rand(2, 3, 16, 16)
    with torch.no_grad():
        assert torch.allclose(soup(x).image, a(x).image, atol=1e-5)


@pytest.mark.parametrize("others, why", [
    (lambda: [_net(0)], "at least two"),
    (lambda: [_net(0), _net(1, width=24)], "same network in the same configuration"),
    (lambda: [_net(0), create_net("jeanet", min_ch=8, max_ch=8, n_middle=1)], "same network"),
])
def test_average_refuses(others, why):
    with pytest.raises(ValueError, match=why):
        average_nets(others())


def test_script_writes_loadable_weights_and_never_overwrites(tmp_path):
    for i in (0, 1):
        save_checkpoint(tmp_path / f"n{i}.safetensors", _net(i))
    out = tmp_path / "soup.safetensors"
    cmd = [sys.executable, str(REPO / "scripts" / "average_weights.py"), str(tmp_path / "n0.safetensors"),
           str(tmp_path / "n1.safetensors"), str(out)]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    net, header = load_checkpoint(out)
    assert header["meta"]["averaged_from"] == [str(tmp_path / "n0.safetensors"), str(tmp_path / "n1.safetensors")]
    expected = average_nets([load_checkpoint(tmp_path / f"n{i}.safetensors")[0] for i in (0, 1)])
    for va, vb in zip(net.state_dict().values(), expected.state_dict().values()):
        assert torch.equal(va, vb)
    before = out.read_bytes()
    again = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert again.returncode != 0 and "already exists" in again.stderr and "Traceback" not in again.stderr
    assert out.read_bytes() == before
