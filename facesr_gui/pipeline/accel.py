"""An optional faster CPU backend: the same networks compiled by OpenVINO, PyTorch as the fallback.

Measured on the 2-core AMD EPYC (AVX512-BF16) with one thread, same inputs, against eager PyTorch
with channels-last weights (what :class:`~.restore.FaceRestorer` and :class:`~.detect.FaceDetector`
run otherwise); ONNX Runtime 1.32 (fp32) beside it:

==========================================  ===========  ==============  ==========  ===========
network, input                              PyTorch      ONNX Runtime    OpenVINO    OpenVINO
                                            (fp32/bf16)  (fp32)          fp32        bf16
==========================================  ===========  ==============  ==========  ===========
MTCNN P-Net, 1709x961 (a 480p frame at 2x)  343 / 293    244             140         70
MTCNN P-Net, 606x341                        19 / 29      30              19          10
MTCNN R-Net, 300 crops of 24 px             21 / 44      45              18          11
MTCNN O-Net, 36 crops of 48 px              16 / 11      27              15          8
jeanet_s_cctv, 6 faces of 16 px             300 / 230    285             306         151
eipnet_w128_real, 6 faces of 16 px          120 / 74     113             116         58
==========================================  ===========  ==============  ==========  ===========

(ms per call, with the batch and size left free; models compiled for fixed shapes take 10-30% less,
:class:`CompiledModule`. JEANet's row predates its bicubic upsampling as two matrix products, which took
OpenVINO bf16 from 114 to 100 ms on a later host: ``benchmarks/README.md``.) ONNX Runtime is faster only on
P-Net's largest level and needs the ``onnx`` package to export; OpenVINO converts the PyTorch modules
itself and wins everywhere, so it is the backend. Its outputs match PyTorch's within 4e-6 in float32;
in bf16 they differ as PyTorch's bf16 autocast does (SR images within 1/255 on most pixels). Precision:
the SR networks use bf16 where the CPU runs it natively (as the PyTorch path does,
:func:`facesr_gui.precision.cpu_has_bf16`); of MTCNN only P-Net, whose candidates R-Net and O-Net (float32,
their thresholded probabilities decide which faces exist) check again (:class:`~.detect.FaceDetector`).

INT8 (NNCF post-training quantisation, ``benchmarks/bench_int8.py``; measured, not adopted): on all 534
celeba_dev faces and one thread, ``eipnet_w128_cctv`` with its first and last convolution kept in bf16
runs 25% faster (35.5 instead of 47.2 ms for 6 faces) for -0.014 dB on camera-like faces and -0.023 dB
on clean ones (every convolution: 32 ms, -0.07 and -0.16 dB); ``jeanet_s_cctv``, the default, 30% faster
for -0.075 and -0.19 dB, its FAAMs' attention products losing most. MTCNN's P-Net in INT8 missed 4 of
the 179 faces float32 finds on 30 frames of the street clip (and added 5), the loss bf16 showed too.
Shipping it would mean a quantised model per checkpoint, calibrated on training faces, beside the card.

``backend``: ``"torch"``; ``"openvino"`` (an error when it is not installed or fails); ``"auto"``
(OpenVINO on the CPU when installed, else PyTorch; a conversion that fails falls back to PyTorch
with a warning). Converting a network takes 1-20 s (JEANet's many small layers and 26 maps: 20 s), so
the converted model is kept in ``<user data>/openvino/`` under a hash of the network's class, weights,
input shape, outputs, source code (``facesr_gui/nets``) and OpenVINO version: later runs read it and
compile in ~2 s. The folder is bounded (:data:`CACHE_BYTES`): after each conversion the entries used
longest ago (a read marks an entry used) are deleted until the rest fit, and temporary files a crash
left behind are deleted after a day; nothing else in the folder is touched.

:class:`CompiledModule` takes and returns torch tensors, so the code around a network does not
change: NCHW float32 in, the module's outputs (a tensor, a tuple of tensors, or an
:class:`~facesr_gui.nets.outputs.SROutput` with the same map names) out.
"""
from __future__ import annotations

import functools
import hashlib
import os
import re
import threading
import time
import warnings
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from ..nets.outputs import SROutput

__all__ = ["BACKENDS", "CompiledModule", "compile_module", "first_use_note", "openvino_missing", "resolve_backend"]

