"""Training engine (Qt-free): data, degradation, losses and the training loop."""
