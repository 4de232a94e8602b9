"""Interlinear glossed text (IGT): SIGMORPHON 2023 Toolbox blocks and CLDF ExampleTable.

Toolbox blocks (blank-line separated)::

    \\t Бакидиз хъфена            text (words = whitespace-separated pieces)
    \\m баку-ди-з хъфе-на         optional morpheme segmentation, one item per word
    \\g Baku-ERG-DAT go-AOR       glosses, one item per word, morphemes split on '-'
    \\l I went to Baku,           free translation (kept verbatim)

CLDF ExampleTable (``examples.csv``): ``ID, Language_ID, Primary_Text, Analyzed_Word,
Gloss, Translated_Text`` with tab-separated word lists in ``Analyzed_Word`` and ``Gloss``;
two extra columns, ``Toolbox_Tiers`` (the tier tags in order) and ``Toolbox_Extra`` (JSON of
other tiers), make Toolbox -> CLDF -> Toolbox lossless.

A block whose gloss (or morpheme) tier has a different number of items than its words goes
to rejects with the block's first line number. Everything else is kept so that writing the
records back gives the input file byte for byte.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, ClassVar, Literal

import pyarrow as pa

from ..engine.core import Reject, Step, call
from ..errors import InputError, PipelineError
from ..ids import stable_id
from ..params import Help, InputPath, LangCode, PositiveInt, Ratio
from ..pipeline import Pipeline
from ..schema import contract
from .inputs import display_name, input_error, open_input

CORE = ("\\t", "\\m", "\\g", "\\l")
CLDF_COLUMNS = ["ID", "Language_ID", "Primary_Text", "Analyzed_Word", "Gloss", "Translated_Text",
                "Toolbox_Tiers", "Toolbox_Extra"]
Format = Literal["toolbox", "cldf"]


@dataclass
class IGTRecord:
    """One glossed example; ``morphemes``/``glosses`` hold one list of pieces per word."""

    example_id: str
    text: str
    words: list[str]
    glosses: list[list[str]]
    morphemes: list[list[str]] | None = None
    translation: str | None = None
    lang: str | None = None
    tiers: list[str] = field(default_factory=lambda: ["\\t", "\\g", "\\l"])
    extra: list[tuple[str, str]] = field(default_factory=list)
    source: str = ""
    line: int = 0

    def row(self, lang: str | None = None) -> dict:
        lang = self.lang or lang
        return {"id": stable_id(self.source, self.line, self.example_id),
                "lang": lang or "und", "source": self.source, "line": self.line,
                "example_id": self.example_id, "text": self.text, "words": self.words,
                "morphemes": self.morphemes, "glosses": self.glosses,
                "translation": self.translation, "tiers": self.tiers,
                "extra": [{"tag": t, "text": x} for t, x in self.extra]}

    @classmethod
    def from_row(cls, r: dict) -> "IGTRecord":
        return cls(r["example_id"], r["text"], r["words"], r["glosses"], r.get("morphemes"),
                   r.get("translation"), r.get("lang"), list(r.get("tiers") or ["\\t", "\\g", "\\l"]),
                   [(x["tag"], x["text"]) for x in r.get("extra") or []], r.get("source", ""),
                   r.get("line", 0))


def _split_items(text: str) -> list[list[str]]:
    return [w.split("-") for w in text.split()]


def _check(rec: IGTRecord) -> str | None:
    n = len(rec.words)
    if len(rec.glosses) != n:
        return f"gloss tier has {len(rec.glosses)} items but the text has {n} words"
    if rec.morphemes is not None and len(rec.morphemes) != n:
        return f"morpheme tier has {len(rec.morphemes)} items but the text has {n} words"
    return None


# ------------------------------------------------------------------ Toolbox
def _toolbox_blocks(text: str) -> Iterator[tuple[int, list[str]]]:
    """(first line number, lines) of each blank-line separated block."""
    block: list[str] = []
    start = 0
    for n, line in enumerate(text.split("\n"), 1):
        if line.strip():
            if not block:
                start = n
            block.append(line)
        elif block:
            yield start, block
            block = []
    if block:
        yield start, block


def parse_toolbox(text: str, source: str = "<text>", lang: str | None = None
                  ) -> Iterator[IGTRecord | Reject]:
    """Records (and rejects) of a Toolbox IGT file's content."""
    for index, (start, lines) in enumerate(_toolbox_blocks(text), 1):
        tiers, values, extra, bad = [], {}, [], None
        for line in lines:
            tag, _, rest = line.partition(" ")
            if not tag.startswith("\\"):
                bad = f"line {line[:40]!r} does not start with a \\tier marker"
                break
            tiers.append(tag)
            if tag in CORE and tag not in values:
                values[tag] = rest
            else:
                extra.append((tag, rest))
        if bad is None and "\\t" not in values:
            bad = "block has no \\t (text) tier"
        if bad is None and "\\g" not in values:
            bad = "block has no \\g (gloss) tier"
        if bad:
            yield Reject(source, start, "read_toolbox", bad, "\n".join(lines))
            continue
        rec = IGTRecord(str(index), values["\\t"], values["\\t"].split(), _split_items(values["\\g"]),
                        _split_items(values["\\m"]) if "\\m" in values else None,
                        values.get("\\l"), lang, tiers, extra, source, start)
        problem = _check(rec)
        if problem:
            yield Reject(source, start, "read_toolbox", problem, "\n".join(lines))
        else:
            yield rec