BACKENDS = ("auto", "torch", "openvino")
# The converted-model cache keeps the most recently used entries within this many bytes. An entry is 1-7 MB
# (JEANet's 26 maps and the image-only graph are separate entries): 256 MiB holds every bundled model's
# two graphs and MTCNN's many times over, while entries of older code or weights do not pile up forever.
CACHE_BYTES = 256 * 2 ** 20
STALE_TMP_S = 24 * 3600        # a temporary file (``.<key>.<pid>.<thread>.xml/.bin``) this old is a crash's
# Static shapes (CompiledModule): a shape earns a model of its own after this many seconds in the model with
# free dimensions; each holds its own kernels and buffers, so only the MAX_STATIC used last are kept; the time
# of shapes without one is kept for at most MAX_COUNTED shapes at a time.
STATIC_AFTER_S = 0.15
MAX_STATIC = 32
MAX_COUNTED = 512
_KEY = re.compile(r"[0-9a-f]{32}")
_TMP = re.compile(r"\.[0-9a-f]{32}\.\d+\.\d+\.(xml|bin)")


@functools.lru_cache(maxsize=1)
def openvino_missing() -> str | None:
    """Why OpenVINO cannot be used here (one line), or None when it can."""
    try:
        import openvino  # noqa: F401 - only whether it imports
    except Exception as exc:  # noqa: BLE001 - a broken install is as missing as an absent one
        return f"OpenVINO is not installed ({exc.__class__.__name__}: {exc}); pip install openvino"
    return None


@functools.lru_cache(maxsize=1)
def _core():
    """One OpenVINO runtime for the process, never released: a released one unloads its CPU plugin, and
    a signal handler the plugin left behind then points at unmapped code (a SIGTERM after that crashed)."""
    import openvino as ov

    return ov.Core()


def first_use_note() -> str:
    """What a long job's "loading" message adds where OpenVINO runs it: a model's first conversion."""
    return "" if openvino_missing() is not None else " (a model's first use here converts it for OpenVINO: up to 20 s)"


def resolve_backend(backend: str, device: torch.device | str) -> str:
    """``"torch"`` or ``"openvino"`` for a requested ``backend`` on ``device`` (module docstring)."""
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
    cpu = torch.device(device).type == "cpu"
    if backend == "openvino":
        if not cpu:
            raise ValueError("the OpenVINO backend runs on the CPU; use --backend torch on a GPU")
        if (why := openvino_missing()) is not None:
            raise RuntimeError(why)
        return "openvino"
    if backend == "auto" and cpu and openvino_missing() is None:
        return "openvino"
    return "torch"


class _Flat(nn.Module):
    """The module with its outputs as a flat tuple of tensors (what a converter can trace)."""

    def __init__(self, net: nn.Module, map_names: tuple[str, ...]) -> None:
        super().__init__()
        self.net, self.map_names = net, map_names

    def forward(self, x: Tensor) -> tuple[Tensor, ...]:
        out = self.net(x)
        if isinstance(out, SROutput):
            return (out.image, *(out.maps[k] for k in self.map_names))
        return tuple(out) if isinstance(out, (tuple, list)) else (out,)


