"""Batch enhancement on a Ray cluster: the engine behind ``facesr enhance --ray [ADDRESS]``.

:func:`enhance_on_ray` runs the same per-item step as the local batch (:func:`~.pipeline.engine.enhance_file`
into the outputs :func:`~.pipeline.engine.plan_outputs` planned on the driver), one Ray task per input file,
and returns the same :class:`~.pipeline.engine.BatchReport` in input order. A video longer than
``segment_s`` is split at keyframes into parts enhanced by tasks of their own and joined by stream copy with
its audio (:mod:`.pipeline.segments`).

* Weights: the checkpoint's bytes go into the object store once (``ray.put``); each worker process builds the
  restorer once, cached by model, checkpoint sha256 and options (:func:`_restorer`).
* Retries: a task whose worker dies (out of memory, a lost node) is run again up to ``retries`` times by Ray; a
  task that raises (an error that is not a bad input) is submitted again by the driver up to ``retries`` times
  (not by Ray, whose retry notices go to stdout, into ``--json``); then it is reported as that file's error
  while the rest go on. A bad input (``ValueError``: unreadable, too large) is reported at once, as locally.
* GPUs: each task asks for one when the cluster has them (and ``--device`` is not ``cpu``).
* Cancel: ``should_stop()`` (the first Ctrl-C) tells the running tasks to stop after their current frame (a
  video keeps its playable ``.partial`` file, as locally; a video in parts keeps the frames done from its start) and cancels those not
  started; finished outputs stay. A ``KeyboardInterrupt`` (the second Ctrl-C) cancels every task at once.
* Progress: tasks report to a small actor that the driver reads twice a second.
* Files: workers read the inputs and write the outputs themselves, at the same paths as the driver, so on
  more than one machine both must be on a filesystem every node mounts at the same path (NFS, CephFS...);
  :func:`check_shared` refuses others before any work starts.

``ray`` is imported only inside these functions: without it the rest of the program works, and ``--ray``
says how to install it (:data:`RAY_MISSING`).
"""
from __future__ import annotations

import os
import shutil
import signal
import tempfile
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from pathlib import Path

from .catalog import ModelEntry, RestorerSpec
from .errors import describe
from .pipeline.engine import (BatchReport, ItemReport, Progress, enhance_file, error_message, note_renamed,
                              plan_outputs, video_item, video_upscale)
from .pipeline.imageio import classify
from .pipeline.segments import (DEFAULT_SEGMENT_S, DEFAULT_WARMUP_S, join_done, join_segments, merge_reports,
                                plan_segments)

_HANDLERS: dict = {}   # the process's signal handlers before connect() (disconnect() restores them)
RAY_MISSING = "install the cluster extra: pip install -e '.[cluster]'"
MAX_RETRIES = 2
BAD_INPUT = (ValueError, KeyError)   # deterministic: reported at once, never retried
ItemFn = Callable[..., ItemReport]   # enhance_file's signature


def require_ray():
    """The ``ray`` module, or ``ValueError(RAY_MISSING)`` (one line, exit code 2 in the CLI)."""
    try:
        import ray
    except ImportError:
        raise ValueError(f"--ray: {RAY_MISSING}") from None
    return ray


@dataclass(frozen=True)
class Weights:
    """The checkpoint in the object store: ``ref`` stays a reference inside this box (Ray resolves only
    top-level arguments), so a worker fetches the bytes only when it builds its restorer."""

    ref: object
    sha256: str
    name: str


@dataclass(frozen=True)
class Job:
    """One input's work, as :func:`~.pipeline.engine.enhance_paths` would do it."""

    index: int
    path: Path
    output: Path
    upscale: int | str = "auto"
    detect_every: int = 1
    max_pixels: int | None = None
    quality: int = 95
    model: object = None   # ModelFacts (hashed) with provenance, else None
    stabilise: bool = True
    segment_s: float = DEFAULT_SEGMENT_S
    warmup_s: float = DEFAULT_WARMUP_S

    def options(self) -> dict:
        return {"detect_every": self.detect_every, "max_pixels": self.max_pixels, "quality": self.quality,
                "model": self.model, "stabilise": self.stabilise}


