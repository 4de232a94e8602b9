"""The local engine: reader -> stages (process pool) -> staging -> one commit per table.

Memory is bounded: the reader is pulled lazily, at most ``2 * workers`` batches are in
flight, and outputs are spilled to Parquet under ``STORE/_staging/`` as they arrive. Only
when the whole step has succeeded are the outputs committed (one Delta commit per table);
a failure or Ctrl-C removes the staging folder and leaves every table as it was.

Results do not depend on the number of workers: batches are collected in input order and
ids come from the data.
"""

from __future__ import annotations

import concurrent.futures as cf
import dataclasses
import multiprocessing as mp
import shutil
import tempfile
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.dataset as pads
import pyarrow.parquet as pq

from ..errors import PipelineError
from ..ids import stable_id
from ..schema import contract
from ..store import Store
from .core import Reject, Stage, Step, apply_stages, as_stage, iter_batches

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
    """Per-table Parquet spill files for one step run (the only thing written before commit)."""

    def __init__(self, root: Path, tables: list[str]):
        self.root = root
        self.writers: dict[str, pq.ParquetWriter] = {}
        self.rows = {t: 0 for t in tables}
        root.mkdir(parents=True, exist_ok=True)

    def add(self, table: str, batch: pa.RecordBatch) -> None:
        c = contract(table)
        batch = c.validate(batch)
        if table not in self.writers:
            (self.root / table).mkdir(exist_ok=True)
            self.writers[table] = pq.ParquetWriter(self.root / table / "part-0.parquet", c.arrow_schema,
                                                   compression="zstd")
        self.writers[table].write_batch(batch)
        self.rows[table] = self.rows.get(table, 0) + batch.num_rows

    def close(self) -> None:
        for w in self.writers.values():
            w.close()
        self.writers.clear()

    def reader(self, table: str) -> pa.RecordBatchReader:
        c = contract(table)
        path = self.root / table
        if not path.exists():
            return pa.RecordBatchReader.from_batches(c.arrow_schema, iter(()))
        ds = pads.dataset(path, format="parquet", schema=c.arrow_schema)
        return ds.scanner(batch_size=64 * 1024).to_reader()


def _init_worker(step: Step, stages: list[Stage], fail_fast: bool) -> None:
    for s in stages:
        s.setup()
    _WORKER.update(step=step, stages=stages, fail_fast=fail_fast)


def _work(batch: pa.RecordBatch):
    return apply_stages(_WORKER["step"], _WORKER["stages"], batch, _WORKER["fail_fast"])


class StagedEngine:
    """What every engine shares: results -> dedupe -> spill -> one commit per table.

    Subclasses implement ``_results(step)``: ``(outputs, rejects, input_rows)`` per work unit,
    in input order (the local engine: a process pool; the Ray engine: Ray Data).
    """

    name = "staged"

    def __init__(self, workers: int = 1, fail_fast: bool = False, progress: bool = True):
        if workers < 1:
            raise PipelineError(f"--workers must be at least 1, got {workers}")
        self.workers = workers
        self.fail_fast = fail_fast
        self.progress = progress
        self._seen: dict[str, set] = {}

    def _results(self, step: Step) -> Iterator[tuple[dict[str, pa.RecordBatch], list[Reject], int]]:
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
                for outs, rejects, n_in in self._results(step):
                    report.input_rows += n_in
                    for table, batch in outs.items():
                        batch, dropped = self._dedupe(step, table, batch)
                        report.duplicates += dropped
                        if batch.num_rows:
                            spill.add(table, batch)
                    if rejects:
                        spill.add(step.rejects, _rejects_batch(step.rejects, run_id, rejects))
                        report.rejects += len(rejects)
                    bar.advance(n_in, sum(b.num_rows for b in outs.values()))
            spill.close()
            for table in step.outputs:
                meta = {**metadata, "rows": spill.rows.get(table, 0), "step": step.name}
                report.versions[table] = store.write(table, spill.reader(table), mode=step.mode, metadata=meta)
                report.rows[table] = spill.rows.get(table, 0)
            meta = {**metadata, "rows": report.rejects, "step": step.name}
            report.versions[step.rejects] = store.write(step.rejects, spill.reader(step.rejects),
                                                        mode="merge", metadata=meta)
        finally:
            spill.close()
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

    def _results(self, step: Step) -> Iterator[tuple[dict[str, pa.RecordBatch], list[Reject], int]]:
        stages = [as_stage(s) for s in step.stages]
        items = iter_batches(step.reader)
        if self.workers == 1:
            for s in stages:
                s.setup()
            for item in items:
                if isinstance(item, Reject):
                    yield {}, [item], 0
                else:
                    outs, rej = apply_stages(step, stages, item, self.fail_fast)
                    yield outs, rej, item.num_rows
            return
        ctx = mp.get_context("spawn")
        shipped = dataclasses.replace(step, reader=(), stages=[])  # readers stay here
        pool = cf.ProcessPoolExecutor(self.workers, mp_context=ctx, initializer=_init_worker,
                                      initargs=(shipped, stages, self.fail_fast))
        pending: deque = deque()
        try:
            for item in items:
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
            raise
        pool.shutdown(wait=True)

    @staticmethod
    def _pop(pending: deque):
        fut, rejects, n = pending.popleft()
        if fut is None:
            return {}, rejects, n
        outs, rej = fut.result()
        return outs, rej, n


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

