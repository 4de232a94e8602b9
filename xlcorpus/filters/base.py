"""Quality filters that keep their scores: ``score()`` separate from ``accept()``.

A filter is a dataclass of parameters (declared like a pipeline kind's, see
:mod:`xlcorpus.params`) with

- ``columns()``: the score columns it writes (name -> Arrow type), prefixed by its ``label``;
- ``score(batch)``: those columns for a batch of input rows (vectorised where it can be);
- ``accept(scores)``: per row, ``None`` to keep it or a short reason to drop it, decided by
  the filter's thresholds alone, so a threshold can be re-tuned later in SQL over the
  stored scores without scoring again;
- optionally ``prepare(workdir, source)`` (once, in the driver, with the whole input table:
  near-duplicates, alignment scores) and ``setup()`` (once per worker: load a model).

The ``filter`` step (:class:`FilterStep`) runs a list of filters over a table: the rows
every filter accepts go to ``output``; the scores of *every* input row, whether it was kept
and why not, go to ``<output>_scores`` (keyed by ``id``). Drops are counted per filter and
reason (``label.reason``) in the step's statistics, stored with each commit and shown by
``xlcorpus history``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, ClassVar

import pyarrow as pa
import pyarrow.compute as pc

from ..engine.core import Stage, StageOutput, Step, TableSource
from ..errors import PipelineError
from ..params import Help
from ..pipeline import Pipeline
from ..plugins import STAGES_GROUP, resolve, user_code
from ..schema import Field, TableContract, contract, derive, register, user_contracts

# name -> "module:Class" of the built-in filters (also registered as ``xlcorpus.stages``)
FILTERS: dict[str, str] = {
    "length": "xlcorpus.filters.builtin:Length",
    "length_ratio": "xlcorpus.filters.builtin:LengthRatio",
    "script": "xlcorpus.filters.builtin:Script",
    "language_id": "xlcorpus.filters.langid:LanguageId",
    "near_duplicate": "xlcorpus.filters.neardup:NearDuplicate",
    "numbers": "xlcorpus.filters.builtin:Numbers",
    "urls": "xlcorpus.filters.builtin:Urls",
    "punctuation": "xlcorpus.filters.builtin:Punctuation",
    "unaligned": "xlcorpus.filters.builtin:Unaligned",
}


@dataclass
class Filter:
    """Base of filters; subclasses are dataclasses whose fields are their parameters."""

    name: ClassVar[str] = "filter"
    needs: ClassVar[tuple[str, ...]] = ("src", "tgt")  # input columns the filter reads
    label: Annotated[str | None, Help("column prefix and drop-reason prefix (default: the filter's name)")] = None

    @property
    def key(self) -> str:
        return self.label or self.name

    def columns(self) -> dict[str, pa.DataType]:
        """Score columns (name -> type). Default: one float64 column named ``key``."""
        return {self.key: pa.float64()}

    def prepare(self, workdir: str, source: TableSource) -> None:
        """Whole-table work, once, in the driver (default: nothing)."""

    def setup(self) -> None:
        """Per-worker loading (default: nothing)."""

    def score(self, batch: pa.RecordBatch) -> dict[str, pa.Array]:
        raise NotImplementedError

    def accept(self, scores: dict[str, pa.Array]) -> pa.Array:
        """Per row: null to keep, else a short reason (string array)."""
        raise NotImplementedError


def reason_where(mask: Any, reason: str) -> pa.Array:
    """``reason`` where ``mask`` is true, null elsewhere (null mask values keep the row)."""
    mask = pc.fill_null(mask, False)
    return pc.if_else(mask, pa.scalar(reason), pa.scalar(None, pa.string()))


def filter_class(name: str, base: Path | None = None) -> type:
    """A filter class by registered name or ``module:Class``."""
    return resolve(name, STAGES_GROUP, FILTERS, base)


def make_filter(spec: Any, where: str, base: Path | None = None) -> Filter:
    """A filter from a pipeline file entry: ``{name: X, ...params}`` or
    ``{stage: "module:Class", params: {...}, label: ...}``; or a Filter object as it is."""
    from ..pipeline import build_object

    if isinstance(spec, Filter):
        return spec
    if not isinstance(spec, dict):
        raise PipelineError(f"{where}: a filter is a mapping {{name: ..., ...}} or {{stage: ..., params: ...}}")
    spec = dict(spec)
    if "stage" in spec:
        ref = spec.pop("stage")
        params = dict(spec.pop("params", None) or {})
        if "label" in spec:
            params["label"] = spec.pop("label")
        if spec:
            raise PipelineError(f"{where}: unknown key(s) {sorted(spec)} (a stage filter takes stage, params, label)")
    elif "name" in spec:
        ref = spec.pop("name")
        params = spec
    else:
        raise PipelineError(f"{where}: a filter needs 'name' (built in: {sorted(FILTERS)}) or 'stage'")
    try:
        cls = resolve(ref, STAGES_GROUP, FILTERS, base)
    except PipelineError as exc:
        raise PipelineError(f"{where}: {exc}") from None
    if not (isinstance(cls, type) and hasattr(cls, "score") and hasattr(cls, "accept")):
        raise PipelineError(f"{where}: {ref!r} is not a filter (a class with score() and accept())")
    if dataclasses.is_dataclass(cls):
        return build_object(cls, params, where, base or Path.cwd(), what=f"filter {ref!r}", prefix="")
    try:
        return cls(**params)
    except TypeError as exc:
        raise PipelineError(f"{where}: filter {ref!r}: {exc}") from None


class WholeBatches(TableSource):
    """A table's rows in batches of about ``batch_size`` (a partitioned table's files give
    small batches; vectorised filters pay a fixed cost per batch)."""

    def __iter__(self) -> Iterator[pa.RecordBatch]:
        buf: list[pa.RecordBatch] = []
        rows = 0
        for batch in super().__iter__():
            buf.append(batch)
            rows += batch.num_rows
            if rows >= self.batch_size:
                yield _combined(buf)
                buf, rows = [], 0
        if rows:
            yield _combined(buf)


def _combined(batches: list[pa.RecordBatch]) -> pa.RecordBatch:
    return batches[0] if len(batches) == 1 else pa.Table.from_batches(batches).combine_chunks().to_batches()[0]


class FilterStage(Stage):
    """Stage: score every row with each filter, keep the rows all accept, write the scores."""

    name = "filter"

    def __init__(self, filters: list[Filter], source: TableSource, output: str, scores: str):
        self.filters, self.source, self.output, self.scores = filters, source, output, scores

    def prepare(self, workdir: str) -> None:
        for f in self.filters:
            f.prepare(workdir, self.source)

    def setup(self) -> None:
        for f in self.filters:
            f.setup()

    def __call__(self, batch: pa.RecordBatch) -> StageOutput:
        cols: dict[str, pa.Array] = {}
        reasons = []
        for f in self.filters:
            got = f.score(batch)
            cols.update(got)
            why = f.accept(got)
            reasons.append(pc.binary_join_element_wise(pa.scalar(f.key), why, "."))
        first = pc.coalesce(*reasons) if reasons else pa.nulls(batch.num_rows, pa.string())
        keep = pc.is_null(first)
        dropped: dict[str, int] = {}
        for item in pc.value_counts(pc.drop_null(first)).to_pylist():
            dropped[item["values"]] = item["counts"]
        out_contract = contract(self.output)
        out = {n: batch.column(n) if n in batch.schema.names else cols[n] for n in out_contract.names}
        kept = pa.RecordBatch.from_pydict(out).filter(keep)
        joined = pa.nulls(batch.num_rows, pa.string())
        for why in reasons:  # "a.x;b.y": every filter that rejected the row
            joined = pc.coalesce(pc.binary_join_element_wise(joined, why, ";"), joined, why)
        score_cols = {"id": batch.column("id"), **cols, "keep": keep,
                      "reasons": pc.if_else(keep, pa.scalar(None, pa.string()), joined)}
        sc = contract(self.scores)
        scored = pa.RecordBatch.from_arrays([score_cols[n].cast(sc.field(n).type) for n in sc.names], schema=sc.arrow_schema)
        return StageOutput({self.output: kept, self.scores: scored}, dropped=dropped)


@dataclass
class FilterStep(Pipeline):
    """Run quality filters over a table: kept rows to ``output``, every row's scores (and why
    it was dropped) to ``<output>_scores``, drops counted per filter and reason."""

    kind: ClassVar[str] = "filter"
    input: Annotated[str, Help("table to filter (built-in or user table)")]
    output: Annotated[str, Help("table of the rows every filter accepts (same fields as input)")]
    filters: Annotated[list[Any], Help("filters in order: {name: NAME, ...params} or {stage: 'module:Class', params: {...}}")]
    scores: Annotated[str | None, Help("table of every input row's scores (default: <output>_scores)")] = None
    batch_size: Annotated[int, Help("rows per work unit")] = 10_000
    base: Annotated[str | None, Help("folder of user filter modules")] = field(default=None, metadata={"hidden": True})

    @staticmethod
    def json_schema_fields() -> dict[str, Any]:
        """The JSON Schema of ``filters`` (see :mod:`xlcorpus.pipeline_schema`)."""
        from ..pipeline_schema import filter_schemas

        return {"filters": {"type": "array", "minItems": 1, "items": {"anyOf": filter_schemas()}}}

    def __post_init__(self) -> None:
        folder = Path(self.base) if self.base else None
        self._filters = [make_filter(f, f"filters[{i}]", folder) for i, f in enumerate(self.filters)]
        keys = [f.key for f in self._filters]
        dupes = sorted({k for k in keys if keys.count(k) > 1})
        if dupes:
            raise PipelineError(f"filters {dupes} appear twice: give each a distinct 'label'")
        if not self._filters:
            raise PipelineError("a filter step needs at least one filter")

    def params(self) -> dict[str, Any]:
        out = super().params()
        out["filters"] = [{"filter": f.name, **{k: _plain(v) for k, v in dataclasses.asdict(f).items()}}
                          if dataclasses.is_dataclass(f) else {"filter": type(f).__qualname__, **vars(f)}
                          for f in self._filters]
        out.pop("base", None)
        return out

    def inputs(self) -> dict[str, str]:
        return {**super().inputs(), **user_code(self._filters)}

    @property
    def scores_table(self) -> str:
        return self.scores or f"{self.output}_scores"

    def contracts(self, store: Any) -> tuple[TableContract, TableContract]:
        """The output and scores contracts: a user contract of that name, else derived."""
        source = store.contract(self.input) if store is not None else contract(self.input)
        missing = sorted({c for f in self._filters for c in f.needs} - set(source.names))
        if missing:
            raise PipelineError(f"filter step: table {self.input!r} has no column(s) {missing} "
                                f"that the filters read (it has {source.names})")
        cols = {n: t for f in self._filters for n, t in f.columns().items()}
        clash = sorted(set(cols) & {"id", "keep", "reasons"})
        if clash:
            raise PipelineError(f"filter step: score column(s) {clash} are reserved names: set a 'label'")
        mine = user_contracts()
        out = mine.get(self.output) or register(derive(
            self.output, source, description=f"Rows of `{self.input}` that every filter accepted.", source="filter step"))
        score_fields = [Field("id", pa.string(), False, f"Id of the row in `{self.input}`."),
                        *(Field(n, t, True, "score") for n, t in cols.items()),
                        Field("keep", pa.bool_(), False, "Whether every filter accepted the row."),
                        Field("reasons", pa.string(), True,
                              "Why filters rejected it: 'filter.reason' items joined by ';' (null: kept).")]
        sc = mine.get(self.scores_table) or register(TableContract(
            self.scores_table, f"Filter scores of every row of `{self.input}` (see `{self.output}`).",
            tuple(score_fields), (), "filter step"))
        unknown = sorted(set(out.names) - set(source.names) - set(cols))
        if unknown:
            raise PipelineError(f"filter step: the contract of {self.output!r} has field(s) {unknown} that are "
                                f"neither in {self.input!r} nor score columns ({sorted(cols)})")
        return out, sc

    def steps(self, store: Any) -> Iterator[Step]:
        self.contracts(store)
        source = WholeBatches(store, self.input, batch_size=self.batch_size)
        stage = FilterStage(self._filters, source, self.output, self.scores_table)
        yield Step("filter", source, [stage], [self.output, self.scores_table], mode="overwrite",
                   inputs=[self.input], source_column="source", position_column="line")


def _plain(v: Any) -> Any:
    return str(v) if isinstance(v, Path) else v
