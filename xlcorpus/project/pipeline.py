"""The ``tprojection`` pipeline: project the spans of a source CoNLL file onto the tokens of a
target CoNLL file (sentence i translates sentence i) into the ``projected`` table.

All pairs of one run form one work unit: eflomal learns the alignment from the whole corpus
(plus the extra bitext), so splitting it would lower the quality. ``output_conll`` also
writes the projected target as CoNLL (IOB2) for training.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from itertools import zip_longest
from pathlib import Path
from typing import Annotated, ClassVar

import pyarrow as pa

from ..engine.core import Stage, Step, call
from ..errors import InputError, PipelineError
from ..ids import stable_id
from ..params import Help, InputPath, part, validate
from ..pipeline import Pipeline
from ..schema import contract
from ..sources.inputs import display_name, read_token_pairs
from ..text.tokenize import words
from .options import ProjectionInputs, ProjectionOptions, ProjectionSettings
from .project import project_corpus
from .select import Projected
from .spans import Sentence, Span, detokenize, iter_conll, token_to_char_spans, write_conll

SPAN = pa.struct([("start", pa.int32()), ("end", pa.int32()), ("label", pa.string())])
PAIRS_SCHEMA = pa.schema([("source", pa.string()), ("position", pa.int64()),
                          ("src_tokens", pa.list_(pa.string())), ("tgt_tokens", pa.list_(pa.string())),
                          ("src_spans", pa.list_(SPAN))])


def read_pairs(source: Path, target: Path) -> Iterator[pa.RecordBatch]:
    """One batch of all sentence pairs; unequal sentence counts raise InputError."""
    name = f"{display_name(source)}|{display_name(target)}"
    rows: dict[str, list] = {k: [] for k in PAIRS_SCHEMA.names}
    for n, (s, t) in enumerate(zip_longest(iter_conll(source), iter_conll(target, with_tags=False)), 1):
        if s is None or t is None:
            raise InputError(f"{source} and {target} have different numbers of sentences: sentence {n} "
                             f"(line {(s or t).line} of {source if t is None else target}) has no counterpart")
        for key, value in zip(PAIRS_SCHEMA.names, (name, s.line, s.tokens, t.tokens,
                                                   [sp.as_dict() for sp in s.spans])):
            rows[key].append(value)
    if rows["source"]:
        yield pa.RecordBatch.from_pydict(rows, schema=PAIRS_SCHEMA)


def confidence(n_source_spans: int, projected: list[Projected]) -> float:
    """Per-sentence projection confidence in [0, 1]: the mean over the source spans of the
    chosen candidate's score clipped to [0, 1] (0 for a span left unprojected); 1.0 when
    the source sentence has no span."""
    if not n_source_spans:
        return 1.0
    return sum(min(1.0, max(0.0, float(p.score))) for p in projected) / n_source_spans


def projected_rows(src: list[Sentence], tgt: list[Sentence], projected: list[list[Projected]],
                   src_lang: str, tgt_lang: str, method: str, source: str) -> list[dict]:
    """Rows of the ``projected`` table."""
    rows = []
    for s, t, ps in zip(src, tgt, projected):
        tgt_text, offsets = detokenize(t.tokens)
        chars = token_to_char_spans([Span(p.start, p.end, p.label) for p in ps], offsets)
        rows.append({
            "id": stable_id(src_lang, tgt_lang, source, s.line, " ".join(s.tokens), tgt_text),
            "src_lang": src_lang, "tgt_lang": tgt_lang, "src_text": " ".join(s.tokens), "tgt_text": tgt_text,
            "src_tokens": s.tokens, "tgt_tokens": t.tokens, "src_spans": [sp.as_dict() for sp in s.spans],
            "projected_spans": [{"start": p.start, "end": p.end, "label": p.label, "score": float(p.score),
                                 "source": p.source} for p in ps],
            "projected_char_spans": [c.as_dict() for c in chars],
            "confidence": confidence(len(s.spans), ps), "method": method, "source": source, "line": s.line})
    return rows


class ProjectStage(Stage):
    """Stage: sentence pairs -> ``projected`` rows (aligns the batch plus the extra bitext)."""

    name = "project"

    def __init__(self, src_lang: str, tgt_lang: str, options: dict, extra: list[tuple[str, str]],
                 output_conll: str | None = None, output_jsonl: str | None = None, min_confidence: float = 0.0):
        self.src_lang, self.tgt_lang = src_lang, tgt_lang
        self.options, self.extra, self.output_conll = options, extra, output_conll
        self.output_jsonl, self.min_confidence = output_jsonl, min_confidence
        self._extra: tuple[list, list] = ([], [])

    def setup(self) -> None:
        xs, xt = [], []
        for a, b in self.extra:
            s, t = read_token_pairs(a, b, words)
            xs += s
            xt += t
        self._extra = (xs, xt)

    def __call__(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        cols = batch.to_pydict()
        src = [Sentence(tok, [Span(**sp) for sp in spans], line, source) for tok, spans, line, source
               in zip(cols["src_tokens"], cols["src_spans"], cols["position"], cols["source"])]
        tgt = [Sentence(tok, [], line, source) for tok, line, source
               in zip(cols["tgt_tokens"], cols["position"], cols["source"])]
        opts = ProjectionOptions(**self.options)
        projected = project_corpus(src, tgt, self.src_lang, self.tgt_lang, *self._extra, opts=opts)
        source = cols["source"][0] if cols["source"] else ""
        rows = projected_rows(src, tgt, projected, self.src_lang, self.tgt_lang, opts.method, source)
        export_silver(rows, self.output_conll, self.output_jsonl, self.min_confidence)
        return contract("projected").batch(rows)


def export_silver(rows: list[dict], conll: str | None, jsonl: str | None, min_confidence: float = 0.0) -> int:
    """Write the projected target sentences whose confidence is at least ``min_confidence``
    as CoNLL (IOB2) and/or JSON lines (character spans and ``confidence``); returns how many.
    Compared at the precision the ``projected`` table stores (float32), so a threshold read
    from the table keeps the rows that show that value."""
    import numpy as np

    least = np.float32(min_confidence)
    keep = [r for r in rows if np.float32(r["confidence"]) >= least]
    if conll:
        write_conll(conll, [Sentence(r["tgt_tokens"], [Span(p["start"], p["end"], p["label"])
                                                       for p in r["projected_spans"]]) for r in keep])
    if jsonl:
        with open(jsonl, "w", encoding="utf-8") as fh:
            for r in keep:
                fh.write(json.dumps({"text": r["tgt_text"], "tokens": r["tgt_tokens"],
                                     "spans": r["projected_char_spans"], "confidence": round(r["confidence"], 4),
                                     "line": r["line"]}, ensure_ascii=False) + "\n")
    return len(keep)


@dataclass
class TProjectionPipeline(ProjectionSettings, ProjectionInputs, Pipeline):
    """Project span labels (NER...) from ``source`` (CoNLL with tags) onto ``target``
    (CoNLL tokens; tags ignored) into ``projected``; ``extra_src``/``extra_tgt`` are Moses
    pairs of files that only help the alignment."""

    kind: ClassVar[str] = "tprojection"
    extra_src: Annotated[list[InputPath], Help("extra bitext for the aligner, source side")] = field(default_factory=list)
    extra_tgt: list[InputPath] = field(default_factory=list)
    output_conll: Path | None = None

    def __post_init__(self) -> None:
        for p in [self.source, self.target, *self.extra_src, *self.extra_tgt]:
            if not p.is_file():
                raise PipelineError(f"tprojection: input file {p} does not exist")
        if len(self.extra_src) != len(self.extra_tgt):
            raise PipelineError("tprojection: extra_src and extra_tgt must list the same number of files")
        if self.method == "nmt" and not self.nmt_model:
            raise PipelineError("tprojection: method 'nmt' needs nmt_model (a local model folder)")
        try:
            validate(self)
        except PipelineError as exc:
            raise PipelineError(f"{self.kind}: {exc}") from exc

    def options(self) -> dict:
        return asdict(part(self, ProjectionSettings))

    def steps(self, store) -> Iterator[Step]:
        extra = [(str(a), str(b)) for a, b in zip(self.extra_src, self.extra_tgt)]
        out = str(self.output_conll) if self.output_conll else None
        yield Step("project", call(read_pairs, self.source, self.target),
                   [ProjectStage(self.src_lang, self.tgt_lang, self.options(), extra, out)],
                   ["projected"], mode="merge", dedupe={"projected": "id"})
