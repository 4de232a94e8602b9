"""The local engine: reader -> stages (process pool) -> part files -> one commit per table.

Memory is bounded: the reader is pulled lazily, at most ``2 * workers`` work units are in
flight, and outputs are written to Parquet part files under ``STORE/_staging/`` as they
arrive. Only when the whole step has succeeded are the files added to their tables (one
Delta commit per table, without rewriting them: :meth:`~xlcorpus.store.Store.add_files`);
a failure or Ctrl-C removes the staging folder and leaves every table as it was.

A reader that offers ``parts()`` (byte ranges of a Wikidata dump) is read by the workers
themselves, which also write their part files: this process then only commits, so the
step scales with workers. Other readers are read here; workers return output batches,
which are deduplicated and written here.

Results do not depend on the number of workers: batches are collected in input order and
ids come from the data.
"""

from __future__ import annotations

import concurrent.futures as cf
import dataclasses
import multiprocessing as mp
import multiprocessing.util  # noqa: F401 - mp.util.Finalize
import os
import shutil
import sys
import tempfile
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa

from ..errors import PipelineError
from ..ids import stable_id
from ..parts import PartFile, PartWriter
from ..schema import contract
from ..store import Store
from .core import Reject, Stage, Step, apply_stages, as_stage, iter_batches, reader_parts

# One work unit's outputs ({table: batch, or part files a worker wrote}), rejects, input rows.
Result = tuple[dict[str, "pa.RecordBatch | list[PartFile]"], list[Reject], int]

_WORKER: dict[str, Any] = {}


@dataclass
class StepReport:
    """What one step did: rows per table, rejects, versions, time."""

    step: str
    rows: dict[str, int] = field(default_factory=dict)
    rejects: int = 0
    versions: dict[str, int] = field(default_factory=dict)
    input_rows: int = 0
    seconds: float = 0.0
    skipped: bool = False
    duplicates: int = 0

    @property
    def rows_per_s(self) -> float:
        return self.input_rows / self.seconds if self.seconds else 0.0


class Spill:
    """The part files of one step run, per table (the only thing written before commit).

    Batches that reach the main process are validated and written here by one
    :class:`~xlcorpus.parts.PartWriter` per table; files that workers wrote themselves
    are recorded as they are. :meth:`commit` adds them all to the store.
    """

    def __init__(self, root: Path, tables: list[str]):
        root.mkdir(parents=True, exist_ok=True)
        self.writers = {t: PartWriter(root, contract(t), prefix="main") for t in tables}
        self.files: dict[str, list[PartFile]] = {t: [] for t in tables}
        self.rows = {t: 0 for t in tables}

    def add(self, table: str, batch: pa.RecordBatch) -> None:
        self.writers[table].add(contract(table).validate(batch))
        self.rows[table] += batch.num_rows

    def add_files(self, table: str, files: list[PartFile]) -> None:
        self.files[table].extend(files)
        self.rows[table] += sum(f.rows for f in files)

    def close(self) -> None:
        for table, w in self.writers.items():
            self.files[table].extend(w.close())

    def abort(self) -> None:
        for w in self.writers.values():
            w.abort()

    def commit(self, store: Store, table: str, mode: str, metadata: dict[str, Any]) -> int:
        return store.add_files(table, self.files[table], mode=mode, metadata=metadata)  # type: ignore[arg-type]


def _init_worker(step: Step, stages: list[Stage], fail_fast: bool) -> None:
    # Once the pool lets this worker go (its results and queues flushed by the finalizers
    # that run before this one), leave without freeing the heap: models and lookup tables
    # of millions of objects take about a second to free, for nothing.
    mp.util.Finalize(None, _exit_now, exitpriority=-100)
    for s in stages:
        s.setup()
    _WORKER.update(step=step, stages=stages, fail_fast=fail_fast)


def _exit_now() -> None:
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def _work(batch: pa.RecordBatch):
    return apply_stages(_WORKER["step"], _WORKER["stages"], batch, _WORKER["fail_fast"])


