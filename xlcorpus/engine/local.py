"""The local engine: source -> stages (process pool) -> part files -> one commit per table.

Memory is bounded: the source is pulled lazily, at most ``2 * workers`` work units are in
flight, and outputs are written to Parquet part files under a staging folder of the store
(``STORE/_staging/RUN-STEP-PID-RANDOM/``, unique to this process and run; in a remote store,
``STORE/TABLE/_staging/RUN-.../`` in the bucket: :class:`~xlcorpus.staging.Staging`) as they
arrive. Only when the whole step has succeeded are the files added to their tables (one Delta
commit per table, without rewriting them: :meth:`~xlcorpus.store.Store.commit_files`), each
commit carrying the step's app transaction, so that a rerun after a crash between two
commits completes only the tables that miss it. A failure or Ctrl-C removes the staging
folder and leaves every table as it was.

A source that offers ``parts()`` (byte ranges of a Wikidata dump) is read by the workers
themselves, which also write their part files: this process then only commits, so the
step scales with workers. Other sources are read here; workers return output batches,
which are deduplicated and written here.

Results do not depend on the number of workers: batches are collected in input order and
ids come from the data.
"""

from __future__ import annotations

import dataclasses
import os
import logging
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa

from ..errors import PipelineError, StepFailed
from ..ids import stable_id
from ..parts import PartFile, drop_repeated_keys
from ..schema import contract
from ..staging import Staging
from ..store import Store, Txn
from .. import progress
from ..progress import StepProgress
from .core import (Reject, Stage, StageStats, Stats, Step, UnitResult, apply_stages, as_stage, describe_source,
                   iter_batches, merge_stats, reader_parts, register_contracts, with_contracts)
from .pool import Pool

_WORKER: dict[str, Any] = {}
log = logging.getLogger(__name__)


@dataclass
class StepReport:
    """What one step did: rows inserted per table, rejects, versions, time, stage stats.

    ``rows`` are the rows each commit actually inserted (a rerun that finds every id already
    there inserts 0); ``staged`` the rows the step produced. ``completed`` lists tables that
    already carried this step's transaction (committed by an earlier, interrupted run).
    """

    step: str
    rows: dict[str, int] = field(default_factory=dict)
    rejects: int = 0
    versions: dict[str, int] = field(default_factory=dict)
    input_rows: int = 0
    seconds: float = 0.0
    skipped: bool = False
    duplicates: int = 0
    staged: dict[str, int] = field(default_factory=dict)
    completed: list[str] = field(default_factory=list)
    stats: dict[str, StageStats] = field(default_factory=dict)

    @property
    def rows_per_s(self) -> float:
        return self.input_rows / self.seconds if self.seconds else 0.0

    def stats_json(self) -> dict[str, Any]:
        return {name: s.json() for name, s in self.stats.items()}


class Spill:
    """The part files of one step run, per table (the only thing written before commit).

    Batches that reach the main process are validated and written here by one
    :class:`~xlcorpus.parts.PartWriter` per table; files that workers wrote themselves
    are recorded as they are.
    """

    def __init__(self, staging: Staging, tables: list[str]):
        self.writers = {t: staging.writer(t, "main") for t in tables}
        self.filesystem = staging.filesystem()
        self.files: dict[str, list[PartFile]] = {t: [] for t in tables}
        self.rows = {t: 0 for t in tables}
        self.from_workers: set[str] = set()  # tables with files that workers wrote
        self.duplicates = {t: 0 for t in tables}  # rows dropped as repeated keys

    def add(self, table: str, batch: pa.RecordBatch) -> None:
        self.writers[table].add(contract(table).validate(batch))
        self.rows[table] += batch.num_rows

    def add_files(self, table: str, files: list[PartFile]) -> None:
        self.files[table].extend(files)
        self.from_workers.add(table)
        self.rows[table] += sum(f.rows for f in files)

    def close(self) -> None:
        for table, w in self.writers.items():
            self.files[table].extend(w.close())

    def abort(self) -> None:
        for w in self.writers.values():
            w.abort()


