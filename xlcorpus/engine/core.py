"""The pieces every engine runs: sources, stages, rejects and steps.

A *step* is data: ``source -> stages -> tables``, built without reading or computing
anything, so that the engine can fingerprint it, decide to skip it, ship it to workers
and commit it:

- a **source** is a picklable description of the work units: :func:`call` (a module-level
  function and its arguments, called only when the step runs), :class:`TableSource` (a
  table of the store, streamed), or any :class:`Source` subclass. Iterating it yields
  ``pyarrow.RecordBatch`` work units and :class:`Reject` objects for records it could not
  read. A source may offer ``parts(workers)`` to be read by the workers themselves;
- a **stage** is a callable ``RecordBatch -> RecordBatch`` (pure), or a :class:`Stage`
  whose :meth:`Stage.prepare` runs once in the driver when the step runs (train a model,
  build a lookup file) and whose :meth:`Stage.setup` loads models or memory-maps lookups
  once per worker. A stage may return a :class:`StageOutput` to add rejects and counts of
  dropped rows by reason, or a dict ``{table: batch}`` as the last stage of a step with
  several output tables;
- the step's **outputs** are contract table names; the engine validates, stages and commits
  them (one Delta commit per table, all carrying the step's run id, only after the whole
  step succeeded).

Failure is loud: a record is rejected only when the record is bad. A stage exception on
every row of a work unit, or on more than ``max_reject_share`` of the step's input rows,
fails the step with the stage's own error and the first failing record.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Union

import pyarrow as pa

from ..errors import StageError, StepFailed

RAW_EXCERPT = 200


@dataclass(frozen=True)
class Reject:
    """A record that could not be used: where it came from and why.

    ``error`` marks a reject made from a stage exception (rather than a record a reader or
    stage declared bad): those count towards the step's ``max_reject_share``.
    """

    source: str
    position: int | None
    stage: str
    reason: str
    raw: str | None = None
    error: bool = False

    def row(self) -> dict[str, Any]:
        raw = None if self.raw is None else str(self.raw)[:RAW_EXCERPT]
        return {"source": self.source, "position": self.position, "stage": self.stage,
                "reason": self.reason, "raw": raw}


Outputs = Union[pa.RecordBatch, dict[str, pa.RecordBatch], None]


@dataclass
class StageOutput:
    """What a stage returns when it rejects records, drops rows or feeds several tables.

    ``dropped`` counts rows the stage filtered out on purpose, by reason (they are neither
    outputs nor rejects: e.g. sentences shorter than ``min_chars``). ``counts`` are figures
    the stage reports in the step's summary, summed over the step, in the order given: a
    phrase each, e.g. ``{"sentences": 412, "with known QIDs": 32}``.
    """

    batch: Outputs
    rejects: list[Reject] = field(default_factory=list)
    dropped: dict[str, int] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)


@dataclass
class StageStats:
    """What one stage did over a step: rows in and out, seconds, rejects, drops by reason."""

    rows_in: int = 0
    rows_out: int = 0
    seconds: float = 0.0
    rejects: int = 0
    errors: int = 0
    dropped: dict[str, int] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)

    def add(self, other: StageStats | StageOutput) -> None:
        """Add another unit's stats, or the drops and counts of one stage output."""
        if isinstance(other, StageStats):
            self.rows_in += other.rows_in
            self.rows_out += other.rows_out
            self.seconds += other.seconds
            self.rejects += other.rejects
            self.errors += other.errors
        for mine, theirs in ((self.dropped, other.dropped), (self.counts, other.counts)):
            for k, v in theirs.items():
                mine[k] = mine.get(k, 0) + v

    def summary(self) -> str:
        """The stage's counts with its drops after them, e.g. ``412 sentences, 30 kept by the
        filters (no_qid 380, min_chars 2)``; only drops: ``dropped no_qid 380``; or ``""``."""
        drops = ", ".join(f"{k} {v:,}" for k, v in sorted(self.dropped.items()))
        if not self.counts:
            return f"dropped {drops}" if drops else ""
        counts = ", ".join(f"{v:,} {k}" for k, v in self.counts.items())
        return f"{counts} ({drops})" if drops else counts

    def json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"rows_in": self.rows_in, "rows_out": self.rows_out,
                               "seconds": round(self.seconds, 3), "rejects": self.rejects}
        if self.errors:
            out["errors"] = self.errors
        if self.dropped:
            out["dropped"] = dict(sorted(self.dropped.items()))
        if self.counts:
            out["counts"] = dict(self.counts)
        return out


Stats = dict[str, StageStats]


def merge_stats(into: Stats, more: Stats) -> None:
    for name, s in more.items():
        into.setdefault(name, StageStats()).add(s)