def _work_part(index: int, part: Callable[[], Iterable[Any]], staging: str) -> Result:
    """Read one reader part, run the stages and write the outputs to part files here."""
    step: Step = _WORKER["step"]
    writers = {t: PartWriter(Path(staging), contract(t), prefix=f"p{index:05d}") for t in step.outputs}
    rejects: list[Reject] = []
    n_in = 0
    try:
        for item in iter_batches(part()):
            if isinstance(item, Reject):
                rejects.append(item)
                continue
            outs, rej = apply_stages(step, _WORKER["stages"], item, _WORKER["fail_fast"])
            rejects.extend(rej)
            n_in += item.num_rows
            for table, batch in outs.items():
                writers[table].add(contract(table).validate(batch))
    except BaseException:
        for w in writers.values():
            w.abort()
        raise
    return {t: w.close() for t, w in writers.items()}, rejects, n_in


class StagedEngine:
    """What every engine shares: results -> dedupe -> spill -> one commit per table.

    Subclasses implement ``_results(step, staging)``: ``(outputs, rejects, input_rows)`` per
    work unit, in input order (the local engine: a process pool; the Ray engine: Ray Data).
    ``outputs`` maps a table to a batch (deduplicated and written to part files here) or to
    a list of :class:`~xlcorpus.parts.PartFile` a worker wrote under ``staging`` itself.
    """

    name = "staged"

    def __init__(self, workers: int = 1, fail_fast: bool = False, progress: bool = True):
        if workers < 1:
            raise PipelineError(f"--workers must be at least 1, got {workers}")
        self.workers = workers
        self.fail_fast = fail_fast
        self.progress = progress
        self._seen: dict[str, set] = {}

    def _results(self, step: Step, staging: Path) -> Iterator[Result]:
        raise NotImplementedError

    # ------------------------------------------------------------------ run
    def run_step(self, step: Step, store: Store, run_id: str, metadata: dict[str, Any]) -> StepReport:
        """Run one step and commit its outputs and rejects; return what it did."""
        report = StepReport(step.name)
        self._seen = {}
        # A remote store (s3://...) spills to a local temporary folder instead.
        base = Path(store.root) if store.is_local else Path(tempfile.gettempdir()) / "xlcorpus"
        staging = base / "_staging" / f"{run_id}-{step.name}"
        shutil.rmtree(staging, ignore_errors=True)
        spill = Spill(staging, step.outputs + [step.rejects])
        start = time.perf_counter()
        try:
            with _Progress(self.progress, step.name) as bar:
                for outs, rejects, n_in in self._results(step, staging):
                    report.input_rows += n_in
                    n_out = 0
                    for table, out in outs.items():
                        if isinstance(out, list):  # part files a worker wrote
                            spill.add_files(table, out)
                            n_out += sum(f.rows for f in out)
                            continue
                        batch, dropped = self._dedupe(step, table, out)
                        report.duplicates += dropped
                        if batch.num_rows:
                            spill.add(table, batch)
                            n_out += batch.num_rows
                    if rejects:
                        spill.add(step.rejects, _rejects_batch(step.rejects, run_id, rejects))
                        report.rejects += len(rejects)
                    bar.advance(n_in, n_out)
            spill.close()
            for table in step.outputs:
                meta = {**metadata, "rows": spill.rows[table], "step": step.name}
                report.versions[table] = spill.commit(store, table, step.mode, meta)
                report.rows[table] = spill.rows[table]
            meta = {**metadata, "rows": report.rejects, "step": step.name}
            report.versions[step.rejects] = spill.commit(store, step.rejects, "merge", meta)
        finally:
            spill.abort()
            shutil.rmtree(staging, ignore_errors=True)
            _remove_if_empty(staging.parent)
        report.seconds = time.perf_counter() - start
        return report

    def _dedupe(self, step: Step, table: str, batch: pa.RecordBatch) -> tuple[pa.RecordBatch, int]:
        column = step.dedupe.get(table)
        if not column:
            return batch, 0
        seen = self._seen.setdefault(table, set())
        keep = []
        for value in batch.column(column).to_pylist():
            keep.append(value not in seen)
            seen.add(value)
        kept = batch.filter(pa.array(keep, pa.bool_()))
        return kept, batch.num_rows - kept.num_rows