# --- the driver -----------------------------------------------------------------------------------------
def connect(address: str | None = None, num_cpus: int | None = None) -> bool:
    """Start a local Ray runtime sized to this machine (``address`` None) or join a cluster (``"auto"``,
    ``"ray://host:10001"``); returns whether this call connected (then :func:`disconnect` after)."""
    ray = require_ray()
    if ray.is_initialized():
        return False
    debug = os.environ.get("FACESR_DEBUG", "") not in ("", "0")
    kwargs = {"log_to_driver": debug, "logging_level": "INFO" if debug else "ERROR"}
    _HANDLERS.update({sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)})
    if address is None:
        ray.init(num_cpus=num_cpus or os.cpu_count(), include_dashboard=False, **kwargs)
    else:
        ray.init(address=address, **kwargs)
    return True


def disconnect() -> None:
    """Leave Ray, and give back the signal handlers :func:`connect` found (``ray.init`` installs its own
    SIGTERM handler, which outlives ``ray.shutdown``)."""
    import ray

    ray.shutdown()
    for sig, handler in _HANDLERS.items():
        if handler is not None:
            signal.signal(sig, handler)
    _HANDLERS.clear()


def enhance_on_ray(inputs: Iterable[str | os.PathLike], out_dir: str | os.PathLike | None, spec: RestorerSpec,
                   upscale: int | str = "auto", progress: Progress | None = None,
                   should_stop: Callable[[], bool] | None = None, on_item: Callable[[ItemReport], None] | None = None,
                   *, detect_every: int = 1, max_pixels: int | None = None, quality: int = 95, provenance: bool = False,
                   stabilise: bool = True, segment_s: float = DEFAULT_SEGMENT_S, warmup_s: float = DEFAULT_WARMUP_S,
                   retries: int = MAX_RETRIES, item_fn: ItemFn | None = None) -> BatchReport:
    """:func:`~.pipeline.engine.enhance_paths` on the connected Ray cluster (:func:`connect`): the same
    arguments, ``spec`` instead of a restorer; ``segment_s``: split videos longer than this; ``retries``:
    attempts after the first; ``item_fn``: the per-item step (default :func:`~.pipeline.engine.enhance_file`;
    tests inject failures). ``on_item`` is called as items finish (in any order); the report is in input order."""
    import ray

    gpus = 1 if ray.cluster_resources().get("GPU", 0) >= 1 and spec.device != "cpu" else 0
    if spec.device.startswith("cuda") and not gpus:
        raise ValueError(f"--device {spec.device}: the Ray cluster has no GPU (use --device cpu, or leave it out)")
    inputs = [Path(p) for p in inputs]
    renamed: dict[int, str] = {}
    outputs = plan_outputs(inputs, out_dir, renamed, sidecars=provenance)
    check_shared(inputs, outputs)
    model = spec.entry.facts().hashed() if provenance else None
    weights, board = _put_weights(spec.entry), _board()
    task = ray.remote(_item_task).options(num_cpus=1, num_gpus=gpus, max_retries=retries)
    options = {"num_gpus": gpus, "retries": retries}
    jobs = [Job(i, path, output, upscale, detect_every, max_pixels, quality, model, stabilise, segment_s, warmup_s)
            for i, (path, output) in enumerate(zip(inputs, outputs))]
    pending = {task.remote(job, spec, weights, board, options, item_fn): (job.index, 0) for job in jobs}
    items: list[ItemReport | None] = [None] * len(inputs)
    stop, stopping = should_stop or (lambda: False), False
    try:
        while pending:
            if not stopping and stop():
                stopping = True
                _stop(board, pending)
            done, _ = ray.wait(list(pending), num_returns=len(pending), timeout=0.5, fetch_local=False)
            for ref in done:
                i, attempt = pending.pop(ref)
                item = _result(ref, inputs[i], attempt, retries if not stopping else attempt)
                if item is None:   # it raised: once more
                    pending[task.remote(jobs[i], spec, weights, board, options, item_fn)] = (i, attempt + 1)
                    continue
                items[i] = item
                note_renamed(items[i], renamed.get(i))
                if on_item is not None:
                    on_item(items[i])
            if progress is not None and pending:
                _show_progress(progress, board, items, inputs)
    except KeyboardInterrupt:   # the second Ctrl-C: everything stops now
        for ref in pending:
            ray.cancel(ref, force=True)
        raise
    return BatchReport(list(items))