class Stage:
    """Base class of stateful stages.

    ``prepare(workdir)`` runs once in the driver when the step runs (never while steps are
    listed): it may build artefacts under ``workdir`` (a trained model, a memory-mappable
    lookup file) and keep their paths as attributes. The stage object is then shipped to
    each worker, where ``setup()`` loads them once; ``__call__`` runs per batch. Keep the
    attributes small and picklable (paths, names, numbers).
    """

    name: str = "stage"

    def prepare(self, workdir: str) -> None:
        """Driver-side preparation, once per step run. Default: nothing."""

    def setup(self) -> None:
        """Load models or lookup tables. Called once per worker before the first batch."""

    def __call__(self, batch: pa.RecordBatch) -> pa.RecordBatch | StageOutput | dict[str, pa.RecordBatch]:
        raise NotImplementedError


class FunctionStage(Stage):
    """Wrap a pure function ``RecordBatch -> RecordBatch`` (must be importable by name)."""

    def __init__(self, fn: Callable[[pa.RecordBatch], Any], name: str | None = None):
        self.fn = fn
        self.name = name or getattr(fn, "__name__", "stage")

    def __call__(self, batch: pa.RecordBatch):
        return self.fn(batch)


def as_stage(obj: Stage | Callable[[pa.RecordBatch], Any]) -> Stage:
    return obj if isinstance(obj, Stage) else FunctionStage(obj)


def has_setup(stage: Stage) -> bool:
    return type(stage).setup is not Stage.setup


# ------------------------------------------------------------------ sources
class Source:
    """A declarative, picklable reader: nothing is opened until it is iterated."""

    def __iter__(self) -> Iterator[pa.RecordBatch | Reject]:
        raise NotImplementedError

    def describe(self) -> str:
        return type(self).__name__


class Call(Source):
    """``fn(*args, **kwargs)`` called when the step runs; its result is iterated.

    ``fn`` must be importable by name (a module-level function) so that the source can be
    shipped to workers. If the result has a ``parts(workers=N)`` method, engines use it.
    """

    def __init__(self, fn: Callable[..., Iterable[Any]], *args: Any, **kwargs: Any):
        self.fn, self.args, self.kwargs = fn, args, kwargs
        self.size: tuple[Callable[..., int], tuple, str] | None = None

    def sized(self, count: Callable[..., int], *args: Any, unit: str = "rows") -> Call:
        """Declare ``count(*args)``: the number of records (``unit``) the source will yield,
        called when the step runs, for its progress line."""
        self.size = (count, args, unit)
        return self

    def open(self) -> Iterable[Any]:
        return self.fn(*self.args, **self.kwargs)

    __call__ = open  # a Call is also a part: a picklable callable returning an iterable

    def __iter__(self):
        return iter(self.open())

    def parts(self, workers: int = 1):
        got = self.open()
        parts = getattr(got, "parts", None)
        return parts(workers=workers) if callable(parts) else None

    def describe(self) -> str:
        return f"{getattr(self.fn, '__module__', '?')}.{getattr(self.fn, '__name__', '?')}"


def call(fn: Callable[..., Iterable[Any]], *args: Any, **kwargs: Any) -> Call:
    """A source that calls ``fn(*args, **kwargs)`` only when the step runs."""
    return Call(fn, *args, **kwargs)


class TableSource(Source):
    """Rows of a store table (the latest version when the step runs), streamed in batches.

    ``filter`` is a ``pyarrow.compute`` expression; ``sort_by`` sorts the filtered table
    first (materialising it: use it for whole-table steps only).
    """

    def __init__(self, store: Any, table: str, filter: Any = None, columns: list[str] | None = None,
                 batch_size: int = 10_000, sort_by: list[tuple[str, str]] | None = None):
        self.store = store.ref() if hasattr(store, "ref") else store
        self.table, self.filter, self.columns = table, filter, columns
        self.batch_size, self.sort_by = batch_size, sort_by

    def __iter__(self) -> Iterator[pa.RecordBatch]:
        store = self.store.open() if hasattr(self.store, "open") else self.store
        if not store.exists(self.table):
            return
        ds = store.read(self.table)
        if self.sort_by:
            t = ds.to_table(filter=self.filter, columns=self.columns).sort_by(self.sort_by)
            yield from t.to_batches(max_chunksize=self.batch_size)
            return
        yield from ds.to_batches(filter=self.filter, columns=self.columns, batch_size=self.batch_size)

    def describe(self) -> str:
        return f"table {self.table}" + (f" where {self.filter}" if self.filter is not None else "")


