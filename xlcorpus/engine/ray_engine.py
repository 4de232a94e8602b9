"""The Ray engine: the same steps and stage objects on Ray Data (this machine or a cluster).

How a :class:`~xlcorpus.engine.core.Step` maps onto Ray Data:

- **reader**: a reader with a ``parts()`` method (a list of picklable callables, each
  returning an iterable of batches and rejects; iterating the reader itself gives the parts
  in order) is read in Ray tasks, one per part: file-level parallelism over dump shards or
  bitext files. Any other reader is pulled here, in the driver, and streamed to the cluster
  through a bounded queue, so memory stays bounded and reading overlaps the stages.
- **stages**: the whole chain runs on each work unit through
  :func:`~xlcorpus.engine.core.apply_stages` (same row-by-row retry and rejects as the local
  engine) with ``map_batches(batch_format="pyarrow")``. A chain with a stage that overrides
  ``setup()`` runs in an actor pool (models loaded once per actor); a stage attribute
  ``num_gpus`` (e.g. ``num_gpus = 1`` on a neural aligner) gives each actor that many GPUs
  when the cluster has GPUs. A stateless chain runs as plain tasks.
- **outputs**: when the step deduplicates nothing, each worker writes its outputs to Parquet
  part files in the run's staging folder itself (in the bucket for a remote store:
  :class:`~xlcorpus.staging.Staging`) and sends back only the file list, so the driver's
  memory does not grow with the output and it commits the files without reading them;
  otherwise results come back in input order (``preserve_order``) and are deduplicated and
  spilled by the driver. Either way
  :class:`~xlcorpus.engine.local.StagedEngine` commits exactly as for the local engine: one
  Delta commit per table carrying the step's transaction, nothing committed if the run fails.

Work units travel as one-row *envelope* tables (``kind``, pickled ``payload``), so one block
can carry a raw batch, or several output tables plus rejects.

Ray is started once per process (``ray.init(num_cpus=workers)`` with a capped object store)
or joined at ``address`` / ``$RAY_ADDRESS``, and reused by later runs.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import pickle
import threading
import traceback
import warnings
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import pyarrow as pa

from ..errors import PipelineError
from ..schema import contract
from ..staging import Staging
from .core import (Reject, Stage, Step, UnitResult, apply_stages, has_setup, iter_batches, reader_parts,
                   register_contracts)
from .local import StagedEngine

INSTALL_HINT = "pip install 'xlcorpus[ray]'"
OBJECT_STORE_MB = 768
ENVELOPE = pa.schema([("kind", pa.string()), ("payload", pa.large_binary())])
_BATCH, _RESULT, _ERROR = "batch", "result", "error"
_END = None
_QUEUE_TIMEOUT_S = 0.5
log = logging.getLogger(__name__)


def import_ray():
    """Import Ray, or fail with how to install it."""
    try:
        import ray
        import ray.data  # noqa: F401
    except ImportError as exc:
        raise PipelineError(f"the ray engine needs Ray Data, which is not installed: {INSTALL_HINT}") from exc
    return ray


def init_ray(workers: int, address: str | None = None, object_store_mb: int = OBJECT_STORE_MB,
             num_gpus: int | None = None):
    """Start Ray once (local: ``workers`` CPUs, capped object store) or join ``address``.

    ``num_gpus`` declares this machine's GPUs to a local Ray (default: Ray detects them).
    """
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    debug = logging.getLogger().getEffectiveLevel() <= logging.DEBUG  # -vv shows Ray's own logs
    if not debug:  # Ray's C++ core (core_worker.cc ... E lines) and its Python loggers stay quiet
        os.environ.setdefault("RAY_BACKEND_LOG_LEVEL", "fatal")
    ray = import_ray()
    if not ray.is_initialized():
        address = address or os.environ.get("RAY_ADDRESS")
        common = {"include_dashboard": False, "log_to_driver": debug,
                  "logging_level": logging.DEBUG if debug else logging.ERROR}
        if address:
            ray.init(address=address, **common)
        else:
            ray.init(num_cpus=workers, num_gpus=num_gpus, object_store_memory=object_store_mb << 20, **common)
    ctx = ray.data.DataContext.get_current()
    ctx.execution_options.preserve_order = True  # dedupe keeps the first row in input order
    ctx.enable_progress_bars = False  # the engine shows its own progress line
    ctx.target_max_block_size = 1 << 20  # one work unit per block: units spread over actors
    for name in ("ray", "ray.data", "ray.data._internal.progress"):
        logging.getLogger(name).setLevel(logging.DEBUG if debug else logging.ERROR)
    warnings.filterwarnings("ignore", message=".*concurrent actors.*")  # small inputs, many actors
    return ray


# ---------------------------------------------------------------- envelopes
def _envelope(kind: str, obj: Any) -> pa.Table:
    payload = pa.array([pickle.dumps(obj, protocol=5)], pa.large_binary())
    return pa.Table.from_arrays([pa.array([kind]), payload], schema=ENVELOPE)


def _wrap(item: pa.RecordBatch | Reject) -> pa.Table:
    """A reader item as an envelope: a raw batch, or a reject as a finished result."""
    if isinstance(item, Reject):
        return _envelope(_RESULT, UnitResult(rejects=[item]))
    return _envelope(_BATCH, item)


class RemoteTraceback(Exception):
    """The worker-side traceback, attached as ``__cause__`` of an error raised in the driver."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