_BOARD: list = []   # this driver's board; a later Ray session (after a shutdown) makes a new one


def _board():
    """The progress board, emptied: made once per Ray session (an actor starts a worker process)."""
    import ray

    if _BOARD:
        try:
            ray.get(_BOARD[0].reset.remote())
            return _BOARD[0]
        except Exception:  # noqa: BLE001 - an actor of an earlier session: Ray says so with a bare Exception
            _BOARD.clear()
    _BOARD.append(ray.remote(num_cpus=0)(Board).remote())
    return _BOARD[0]


def _put_weights(entry: ModelEntry) -> Weights | None:
    import ray

    if entry.checkpoint is None:
        return None
    data = entry.checkpoint.read_bytes()
    from .atomic import sha256_file

    return Weights(ray.put(data), entry.sha256 or sha256_file(entry.checkpoint), entry.checkpoint.name)


def _result(ref, path: Path, attempt: int, retries: int) -> ItemReport | None:
    """The task's report; a task that failed or was cancelled as that file's report; None when it raised
    on attempt ``attempt`` (0: the first) of ``retries + 1``: to be run again."""
    import ray
    from ray.exceptions import RayTaskError, TaskCancelledError

    kind = classify(path)
    try:
        return ray.get(ref)
    except TaskCancelledError:
        return ItemReport(path, kind, "cancelled", message="not started")
    except RayTaskError as exc:
        cause = exc.cause if isinstance(exc.cause, BaseException) else exc
        if isinstance(cause, KeyboardInterrupt):   # ray.cancel while it ran
            return ItemReport(path, kind, "cancelled", message="cancelled while processing")
        if attempt < retries:
            return None
        return ItemReport(path, kind, "error", message=f"failed {attempt + 1} times: {describe(cause)}")
    except ray.exceptions.RayError as exc:   # the worker or its node died each time Ray ran it
        return ItemReport(path, kind, "error", message=f"failed {retries + 1} times: {type(exc).__name__}: "
                                                       f"{str(exc).splitlines()[0] if str(exc) else ''}")


def _show_progress(progress: Progress, board, items: list, inputs: list[Path]) -> None:
    import ray

    fractions, last = ray.get(board.snapshot.remote())
    done = sum(item is not None for item in items)
    running = sum(f for i, f in fractions.items() if items[i] is None)
    running_names = sum(items[i] is None for i in fractions)
    msg = f"{done}/{len(inputs)} done, {running_names} running" + (f"; {last}" if last else "")
    progress((done + running) / len(inputs), msg)


def _stop(board, pending: dict) -> None:
    """Running tasks stop after their current frame; those not started are cancelled."""
    import ray

    ray.get(board.request_stop.remote())
    started, _ = ray.get(board.snapshot.remote())
    for ref, i in pending.items():
        if i not in started:
            ray.cancel(ref)