def _tier(tag: str, value: str) -> str:
    return f"{tag} {value}" if value else tag


def format_toolbox(records: Iterable[IGTRecord]) -> str:
    """Toolbox text of ``records`` (blocks separated by one blank line, final newline)."""
    blocks = []
    for r in records:
        values = {"\\t": r.text, "\\g": " ".join("-".join(g) for g in r.glosses)}
        if r.morphemes is not None:
            values["\\m"] = " ".join("-".join(m) for m in r.morphemes)
        if r.translation is not None:
            values["\\l"] = r.translation
        extra = iter(r.extra)
        lines = []
        for tag in r.tiers:
            lines.append(_tier(tag, values.pop(tag)) if tag in values else _tier(*next(extra, (tag, ""))))
        lines += [_tier(t, x) for t, x in extra]
        lines += [_tier(t, v) for t, v in values.items()]  # tiers the order did not name
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks) + ("\n" if blocks else "")


# --------------------------------------------------------------------- CLDF
def parse_cldf(text: str, source: str = "<text>", lang: str | None = None
               ) -> Iterator[IGTRecord | Reject]:
    """Records (and rejects) of a CLDF ExampleTable CSV's content."""
    reader = csv.DictReader(io.StringIO(text, newline=""))
    missing = {"ID", "Primary_Text", "Analyzed_Word", "Gloss"} - set(reader.fieldnames or [])
    if missing:
        raise InputError(f"{source}: not a CLDF ExampleTable: missing column(s) {sorted(missing)}")
    for row in reader:
        line = reader.line_num
        if None in row or any(v is None for v in row.values()):
            yield Reject(source, line, "read_cldf", f"the row does not have the header's "
                         f"{len(reader.fieldnames or [])} columns", str(row))
            continue
        analyzed = [w.split("-") for w in row["Analyzed_Word"].split("\t")] if row["Analyzed_Word"] else []
        glosses = [g.split("-") for g in row["Gloss"].split("\t")] if row["Gloss"] else []
        tiers = (row.get("Toolbox_Tiers") or "").split() or None
        words = row["Primary_Text"].split()
        has_m = "\\m" in tiers if tiers else True
        if not has_m:
            morphemes = None
            if ["-".join(a) for a in analyzed] != words:
                yield Reject(source, line, "read_cldf", "Analyzed_Word differs from the words of "
                             "Primary_Text although Toolbox_Tiers has no \\m tier", str(row))
                continue
        else:
            morphemes = analyzed
            if len(words) != len(analyzed):
                words = ["".join(a) for a in analyzed]
        extra = [tuple(x) for x in json.loads(row["Toolbox_Extra"])] if row.get("Toolbox_Extra") else []
        translation = row.get("Translated_Text")
        if translation == "" and tiers and "\\l" not in tiers:
            translation = None
        rec = IGTRecord(row["ID"], row["Primary_Text"], words, glosses, morphemes, translation,
                        row.get("Language_ID") or lang,
                        tiers or ["\\t", "\\m", "\\g", "\\l"], extra, source, line)  # type: ignore[arg-type]
        if len(glosses) != len(analyzed):
            yield Reject(source, line, "read_cldf", f"Gloss has {len(glosses)} items but "
                         f"Analyzed_Word has {len(analyzed)}", str(row))
            continue
        problem = _check(rec)
        if problem:
            yield Reject(source, line, "read_cldf", problem, str(row))
        else:
            yield rec


