"""The ``entitycs`` pipeline: Wikidata + Wikipedia -> code-switched sentences (+ masking).

Steps (each committed on its own, later steps read what earlier ones committed):

1. ``wikidata``: dump -> ``wikidata_labels`` (source language + target languages) and
   ``wikidata_sitelinks`` (the source wiki); parsing runs in the worker processes;
2. ``wikipedia``: dump -> ``wiki_sentences``, links resolved through the dump's redirects
   and the sitelinks of step 1;
3. ``entitycs``: this dump's sentences -> ``entitycs`` (partitioned by ``tgt_lang``);
4. ``mask`` (only with ``tokenizer``): ``entitycs`` -> ``entitycs_masked``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, ClassVar

import pyarrow as pa
import pyarrow.compute as pc

from ..engine.core import Stage, StageOutput, Step, TableSource, call
from ..errors import PipelineError
from ..params import Help, InputPath, PositiveInt, part
from ..pipeline import Pipeline
from ..sources import wikidata, wikipedia
from ..sources.inputs import display_name
from .entitycs import CSConfig, LabelIndex, code_switch
from .strategies import MaskSettings

SAMPLE = Path(__file__).resolve().parents[2] / "data" / "sample" / "entitycs"


class CodeSwitch(Stage):
    """Stage: ``wiki_sentences`` batch -> ``entitycs`` batch (vectorised).

    Give ``index`` (a :class:`LabelIndex`), or ``store`` (a store or its ref): then
    :meth:`prepare` builds the index once from the store's ``wikidata_labels`` when the step
    runs and saves it as Arrow files, which every worker memory-maps in :meth:`setup`.
    """

    name = "code_switch"

    def __init__(self, index: LabelIndex | None, cfg: CSConfig, store=None):
        self.index, self.cfg = index, cfg
        self.store = store.ref() if hasattr(store, "ref") else store
        self.index_path: str | None = None

    def prepare(self, workdir: str) -> None:
        if self.index is not None or self.store is None:
            return
        labels = read_table(self.store.open(), "wikidata_labels",
                            pc.field("lang").isin(list(self.cfg.targets)), ["qid", "lang", "label", "aliases"])
        self.index_path = LabelIndex(labels, self.cfg.targets).save(Path(workdir) / "label-index")

    def setup(self) -> None:
        if self.index is None and self.index_path is not None:
            self.index = LabelIndex.load(self.index_path)

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        if self.index_path is not None:
            state["index"] = None  # workers memory-map the saved index instead
        return state

    def __call__(self, batch: pa.RecordBatch) -> StageOutput:
        if self.index is None:
            self.setup()
        dropped: dict[str, int] = {}
        counts: dict[str, int] = {}
        out = code_switch(batch, self.index, self.cfg, dropped, counts)
        return StageOutput(out, dropped=dropped, counts=counts)


def read_table(store, table: str, filter_=None, columns: list[str] | None = None) -> pa.Table:
    """A table of the store (empty with its schema when it does not exist yet)."""
    from ..schema import contract

    if not store.exists(table):
        empty = pa.Table.from_batches([contract(table).empty()])
        return empty.select(columns) if columns else empty
    return store.read(table).to_table(filter=filter_, columns=columns)


@dataclass
class EntityCSPipeline(MaskSettings, CSConfig, Pipeline):
    """Build ``entitycs`` from a Wikidata dump and a Wikipedia dump (defaults: bundled sample)."""

    kind: ClassVar[str] = "entitycs"
    wikidata: Annotated[InputPath, Help("Wikidata JSON dump (plain, .gz, .bz2; JSON lines; one entity)")] = \
        SAMPLE / "wikidata-sample.json"
    wikipedia: Annotated[InputPath, Help("Wikipedia pages-articles XML dump or WikiExtractor JSON")] = \
        SAMPLE / "enwiki-sample.xml"
    linked_only: Annotated[bool, Help("keep only sentences with at least one link")] = True
    chunk_mb: Annotated[PositiveInt, Help("MB of dump lines per work unit")] = 8
    part_mb: Annotated[PositiveInt, Help("largest byte range a worker reads of a plain dump")] = 64
    batch_size: PositiveInt = 20_000
    tokenizer: Annotated[InputPath | None, Help("tokenizer folder: adds the mask step")] = None

    def __post_init__(self) -> None:
        try:
            super().__post_init__()
        except PipelineError as exc:
            raise PipelineError(f"entitycs: {exc}") from exc

    def config(self) -> CSConfig:
        return part(self, CSConfig)

    @property
    def site(self) -> str:
        return f"{self.src_lang.replace('-', '_')}wiki"

    def steps(self, store) -> Iterator[Step]:
        """The steps, as data: nothing is read until the engine runs them."""
        cfg = self.config()
        langs = sorted({self.src_lang, *cfg.targets})
        yield Step("wikidata", wikidata.read_wikidata(self.wikidata, self.chunk_mb << 20, part_bytes=self.part_mb << 20),
                   [wikidata.ParseEntities(langs, [self.site])],
                   ["wikidata_labels", "wikidata_sitelinks"], mode="merge")
        yield Step("wikipedia", call(wikipedia.read_wikipedia, self.wikipedia),
                   [wikipedia.ResolveLinks(self.src_lang, self.wikipedia, store, self.site, self.linked_only)],
                   ["wiki_sentences"], mode="merge", inputs=["wikidata_sitelinks"])
        flt = (pc.field("lang") == self.src_lang) & (pc.field("source") == display_name(self.wikipedia))
        yield Step("entitycs", TableSource(store, "wiki_sentences", flt, batch_size=self.batch_size),
                   [CodeSwitch(None, cfg, store)], ["entitycs"], mode="merge", source_column="src_id",
                   position_column="sentence_id", inputs=["wiki_sentences", "wikidata_labels"])

        if self.tokenizer is not None:
            from .masking import EntityMasking

            yield Step("mask", TableSource(store, "entitycs", batch_size=self.batch_size),
                       [EntityMasking(self.tokenizer, self.strategy, self.seed, self.max_length)],
                       ["entitycs_masked"], mode="merge", source_column="id", position_column="none",
                       inputs=["entitycs"])
