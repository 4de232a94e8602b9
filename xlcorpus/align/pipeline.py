"""The ``bitext-align`` pipeline: import -> tokenize -> align -> store (+ lexical table,
optional code-switched data).

Steps:

1. ``import``: the pairs into ``bitext`` (the ``bitext-import`` reader: Moses file pair or
   one ``src ||| tgt`` / TSV file).
2. ``priors`` (eflomal, more than one chunk or ``priors`` given): priors trained once on a
   seeded sample of ``priors_sample`` pairs (plus ``extra_src``/``extra_tgt``), or imported,
   into ``align_priors`` (see :mod:`xlcorpus.align.scale`).
3. ``align``: every pair of the language pair in ``bitext`` is tokenized (spaCy rules with
   offsets, or whitespace when ``pretokenized``) and aligned into ``bitext_aligned``.
   ``eflomal`` aligns chunks of ``chunk_pairs`` pairs with the shared priors, in parallel
   (engine workers or Ray tasks), resumable chunk by chunk; a single chunk trains on itself
   plus the extra bitext. ``neural`` is a batched stage (model loaded once per worker).
4. ``lexical``: ``lexical_table`` (eflomal: merged from the chunks' link counts; neural:
   recomputed from ``bitext_aligned``, one alignment per pair, this run's settings first).
5. ``codeswitch`` (when ``codeswitch_ratio > 0``): ``align_codeswitched``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, ClassVar

import pyarrow as pa
import pyarrow.compute as pc

from ..engine.core import Stage, Step, call
from ..errors import PipelineError
from ..ids import params_fingerprint, stable_id
from ..params import Help, InputPath, PositiveInt, Ratio, validate
from ..schema import contract
from ..sources.bitext import BitextImport
from ..sources.inputs import read_token_pairs
from ..text.tokenize import Tokenized, get_tokenizer
from .options import AlignSettings

if TYPE_CHECKING:
    from .scale import ChunkPlan


def tokenize_batch(batch: pa.RecordBatch | pa.Table, src_lang: str, tgt_lang: str,
                   pretokenized: bool) -> tuple[list[Tokenized], list[Tokenized]]:
    src = list(get_tokenizer(src_lang, pretokenized).pipe(batch.column("src").to_pylist()))
    tgt = list(get_tokenizer(tgt_lang, pretokenized).pipe(batch.column("tgt").to_pylist()))
    return src, tgt


def _links(links) -> list[dict]:
    return [{"s": int(s), "t": int(t)} for s, t in links]


def aligned_rows(bitext: pa.RecordBatch | pa.Table, src: list[Tokenized], tgt: list[Tokenized],
                 links, scores, method: str, symmetrize: str | None, params: dict,
                 forward=None, reverse=None) -> pa.RecordBatch:
    """``bitext_aligned`` rows for ``bitext`` rows and their tokens and links."""
    fp = params_fingerprint({"method": method, "symmetrize": symmetrize, **params})
    text = json.dumps(params, sort_keys=True, default=str)
    rows = []
    for k, r in enumerate(bitext.to_pylist()):
        rows.append({
            "id": stable_id(r["id"], method, fp), "pair_id": r["id"], "src_lang": r["src_lang"],
            "tgt_lang": r["tgt_lang"], "src": r["src"], "tgt": r["tgt"],
            "src_tokens": src[k].tokens, "tgt_tokens": tgt[k].tokens,
            "src_offsets": [{"start": a, "end": b} for a, b in zip(src[k].starts, src[k].ends)],
            "tgt_offsets": [{"start": a, "end": b} for a, b in zip(tgt[k].starts, tgt[k].ends)],
            "alignment": _links(links[k]), "scores": [float(x) for x in scores[k]],
            "forward": None if forward is None else _links(forward[k]),
            "reverse": None if reverse is None else _links(reverse[k]),
            "method": method, "symmetrize": symmetrize, "params": text})
    return contract("bitext_aligned").batch(rows)


class NeuralAlign(Stage):
    """Stage: ``bitext`` rows -> ``bitext_aligned`` rows with a batched SimAlign aligner."""

    name = "neural_align"

    def __init__(self, model: str, method: str, layer: int, device: str, batch_size: int,
                 src_lang: str, tgt_lang: str, pretokenized: bool):
        self.model, self.method, self.layer, self.device = model, method, layer, device
        self.batch_size, self.pretokenized = batch_size, pretokenized
        self.src_lang, self.tgt_lang = src_lang, tgt_lang
        self.aligner = None

    def setup(self) -> None:
        from .neural import NeuralAligner

        self.aligner = NeuralAligner(self.model, self.layer, self.device, self.batch_size)

    def __call__(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        if self.aligner is None:
            self.setup()
        src, tgt = tokenize_batch(batch, self.src_lang, self.tgt_lang, self.pretokenized)
        res = self.aligner.align_scored([s.tokens for s in src], [t.tokens for t in tgt], (self.method,))
        links, scores = res[self.method]
        params = {"model": self.model, "layer": self.layer, "pretokenized": self.pretokenized}
        return aligned_rows(batch, src, tgt, links, scores, f"neural-{self.method}", None, params)


@dataclass
class BitextAlignPipeline(AlignSettings, BitextImport):
    """Import bitext (the ``bitext-import`` parameters), tokenize with offsets, word-align
    (eflomal or neural), store."""

    kind: ClassVar[str] = "bitext-align"
    pretokenized: Annotated[bool, Help("keep whitespace tokens as given")] = False
    extra_src: Annotated[InputPath | None, Help("extra tokenized bitext, source side (training only)")] = None
    extra_tgt: Annotated[InputPath | None, Help("extra tokenized bitext, target side")] = None
    lexical_min_count: Annotated[PositiveInt, Help("least link count kept in lexical_table")] = 1
    codeswitch_ratio: Annotated[Ratio, Help("share of aligned words switched (0: no codeswitch step)")] = 0.0

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.method == "neural" and not self.model:
            raise PipelineError("bitext-align: method 'neural' needs 'model' (a local path or hub id)")
        if (self.extra_src is None) != (self.extra_tgt is None):
            raise PipelineError("bitext-align: give both extra_src and extra_tgt, or neither")
        try:
            validate(self)
        except PipelineError as exc:
            raise PipelineError(f"bitext-align: {exc}") from exc

    def _bitext(self, store) -> pa.Table:
        store = store.open() if hasattr(store, "open") else store
        t = store.to_arrow("bitext", columns=["id", "src_lang", "tgt_lang", "src", "tgt", "source", "line"])
        mask = pc.and_(pc.equal(t["src_lang"], self.src_lang), pc.equal(t["tgt_lang"], self.tgt_lang))
        return t.filter(mask).sort_by([("source", "ascending"), ("line", "ascending")])

    def _extra(self) -> tuple[list, list] | None:
        if self.extra_src is None:
            return None
        return read_token_pairs(self.extra_src, self.extra_tgt)  # type: ignore[arg-type]

    def _chunk_plan(self, store) -> ChunkPlan:
        """The chunked alignment's settings, priors id and folder (counts the pairs)."""
        from ..ids import file_fingerprint
        from .chunked import ChunkAligner, chunk_options
        from .scale import ChunkPlan, count_pairs, priors_id_for

        total = count_pairs(store, self.src_lang, self.tgt_lang)
        version = store.version("bitext") if store.exists("bitext") else None
        opts = chunk_options(self.runs or None, total, similarity_priors=self.similarity_priors)
        extra_fp = file_fingerprint(self.extra_src) + file_fingerprint(self.extra_tgt) if self.extra_src else None
        priors_id = None
        if self.priors:
            path = self.priors.partition("@")[0].partition("#")[0]
            made = file_fingerprint(path) if Path(path).is_file() else None
            priors_id = priors_id_for({"from": self.priors, "file": made})
        elif self.priors_sample and total > self.chunk_pairs:
            priors_id = priors_id_for({"sample": self.priors_sample, "seed": self.seed, "options": opts,
                                       "langs": [self.src_lang, self.tgt_lang], "bitext": version, "extra": extra_fp})
        params = {**opts, "seed": self.seed, "pretokenized": self.pretokenized, "chunk_pairs": self.chunk_pairs,
                  "priors": priors_id, "extra": extra_fp}
        key = params_fingerprint({"params": params, "langs": [self.src_lang, self.tgt_lang], "bitext": version,
                                  "sym": self.symmetrize})[:24]
        # finished chunks are kept next to the tables (a local folder for a remote store)
        base = Path(store.root) if store.is_local else Path(tempfile.gettempdir()) / "xlcorpus"
        folder = base / "_align" / key
        aligner = ChunkAligner(opts, None, self.symmetrize, self.seed, total)
        single_extra = self._extra() if priors_id is None and self.extra_src is not None else None
        return ChunkPlan(store.ref(), self.src_lang, self.tgt_lang, self.pretokenized, str(folder),
                         self.chunk_pairs, aligner, params, priors_id, single_extra)

    def _priors_reader(self, store, plan: ChunkPlan):
        from .scale import PriorsTraining

        return PriorsTraining(self._train_priors, store, plan)

    def _train_priors(self, store, plan: ChunkPlan, split_directions: bool = False) -> Iterator[pa.Table]:
        """The priors set: imported, or trained on the sample; a trained set also leaves, in
        the chunk folder, each chunk's own share of the counts (subtracted when it runs)."""
        from .chunked import train_priors, write_own
        from .priors_store import load_priors
        from .scale import priors_table, sample_batches

        if self.priors:
            priors = load_priors(self.priors)
        else:
            batches = sample_batches(store, self.src_lang, self.tgt_lang, self.pretokenized, self.priors_sample,
                                     self.seed, self._extra(), plan.chunk_pairs)
            opts = {k: v for k, v in plan.aligner.options.items() if k != "runs"}
            own: dict = {}
            priors = train_priors(batches, self.seed, plan.aligner.options["runs"], self.symmetrize, own=own,
                                  split_directions=split_directions, **opts)
            Path(plan.folder).mkdir(parents=True, exist_ok=True)
            write_own(priors, own, plan.folder)
        yield priors_table(priors, plan.priors_id, self.src_lang, self.tgt_lang)  # type: ignore[arg-type]

    def _pairs(self, store) -> int:
        """The pairs the neural align step reads (for its progress total)."""
        store = store.open() if hasattr(store, "open") else store
        return store.read("bitext").count_rows(filter=(pc.field("src_lang") == self.src_lang)
                                               & (pc.field("tgt_lang") == self.tgt_lang))

    def _bitext_batches(self, store) -> Iterator[pa.RecordBatch]:
        yield from self._bitext(store).to_batches(max_chunksize=max(self.batch_size * 4, 256))

    def _lexical_reader(self, store, plan: ChunkPlan | None = None) -> Iterator[pa.Table]:
        from .lexical import lexical_table

        if plan is not None:
            from .scale import lexical_rows

            yield from lexical_rows(store, plan, "eflomal", json.dumps(plan.params, sort_keys=True, default=str),
                                    self.lexical_min_count)
            return
        store = store.open()
        t = store.to_arrow("bitext_aligned", columns=["pair_id", "src_lang", "tgt_lang", "src_tokens",
                                                      "tgt_tokens", "alignment", "method"])
        mine = "eflomal" if self.method == "eflomal" else f"neural-{self.neural_method}"
        # one alignment per pair: rows of this run's method first
        rank = pc.if_else(pc.equal(t["method"], mine), 0, 1)
        t = t.append_column("rank", rank).sort_by([("pair_id", "ascending"), ("rank", "ascending")])
        pair = t["pair_id"].to_pylist()
        keep = [i for i in range(len(pair)) if i == 0 or pair[i] != pair[i - 1]]
        yield lexical_table(t.take(keep), self.lexical_min_count)

    def _codeswitch_reader(self, store) -> Iterator[pa.RecordBatch]:
        from .codeswitch import code_switch

        store = store.open()
        t = store.to_arrow("bitext_aligned")
        mask = pc.and_(pc.equal(t["src_lang"], self.src_lang), pc.equal(t["tgt_lang"], self.tgt_lang))
        rows = []
        for r in t.filter(mask).to_pylist():
            so = [(x["start"], x["end"]) for x in r["src_offsets"]]
            to = [(x["start"], x["end"]) for x in r["tgt_offsets"]]
            links = [(x["s"], x["t"]) for x in r["alignment"]]
            text, spans = code_switch(r["src"], so, r["tgt"], to, links, self.codeswitch_ratio,
                                      self.seed, r["id"])
            rows.append({"id": stable_id(r["id"], self.codeswitch_ratio, self.seed), "aligned_id": r["id"],
                         "src_lang": r["src_lang"], "tgt_lang": r["tgt_lang"], "text": text,
                         "switched": [vars(s) for s in spans], "ratio": self.codeswitch_ratio,
                         "seed": self.seed})
        if rows:
            yield contract("align_codeswitched").batch(rows)

    def steps(self, store) -> Iterator[Step]:
        """The steps, as data: whole-table steps read their input tables when they run."""
        yield from super().steps(store)
        ref = store.ref()
        plan = None
        if self.method == "eflomal":
            from .scale import ChunkedAlignSource

            plan = self._chunk_plan(store)
            if plan.priors_id is not None:
                yield Step("priors", call(self._priors_reader, ref, plan), [], ["align_priors"], mode="merge",
                           inputs=["bitext"])
            yield Step("align", ChunkedAlignSource(plan), [], ["bitext_aligned"], mode="merge",
                       source_column="pair_id", position_column="line", inputs=["bitext"])
        else:
            stage = NeuralAlign(self.model, self.neural_method, self.layer, self.device,  # type: ignore[arg-type]
                                self.batch_size, self.src_lang, self.tgt_lang, self.pretokenized)
            yield Step("align", call(self._bitext_batches, ref).sized(self._pairs, ref), [stage], ["bitext_aligned"],
                       mode="merge",
                       position_column="line", inputs=["bitext"])
        yield Step("lexical", call(self._lexical_reader, ref, plan), [], ["lexical_table"], mode="overwrite",
                   inputs=["bitext_aligned"])
        if self.codeswitch_ratio > 0:
            yield Step("codeswitch", call(self._codeswitch_reader, ref), [], ["align_codeswitched"],
                       mode="merge", inputs=["bitext_aligned"])