def check_shared(inputs: list[Path], outputs: list[Path]) -> None:
    """On a cluster of more than one node, or through Ray Client, every node must see the inputs and the
    output folders at the same paths: a marker file written here is looked for on each node (a task
    pinned to it). Raises ``ValueError`` naming the path and the node that cannot see it."""
    import ray
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    nodes = [n for n in ray.nodes() if n.get("Alive")]
    if len(nodes) <= 1 and not ray.util.client.ray.is_connected():
        return
    markers = []
    for folder in sorted({o.parent for o in outputs}):
        folder.mkdir(parents=True, exist_ok=True)
        marker = folder / f".facesr-shared-{uuid.uuid4().hex}"
        marker.write_bytes(b"")
        markers.append(marker)
    try:
        probe = ray.remote(num_cpus=0)(_missing)
        refs = {probe.options(scheduling_strategy=NodeAffinitySchedulingStrategy(n["NodeID"], soft=False)).remote(
            [*markers, *[p for p in inputs if p.exists()]]): n.get("NodeManagerAddress", n["NodeID"]) for n in nodes}
        for ref, node in refs.items():
            missing = ray.get(ref)
            if missing:
                what = "output folder" if Path(missing[0]) in markers else "input"
                shown = Path(missing[0]).parent if what == "output folder" else missing[0]
                raise ValueError(f"{shown}: node {node} cannot see this {what}: on a cluster the inputs and --out "
                                 "must be on a filesystem every node mounts at the same path (NFS, CephFS...)")
    finally:
        for marker in markers:
            marker.unlink(missing_ok=True)


def _missing(paths: list[Path]) -> list[str]:
    return [str(p) for p in paths if not os.path.exists(p)]


# --- the workers ----------------------------------------------------------------------------------------
class Board:
    """The progress board (a Ray actor): each task's fraction done, the last message, and the stop flag."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.fractions: dict[int, float] = {}
        self.parts: dict[tuple[int, int], float] = {}
        self.last, self.stop = "", False

    def report(self, index: int, part: int | None, fraction: float, message: str) -> bool:
        """Record a task's progress; returns whether to stop."""
        if part is None:
            self.fractions[index] = fraction
        else:
            self.parts[index, part] = fraction
            self.fractions[index] = sum(f for (i, _), f in self.parts.items() if i == index)
        self.last = message
        return self.stop

    def request_stop(self) -> None:
        self.stop = True

    def snapshot(self) -> tuple[dict[int, float], str]:
        return dict(self.fractions), self.last


class _Reporter:
    """A task's ``progress`` and ``should_stop``: reports at most every half second; the board's answer
    is the stop flag."""

    def __init__(self, board, index: int, name: str, part: int | None = None, share: float = 1.0) -> None:
        self.board, self.index, self.name, self.part, self.share = board, index, name, part, share
        self.last, self.stopped, self.fraction, self.message = 0.0, False, 0.0, "started"
        self._send()

    def __call__(self, fraction: float, message: str) -> None:
        self.fraction, self.message = fraction, message
        if time.monotonic() - self.last >= 0.5 or fraction >= 1.0:
            self._send()

    def should_stop(self) -> bool:
        if time.monotonic() - self.last >= 0.5:
            self._send()
        return self.stopped

    def _send(self) -> None:
        import ray

        self.last = time.monotonic()
        self.stopped = ray.get(self.board.report.remote(self.index, self.part, self.fraction * self.share,
                                                        f"{self.name}: {self.message}"))


_RESTORERS: dict[tuple, object] = {}


def _restorer(spec: RestorerSpec, weights: Weights | None):
    """This worker process's restorer for ``spec`` (built once: the weights are fetched from the object
    store and written to a local cache file the first time)."""
    import ray

    if spec.device == "auto":   # the GPU this task was given, else the CPU
        spec = replace(spec, device="cuda" if ray.get_gpu_ids() else "cpu")
    key = (spec, weights.sha256 if weights is not None else None)
    if key not in _RESTORERS:
        checkpoint = None
        if weights is not None:
            checkpoint = Path(tempfile.gettempdir()) / "facesr-ray" / weights.sha256 / weights.name
            if not checkpoint.is_file():
                from .atomic import atomic_path

                with atomic_path(checkpoint) as tmp:
                    tmp.write_bytes(ray.get(weights.ref))
        _RESTORERS[key] = spec.build(checkpoint)
    return _RESTORERS[key]


