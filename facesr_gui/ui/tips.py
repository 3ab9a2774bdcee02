"""Tooltip texts shared by several tabs (kept here so the UI modules stay free of torch)."""

ENSEMBLE_TIP = ("Flip ensemble: average the network over each face and its mirror image. "
                "+0.05-0.09 dB on held-out faces, twice the SR time")

STABILISE_TIP = ("Steady faces: blend each restored face with the same face in the previous frame where the "
                 "input did not change, so noise does not make detail come and go (flicker -24% on "
                 "synthetic clips, face PSNR unchanged; benchmarks/bench_flicker.py). Reset at scene cuts")

#: Training tab: attribute -> tooltip (the config and learning-rate tips follow the chosen network)
TRAINING_TIPS = {
    "net_combo": "The network to train (the papers' architectures; each item's tooltip names its paper)",
    "preset_combo": "Size of the network: the paper's configuration, a tiny one for a quick test, or Custom "
                    "(the JSON config below, e.g. the layout of weights being fine-tuned)",
    "data_edit": "Folder of training faces: aligned face photos (CelebA framing), any size, JPEG or PNG",
    "val_edit": "Folder of validation faces: measured every few steps for the PSNR curve and the preview",
    "parsing_edit": "Cache of pseudo parsing labels from `facesr labels` (only the parsing-guided networks use it)",
    "out_edit": "Where the run writes state.pt (resumable) and the trained weights",
    "steps_spin": "Number of optimiser steps of the run",
    "batch_spin": "Faces per step (lower it when memory runs out)",
    "val_every_spin": "Validate (PSNR curve, preview grid) every N steps",
    "device_combo": "Where training runs: the CPU, or a CUDA GPU when one is present",
    "gan_check": "Add the adversarial phase of the paper's recipe after the main run (needs the net's discriminator)",
    "start_mode_combo": "From scratch, fine-tune existing weights (keeping their layout), or resume a run's state.pt",
    "start_path_combo": "The weights (.safetensors) to fine-tune, or the state.pt to resume",
    "start_browse": "Choose the weights or the state file to start from",
    "start_button": "Start training with the settings on the left",
    "pause_button": "Pause after the current step (the state stays in memory)",
    "resume_button": "Continue a paused run",
    "cancel_button": "Stop the run; its last state is saved and can be resumed",
    "register_button": "Add the trained weights to the model picker (they are copied into your model folder)",
}

#: Video tab: attribute -> tooltip
VIDEO_TIPS = {
    "open_button": "Open a video (or drop one on the window)",
    "slider": "Scrub through the clip: the frame is shown with its detected faces boxed",
    "detect_button": "Run the face detector on the frame shown",
    "mask_combo": "Blend mask: feathered ellipse, or the face parsing the network predicts (where it has one)",
    "output_edit": "The enhanced video's file (.mkv keeps any audio; .mp4 plays everywhere)",
    "output_button": "Choose where the enhanced video is written",
    "process_button": "Enhance every frame in the background with the model chosen in the toolbar",
    "cancel_button": "Stop processing: the frames done so far stay in a playable file",
}


def apply_tips(owner, tips: dict[str, str]) -> None:
    """``owner.<name>.setToolTip(text)`` for each entry of ``tips``."""
    for name, text in tips.items():
        getattr(owner, name).setToolTip(text)