def _error(exc: BaseException) -> pa.Table:
    """A worker's exception as data: Ray would keep only its text, the driver re-raises it as is."""
    text = "".join(traceback.format_exception(exc))
    try:
        pickle.loads(pickle.dumps(exc, protocol=5))  # some exceptions cannot make the round trip
    except Exception:  # noqa: BLE001
        exc = PipelineError(f"{type(exc).__name__}: {exc}")
    return _envelope(_ERROR, (exc, text))


def _raise_remote(payload: tuple[BaseException, str]) -> None:
    exc, text = payload
    raise exc from RemoteTraceback(f"\n\n(on a Ray worker)\n{text}")


def _unwrap(table: pa.Table) -> Iterator[tuple[str, Any]]:
    for kind, payload in zip(table.column("kind").to_pylist(), table.column("payload").to_pylist()):
        yield kind, pickle.loads(payload)


# ------------------------------------------------------------ read and run
def _pull(_: pa.Table, queue) -> Iterator[pa.Table]:
    """Read op of a driver-side reader: envelopes from the driver's queue until the end mark."""
    while (item := queue.get()) is not _END:
        yield item


def _read_parts(parts: pa.Table, readers: list[Callable[[], Iterable[Any]]]) -> Iterator[pa.Table]:
    """Read op of a partitioned reader: every item of the parts named in this block."""
    try:
        for i in parts.column("part").to_pylist():
            for item in iter_batches(readers[i]()):
                yield _wrap(item)
    except Exception as exc:  # noqa: BLE001 - raised in the driver
        yield _error(exc)


def _run_chain(step: Step, stages: list[Stage], fail_fast: bool, staging: Staging | None,
               units: pa.Table) -> pa.Table:
    """Run the stages on each work unit of the block; with ``staging``, write the outputs to
    part files there and return their list instead of the rows."""
    register_contracts(step)
    out = []
    for kind, obj in _unwrap(units):
        if kind == _BATCH:
            try:
                obj = apply_stages(step, stages, obj, fail_fast)
                if staging is not None:
                    obj.outputs = _write_parts(staging, obj.outputs)
            except Exception as exc:  # noqa: BLE001 - raised in the driver
                out.append(_error(exc))
                break
        out.append(_envelope(kind if kind == _ERROR else _RESULT, obj))
    return pa.concat_tables(out) if out else ENVELOPE.empty_table()


def _write_parts(staging: Staging, outputs: dict[str, pa.RecordBatch]) -> dict[str, Any]:
    prefix = f"r{os.getpid()}-{os.urandom(4).hex()}"
    files = {}
    for table, batch in outputs.items():
        w = staging.writer(table, prefix)
        try:
            w.add(contract(table).validate(batch))
        except BaseException:
            w.abort()
            raise
        files[table] = w.close()
    return files


def _chain_task(units: pa.Table, step: Step, stages: list[Stage], fail_fast: bool,
                staging: Staging | None) -> pa.Table:
    """Stateless chain as a Ray task."""
    return _run_chain(step, stages, fail_fast, staging, units)


class _ChainActor:
    """Stateful chain as a Ray actor: ``setup()`` once per actor, then batch after batch."""

    def __init__(self, step: Step, stages: list[Stage], fail_fast: bool, staging: Staging | None):
        self.step, self.stages, self.fail_fast, self.staging = step, stages, fail_fast, staging
        self.failed: BaseException | None = None
        try:
            for s in stages:
                s.setup()
        except Exception as exc:  # noqa: BLE001 - a model that cannot load: raised in the driver
            self.failed = exc

    def __call__(self, units: pa.Table) -> pa.Table:
        if self.failed is not None:
            return _error(self.failed)
        return _run_chain(self.step, self.stages, self.fail_fast, self.staging, units)


def needs_actors(stages: list[Stage]) -> bool:
    """A chain needs an actor pool when a stage loads something in ``setup()``."""
    return any(has_setup(s) for s in stages)


def gpus_per_actor(stages: list[Stage]) -> float:
    """GPUs one actor asks for: the largest ``num_gpus`` a stage declares (0 if none)."""
    return max((float(getattr(s, "num_gpus", 0) or 0) for s in stages), default=0.0)


