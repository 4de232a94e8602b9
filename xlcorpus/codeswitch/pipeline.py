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
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar, Literal

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as pads

from ..engine.core import Stage, Step
from ..errors import PipelineError
from ..pipeline import Pipeline
from ..sources import wikidata, wikipedia
from ..sources.inputs import display_name
from .entitycs import XLMR_LANGUAGES, CSConfig, LabelIndex, code_switch

SAMPLE = Path(__file__).resolve().parents[2] / "data" / "sample" / "entitycs"


class CodeSwitch(Stage):
    """Stage: ``wiki_sentences`` batch -> ``entitycs`` batch (vectorised)."""

    name = "code_switch"

    def __init__(self, index: LabelIndex, cfg: CSConfig):
        self.index, self.cfg = index, cfg

    def __call__(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        return code_switch(batch, self.index, self.cfg)


def read_table(store, table: str, filter_=None, columns: list[str] | None = None) -> pa.Table:
    """A table of the store (empty with its schema when it does not exist yet)."""
    from ..schema import contract

    if not store.exists(table):
        empty = pa.Table.from_batches([contract(table).empty()])
        return empty.select(columns) if columns else empty
    return store.read(table).to_table(filter=filter_, columns=columns)


def iter_table(store, table: str, filter_, batch_size: int) -> Iterator[pa.RecordBatch]:
    """Stream a table's rows (bounded memory); nothing when it does not exist."""
    if store.exists(table):
        yield from store.read(table).to_batches(filter=filter_, batch_size=batch_size)


def iter_sentences(store, src_lang: str, source: str, batch_size: int) -> Iterator[pa.RecordBatch]:
    """The ``wiki_sentences`` rows of one dump, streamed in batches (output rows depend
    only on each sentence, not on the order or size of the batches)."""
    flt = (pads.field("lang") == src_lang) & (pads.field("source") == source)
    yield from iter_table(store, "wiki_sentences", flt, batch_size)


@dataclass
class EntityCSPipeline(Pipeline):
    """Build ``entitycs`` from a Wikidata dump and a Wikipedia dump (defaults: bundled sample)."""

    kind: ClassVar[str] = "entitycs"
    wikidata: Path = SAMPLE / "wikidata-sample.json"
    wikipedia: Path = SAMPLE / "enwiki-sample.xml"
    src_lang: str = "en"
    languages: list[str] = field(default_factory=lambda: list(XLMR_LANGUAGES))
    k: int = 5
    switch_prob: float = 1.0
    alias_prob: float = 0.0
    keep_unlabeled: bool = False
    markers: Literal["entity", "lang"] = "entity"
    seed: int = 0
    min_chars: int = 20
    max_words: int = 128
    max_links: int = 10
    max_link_share: float = 0.5
    linked_only: bool = True
    chunk_mb: int = 8
    part_mb: int = 64
    batch_size: int = 20_000
    tokenizer: Path | None = None
    strategy: str = "WEP"
    max_length: int = 512

    def __post_init__(self) -> None:
        for name in ("wikidata", "wikipedia"):
            p = getattr(self, name)
            if not Path(p).exists():
                raise PipelineError(f"entitycs: {name} input {p} does not exist")
        if self.chunk_mb < 1 or self.part_mb < 1:
            raise PipelineError(f"entitycs: chunk_mb and part_mb must be at least 1 (got {self.chunk_mb}, {self.part_mb})")
        try:
            self.config()
        except ValueError as exc:
            raise PipelineError(f"entitycs: {exc}") from exc
        if self.tokenizer is not None:
            from .masking import STRATEGIES

            if self.strategy not in STRATEGIES:
                raise PipelineError(f"entitycs: unknown strategy {self.strategy!r} (known: {', '.join(STRATEGIES)})")

    def config(self) -> CSConfig:
        return CSConfig(src_lang=self.src_lang, languages=tuple(self.languages), k=self.k,
                        switch_prob=self.switch_prob, alias_prob=self.alias_prob,
                        keep_unlabeled=self.keep_unlabeled, seed=self.seed, markers=self.markers,
                        min_chars=self.min_chars, max_words=self.max_words, max_links=self.max_links,
                        max_link_share=self.max_link_share)

    @property
    def site(self) -> str:
        return f"{self.src_lang.replace('-', '_')}wiki"

    def steps(self, store) -> Iterator[Step]:
        cfg = self.config()
        langs = sorted({self.src_lang, *cfg.targets})
        yield Step("wikidata", wikidata.read_wikidata(self.wikidata, self.chunk_mb << 20,
                                                      part_bytes=self.part_mb << 20),
                   [wikidata.ParseEntities(langs, [self.site])],
                   ["wikidata_labels", "wikidata_sitelinks"], mode="merge")

        links = read_table(store, "wikidata_sitelinks", pads.field("site") == self.site, ["title", "qid"])
        titles = dict(zip(links.column("title").to_pylist(), links.column("qid").to_pylist()))
        redirects = wikipedia.scan_redirects(self.wikipedia)
        yield Step("wikipedia", wikipedia.read_wikipedia(self.wikipedia),
                   [wikipedia.PagesToSentences(self.src_lang, redirects, titles, self.linked_only)],
                   ["wiki_sentences"], mode="merge")

        labels = read_table(store, "wikidata_labels",
                            pc.field("lang").isin(list(cfg.targets)), ["qid", "lang", "label", "aliases"])
        index = LabelIndex(labels, cfg.targets)
        yield Step("entitycs", iter_sentences(store, self.src_lang, display_name(self.wikipedia), self.batch_size),
                   [CodeSwitch(index, cfg)], ["entitycs"], mode="merge", source_column="src_id",
                   position_column="sentence_id")

        if self.tokenizer is not None:
            from .masking import EntityMasking

            yield Step("mask", iter_entitycs(store, self.batch_size),
                       [EntityMasking(self.tokenizer, self.strategy, self.seed, self.max_length)],
                       ["entitycs_masked"], mode="merge", source_column="id", position_column="none")


def iter_entitycs(store, batch_size: int, filter_=None) -> Iterator[pa.RecordBatch]:
    """``entitycs`` rows, streamed in batches (for the masking step)."""
    yield from iter_table(store, "entitycs", filter_, batch_size)
