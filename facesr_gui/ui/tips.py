"""Tooltip texts shared by several tabs (kept here so the UI modules stay free of torch)."""

ENSEMBLE_TIP = ("Flip ensemble: average the network over each face and its mirror image. "
                "+0.05-0.09 dB on held-out faces, twice the SR time")

STABILISE_TIP = ("Steady faces: blend each restored face with the same face in the previous frame where the "
                 "input did not change, so noise does not make detail come and go (flicker -24% on "
                 "synthetic clips, face PSNR unchanged; benchmarks/bench_flicker.py). Reset at scene cuts")