def _init_worker(step: Step, stages: list[Stage], fail_fast: bool) -> None:
    register_contracts(step)
    for s in stages:
        s.setup()
    _WORKER.update(step=step, stages=stages, fail_fast=fail_fast)


def _work(batch: pa.RecordBatch) -> UnitResult:
    return apply_stages(_WORKER["step"], _WORKER["stages"], batch, _WORKER["fail_fast"])


def _work_part(index: int, part: Callable[[], Iterable[Any]], staging: Staging) -> UnitResult:
    """Read one source part, run the stages and write the outputs to part files here."""
    step: Step = _WORKER["step"]
    writers = {t: staging.writer(t, f"p{index:05d}") for t in step.outputs}
    result = UnitResult()
    try:
        for item in iter_batches(part()):
            if isinstance(item, Reject):
                result.rejects.append(item)
                continue
            unit = apply_stages(step, _WORKER["stages"], item, _WORKER["fail_fast"])
            result.rejects.extend(unit.rejects)
            result.rows_in += unit.rows_in
            merge_stats(result.stats, unit.stats)
            for table, batch in unit.outputs.items():
                writers[table].add(contract(table).validate(batch))
    except BaseException:
        for w in writers.values():
            w.abort()
        raise
    result.outputs = {t: w.close() for t, w in writers.items()}
    return result