def describe_source(reader: Any) -> str:
    return reader.describe() if isinstance(reader, Source) else type(reader).__name__


@dataclass
class Step:
    """One unit of a pipeline: ``source -> stages -> outputs`` committed together.

    ``mode`` is the store write mode for the outputs (``merge``: insert rows whose id is
    new, so reruns never duplicate rows). ``dedupe`` names a column whose repeated values are
    dropped (first occurrence in input order is kept) across the whole run. ``source_column``
    and ``position_column`` name the columns of the *input* batches used to locate a record
    when a whole batch fails and is retried row by row. ``inputs`` names the store tables the
    step reads (shown by ``--dry-run``; the step runs after the steps that write them).
    ``max_reject_share``: the largest share of input rows that stage exceptions may reject
    before the step fails. ``contracts`` carries the contracts of user tables among the
    outputs to the workers (filled in by the engine).
    """

    name: str
    reader: Iterable[pa.RecordBatch | Reject]
    stages: list[Any]
    outputs: list[str]
    mode: str = "merge"
    dedupe: dict[str, str] = field(default_factory=dict)
    source_column: str = "source"
    position_column: str = "position"
    rejects_table: str | None = None
    inputs: list[str] = field(default_factory=list)
    max_reject_share: float = 0.1
    contracts: dict[str, Any] = field(default_factory=dict)

    @property
    def rejects(self) -> str:
        return self.rejects_table or f"{self.outputs[0]}_rejects"

    @property
    def tables(self) -> list[str]:
        """Every table the step commits: its outputs and its rejects table."""
        return [*self.outputs, self.rejects]


def normalise(step: Step, out: Any) -> tuple[dict[str, pa.RecordBatch], list[Reject]]:
    """Turn a final stage result into ``({table: batch}, rejects)``."""
    rejects: list[Reject] = []
    if isinstance(out, StageOutput):
        rejects = list(out.rejects)
        out = out.batch
    if out is None:
        return {}, rejects
    if isinstance(out, (pa.RecordBatch, pa.Table)):
        out = {step.outputs[0]: out}
    if not isinstance(out, dict):
        raise StageError(f"step {step.name!r}: a stage returned {type(out).__name__}, "
                         "expected a RecordBatch, a dict of batches or a StageOutput")
    unknown = set(out) - set(step.outputs)
    if unknown:
        raise StageError(f"step {step.name!r}: stage produced undeclared table(s) {sorted(unknown)}")
    tables = {}
    for name, b in out.items():
        if isinstance(b, pa.Table):
            b = b.combine_chunks().to_batches()[0] if b.num_rows else None
        if b is not None and b.num_rows:
            tables[name] = b
    return tables, rejects


@dataclass
class UnitResult:
    """One work unit's outputs ({table: batch, or part files a worker wrote}), rejects,
    input rows and per-stage statistics."""

    outputs: dict[str, Any] = field(default_factory=dict)
    rejects: list[Reject] = field(default_factory=list)
    rows_in: int = 0
    stats: Stats = field(default_factory=dict)


def with_contracts(step: Step) -> Step:
    """The step carrying the user contracts of its outputs (registered again in workers)."""
    from ..schema import user_contracts

    mine = {t: c for t, c in user_contracts().items() if t in step.outputs}
    return dataclasses.replace(step, contracts=mine) if mine else step


def register_contracts(step: Step) -> None:
    """In a worker: make the step's user tables known (see :func:`with_contracts`)."""
    from ..schema import register

    for c in step.contracts.values():
        register(c)


def apply_stages(step: Step, stages: list[Stage], batch: pa.RecordBatch, fail_fast: bool) -> UnitResult:
    """Run ``batch`` through ``stages``.

    On an exception the batch is retried row by row (unless ``fail_fast``) so that one bad
    record becomes one reject; if *every* row fails, the stage is broken, not the records:
    :class:`~xlcorpus.errors.StepFailed` is raised with the stage's error and the first
    failing record.
    """
    stats: Stats = {}
    try:
        tables, rejects = _chain(step, stages, batch, stats)
        return UnitResult(tables, rejects, batch.num_rows, stats)
    except Exception as exc:  # noqa: BLE001 - any stage failure is handled the same way
        if fail_fast or isinstance(exc, StepFailed):
            raise
        first_exc = exc
    stats = {}
    merged: dict[str, list[pa.RecordBatch]] = {}
    rejects: list[Reject] = []
    failed = 0
    first: tuple[Exception, pa.RecordBatch] | None = None
    for i in range(batch.num_rows):
        row = batch.slice(i, 1)
        try:
            outs, rej = _chain(step, stages, row, stats)
        except Exception as row_exc:  # noqa: BLE001
            failed += 1
            first = first or (row_exc, row)
            rejects.append(_reject_from(step, row, row_exc))
            continue
        rejects.extend(rej)
        for name, b in outs.items():
            merged.setdefault(name, []).append(b)
    if failed == batch.num_rows and batch.num_rows > 1:
        exc, row = first or (first_exc, batch.slice(0, 1))
        raise step_failed(step, exc, row, f"every one of the {batch.num_rows} records of a work unit failed")
    tables = {n: pa.Table.from_batches(bs).combine_chunks().to_batches()[0] for n, bs in merged.items()}
    return UnitResult(tables, rejects, batch.num_rows, stats)


