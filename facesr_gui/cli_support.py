"""The command line's plumbing: a progress bar, stopping on signals, and argparse types that
check ranges at the edge (one-line usage errors). :mod:`facesr_gui.cli` holds the commands."""
from __future__ import annotations

import argparse
import json
import math
import sys
import time

__all__ = ["ArgParser", "NON_NEGATIVE", "POSITIVE", "Progress", "StopOnSignal", "add_degradation_args",
           "add_enhance_args", "default_detect_every",
           "finite_or_null", "item_line", "json_object_arg", "left_over", "min_face_arg", "number_arg", "ray_address_arg",
           "upscale_arg", "weights_arg"]


class Progress:
    """A single-line terminal progress bar with ETA (stderr), for long jobs.

    The ETA extrapolates from the progress made since the first call, so a resumed job
    (starting at, say, 20%) gets an honest estimate.
    """

    def __init__(self, stream=None, width: int = 30):
        self.stream, self.width, self.t0 = stream, width, time.monotonic()
        self.f0: float | None = None

    def __call__(self, fraction: float, msg: str = "") -> None:
        stream = self.stream or sys.stderr
        fraction = min(max(fraction, 0.0), 1.0)
        if self.f0 is None:
            self.f0, self.t0 = fraction, time.monotonic()
        elapsed, done = time.monotonic() - self.t0, fraction - self.f0
        eta = elapsed * (1 - fraction) / done if done > 0 else float("nan")
        bar = "#" * int(self.width * fraction)
        eta_s = f"{eta:6.0f}s" if eta == eta else "     ?s"
        stream.write(f"\r[{bar:<{self.width}}] {fraction * 100:5.1f}% ETA {eta_s} {msg[:60]:<60}")
        if fraction >= 1.0:
            stream.write("\n")
        stream.flush()


class StopOnSignal:
    """SIGINT (Ctrl-C) or SIGTERM (``timeout``, systemd, the OS) once: stop at the next check (the
    current frame or step is finished, a video's container is closed so its ``.partial`` file
    plays, and the caller says where it is); a second signal: ``KeyboardInterrupt`` at once
    (the callers still say what was left)."""

    SIGNALS = ("SIGINT", "SIGTERM")

    def __init__(self, what: str = "the current frame", enabled: bool = True) -> None:
        self.requested, self.what, self.enabled, self._old = False, what, enabled, {}

    def __enter__(self) -> StopOnSignal:
        import signal
        import threading

        if self.enabled and threading.current_thread() is threading.main_thread():
            for name in self.SIGNALS:
                if hasattr(signal, name):
                    sig = getattr(signal, name)
                    self._old[sig] = signal.signal(sig, self._on_signal)
        return self

    def __exit__(self, *exc) -> None:
        import signal

        for sig, old in self._old.items():
            signal.signal(sig, old)

    def _on_signal(self, signum, frame) -> None:
        import signal

        if self.requested:
            raise KeyboardInterrupt
        self.requested = True
        name = signal.Signals(signum).name
        sys.stderr.write(f"\n{name}: stopping after {self.what} (send it again to stop at once)\n")

    def __call__(self) -> bool:
        return self.requested



def number_arg(kind: type, low: float | None = None, high: float | None = None, *, above: bool = False,
                what: str = ""):
    """An argparse type: ``kind`` (int or float) in ``[low, high]`` (``(low, high]`` with ``above``)."""
    bound = " and ".join(b for b in ((f"> {low:g}" if above else f">= {low:g}") if low is not None else "",
                                     f"<= {high:g}" if high is not None else "") if b)
    expected = f"{'an integer' if kind is int else 'a number'}{' ' + bound if bound else ''}{what}"

    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}") from None
        if value != value or (low is not None and (value <= low if above else value < low)) or (
                high is not None and value > high):
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}")
        return value

    parse.__name__ = kind.__name__   # argparse names the type in its messages
    return parse


POSITIVE = number_arg(int, 1)
NON_NEGATIVE = number_arg(int, 0)


def min_face_arg(text: str) -> int:
    from .pipeline.detect import MIN_FACE_FLOOR

    return number_arg(int, MIN_FACE_FLOOR, 4096, what=f" (px; below {MIN_FACE_FLOOR} MTCNN's image pyramid "
                                                      "grows past the image's own size many times over)")(text)


