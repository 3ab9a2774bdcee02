"""Qt threads that drive the engine: the only layer where Qt meets torch.

Nothing is imported here, so a torch-free module of this package (:mod:`.requests`) can be
imported without loading torch.
"""