class _Feeder(threading.Thread):
    """Pulls a driver-side reader into the cluster queue; keeps the reader's error, if any."""

    def __init__(self, items: Iterable[Any], queue):
        super().__init__(daemon=True, name="xlcorpus-ray-feeder")
        self.items, self.queue = items, queue
        self.error: BaseException | None = None
        self.stopped = threading.Event()

    def close(self) -> None:
        """Stop feeding and remove the queue (a read task waiting on it ends with it)."""
        import ray

        self.stopped.set()
        self.join(timeout=5)
        ray.kill(self.queue.actor)

    def run(self) -> None:
        try:
            for item in self.items:
                if not self._put(_wrap(item)):
                    return
        except BaseException as exc:  # noqa: BLE001 - re-raised by the engine in the driver
            self.error = exc
        self._put(_END)

    def _put(self, obj: Any) -> bool:
        from ray.util.queue import Full

        while not self.stopped.is_set():
            try:
                self.queue.put(obj, timeout=_QUEUE_TIMEOUT_S)
                return True
            except Full:
                continue
        return False


class RayEngine(StagedEngine):
    """Runs steps on Ray Data; same tables as :class:`~xlcorpus.engine.local.LocalEngine`.

    ``workers``: CPUs of the local Ray (and the size of actor pools); ``address``: a Ray
    cluster to join (default ``$RAY_ADDRESS``; none: start a local one).
    """

    name = "ray"

    def __init__(self, workers: int = 1, fail_fast: bool = False, progress: bool = True,
                 address: str | None = None, object_store_mb: int = OBJECT_STORE_MB,
                 max_reject_share: float | None = None):
        super().__init__(workers, fail_fast, progress, max_reject_share)
        self.ray = init_ray(workers, address, object_store_mb)  # once per process, then reused

    def _results(self, step: Step, staging: Staging) -> Iterator[UnitResult]:
        from ray import cloudpickle

        from ..plugins import local_modules

        for module in local_modules():  # user code next to a pipeline file travels by value
            cloudpickle.register_pickle_by_value(module)
        stages = step.stages
        parts = reader_parts(step.reader, self.workers)
        if parts == []:
            return
        actors = needs_actors(stages)
        ds, feeder = self._source(step, parts, actors)
        shipped = dataclasses.replace(step, reader=(), stages=[])  # readers stay in the driver
        # without dedupe (which needs every id in the driver), workers write their own parts
        ds = self._stage_op(ds, shipped, stages, actors, None if step.dedupe else staging)
        try:
            if feeder is not None:
                feeder.start()
            for block in ds.iter_batches(batch_size=None, batch_format="pyarrow", prefetch_batches=2):
                for kind, result in _unwrap(block):
                    if kind == _ERROR:
                        _raise_remote(result)
                    yield result
        except Exception as exc:
            if (type(exc).__module__ or "").startswith("ray"):  # Ray itself failed (worker lost...)
                raise PipelineError(f"step {step.name!r} failed on Ray: {exc}") from exc
            raise
        finally:
            if feeder is not None:
                feeder.close()
        if feeder is not None and feeder.error is not None:
            raise feeder.error

    def _source(self, step: Step, parts: list | None, actors: bool):
        """The read op: parts read on the workers, or the driver's reader through a queue."""
        ray = self.ray
        if parts is not None:
            ds = ray.data.from_items([{"part": i} for i in range(len(parts))], override_num_blocks=len(parts))
            if actors:  # the actors hold the CPUs: reads take none, at most `workers` at once
                extra = {"num_cpus": 0, "compute": ray.data.TaskPoolStrategy(size=self.workers)}
            else:  # a stateless chain fuses with the read: one task reads and runs a part
                extra = {"num_cpus": 1}
            return ds.map_batches(_read_parts, fn_kwargs={"readers": parts}, batch_size=None,
                                  batch_format="pyarrow", **extra), None
        from ray.util.queue import Queue

        queue = Queue(maxsize=2 * self.workers)
        ds = ray.data.from_items([{"part": 0}]).map_batches(
            _pull, fn_kwargs={"queue": queue}, batch_size=None, batch_format="pyarrow", num_cpus=0)
        return ds, _Feeder(iter_batches(step.reader), queue)

    def _stage_op(self, ds, step: Step, stages: list[Stage], actors: bool, staging: Staging | None):
        """The stages of the step on each work unit: tasks, or an actor pool (GPUs if asked)."""
        ray = self.ray
        common = {"batch_size": 1, "batch_format": "pyarrow"}  # one work unit per call
        if not actors:
            return ds.map_batches(_chain_task, fn_kwargs={"step": step, "stages": stages, "fail_fast": self.fail_fast,
                                                          "staging": staging}, num_cpus=1, **common)
        gpus = gpus_per_actor(stages)
        size = self.workers
        resources: dict[str, Any] = {"num_cpus": 1}
        if gpus and ray.cluster_resources().get("GPU", 0) >= gpus:
            size = max(1, min(size, int(ray.cluster_resources()["GPU"] // gpus)))
            resources = {"num_cpus": 1, "num_gpus": gpus}
        elif gpus:
            log.warning("step %s: a stage asks for %s GPU(s) but the Ray cluster has none; running on CPU",
                        step.name, gpus)
        return ds.map_batches(_ChainActor, fn_constructor_args=(step, stages, self.fail_fast, staging),
                              compute=ray.data.ActorPoolStrategy(size=size), **resources, **common)