def finite_or_null(value):
    """``value`` with every non-finite float (a PSNR of identical images, a mean over none) as None:
    JSON has no inf or NaN."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: finite_or_null(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite_or_null(v) for v in value]
    return value


def json_object_arg(text: str) -> dict:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise argparse.ArgumentTypeError(f"not valid JSON ({exc.msg} at column {exc.colno}): {text!r}") from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError(f"expected a JSON object like '{{\"width\": 64}}', got {text!r}")
    return value


def upscale_arg(text: str) -> str | int:
    if text == "auto":
        return text
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected 'auto' or a positive integer, got {text!r}")
    return int(text)


def loss_weight_arg(text: str) -> tuple[str, float]:
    """``TERM=W`` (``edge=0``) -> ``("edge", 0.0)``; the term names are checked against the recipe."""
    name, sep, value = text.partition("=")
    try:
        weight = float(value)
    except ValueError:
        weight = float("nan")
    if not sep or not name.strip() or not weight >= 0:
        raise argparse.ArgumentTypeError(f"expected TERM=WEIGHT with a weight >= 0 (e.g. edge=0), got {text!r}")
    return name.strip(), weight


def weights_arg(text: str) -> tuple[float, ...]:
    """``W,W,...`` (``0.75,0.25``) -> ``(0.75, 0.25)``: numbers >= 0, not all 0."""
    try:
        weights = tuple(float(w) for w in text.split(","))
    except ValueError:
        weights = ()
    if not weights or any(not w >= 0 for w in weights) or sum(weights) <= 0:
        raise argparse.ArgumentTypeError(f"expected comma-separated weights >= 0, not all 0 (e.g. 0.75,0.25), got {text!r}")
    return weights


def add_degradation_args(parser: argparse.ArgumentParser, help_text: str) -> None:
    from .train.degradations import DEGRADATIONS

    parser.add_argument("--degradation", default="bicubic", choices=list(DEGRADATIONS),
                        help=(help_text + ": " + "; ".join(f"{d.name}: {d.summary}" for d in DEGRADATIONS.values()))
                        .replace("%", "%%"))   # argparse %-formats help text ("12% clean")
    parser.add_argument("--jitter", type=number_arg(float, 0, 0.25), default=0.0, metavar="J",
                        help="framing jitter: zoom the face crop by 1-J..1+J and shift it by up to J of its side "
                             "(faces aligned by other tools are framed differently; 0.05 is a few px)")


class ArgParser(argparse.ArgumentParser):
    """Usage errors as one line, ``error: facesr train: argument --batch: ...`` (exit code 2)."""

    def error(self, message: str):
        self.exit(2, f"error: {self.prog}: {message} (see {self.prog} --help)\n")


def item_line(item) -> str:
    """One ``facesr enhance`` report line: status, input, output (+ sidecar), message, seconds."""
    message = item.message.removeprefix(f"{item.path}: ")
    target = f" -> {item.output}" if item.output else ""
    target += f" (+ {item.provenance.name})" if item.provenance else ""
    return f"{item.status:<9} {item.path}{target}: {message} [{item.seconds:.1f} s]"


def left_over(inputs: list, done: list, exc: BaseException) -> str:
    """One line after an abort: the input it was on, its partial output if any, and what was left."""
    notes = "; ".join(getattr(exc, "__notes__", []))
    current = inputs[len(done)] if len(done) < len(inputs) else None
    text = f"stopped at once: {len(done)}/{len(inputs)} input(s) finished"
    if current is not None:
        text += f"; {current} aborted" + (f" ({notes})" if notes else " (nothing written for it)")
    left = len(inputs) - len(done) - (current is not None)
    return text + (f"; {left} not started" if left else "")


def ray_address_arg(text: str) -> str:
    """``--ray``'s address: ``local`` (start a runtime here: what a bare ``--ray`` means), ``auto``,
    ``ray://HOST:PORT`` or ``HOST:PORT`` (a path here is an input put after ``--ray``)."""
    import re

    if text in ("auto", "local") or re.fullmatch(r"(ray://)?[\w.\-\[\]:]+:\d+", text):
        return text
    raise argparse.ArgumentTypeError(f"expected 'auto', ray://HOST:PORT or HOST:PORT, got {text!r} (put --ray "
                                     "after the inputs to start a local Ray runtime)")


