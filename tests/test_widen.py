"""facesr_gui/train/widen.py: a widened EIPNet computes what the narrow one does, and can then learn."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch

from facesr_gui.checkpoints import load_checkpoint, save_checkpoint
from facesr_gui.nets import create_net
from facesr_gui.train.widen import widen_eipnet

REPO = Path(__file__).resolve().parents[1]


def _trained_like(width: int) -> torch.nn.Module:
    torch.manual_seed(0)
    net = create_net("eipnet", width=width)
    with torch.no_grad():   # non-trivial biases, so that a wrong bias map would show
        for p in net.parameters():
            p.add_(0.05 * torch.randn_like(p))
    return net.eval()


@pytest.mark.parametrize("width", [16, 24, 40])
def test_widened_net_computes_the_same_image_and_maps(width):
    net = _trained_like(16)
    wide = widen_eipnet(net, width, noise=0.0).eval()
    assert wide.config["width"] == width
    x = torch.rand(2, 3, 16, 16)
    with torch.no_grad():
        a, b = net(x), wide(x)
    assert torch.allclose(a.image, b.image, atol=1e-5)
    for k in a.maps:
        assert torch.allclose(a.maps[k], b.maps[k], atol=1e-5), k
    assert sum(p.numel() for p in wide.parameters()) > sum(p.numel() for p in net.parameters()) or width == 16


def test_noise_breaks_the_copies_symmetry_and_stays_small():
    net = _trained_like(16)
    wide = widen_eipnet(net, 32, noise=1e-3, seed=1).eval()
    w = wide.conv0.weight.detach()
    old = net.conv0.weight.detach()
    assert torch.equal(w[:16], old)                      # the original channels are untouched
    # each copy is near an original channel (noise of 1e-3 of the layer's std per weight), none equal to it
    dist = torch.cdist(w[16:].flatten(1), old.flatten(1)).min(dim=1).values
    assert bool((dist > 0).all())
    assert float(dist.max()) < 1e-2 * float(old.std()) * old[0].numel() ** 0.5
    x = torch.rand(2, 3, 16, 16)
    with torch.no_grad():
        assert float((net(x).image - wide(x).image).abs().max()) < 0.01


def test_narrowing_and_odd_widths_are_refused():
    net = _trained_like(16)
    with pytest.raises(ValueError, match="multiple of 8 and at least 16"):
        widen_eipnet(net, 8)
    with pytest.raises(ValueError, match="multiple of 8"):
        widen_eipnet(net, 20)


def test_script_writes_weights_that_load_and_fine_tune(tmp_path):
    src = save_checkpoint(tmp_path / "narrow.safetensors", _trained_like(16))
    out = tmp_path / "wide.safetensors"
    proc = subprocess.run([sys.executable, str(REPO / "scripts" / "widen_eipnet.py"), str(src), "24", str(out)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    wide, header = load_checkpoint(out)
    assert header["net"] == "eipnet" and wide.config["width"] == 24
    assert header["meta"]["from_width"] == 16
    bad = subprocess.run([sys.executable, str(REPO / "scripts" / "widen_eipnet.py"), str(src), "12", str(out)],
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode != 0 and bad.stderr.strip().splitlines()[-1].startswith("error: width must be")
