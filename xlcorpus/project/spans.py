"""Span annotations: CoNLL/BIO files, JSON lines with character spans, conversions.

A span is ``Span(start, end, label)``, half-open, over token indices (CoNLL) or Unicode
code points (JSON lines), the Arrow type ``list<struct<start:int32, end:int32, label:string>>``.

CoNLL files: one token per line, the token in the first column and the tag in the last; a
blank line ends a sentence; ``-DOCSTART-`` lines are skipped. The column layout is decided
once per file, by its first token line: columns separated by tabs (if it has a tab) or by runs
of ASCII spaces (a no-break space stays inside its token), and their number; a later line
that does not fit it (e.g. a token holding a tab) is an error naming the file and line. A
file of one column carries no tags (every tag ``O``; a target file may carry none). Tag schemes:

- ``iob1``: ``I-X`` inside or at the start of an entity, ``B-X`` only to start an entity
  right after another entity of the same type;
- ``iob2``: ``B-X`` starts every entity, ``I-X`` continues it;
- ``bioes``: ``B-X I-X* E-X`` for multi-token entities, ``S-X`` for single tokens;
- ``auto`` (reading only): ``bioes`` if an ``E-``/``S-`` tag occurs, else ``iob2`` (IOB1 and
  IOB2 decode to the same spans under the repair rule below).

**Repair rule** (the conlleval / seqeval rule, applied when ``repair=True``): a tag that
continues an entity (``I-X``, ``E-X``) with no open entity of type ``X`` starts a new
entity of type ``X``; an open entity is closed before any tag that cannot continue it (``O``,
``B-``, ``S-``, a different type) and after an ``E-`` or ``S-`` tag. With ``repair=False``
the first such tag raises :class:`~xlcorpus.errors.InputError` naming the file and line
(IOB1's ``I-X`` after ``O`` is legal and never repaired). A tag that is not ``O`` nor
``P-TYPE`` with ``P`` in ``B I E S`` is always an error.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, NamedTuple

from ..errors import InputError
from ..sources.inputs import input_error, text_lines
from ..text.tokenize import tokenize

Scheme = Literal["iob1", "iob2", "bioes"]
_SPACES = re.compile(r"[ \t]+")  # ASCII only: other spaces belong to the token


class Span(NamedTuple):
    """A labelled half-open interval ``[start, end)`` of tokens or characters."""

    start: int
    end: int
    label: str

    def as_dict(self) -> dict:
        return {"start": self.start, "end": self.end, "label": self.label}


@dataclass
class Sentence:
    """Tokens with token spans; ``line`` is the 1-based line of the first token."""

    tokens: list[str]
    spans: list[Span] = field(default_factory=list)
    line: int = 0
    source: str = ""

    @property
    def text(self) -> str:
        return " ".join(self.tokens)

    def surface(self, span: Span) -> str:
        return " ".join(self.tokens[span.start:span.end])


# ------------------------------------------------------------------ tags <-> spans
def _split_tag(tag: str, where: str) -> tuple[str, str]:
    if tag == "O":
        return "O", ""
    prefix, sep, label = tag.partition("-")
    if not sep or prefix not in ("B", "I", "E", "S") or not label:
        raise InputError(f"{where}: invalid tag {tag!r} (expected O or B-/I-/E-/S- followed by a type)")
    return prefix, label


def tags_to_spans(tags: Sequence[str], scheme: Literal["auto", "iob1", "iob2", "bioes"] = "auto",
                  repair: bool = True, where: str = "tags", lines: Sequence[int] | None = None) -> list[Span]:
    """Decode a tag sequence into token spans (see the module doc for the repair rule).

    ``lines`` gives the file line of each tag, for error messages.
    """
    if scheme == "auto":
        scheme = "bioes" if any(t[:2] in ("E-", "S-") for t in tags) else "iob2"
    spans: list[Span] = []
    start, label = None, ""

    def at(i: int) -> str:
        return f"{where}:{lines[i]}" if lines is not None else f"{where}: token {i + 1}"

    def close(end: int) -> None:
        nonlocal start
        if start is not None:
            spans.append(Span(start, end, label))
        start = None

    for i, tag in enumerate(tags):
        prefix, lab = _split_tag(tag, at(i))
        if prefix in ("E", "S") and scheme != "bioes":
            raise InputError(f"{at(i)}: tag {tag!r} is not allowed in scheme {scheme}")
        continues = start is not None and lab == label and prefix in ("I", "E")
        if prefix == "O":
            if scheme == "bioes" and start is not None and not repair:
                raise InputError(f"{at(i)}: entity {label} opened before is not ended by E-{label}")
            close(i)
            continue
        if continues:
            if prefix == "E":
                close(i + 1)
            continue
        # a tag that cannot continue the open entity
        if start is not None and scheme == "bioes" and not repair:
            raise InputError(f"{at(i)}: tag {tag!r} follows an unfinished {label} entity")
        if prefix in ("I", "E") and not repair and scheme != "iob1":
            raise InputError(f"{at(i)}: tag {tag!r} continues no open {lab} entity")
        close(i)
        start, label = i, lab
        if prefix in ("E", "S"):
            close(i + 1)
    if start is not None and scheme == "bioes" and not repair:
        raise InputError(f"{at(len(tags) - 1)}: entity {label} is not ended by E-{label}")
    close(len(tags))
    return spans


def spans_to_tags(spans: Iterable[Span], n: int, scheme: Scheme = "iob2") -> list[str]:
    """Encode non-overlapping token spans as ``n`` tags; overlapping spans raise ValueError."""
    tags = ["O"] * n
    previous: Span | None = None
    for s in sorted(spans, key=lambda s: (s.start, s.end)):
        if not 0 <= s.start < s.end <= n:
            raise ValueError(f"span {s} is outside 0..{n} or empty")
        if previous is not None and s.start < previous.end:
            raise ValueError(f"spans {previous} and {s} overlap")
        width = s.end - s.start
        if scheme == "bioes":
            if width == 1:
                tags[s.start] = f"S-{s.label}"
            else:
                tags[s.start:s.end] = [f"B-{s.label}"] + [f"I-{s.label}"] * (width - 2) + [f"E-{s.label}"]
        else:
            adjacent = previous is not None and previous.end == s.start and previous.label == s.label
            first = "B" if scheme == "iob2" or adjacent else "I"
            tags[s.start:s.end] = [f"{first}-{s.label}"] + [f"I-{s.label}"] * (width - 1)
        previous = s
    return tags


# ------------------------------------------------------------------ CoNLL files
def iter_conll(path: str | os.PathLike[str], scheme: Literal["auto", "iob1", "iob2", "bioes"] = "auto",
               repair: bool = True, with_tags: bool = True) -> Iterator[Sentence]:
    """Sentences of a CoNLL file (see module doc). ``with_tags=False`` ignores the tag column."""
    name = Path(path).name
    tokens: list[str] = []
    tags: list[str] = []
    lines: list[int] = []

    def flush() -> Sentence:
        spans = tags_to_spans(tags, scheme, repair, name, lines) if with_tags else []
        return Sentence(list(tokens), spans, lines[0], name)

    layout: tuple[str, int] | None = None  # (separator, number of columns)
    for n, line in text_lines(path):
        if not line.strip():
            if tokens:
                yield flush()
                tokens, tags, lines = [], [], []
            continue
        if line.lstrip().startswith("-DOCSTART-"):
            continue
        if layout is None:
            sep = "\t" if "\t" in line else " "
            layout = (sep, len(_columns(line, sep)))
        cols = _columns(line, layout[0])
        if len(cols) != layout[1]:
            kind = "tab" if layout[0] == "\t" else "space"
            raise input_error(path, f"{len(cols)} {kind}-separated columns, but the file's first token line "
                                    f"has {layout[1]} (a token may not hold a {kind})", n)
        token = cols[0]
        if not token:
            raise input_error(path, "empty token column", n)
        tokens.append(token)
        tags.append(cols[-1] if len(cols) > 1 and with_tags else "O")
        lines.append(n)
    if tokens:
        yield flush()


def _columns(line: str, sep: str) -> list[str]:
    if sep == "\t":
        return [c.strip(" \r") for c in line.split("\t")]
    return _SPACES.split(line.strip(" \t\r"))


def read_conll(path: str | os.PathLike[str], **kwargs) -> list[Sentence]:
    """All sentences of a CoNLL file (arguments of :func:`iter_conll`)."""
    return list(iter_conll(path, **kwargs))


def format_conll(sentences: Iterable[Sentence], scheme: Scheme = "iob2", sep: str = "\t") -> Iterator[str]:
    """Lines of a CoNLL file (``token<sep>tag``, blank line after each sentence)."""
    for s in sentences:
        for tok, tag in zip(s.tokens, spans_to_tags(s.spans, len(s.tokens), scheme)):
            yield f"{tok}{sep}{tag}\n"
        yield "\n"


def write_conll(path: str | os.PathLike[str], sentences: Iterable[Sentence], scheme: Scheme = "iob2") -> int:
    """Write sentences as CoNLL; returns the number of sentences."""
    n = 0
    with open(path, "w", encoding="utf-8") as fh:
        for line in format_conll(sentences, scheme):
            fh.write(line)
            n += line == "\n"
    return n


# ------------------------------------------------------------------ characters <-> tokens
def token_offsets(text: str, tokens: Sequence[str], where: str = "text") -> list[tuple[int, int]]:
    """Character offsets of ``tokens`` found in order in ``text`` (only whitespace between)."""
    out, pos = [], 0
    for i, tok in enumerate(tokens):
        start = text.find(tok, pos)
        if start < 0 or text[pos:start].strip():
            raise InputError(f"{where}: token {i + 1} {tok!r} not found at offset {pos} of the text")
        out.append((start, start + len(tok)))
        pos = start + len(tok)
    return out


def detokenize(tokens: Sequence[str]) -> tuple[str, list[tuple[int, int]]]:
    """Join tokens with single spaces; return the text and each token's offsets."""
    offsets, pos = [], 0
    for tok in tokens:
        offsets.append((pos, pos + len(tok)))
        pos += len(tok) + 1
    return " ".join(tokens), offsets