class StagedEngine:
    """What every engine shares: results -> dedupe -> spill -> one commit per table.

    Subclasses implement ``_results(step, staging)``: one :class:`UnitResult` per work unit,
    in input order (the local engine: a process pool; the Ray engine: Ray Data). Its
    ``outputs`` map a table to a batch (deduplicated and written to part files here) or to a
    list of :class:`~xlcorpus.parts.PartFile` a worker wrote through ``staging`` itself.
    """

    name = "staged"

    def __init__(self, workers: int = 1, fail_fast: bool = False, progress: bool = True,
                 max_reject_share: float | None = None):
        if workers < 1:
            raise PipelineError(f"--workers must be at least 1, got {workers}")
        if max_reject_share is not None and not 0 <= max_reject_share <= 1:
            raise PipelineError(f"--max-reject-share must be in [0, 1], got {max_reject_share}")
        self.workers = workers
        self.fail_fast = fail_fast
        self.progress = progress
        self.max_reject_share = max_reject_share  # overrides each step's own when given
        self._seen: dict[str, set] = {}
        self._bar: StepProgress | None = None

    def _results(self, step: Step, staging: Staging) -> Iterator[UnitResult]:
        raise NotImplementedError

    def _start(self, step: Step) -> None:
        """Called before the step's stages are prepared (an engine may start its workers)."""

    def _stop(self) -> None:
        """Called when the step ends, however it ends (stops what :meth:`_start` started)."""

    # ------------------------------------------------------------------ run
    def run_step(self, step: Step, store: Store, run_id: str, metadata: dict[str, Any],
                 txn: Txn | None = None) -> StepReport:
        """Run one step and commit its outputs and rejects; return what it did.

        With ``txn`` (``(app_id, version)``), every table's commit carries it, and a table
        that already carries it (an earlier run committed it before being interrupted) is not
        committed again.
        """
        report = StepReport(step.name)
        self._seen = {}
        staging = Staging(store.ref(), f"{run_id}-{step.name}-{os.getpid()}-{uuid.uuid4().hex[:8]}")
        adopted: set[str] = set()  # tables whose commit kept the part files where they are
        spill: Spill | None = None
        results: Iterator[UnitResult] | None = None
        start = time.perf_counter()
        errors = 0
        first_error: Reject | None = None
        log.info("step %s: reading %s -> %s -> %s", step.name, describe_source(step.reader),
                 " -> ".join(getattr(s, "name", getattr(s, "__name__", type(s).__name__)) for s in step.stages)
                 or "(no stage)", ", ".join(step.tables))
        try:
            spill = Spill(staging, step.tables)
            with StepProgress(self.progress, step.name, step.reader) as bar:
                self._bar = bar
                self._start(step)
                step = self._prepared(step, staging.workdir())
                results = self._results(step, staging)
                for unit in results:
                    report.input_rows += unit.rows_in
                    merge_stats(report.stats, unit.stats)
                    n_out = 0
                    for table, out in unit.outputs.items():
                        if isinstance(out, list):  # part files a worker wrote
                            spill.add_files(table, out)
                            n_out += sum(f.rows for f in out)
                            continue
                        batch, dropped = self._dedupe(step, table, out)
                        report.duplicates += dropped
                        spill.duplicates[table] += dropped
                        if batch.num_rows:
                            spill.add(table, batch)
                            n_out += batch.num_rows
                    if unit.rejects:
                        spill.add(step.rejects, _rejects_batch(step.rejects, run_id, unit.rejects))
                        report.rejects += len(unit.rejects)
                        for r in unit.rejects:
                            if r.error:
                                errors += 1
                                first_error = first_error or r
                    bar.advance(unit.rows_in, n_out, units=1)
            log.info("step %s: %s records read, %s rows staged, %s rejected, %s duplicates dropped",
                     step.name, f"{report.input_rows:,}", f"{sum(spill.rows.values()):,}", f"{report.rejects:,}",
                     f"{report.duplicates:,}")
            for name, st in report.stats.items():
                if st.summary():
                    log.info("step %s: %s: %s", step.name, name, st.summary())
            share = step.max_reject_share if self.max_reject_share is None else self.max_reject_share
            _check_error_share(step, share, errors, report.input_rows, first_error)
            spill.close()
            self._commit(step, store, spill, metadata, txn, report, adopted)
        finally:
            self._bar = None
            if results is not None:
                results.close()  # stops the workers (killed on error) before the folder goes
            self._stop()
            if spill is not None:
                spill.abort()
            staging.remove(step.tables, keep=adopted)
        report.seconds = time.perf_counter() - start
        return report

    @staticmethod
    def _prepared(step: Step, workdir: Path) -> Step:
        """The step with its stages as objects, each prepared once here in the driver."""
        stages = [as_stage(s) for s in step.stages]
        for s in stages:
            if type(s).prepare is not Stage.prepare:
                workdir.mkdir(parents=True, exist_ok=True)
                with progress.task(f"preparing {getattr(s, 'name', type(s).__name__)} (whole input, once)"):
                    s.prepare(str(workdir))
        progress.forget_inputs()  # the step's progress counts the reading pass, not prepare's scans
        return dataclasses.replace(with_contracts(step), stages=stages)

    def _commit(self, step: Step, store: Store, spill: Spill, metadata: dict[str, Any],
                txn: Txn | None, report: StepReport, adopted: set[str]) -> None:
        stats = report.stats_json()
        for table in step.tables:
            mode = step.mode if table in step.outputs else "merge"
            if txn is not None and store.transaction_version(table, txn[0]) == txn[1]:
                report.completed.append(table)  # committed by an earlier, interrupted run
                log.info("%s: already carries this step's transaction (an interrupted run committed it): "
                         "not committed again", table)
                report.versions[table] = store.version(table)
                if table in step.outputs:
                    report.rows[table] = 0
                continue
            if mode == "merge" and table in spill.from_workers and table in step.outputs:
                # workers reading byte ranges drop repeated keys within their range only
                spill.files[table], dropped = drop_repeated_keys(spill.files[table], filesystem=spill.filesystem)
                spill.rows[table] -= dropped
                spill.duplicates[table] += dropped
                report.duplicates += dropped
            meta = {**metadata, "rows": spill.rows[table], "step": step.name, "stages": stats,
                    "input_rows": report.input_rows, "rejects": report.rejects, "duplicates": spill.duplicates[table]}
            commit = store.commit_files(table, spill.files[table], mode=mode, metadata=meta, txn=txn)
            if commit.adopted:
                adopted.add(table)
            report.versions[table] = commit.version
            log.info("%s: committed v%d (%s, %s rows staged in %d file(s), %s inserted)", table, commit.version,
                     mode, f"{spill.rows[table]:,}", len(spill.files[table]), f"{commit.rows:,}")
            if table in step.outputs:
                report.rows[table] = commit.rows
                report.staged[table] = spill.rows[table]

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