def format_cldf(records: Iterable[IGTRecord]) -> str:
    out = io.StringIO(newline="")
    w = csv.writer(out, lineterminator="\n")
    w.writerow(CLDF_COLUMNS)
    for r in records:
        analyzed = r.morphemes if r.morphemes is not None else [[x] for x in r.words]
        w.writerow([r.example_id, r.lang or "", r.text, "\t".join("-".join(a) for a in analyzed),
                    "\t".join("-".join(g) for g in r.glosses), r.translation or "",
                    " ".join(r.tiers), json.dumps(r.extra, ensure_ascii=False) if r.extra else ""])
    return out.getvalue()


PARSERS = {"toolbox": parse_toolbox, "cldf": parse_cldf}
WRITERS = {"toolbox": format_toolbox, "cldf": format_cldf}


def read_igt(path: str | Path, fmt: Format, lang: str | None = None) -> Iterator[IGTRecord | Reject]:
    p = Path(path)
    with open_input(p) as fh:
        data = fh.read()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise input_error(p, f"invalid UTF-8 at byte {exc.start}", line) from None
    return PARSERS[fmt](text, display_name(p), lang)


def convert(src: str | Path, src_fmt: Format, dst: str | Path, dst_fmt: Format
            ) -> tuple[int, list[Reject]]:
    """Convert an IGT file; return (records written, rejects)."""
    records, rejects = [], []
    for item in read_igt(src, src_fmt):
        (rejects if isinstance(item, Reject) else records).append(item)
    Path(dst).write_text(WRITERS[dst_fmt](records), encoding="utf-8", newline="")
    return len(records), rejects


# ----------------------------------------------------------------- pipeline
def _records_reader(path: Path, fmt: Format, lang: str | None, batch_size: int
                    ) -> Iterator[pa.RecordBatch | Reject]:
    rows = []
    for item in read_igt(path, fmt, lang):
        if isinstance(item, Reject):
            yield item
            continue
        rows.append(item.row(lang))
        if len(rows) >= batch_size:
            yield contract("igt").batch(rows)
            rows = []
    if rows:
        yield contract("igt").batch(rows)


@dataclass
class IGTImport(Pipeline):
    """Import interlinear glossed text (Toolbox or CLDF ExampleTable) into ``igt``."""

    kind: ClassVar[str] = "igt-import"
    input: Annotated[InputPath, Help("Toolbox file or CLDF ExampleTable (CSV or metadata JSON)")]
    format: Literal["toolbox", "cldf"] = "toolbox"
    lang: Annotated[LangCode | None, Help("language of the examples (default: from the data)")] = None
    batch_size: PositiveInt = 5000

    def __post_init__(self) -> None:
        if not self.input.is_file():
            raise PipelineError(f"igt-import: input file {self.input} does not exist")

    def steps(self, store) -> Iterator[Step]:
        yield Step("import", call(_records_reader, self.input, self.format, self.lang, self.batch_size),
                   [], ["igt"], mode="merge", dedupe={"igt": "id"},
                   source_column="source", position_column="line")
