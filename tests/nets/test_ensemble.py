"""Flip self-ensemble: the mean of the plain and the mirrored pass, maps from the plain pass."""
from __future__ import annotations

import torch

from facesr_gui.nets import create_net, flip_ensemble, get_info


def _lr(seed=0):
    return torch.rand(2, 3, 16, 16, generator=torch.Generator().manual_seed(seed))


def test_mean_of_the_plain_and_the_mirrored_pass():
    torch.manual_seed(0)
    net = create_net("eipnet", **get_info("eipnet").tiny_cfg).eval()
    lr = _lr()
    with torch.no_grad():
        plain, mirrored = net(lr), net(lr.flip(-1))
        out = flip_ensemble(net, lr)
    assert torch.allclose(out.image, (plain.image + mirrored.image.flip(-1)) / 2, atol=1e-6)
    assert not torch.allclose(out.image, plain.image, atol=1e-4)        # a learned net is not mirror-exact
    assert out.maps.keys() == plain.maps.keys()
    assert all(torch.equal(out.maps[k], plain.maps[k]) for k in plain.maps)


def test_a_mirror_symmetric_net_is_unchanged():
    bicubic = create_net("bicubic")
    lr = _lr(1)
    assert torch.allclose(flip_ensemble(bicubic, lr).image, bicubic(lr).image, atol=1e-5)