def step_failed(step: Step, exc: BaseException, row: pa.RecordBatch | None, why: str) -> StepFailed:
    """The error that fails a step: the stage's error type and message, and where."""
    where = ""
    if row is not None and row.num_rows:
        r = _reject_from(step, row, exc)
        where = f"; first failing record: {r.source}" + (f" position {r.position}" if r.position is not None else "")
    err = StepFailed(f"step {step.name!r} failed: {why} ({type(exc).__name__}: {exc}){where}")
    err.__cause__ = exc
    return err


def _chain(step: Step, stages: list[Stage], batch: pa.RecordBatch, stats: Stats):
    rejects: list[Reject] = []
    current: Any = batch
    for i, stage in enumerate(stages):
        st = stats.setdefault(stage.name, StageStats())
        n_in = current.num_rows
        t0 = time.perf_counter()
        out = stage(current)
        st.seconds += time.perf_counter() - t0
        st.rows_in += n_in
        if isinstance(out, StageOutput):
            rejects.extend(out.rejects)
            st.rejects += len(out.rejects)
            st.add(out)
            out = out.batch
        if out is None:
            return {}, rejects
        if i < len(stages) - 1 and not isinstance(out, pa.RecordBatch):
            raise StageError(f"stage {stage.name!r} returned {type(out).__name__}; "
                             "only the last stage may return several tables")
        st.rows_out += _rows(out)
        current = out
    tables, more = normalise(step, current)
    return tables, rejects + more


def _rows(out: Any) -> int:
    if isinstance(out, dict):
        return sum(b.num_rows for b in out.values() if b is not None)
    return out.num_rows


def _reject_from(step: Step, batch: pa.RecordBatch, exc: Exception) -> Reject:
    names = batch.schema.names
    row = batch.to_pylist()[0] if batch.num_rows else {}
    source = str(row.get(step.source_column, step.name)) if step.source_column in names else step.name
    pos = row.get(step.position_column) if step.position_column in names else None
    raw = {k: v for k, v in row.items() if k not in {step.source_column, step.position_column}}
    return Reject(source, pos if isinstance(pos, int) else None, step.name,
                  f"{type(exc).__name__}: {exc}", str(raw), error=True)


def batch_rows(items: Iterable[tuple | Reject], schema: pa.Schema,
               size: int) -> Iterator[pa.RecordBatch | Reject]:
    """Group row tuples (in ``schema`` order) into batches of ``size``; pass rejects through.

    Readers use it to turn a stream of parsed records into work units for the engine.
    """
    cols: list[list[Any]] = [[] for _ in schema.names]
    for item in items:
        if isinstance(item, Reject):
            yield item
            continue
        for col, value in zip(cols, item):
            col.append(value)
        if len(cols[0]) >= size:
            yield _to_batch(cols, schema)
            cols = [[] for _ in schema.names]
    if cols[0]:
        yield _to_batch(cols, schema)


def _to_batch(cols: list[list[Any]], schema: pa.Schema) -> pa.RecordBatch:
    return pa.RecordBatch.from_arrays([pa.array(c, f.type) for c, f in zip(cols, schema)], schema=schema)


def reader_parts(reader: Any, workers: int = 1) -> list[Callable[[], Iterable[Any]]] | None:
    """The reader's parts for parallel reading, or None if it is a plain iterable.

    A reader may offer ``parts(workers=N)``: picklable callables, each returning an
    iterable of batches and rejects, that together give what iterating the reader gives,
    in order (byte ranges of a dump file...), or None to be read whole. Engines then read
    the parts in their workers.
    """
    parts = getattr(reader, "parts", None)
    if not callable(parts):
        return None
    got = parts(workers=workers)
    return None if got is None else list(got)


def iter_batches(data: Iterable[Any]) -> Iterator[pa.RecordBatch | Reject]:
    """Flatten tables into batches; pass rejects through."""
    for item in data:
        if isinstance(item, pa.Table):
            yield from item.to_batches()
        else:
            yield item