class CompiledModule:
    """``net`` compiled by OpenVINO for inputs shaped like ``example`` (``(N, C, H, W)``) with the
    dimensions in ``dynamic`` free (e.g. ``(0,)`` any batch, ``(0, 2, 3)`` any batch and size).
    Call it like the module: a float32 NCHW tensor in, the module's kind of output out (CPU tensors).
    ``bf16``: OpenVINO's bf16 inference precision (else float32). ``threads``: its CPU threads
    (default: torch's). ``cache_dir``: where converted models are kept (default ``<user data>/openvino``;
    module docstring). ``image_only``: an SR network's image without its maps (the SROutput's ``maps``
    empty): OpenVINO then leaves out what only the maps need and nothing copies them (video frames,
    whose faces' maps nobody looks at; 6% of JEANet's time, ``benchmarks/README.md``).

    Static shapes: OpenVINO's CPU kernels for a model with free dimensions run 10-30% slower than for
    the same model with every dimension fixed (``benchmarks/README.md``, 2026-12-05), and compiling a fixed one takes
    ~0.03 s for an MTCNN network, ~0.7 s for JEANet. ``chunk``: a batch is cut into pieces of
    ``chunk`` items and the rest into powers of two (7 with ``chunk`` 4: 4, 2, 1), so that a few
    shapes serve every batch size (a video's face count changes from frame to frame). ``eager``
    (with ``chunk``; only the batch free): those piece shapes are compiled here, and the model with
    free dimensions never is (an SR network of the OpenVINO backend, which serves long jobs). Else an
    input shape gets a model of its own once the model with free dimensions has spent
    :data:`STATIC_AFTER_S` seconds on it (what compiling a small network costs, 5 times over: a
    shape used that long is likely to be used as long again); the :data:`MAX_STATIC` used last
    are kept. So a video's large pyramid levels are compiled after a few frames, the smallest after
    hundreds, and a one-off photo's not at all. The outputs are the same within the kernels'
    rounding."""

    def __init__(self, net: nn.Module, example: Tensor, dynamic: tuple[int, ...] = (0,), bf16: bool = False,
                 threads: int | None = None, cache_dir: Path | None = None, image_only: bool = False,
                 chunk: int | None = None, eager: bool = False) -> None:
        if eager and (not chunk or tuple(dynamic) != (0,)):
            raise ValueError("eager static shapes need a chunk and only the batch free")
        net = net.eval()
        with torch.inference_mode():
            probe = net(example)
        self._sr = isinstance(probe, SROutput)
        self._tuple = isinstance(probe, (tuple, list))
        self.map_names = tuple(probe.maps) if self._sr and not image_only else ()
        flat = _Flat(net, self.map_names).eval()
        dims = [-1 if i in dynamic else int(n) for i, n in enumerate(example.shape)]
        model = _converted(flat, example, dims, cache_dir)
        # not pinned to cores: OpenVINO pins each compiled model's threads to the first cores, so the detector
        # and the SR network, run at once by a video's detect and restore threads, took turns on the same
        # cores (two 1-thread models in two threads: 2.0x one's time pinned, 1.3x unpinned; the 480p street
        # clip, 2 threads: 5.8 -> 6.3 fps for jeanet_s_cctv, 8.0 -> 9.3 for eipnet_w128_cctv, three pairs)
        self._model = model
        self._config = {"INFERENCE_NUM_THREADS": int(threads or torch.get_num_threads()),
                        "INFERENCE_PRECISION_HINT": "bf16" if bf16 else "f32", "ENABLE_CPU_PINNING": False}
        self._lock, self._clone_lock = threading.Lock(), threading.Lock()
        self.bf16 = bf16
        self.free, self.chunk = tuple(dynamic), chunk
        # an infer request holds its inputs and outputs: one per compiled model, used by one thread at a time
        # (per-thread requests crashed when their Qt worker thread ended). ``_fixed``: the eager shapes';
        # ``_static``: the earned ones, most recently used last (None: compiling that shape failed)
        self._fixed: dict[tuple[int, ...], tuple[Any, Any]] = {}
        self._static: OrderedDict[tuple[int, ...], tuple[Any, Any] | None] = OrderedDict()
        self._spent: dict[tuple[int, ...], float] = {}
        self._dynamic: tuple[Any, Any] | None = None
        if eager:
            sizes = sorted({size for n in range(1, chunk + 1) for size in self.pieces(n)})   # all pieces() makes
            shapes = [(size, *(int(n) for n in example.shape[1:])) for size in sizes]
            # at once: one compilation keeps one core busy most of the time (JEANet's three: 2.2 -> 1.4 s on two)
            with ThreadPoolExecutor(max_workers=len(shapes), thread_name_prefix="openvino-compile") as pool:
                self._fixed = dict(zip(shapes, pool.map(self._compile, shapes)))
        else:
            self._dynamic = self._compile(None)

    def _compile(self, shape: tuple[int, ...] | None) -> tuple[Any, Any]:
        """``(compiled model, its infer request)`` for ``shape`` (None: the free dimensions left free).
        Several threads may compile at once (OpenVINO's Core is thread-safe; each reshapes its own clone)."""
        model = self._model
        if shape is not None:
            with self._clone_lock:
                model = model.clone()
            model.reshape(list(shape))
        compiled = _core().compile_model(model, "CPU", self._config)
        return compiled, compiled.create_infer_request()

    def pieces(self, n: int) -> list[int]:
        """How a batch of ``n`` items is cut (class docstring): ``chunk``-sized pieces, then the rest in
        decreasing powers of two; ``[n]`` without ``chunk``."""
        if not self.chunk or n <= 1:
            return [n]
        out = [self.chunk] * (n // self.chunk)
        rest, bit = n % self.chunk, 1 << (self.chunk.bit_length() - 1)
        while rest:
            if rest >= bit:
                out.append(bit)
                rest -= bit
            bit >>= 1
        return out

    def _runner(self, shape: tuple[int, ...]) -> tuple[Any, Any, bool]:
        """``(compiled model, request, free)`` for an input of ``shape`` (the lock held): the shape's own
        model when it has or has now earned one (class docstring), else the one with free dimensions
        (``free`` True: the caller adds the time it takes to the shape's account)."""
        if shape in self._fixed:
            return (*self._fixed[shape], False)
        entry = self._static.get(shape)
        if entry is not None:
            self._static.move_to_end(shape)
            return (*entry, False)
        if shape not in self._static and self._spent.get(shape, 0.0) >= STATIC_AFTER_S and 0 not in shape:
            self._spent.pop(shape, None)
            try:
                entry = self._compile(shape)
            except Exception:  # noqa: BLE001 - that shape keeps running on the model with free dimensions
                entry = None
            self._static[shape] = entry
            while len(self._static) > MAX_STATIC:
                self._static.popitem(last=False)
            if entry is not None:
                return (*entry, False)
        if self._dynamic is None:   # eager, and a batch of another shape (a caller's mistake): still served
            self._dynamic = self._compile(None)
        return (*self._dynamic, shape not in self._static)

    @property
    def static_shapes(self) -> list[tuple[int, ...]]:
        """The input shapes that have a model of their own now (the eager ones, then the earned ones
        from the least recently used)."""
        with self._lock:
            return list(self._fixed) + [shape for shape, entry in self._static.items() if entry is not None]

    def __call__(self, x: Tensor) -> Any:
        arr = np.ascontiguousarray(x.detach().float().cpu().numpy())
        parts, start = [], 0
        with self._lock:
            for size in self.pieces(len(arr)):
                piece = arr[start:start + size]
                start += size
                compiled, request, free = self._runner(piece.shape)
                t0 = time.perf_counter()
                # the request reads ``piece`` where it lies and its outputs are copied out here, before it runs
                # again: no copy into OpenVINO's tensors under the GIL (a P-Net level of a 480p frame is 10 MB)
                result = request.infer({0: piece}, share_inputs=True, share_outputs=True)
                parts.append([np.array(result[o]) for o in compiled.outputs])
                if free:
                    if len(self._spent) >= MAX_COUNTED and piece.shape not in self._spent:
                        self._spent.clear()   # a long run of one-off shapes (photos of every size)
                    self._spent[piece.shape] = self._spent.get(piece.shape, 0.0) + time.perf_counter() - t0
        outs = [torch.from_numpy(p[0] if len(parts) == 1 else np.concatenate(p)) for p in zip(*parts)]
        if self._sr:
            return SROutput(outs[0], dict(zip(self.map_names, outs[1:])))
        return tuple(outs) if self._tuple else outs[0]


@functools.lru_cache(maxsize=1)
def _nets_code() -> str:
    """A digest of the networks' source (``facesr_gui/nets``): a converted model is kept for the code that
    traced it, so a change to a forward pass converts again. The package version where no source is
    shipped (a frozen build)."""
    from .. import __version__, nets

    h = hashlib.sha256(__version__.encode())
    for path in sorted(Path(nets.__file__).parent.glob("*.py")):
        try:
            h.update(path.name.encode() + path.read_bytes())
        except OSError:
            pass
    return h.hexdigest()[:16]


def _cache_key(flat: _Flat, dims: list[int]) -> str:
    import openvino as ov

    h = hashlib.sha256(f"{type(flat.net).__module__}.{type(flat.net).__qualname__}|{dims}|{flat.map_names}|"
                       f"{ov.__version__}|{_nets_code()}".encode())
    for name, tensor in flat.net.state_dict().items():
        h.update(name.encode())
        h.update(tensor.detach().float().contiguous().cpu().numpy().tobytes())
    return h.hexdigest()[:32]


def _converted(flat: _Flat, example: Tensor, dims: list[int], cache_dir: Path | None):
    """The OpenVINO model of ``flat``, read from the cache when converted before, else converted and
    saved there (written under temporary names and renamed: a crash leaves no half model)."""
    import openvino as ov

    from ..paths import user_data_dir

    folder = Path(cache_dir) if cache_dir is not None else user_data_dir() / "openvino"
    xml = folder / f"{_cache_key(flat, dims)}.xml"
    if xml.is_file() and xml.with_suffix(".bin").is_file():
        try:
            model = _core().read_model(str(xml))
        except Exception:  # noqa: BLE001 - an unreadable cache entry is converted again
            pass
        else:
            _touch(xml)
            return model
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")   # the tracer's notes on Python control flow in the nets
        model = ov.convert_model(flat, example_input=example.float(), input=[ov.PartialShape(dims)])
    try:
        folder.mkdir(parents=True, exist_ok=True)
        tmp = folder / f".{xml.stem}.{os.getpid()}.{threading.get_ident()}.xml"
        ov.save_model(model, str(tmp), compress_to_fp16=False)
        os.replace(tmp.with_suffix(".bin"), xml.with_suffix(".bin"))
        os.replace(tmp, xml)
    except OSError as exc:   # a read-only home: convert again next time
        warnings.warn(f"could not keep the converted model in {folder}: {exc}", RuntimeWarning, stacklevel=3)
    else:
        prune_cache(folder, keep=xml.stem)
    return model


def _touch(xml: Path) -> None:
    """Mark a cache entry used now (its files' modification time: what :func:`prune_cache` orders by)."""
    for path in (xml, xml.with_suffix(".bin")):
        try:
            os.utime(path)
        except OSError:   # a read-only cache still serves its entries
            pass


def prune_cache(folder: Path, keep: str | None = None, budget: int | None = None) -> list[str]:
    """Delete the converted models of ``folder`` used longest ago until the rest fit in ``budget`` bytes
    (default :data:`CACHE_BYTES`), never the entry ``keep``, and temporary files (and a ``.bin`` without
    its ``.xml``) older than :data:`STALE_TMP_S`. Only files named as this module names them are looked
    at. Returns the keys deleted."""
    budget = CACHE_BYTES if budget is None else budget
    entries, now = [], time.time()
    try:
        names = list(os.scandir(folder))
    except OSError:
        return []
    for item in names:
        try:
            stale = now - item.stat().st_mtime > STALE_TMP_S
            orphan = (item.name.endswith(".bin") and _KEY.fullmatch(item.name[:-4])
                      and not os.path.exists(item.path[:-4] + ".xml"))   # a crash between the two renames
            if stale and (_TMP.fullmatch(item.name) or orphan):
                os.unlink(item.path)
            elif item.name.endswith(".xml") and _KEY.fullmatch(item.name[:-4]):
                xml, bin_ = Path(item.path), Path(item.path).with_suffix(".bin")
                size = item.stat().st_size + (bin_.stat().st_size if bin_.exists() else 0)
                entries.append((item.stat().st_mtime, xml.stem, size))
        except OSError:   # gone meanwhile (another process pruned it): nothing to do
            continue
    deleted, total = [], sum(size for _, _, size in entries)
    for _, key, size in sorted(entries):            # used longest ago first
        if total <= budget:
            break
        if key == keep:
            continue
        for suffix in (".xml", ".bin"):
            try:
                os.unlink(folder / f"{key}{suffix}")
            except OSError:
                pass
        deleted.append(key)
        total -= size
    return deleted


def compile_module(net: nn.Module, example: Tensor, dynamic: tuple[int, ...] = (0,), bf16: bool = False,
                   required: bool = False, image_only: bool = False, chunk: int | None = None,
                   eager: bool = False) -> CompiledModule | None:
    """:class:`CompiledModule`, or None (with a warning) when OpenVINO fails and not ``required``."""
    try:
        return CompiledModule(net, example, dynamic, bf16, image_only=image_only, chunk=chunk, eager=eager)
    except Exception as exc:  # noqa: BLE001 - any converter or plugin failure: PyTorch runs it
        if required:
            raise RuntimeError(f"OpenVINO could not compile {type(net).__name__}: {exc}") from exc
        warnings.warn(f"OpenVINO could not compile {type(net).__name__} ({exc}); running it with PyTorch",
                      RuntimeWarning, stacklevel=2)
        return None