def _item_task(job: Job, spec: RestorerSpec, weights: Weights | None, board, options: dict,
               item_fn: ItemFn | None = None) -> ItemReport:
    """One input (a Ray task). Errors that are not a bad input propagate (the driver runs it again)."""
    t0 = time.perf_counter()
    report = _Reporter(board, job.index, job.path.name)
    restorer = _restorer(spec, weights)
    if report.should_stop() or report.stopped:
        return ItemReport(job.path, classify(job.path), "cancelled", message="not started")
    try:
        if classify(job.path) == "video":
            segments = plan_segments(job.path, job.segment_s, job.warmup_s)
            if len(segments) > 1:
                return _video_in_parts(job, segments, spec, weights, board, options, restorer, t0)
        item = (item_fn or enhance_file)(job.path, job.output, restorer, job.upscale, report, report.should_stop,
                                         **job.options())
    except BAD_INPUT as exc:
        item = ItemReport(job.path, classify(job.path), "error", message=error_message(exc))
    item.seconds = time.perf_counter() - t0
    return item


def _video_in_parts(job: Job, segments: list, spec: RestorerSpec, weights, board, options: dict, restorer,
                    t0: float) -> ItemReport:
    """A long video: its parts as tasks of their own (this task waits without holding its CPU), then joined."""
    import ray
    from ray.exceptions import RayError

    from .pipeline.video import VideoReport

    up = video_upscale(job.path, restorer, job.upscale, job.max_pixels)
    job.output.parent.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix=f".{job.output.name}.parts-", dir=job.output.parent))
    try:
        part_task = ray.remote(_part_task).options(num_cpus=1, num_gpus=options["num_gpus"],
                                                   max_retries=options["retries"])
        total = sum(s.count for s in segments)
        refs = [part_task.remote(job, k, s, folder / f"part{k:04d}{job.output.suffix}", up, s.count / total, spec,
                                 weights, board) for k, s in enumerate(segments)]
        try:
            reports: list[VideoReport] = ray.get(refs)
        except RayError as exc:   # the whole video runs again (the driver's retries)
            for ref in refs:
                ray.cancel(ref)
            cause = getattr(exc, "cause", None) or exc
            if isinstance(cause, BAD_INPUT):
                raise cause from None
            raise RuntimeError(f"a part failed: {describe(cause)}") from None
        rep = merge_reports(reports)
        if rep.cancelled:   # the frames done from the start are kept, as a cancelled single run keeps them
            rep.output, rep.frames_out = join_done(reports, job.output, job.path)
            if rep.output is None:
                return ItemReport(job.path, "video", "cancelled", message="cancelled while processing; nothing written")
            rep.seconds = time.perf_counter() - t0
            return video_item(job.path, job.output, restorer, up, rep, rep.seconds)
        joined = join_segments([r.output for r in reports], job.output, job.path, expected_frames=total)
        rep.output, rep.audio, rep.seconds = job.output, joined.audio, time.perf_counter() - t0
        item = video_item(job.path, job.output, restorer, up, rep, rep.seconds, job.model,
                          detect_every=job.detect_every, stabilise=job.stabilise)
        item.message += f"; {len(segments)} parts joined" + (" (re-encoded: the parts' encoders differ)"
                                                            if joined.reencoded else " by stream copy")
        return item
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _part_task(job: Job, k: int, segment, output: Path, up: int, share: float, spec: RestorerSpec, weights, board):
    """One part of a long video (a Ray task): :func:`~.pipeline.video.enhance_video` on its frames."""
    from .pipeline.stabilise import FaceStabiliser
    from .pipeline.video import enhance_video

    report = _Reporter(board, job.index, f"{job.path.name} part {k + 1}", part=k, share=share)
    return enhance_video(job.path, output, _restorer(spec, weights), upscale=up, detect_every=job.detect_every,
                         progress=report, should_stop=report.should_stop, max_pixels=job.max_pixels,
                         stabiliser=FaceStabiliser() if job.stabilise else None, segment=segment)
