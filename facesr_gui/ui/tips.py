"""Tooltip texts shared by several tabs (kept here so the UI modules stay free of torch)."""

ENSEMBLE_TIP = ("Flip ensemble: average the network over each face and its mirror image. "
                "+0.05-0.09 dB on held-out faces, twice the SR time")