def token_to_char_spans(spans: Iterable[Span], offsets: Sequence[tuple[int, int]]) -> list[Span]:
    """Token spans -> character spans (from the first token's start to the last token's end)."""
    return [Span(offsets[s.start][0], offsets[s.end - 1][1], s.label) for s in spans]


def char_to_token_spans(spans: Iterable[Span], offsets: Sequence[tuple[int, int]],
                        strict: bool = False, where: str = "spans") -> list[Span]:
    """Character spans -> token spans covering every token the span overlaps.

    ``strict=True`` raises InputError when a span does not start and end on token boundaries
    or covers no token.
    """
    out = []
    for s in spans:
        inside = [i for i, (a, b) in enumerate(offsets) if a < s.end and b > s.start]
        if not inside:
            raise InputError(f"{where}: span {s.start}-{s.end} ({s.label}) covers no token")
        first, last = inside[0], inside[-1]
        if strict and (offsets[first][0] != s.start or offsets[last][1] != s.end):
            raise InputError(f"{where}: span {s.start}-{s.end} ({s.label}) does not fall on token boundaries")
        out.append(Span(first, last + 1, s.label))
    return out


# ------------------------------------------------------------------ JSON lines
def iter_jsonl(path: str | os.PathLike[str], strict: bool = False) -> Iterator[Sentence]:
    """Sentences from JSON lines ``{"text": str, "spans": [{"start","end","label"}], "tokens"?: [str]}``.

    Spans are character offsets into ``text`` (code points, half-open); they become token
    spans over ``tokens`` (or over the ``words`` tokens of the text when absent).
    """
    name = Path(path).name
    for n, raw in text_lines(path):
        if not raw.strip():
            continue
        where = f"{name}:{n}"
        try:
            rec = json.loads(raw)
            text = rec["text"]
            cspans = [Span(int(s["start"]), int(s["end"]), str(s["label"])) for s in rec.get("spans", [])]
            tokens = rec.get("tokens")
            if not isinstance(text, str) or not (tokens is None or all(isinstance(t, str) for t in tokens)):
                raise TypeError("'text' must be a string and 'tokens' a list of strings")
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise InputError(f"{where}: not a record with 'text' and 'spans': {exc}") from None
        for s in cspans:
            if not 0 <= s.start < s.end <= len(text):
                raise InputError(f"{where}: span {s.start}-{s.end} is outside the text (length {len(text)})")
        if tokens is not None:
            tokens, offsets = list(tokens), token_offsets(text, tokens, where)
        else:
            tok = tokenize(text, scheme="words")
            tokens, offsets = tok.tokens, tok.spans
        yield Sentence(tokens, char_to_token_spans(cspans, offsets, strict, where), n, name)


def write_jsonl(path: str | os.PathLike[str], sentences: Iterable[Sentence]) -> int:
    """Write sentences as JSON lines with character spans over the space-joined tokens."""
    n = 0
    with open(path, "w", encoding="utf-8") as fh:
        for s in sentences:
            text, offsets = detokenize(s.tokens)
            spans = [c.as_dict() for c in token_to_char_spans(s.spans, offsets)]
            fh.write(json.dumps({"text": text, "tokens": s.tokens, "spans": spans}, ensure_ascii=False) + "\n")
            n += 1
    return n


def read_spans(path: str | os.PathLike[str], **kwargs) -> list[Sentence]:
    """Read ``.jsonl``/``.json`` as JSON lines, anything else as CoNLL."""
    if str(path).endswith((".jsonl", ".json")):
        return list(iter_jsonl(path, strict=kwargs.get("strict", False)))
    kwargs.pop("strict", None)
    return read_conll(path, **kwargs)
