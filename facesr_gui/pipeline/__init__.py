"""Qt-free face pipeline: numpy in, numpy out.

Stages: ``detect`` (MTCNN boxes, scores, 5-point landmarks) -> ``align`` (CelebA-style
aligned square crops and their inverse warps) -> restore -> blend/paste back.
Images at this boundary are ``(H, W, 3)`` uint8 **RGB** numpy arrays.
"""