def default_detect_every() -> int:
    """Whole-frame detection every N frames of a video, by default (:mod:`facesr_gui.pipeline.video`)."""
    from .pipeline.video import DEFAULT_DETECT_EVERY

    return DEFAULT_DETECT_EVERY


def add_enhance_args(en: argparse.ArgumentParser) -> None:
    """The options of ``facesr enhance`` (every one explained in its help)."""
    en.add_argument("inputs", nargs="*", metavar="INPUT", help="image, video or folder (searched recursively)")
    en.add_argument("--model", help="bundled model id, net name or .safetensors checkpoint "
                                    "(default: the first bundled model, else 'bicubic')")
    en.add_argument("--out", help="output folder (default: beside each input; --demo: ./facesr-demo); "
                                  "outputs are named <stem>_facesr.<ext>")
    en.add_argument("--device", help="cpu (default), cuda or cuda:N; with --ray: a GPU where the cluster has them")
    en.add_argument("--half", action="store_true", help="fp16 inference (CUDA only)")
    en.add_argument("--fp32", action="store_true",
                    help="float32 on the CPU (default: bf16 where the CPU runs it natively, within 0.002 dB)")
    en.add_argument("--backend", default="auto", choices=["auto", "torch", "openvino"],   # pipeline/accel.BACKENDS
                    help="what runs the networks on the CPU: OpenVINO where installed (auto; SR 1.3-2x, detection "
                         "1.7x faster; the first use of a model converts it once, up to 20 s), or PyTorch")
    en.add_argument("--upscale", type=upscale_arg, default="auto",
                    help="output scale of the whole frame: 'auto' (faces reach the net's SR size, long side "
                         "<= 4096 px images / 1920 px videos) or an integer")
    en.add_argument("--mask", default="ellipse", choices=["ellipse", "parsing"], help="paste-back mask")
    en.add_argument("--flip-ensemble", action="store_true",
                    help="average the net over each face and its mirror image: +0.05-0.09 dB on held-out faces, "
                         "twice the SR time")
    en.add_argument("--no-stabilise", action="store_true",
                    help="videos: do not steady the faces (by default each face is blended with the previous "
                         "frame's where the input did not change: a quarter less flicker, no PSNR lost)")
    en.add_argument("--min-face", type=min_face_arg, default=None,
                    help="smallest face the detector looks for, px (default 12, at least 8)")
    en.add_argument("--detect-every", type=POSITIVE, default=None, metavar="N",
                    help="videos: detect faces in the whole frame every N-th frame (default "
                         f"{default_detect_every()}; up to every 2N-th while no new face appears; 1: every frame), "
                         "and in between only around each tracked face (a few ms)")
    en.add_argument("--max-megapixels", type=number_arg(float, 0), default=None,
                    help="refuse larger images and video frames (default 50, or $FACESR_MAX_MEGAPIXELS; 0 = no limit)")
    en.add_argument("--demo", action="store_true", help="enhance a degraded copy of the bundled sample portrait")
    en.add_argument("--provenance", action="store_true",
                    help="beside each output write <output>.json: app version, UTC time, input and output file names "
                         "and sha256, model id, checkpoint sha256, net config and training degradation, options, "
                         "and each face's box, size, score and whether it was pasted (videos: frames, fps, faces "
                         "per frame, tracks); PNG and JPEG outputs also carry a one-line summary inside")
    en.add_argument("--ray", nargs="?", const="local", type=ray_address_arg, metavar="ADDRESS",
                    help="run on Ray (pip install -e '.[cluster]'): one task per file, long videos in parts; no "
                         "ADDRESS: a local Ray runtime on this machine's cores; auto or ray://HOST:10001: join that "
                         "cluster (inputs and --out on a filesystem every node shares; see README)")
    en.add_argument("--ray-segment-s", type=number_arg(float, 0, above=True), default=60.0, metavar="S",
                    help="with --ray: split videos longer than S seconds at keyframes into parts (default 60)")
    en.add_argument("--ray-retries", type=NON_NEGATIVE, default=2, metavar="N",
                    help="with --ray: run a failed task up to N more times before reporting its error (default 2)")
    en.add_argument("--json", action="store_true", help="print a JSON report instead of text lines "
                                                        "(with --provenance: each item's sidecar)")