def _check_error_share(step: Step, share: float, errors: int, rows: int, first: Reject | None) -> None:
    """Fail the step when stage exceptions rejected more than ``share`` of its input."""
    if errors and errors > share * max(rows, 1):
        where = f"{first.source}" + (f" position {first.position}" if first and first.position is not None else "")
        raise StepFailed(f"step {step.name!r} failed: a stage raised on {errors:,} of {rows:,} input records "
                         f"(more than max_reject_share {share:g}); first: {first.reason if first else ''}"
                         f" (record {where}); nothing was committed")


class LocalEngine(StagedEngine):
    """Runs steps on this machine with ``workers`` processes (1: in this process)."""

    name = "local"

    def __init__(self, workers: int = 1, fail_fast: bool = False, progress: bool = True,
                 max_in_flight: int | None = None, max_reject_share: float | None = None):
        super().__init__(workers, fail_fast, progress, max_reject_share)
        self.max_in_flight = max_in_flight or 2 * workers
        self._pool: Pool | None = None

    def _start(self, step: Step) -> None:
        """Spawn the workers now: they import the stages' modules while the driver prepares."""
        if self.workers > 1:
            modules = {"xlcorpus.engine.local", *(getattr(s, "__module__", None) or "" for s in step.stages)}
            modules -= {"", "__main__", "builtins"}
            self._pool = Pool(self.workers, preload=tuple(sorted(modules)), later=True)

    def _stop(self) -> None:
        if self._pool is not None:
            self._pool.close(kill=True)  # only a pool that was never used or already closed
            self._pool = None

    def _results(self, step: Step, staging: Staging) -> Iterator[UnitResult]:
        stages = step.stages
        if self.workers == 1:
            for s in stages:
                s.setup()
            for item in iter_batches(step.reader):
                if isinstance(item, Reject):
                    yield UnitResult(rejects=[item])
                else:
                    yield apply_stages(step, stages, item, self.fail_fast)
            return
        # A source with parts (byte ranges of a dump...) is read by the workers, which also
        # write their outputs; otherwise this process reads and the workers return batches.
        parts = None if step.dedupe else reader_parts(step.reader, self.workers)
        if parts is not None and self._bar is not None:
            self._bar.set_total(len(parts), "parts")
        shipped = dataclasses.replace(step, reader=(), stages=[])  # sources stay here
        pool, self._pool = self._pool, None
        if pool is None:
            pool = Pool(self.workers, _init_worker, (shipped, stages, self.fail_fast))
        else:
            try:
                pool.setup(_init_worker, (shipped, stages, self.fail_fast))
            except BaseException:
                pool.close(kill=True)
                raise
        with pool:
            if parts is not None:
                tasks: Iterable[Any] = ((_work_part, (i, part, staging)) for i, part in enumerate(parts))
            else:
                tasks = (item if isinstance(item, Reject) else (_work, (item,))
                         for item in iter_batches(step.reader))
            for got in pool.map(_dispatch, tasks, self.max_in_flight,
                                passthrough=lambda x: isinstance(x, Reject)):
                yield UnitResult(rejects=[got]) if isinstance(got, Reject) else got


def _dispatch(fn: Callable[..., UnitResult], args: tuple) -> UnitResult:
    return fn(*args)


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
