"""The pieces every engine runs: stages, rejects and steps.

A *step* is ``reader -> stages -> tables``:

- a **reader** is any iterable yielding ``pyarrow.RecordBatch`` work units (raw records with
  their source and position) and :class:`Reject` objects for records it could not read;
- a **stage** is a callable ``RecordBatch -> RecordBatch`` (pure), or a :class:`Stage`
  object whose :meth:`Stage.setup` loads models once per worker. A stage may return a
  :class:`StageOutput` to add rejects, or a dict ``{table: batch}`` as the last stage of a
  step with several output tables;
- the step's **outputs** are contract table names; the engine validates, stages and commits
  them (one Delta commit per table, only after the whole step succeeded).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Union

import pyarrow as pa

from ..errors import StageError

RAW_EXCERPT = 200


@dataclass(frozen=True)
class Reject:
    """A record that could not be used: where it came from and why."""

    source: str
    position: int | None
    stage: str
    reason: str
    raw: str | None = None

    def row(self) -> dict[str, Any]:
        raw = None if self.raw is None else str(self.raw)[:RAW_EXCERPT]
        return {"source": self.source, "position": self.position, "stage": self.stage,
                "reason": self.reason, "raw": raw}


Outputs = Union[pa.RecordBatch, dict[str, pa.RecordBatch], None]


@dataclass
class StageOutput:
    """What a stage returns when it rejects records or feeds several tables."""

    batch: Outputs
    rejects: list[Reject] = field(default_factory=list)


class Stage:
    """Base class of stateful stages: ``setup()`` once per worker, then ``__call__`` per batch.

    Subclasses keep constructor arguments small and picklable (paths, names, numbers): the
    engine ships the stage object to each worker process and calls ``setup()`` there.
    """

    name: str = "stage"

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


@dataclass
class Step:
    """One unit of a pipeline: ``reader -> stages -> outputs`` committed together.

    ``mode`` is the store write mode for the outputs (``merge``: insert rows whose id is
    new, so reruns never duplicate rows). ``dedupe`` names a column whose repeated values are
    dropped (first occurrence in input order is kept) across the whole run. ``source_column``
    and ``position_column`` name the columns of the *input* batches used to locate a record
    when a whole batch fails and is retried row by row.
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

    @property
    def rejects(self) -> str:
        return self.rejects_table or f"{self.outputs[0]}_rejects"


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


def apply_stages(step: Step, stages: list[Stage], batch: pa.RecordBatch,
                 fail_fast: bool) -> tuple[dict[str, pa.RecordBatch], list[Reject]]:
    """Run ``batch`` through ``stages``; on an exception, retry row by row (unless fail_fast)
    so one bad record becomes one reject instead of killing the run."""
    try:
        return _chain(step, stages, batch)
    except Exception as exc:  # noqa: BLE001 - any stage failure is handled the same way
        if fail_fast:
            raise
        if batch.num_rows <= 1:
            return {}, [_reject_from(step, batch, exc)]
        merged: dict[str, list[pa.RecordBatch]] = {}
        rejects: list[Reject] = []
        for i in range(batch.num_rows):
            row = batch.slice(i, 1)
            try:
                outs, rej = _chain(step, stages, row)
            except Exception as row_exc:  # noqa: BLE001
                rejects.append(_reject_from(step, row, row_exc))
                continue
            rejects.extend(rej)
            for name, b in outs.items():
                merged.setdefault(name, []).append(b)
        return {n: pa.Table.from_batches(bs).combine_chunks().to_batches()[0]
                for n, bs in merged.items()}, rejects


def _chain(step: Step, stages: list[Stage], batch: pa.RecordBatch):
    rejects: list[Reject] = []
    current: Any = batch
    for i, stage in enumerate(stages):
        out = stage(current)
        if isinstance(out, StageOutput):
            rejects.extend(out.rejects)
            out = out.batch
        if out is None:
            return {}, rejects
        if i < len(stages) - 1 and not isinstance(out, pa.RecordBatch):
            raise StageError(f"stage {stage.name!r} returned {type(out).__name__}; "
                             "only the last stage may return several tables")
        current = out
    tables, more = normalise(step, current)
    return tables, rejects + more


def _reject_from(step: Step, batch: pa.RecordBatch, exc: Exception) -> Reject:
    names = batch.schema.names
    row = batch.to_pylist()[0] if batch.num_rows else {}
    source = str(row.get(step.source_column, step.name)) if step.source_column in names else step.name
    pos = row.get(step.position_column) if step.position_column in names else None
    raw = {k: v for k, v in row.items() if k not in {step.source_column, step.position_column}}
    return Reject(source, pos if isinstance(pos, int) else None, step.name,
                  f"{type(exc).__name__}: {exc}", str(raw))


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
