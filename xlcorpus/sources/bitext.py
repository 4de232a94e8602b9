"""Parallel text readers and the ``bitext-import`` pipeline.

Formats:

- ``moses``: two line-parallel files (``corpus.en``, ``corpus.fr``); line i of one
  translates line i of the other. If one file has more lines than the other the run fails
  with an error naming both files and their line counts (a missing line would otherwise
  silently shift every later pair).
- ``pipes``: one pair per line, ``src ||| tgt`` (the fast_align / eflomal format).
- ``tsv``: one pair per line, ``src<TAB>tgt``.

Bad records go to ``bitext_rejects``: a line that is not valid UTF-8, a ``pipes``/``tsv``
line without exactly one separator, a pair with an empty side, or a side holding a NUL or
another control character (tab excepted; ``keep_control: true`` keeps such pairs and logs
how many were kept). Pairs are deduplicated on content (``id`` is a hash of the languages
and both texts).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import zip_longest
from pathlib import Path
from typing import Annotated, ClassVar, Literal

import pyarrow as pa

from ..engine.core import Call, Reject, Stage, StageOutput, Step, batch_rows, call
from ..errors import PipelineError
from ..ids import stable_id
from ..params import Help, InputPath, LangCode, PositiveInt
from ..pipeline import Pipeline
from ..schema import contract
from .inputs import check_file, input_error, control_reason, decode_line, display_name, iter_lines, split_pair

RAW_SCHEMA = pa.schema([("source", pa.string()), ("position", pa.int64()),
                        ("src", pa.string()), ("tgt", pa.string())])
SEPARATORS = {"pipes": " ||| ", "tsv": "\t"}
log = logging.getLogger(__name__)


def read_moses(src: Path, tgt: Path, batch_size: int = 10_000) -> Iterator[pa.RecordBatch | Reject]:
    """Pairs from two line-parallel files; raises InputError if their line counts differ."""
    return batch_rows(_moses_rows(src, tgt), RAW_SCHEMA, batch_size)


def _moses_rows(src: Path, tgt: Path) -> Iterator[tuple | Reject]:
    name = f"{display_name(src)}|{display_name(tgt)}"
    for a, b in zip_longest(iter_lines(src), iter_lines(tgt)):
        if a is None or b is None:
            longer, shorter = (tgt, src) if a is None else (src, tgt)
            n = (b or a)[0]
            raise input_error(longer, f"line {n} has no counterpart: {shorter} has only {n - 1} lines "
                                      "(the files are not line-parallel; fix the missing line)", n)
        n = a[0]
        texts = [decode_line(a[1], name, n, "read_moses"), decode_line(b[1], name, n, "read_moses")]
        bad = [t for t in texts if isinstance(t, Reject)]
        yield bad[0] if bad else (name, n, texts[0], texts[1])


def read_pairs(path: Path, fmt: Literal["pipes", "tsv"] = "pipes",
               batch_size: int = 10_000) -> Iterator[pa.RecordBatch | Reject]:
    """Pairs from one file of ``src ||| tgt`` (``pipes``) or ``src<TAB>tgt`` (``tsv``) lines."""
    return batch_rows(_pair_rows(path, fmt), RAW_SCHEMA, batch_size)


def _pair_rows(path: Path, fmt: str) -> Iterator[tuple | Reject]:
    name = display_name(path)
    sep = SEPARATORS[fmt]
    stage = f"read_{fmt}"
    for n, raw in iter_lines(path):
        text = decode_line(raw, name, n, stage)
        if isinstance(text, Reject):
            yield text
            continue
        parts = text.split(sep) if fmt == "tsv" else split_pair(text)
        if len(parts) != 2:
            yield Reject(name, n, stage, f"expected exactly one {sep.strip() or 'TAB'!r} separator, "
                         f"found {len(parts) - 1}", text)
            continue
        yield (name, n, parts[0], parts[1])


class ToBitext(Stage):
    """Stage: raw pairs -> ``bitext`` rows; empty sides and control characters become
    rejects (``keep_control`` keeps the latter, counted in a warning)."""

    name = "to_bitext"

    def __init__(self, src_lang: str, tgt_lang: str, keep_control: bool = False):
        self.src_lang, self.tgt_lang, self.keep_control = src_lang, tgt_lang, keep_control

    def _reason(self, src: str, tgt: str) -> str | None:
        for side, text in (("source", src), ("target", tgt)):
            if not text.strip():
                return f"empty {side} side"
        for side, text in (("source", src), ("target", tgt)):
            why = control_reason(text)
            if why is not None:
                return f"{side} side: {why}"
        return None

    def __call__(self, batch: pa.RecordBatch) -> StageOutput:
        rows, rejects = [], []
        kept_control = 0
        for r in batch.to_pylist():
            reason = self._reason(r["src"], r["tgt"])
            if reason is not None and self.keep_control and not reason.startswith("empty"):
                kept_control += 1
            elif reason is not None:
                rejects.append(Reject(r["source"], r["position"], self.name, reason, f"{r['src']} ||| {r['tgt']}"))
                continue
            rows.append({"id": stable_id(self.src_lang, self.tgt_lang, r["src"], r["tgt"]),
                         "src_lang": self.src_lang, "tgt_lang": self.tgt_lang, "src": r["src"],
                         "tgt": r["tgt"], "source": r["source"], "line": r["position"]})
        if kept_control:
            log.warning("kept %d pair(s) with control characters (keep_control)", kept_control)
        return StageOutput(contract("bitext").batch(rows), rejects)


@dataclass
class BitextImport(Pipeline):
    """Import a parallel corpus into ``bitext`` (partitioned by language pair, deduplicated).

    Give either ``src`` and ``tgt`` (Moses pair of files) or ``pairs`` (one file of
    ``src ||| tgt`` or TSV lines; ``format`` chooses, default from the extension: ``.tsv``
    is TSV, anything else ``|||``). ``keep_control`` keeps pairs with control characters
    instead of rejecting them.
    """

    kind: ClassVar[str] = "bitext-import"
    src_lang: Annotated[LangCode, Help("language of the source side")]
    tgt_lang: Annotated[LangCode, Help("language of the target side")]
    src: Annotated[InputPath | None, Help("source file of a Moses pair")] = None
    tgt: Annotated[InputPath | None, Help("target file of a Moses pair")] = None
    pairs: Annotated[InputPath | None, Help("one file of 'src ||| tgt' or TSV lines")] = None
    format: Annotated[Literal["auto", "moses", "pipes", "tsv"], Help("format of 'pairs' (auto: by extension)")] = "auto"
    batch_size: Annotated[PositiveInt, Help("rows per work unit")] = 10_000
    keep_control: Annotated[bool, Help("keep pairs with control characters (counted) instead of rejecting them")] = False

    def __post_init__(self) -> None:
        moses = self.src is not None or self.tgt is not None
        if moses == (self.pairs is not None):
            raise PipelineError("bitext-import: give either src and tgt (two files) or pairs (one file)")
        if moses and (self.src is None or self.tgt is None):
            raise PipelineError("bitext-import: src and tgt must both be given")
        for p in (self.src, self.tgt, self.pairs):
            if p is not None:
                check_file(p)

    def reader(self) -> Call:
        """The pairs, as a source (nothing is opened until the step runs)."""
        if self.pairs is None:
            return call(read_moses, self.src, self.tgt, self.batch_size)
        fmt = self.format
        if fmt in ("auto", "moses"):
            fmt = "tsv" if self.pairs.suffix.lower() == ".tsv" else "pipes"
        return call(read_pairs, self.pairs, fmt, self.batch_size)

    def steps(self, store) -> Iterator[Step]:
        yield Step("import", self.reader(), [ToBitext(self.src_lang, self.tgt_lang, self.keep_control)], ["bitext"],
                   mode="merge", dedupe={"bitext": "id"})
