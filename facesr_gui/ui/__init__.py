"""Qt widgets. Never imports torch: models are reached through ``facesr_gui.workers``."""