class LocalEngine(StagedEngine):
    """Runs steps on this machine with ``workers`` processes (1: in this process)."""

    name = "local"

    def __init__(self, workers: int = 1, fail_fast: bool = False, progress: bool = True,
                 max_in_flight: int | None = None):
        super().__init__(workers, fail_fast, progress)
        self.max_in_flight = max_in_flight or 2 * workers

    def _results(self, step: Step, staging: Path) -> Iterator[Result]:
        stages = [as_stage(s) for s in step.stages]
        if self.workers == 1:
            for s in stages:
                s.setup()
            for item in iter_batches(step.reader):
                if isinstance(item, Reject):
                    yield {}, [item], 0
                else:
                    outs, rej = apply_stages(step, stages, item, self.fail_fast)
                    yield outs, rej, item.num_rows
            return
        # A reader with parts (byte ranges of a dump...) is read by the workers, which also
        # write their outputs; otherwise this process reads and the workers return batches.
        parts = None if step.dedupe else reader_parts(step.reader, self.workers)
        ctx = mp.get_context("spawn")
        shipped = dataclasses.replace(step, reader=(), stages=[])  # readers stay here
        pool = cf.ProcessPoolExecutor(self.workers, mp_context=ctx, initializer=_init_worker,
                                      initargs=(shipped, stages, self.fail_fast))
        pending: deque = deque()
        try:
            if parts is not None:
                for i, part in enumerate(parts):
                    pending.append((pool.submit(_work_part, i, part, str(staging)), None, None))
                    while len(pending) > self.max_in_flight:
                        yield self._pop(pending)
            else:
                for item in iter_batches(step.reader):
                    if isinstance(item, Reject):
                        pending.append((None, [item], 0))
                    else:
                        pending.append((pool.submit(_work, item), None, item.num_rows))
                    while len(pending) > self.max_in_flight or (pending and pending[0][0] is None):
                        yield self._pop(pending)
            while pending:
                yield self._pop(pending)
        except BaseException:
            procs = list((getattr(pool, "_processes", None) or {}).values())
            pool.shutdown(wait=False, cancel_futures=True)
            for proc in procs:
                proc.terminate()
            for proc in procs:  # gone before the staging folder is removed
                proc.join(timeout=10)
            raise
        pool.shutdown(wait=True)

    @staticmethod
    def _pop(pending: deque):
        fut, rejects, n = pending.popleft()
        if fut is None:
            return {}, rejects, n
        result = fut.result()
        return result if n is None else (*result, n)


def _rejects_batch(table: str, run_id: str, rejects: list[Reject]) -> pa.RecordBatch:
    rows = []
    for r in rejects:
        row = r.row()
        row["id"] = stable_id(row["source"], row["position"], row["stage"], row["reason"])
        row["run_id"] = run_id
        rows.append(row)
    return contract(table).batch(rows)


def _remove_if_empty(path: Path) -> None:
    try:
        path.rmdir()
    except OSError:
        pass


class _Progress:
    """A rich progress line with input rows, output rows and rows/s (silent if disabled)."""

    def __init__(self, enabled: bool, label: str):
        self.enabled = enabled
        self.label = label
        self.out = 0

    def __enter__(self):
        if self.enabled:
            from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

            self._p = Progress(SpinnerColumn(), TextColumn("[bold]{task.description}"),
                               TextColumn("{task.completed:,} rows in"), TextColumn("{task.fields[out]:,} out"),
                               TextColumn("{task.fields[rate]:,.0f} rows/s"), TimeElapsedColumn(),
                               transient=True)
            self._p.__enter__()
            self._t = self._p.add_task(self.label, total=None, out=0, rate=0.0)
            self._start = time.perf_counter()
        return self

    def advance(self, n_in: int, n_out: int) -> None:
        self.out += n_out
        if self.enabled:
            task = self._p.tasks[0]
            rate = (task.completed + n_in) / max(time.perf_counter() - self._start, 1e-9)
            self._p.update(self._t, advance=n_in, out=self.out, rate=rate)

    def __exit__(self, *exc):
        if self.enabled:
            self._p.__exit__(*exc)
        return False

