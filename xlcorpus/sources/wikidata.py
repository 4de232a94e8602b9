"""Wikidata JSON dumps -> ``wikidata_labels`` and ``wikidata_sitelinks``.

Accepted inputs (plain, .gz, .bz2 with parallel decompression, .xz):

- the dump layout (``latest-all.json``): a ``[`` line, one entity per line ending in ``,``,
  a ``]`` line; a truncated dump without the ``]`` (or cut inside the last line) reads up to
  the last complete line, and the cut line becomes a reject;
- JSON lines: one entity object per line;
- a single entity as one JSON document (``Q22.json``), also the
  ``Special:EntityData`` wrapper ``{"entities": {"Q22": {...}}}``.

The reader only splits the file into raw lines with their **byte offset** in the
decompressed stream (cheap, one process), and drops a line that repeats an entity id seen
before (a reject with its offset; ids are read from the line's start and kept in a bitmap
per id letter, so a full dump costs tens of MB; a plain dump read by workers in byte ranges
is deduplicated within each range, and between ranges when the engine commits the step's
part files in ``merge`` mode, keeping the first copy); :class:`ParseEntities` parses them with orjson in
the engine's worker processes, so parsing scales with ``--workers``. A line that is not
valid JSON becomes a reject whose ``position`` is its byte offset.

Parsing skips the ``claims`` object (the bulk of each entity) without decoding it: the
bytes ``"claims":`` cannot occur inside a JSON string (a quote inside a string is always
escaped), so cutting from the top-level ``"claims":`` to ``"sitelinks":`` leaves a valid
object with everything this reader extracts; with a site filter only the wanted sitelinks
are read (by pattern, from the dumps' compact form). When a cut is not possible or does not
parse, or the line may be truncated (last line without a newline, or not ending in ``}``),
the whole line is parsed, so a cut entity is a reject. Claims are never validated.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc

from ..engine.core import Reject, Stage, StageOutput
from ..schema import contract
from .inputs import codec_of, display_name, open_input

RAW_SCHEMA = pa.schema([("source", pa.string()), ("position", pa.int64()), ("raw", pa.large_binary()),
                        ("whole", pa.bool_())])
CHUNK_BYTES = 8 << 20
PART_BYTES = 64 << 20
_CLAIMS = b'"claims":'
_SITELINKS = b'"sitelinks":'
_STRIP = b" \t\r\n,"
ID_WINDOW = 300  # the top-level id comes right after "type" at the start of a dump line


class SeenIds:
    """Entity ids already read: a growing bitmap per id letter (numbers above ``BITMAP_MAX``,
    which real dumps do not reach, in a set)."""

    BITMAP_MAX = 1 << 28  # 32 MB of bitmap per letter at most

    def __init__(self) -> None:
        self.bits: dict[bytes, bytearray] = {}
        self.big: set[bytes] = set()

    def repeated(self, line: bytes) -> bytes | None:
        """The line's entity id if it was seen before (else it is recorded; None)."""
        i = line.find(b'"id":', 0, ID_WINDOW) + 5
        if i < 5:
            return None  # no id where dumps put it: left to the parser
        if line[i:i + 1] == b" ":  # JSON lines written with spaces
            i = len(line) - len(line[i:].lstrip(b" "))
        j = line.find(b'"', i + 1, i + 17)
        qid = line[i + 1:j]
        if line[i:i + 1] != b'"' or j < 0 or not qid[1:].isdigit():
            return None
        letter, n = qid[:1], int(qid[1:])
        if n >= self.BITMAP_MAX:
            if qid in self.big:
                return qid
            self.big.add(qid)
            return None
        bits = self.bits.get(letter)
        if bits is None:
            bits = self.bits[letter] = bytearray()
        byte, bit = n >> 3, 1 << (n & 7)
        if byte >= len(bits):
            bits.extend(bytes(max(byte + 1 - len(bits), len(bits))))
        if bits[byte] & bit:
            return qid
        bits[byte] |= bit
        return None


def _chunk(source: str, positions: list[int], raws: list[bytes], last_whole: bool = True) -> pa.RecordBatch:
    whole = [True] * len(raws)
    if raws:
        whole[-1] = last_whole
    return pa.RecordBatch.from_arrays(
        [pa.array([source] * len(raws), pa.string()), pa.array(positions, pa.int64()),
         pa.array(raws, pa.large_binary()), pa.array(whole, pa.bool_())], schema=RAW_SCHEMA)


def read_wikidata(path: str | os.PathLike[str], chunk_bytes: int = CHUNK_BYTES,
                  threads: int | None = None, part_bytes: int = PART_BYTES) -> WikidataReader:
    """Raw entity lines of a Wikidata dump in chunks of about ``chunk_bytes``.

    Each batch has ``source`` (file name), ``position`` (byte offset of the line in the
    decompressed stream) and ``raw`` (the line, without its end). The ``[``/``]`` lines and
    blank lines are skipped. A file whose first line is an incomplete JSON object is read as
    one document (a pretty-printed single entity).

    An uncompressed dump larger than ``part_bytes`` also offers :meth:`WikidataReader.parts`:
    byte ranges that the engine's workers read themselves, so reading scales with workers
    too (a compressed dump is decompressed here, ``.bz2`` with ``threads`` threads).
    """
    return WikidataReader(Path(path), chunk_bytes, threads, part_bytes)


class WikidataReader:
    """Iterable of raw line chunks of one dump (see :func:`read_wikidata`)."""

    def __init__(self, path: Path, chunk_bytes: int, threads: int | None, part_bytes: int):
        self.path, self.chunk_bytes, self.threads, self.part_bytes = path, chunk_bytes, threads, part_bytes
        self.source = display_name(path)

    def __iter__(self) -> Iterator[pa.RecordBatch | Reject]:
        with open_input(self.path, self.threads) as fh:
            first = fh.readline()
            if _single_document(first):
                yield _chunk(self.source, [0], [first + fh.read()], False)
                return
            yield from _line_chunks(fh, self.source, first, 0, None, self.chunk_bytes)

    def parts(self, workers: int = 1) -> list[DumpPart] | None:
        """Byte ranges of an uncompressed dump (None: read it whole, here): equal ranges of
        at most ``part_bytes``, their number a multiple of ``workers`` (balanced work)."""
        if not self.path.is_file():
            return None
        size = self.path.stat().st_size
        if size <= self.part_bytes:
            return None
        if codec_of(self.path) is not None:
            return None  # compressed (by its content, whatever its name): decompressed here
        with open(self.path, "rb") as fh:
            if _single_document(fh.readline()):
                return None
        n = -(-size // self.part_bytes)
        n = -(-n // workers) * workers
        bounds = [size * i // n for i in range(n + 1)]
        return [DumpPart(self.path, self.source, a, b, self.chunk_bytes) for a, b in zip(bounds, bounds[1:]) if b > a]


class DumpPart:
    """The lines of a plain dump that *start* in ``[start, end)``, as raw line chunks."""

    def __init__(self, path: Path, source: str, start: int, end: int, chunk_bytes: int):
        self.path, self.source, self.start, self.end, self.chunk_bytes = path, source, start, end, chunk_bytes

    def __call__(self) -> Iterator[pa.RecordBatch | Reject]:
        with open(self.path, "rb", buffering=1 << 20) as fh:
            if self.start:
                fh.seek(self.start - 1)
                fh.readline()  # the rest of a line that started before this part
            offset = fh.tell()
            if offset < self.end:
                yield from _line_chunks(fh, self.source, fh.readline(), offset, self.end, self.chunk_bytes)


def _single_document(first: bytes) -> bool:
    return first.lstrip().startswith(b"{") and not _complete(first)


def _line_chunks(fh, source: str, line: bytes, offset: int, end: int | None,
                 chunk_bytes: int) -> Iterator[pa.RecordBatch | Reject]:
    """Chunks of the entity lines from ``line`` (at byte ``offset``) on, up to the first line
    starting at or after ``end`` (None: the end of the stream); a repeated entity is a reject."""
    positions: list[int] = []
    raws: list[bytes] = []
    size = 0
    last_whole = True
    seen = SeenIds()
    while line and (end is None or offset < end):
        stripped = line.strip()
        if stripped and stripped not in (b"[", b"]"):
            qid = seen.repeated(line)
            if qid is not None:
                yield Reject(source, offset, "read_wikidata", f"duplicate entity {qid.decode()} at byte {offset}: "
                             "an earlier line has the same id; the first one is kept", None)
            else:
                positions.append(offset)
                raws.append(line.rstrip(b"\r\n"))
                last_whole = line.endswith(b"\n")
                size += len(line)
                if size >= chunk_bytes:
                    yield _chunk(source, positions, raws)
                    positions, raws, size = [], [], 0
        offset += len(line)
        line = fh.readline()
    if raws:
        yield _chunk(source, positions, raws, last_whole)


def _complete(line: bytes) -> bool:
    try:
        orjson.loads(line.strip().rstrip(b","))
        return True
    except orjson.JSONDecodeError:
        return False


class _NotCanonical(Exception):
    """A wanted sitelink is not in the dump's compact form: parse the whole line."""


_SITE_PATTERNS: dict[str, re.Pattern[bytes]] = {}


def _sitelinks(raw: bytes, start: int, sites: frozenset[str]) -> dict:
    """The wanted sitelinks, read by pattern from the compact sitelinks object at ``start``."""
    out = {}
    for site in sites:
        pat = _SITE_PATTERNS.get(site)
        if pat is None:
            s = re.escape(site.encode())
            pat = _SITE_PATTERNS[site] = re.compile(rb'"' + s + rb'":\{"site":"' + s + rb'","title":"((?:[^"\\]|\\.)*)"')
        m = pat.search(raw, start)
        if m:
            out[site] = {"site": site, "title": orjson.loads(b'"' + m.group(1) + b'"')}
        elif raw.find(b'"' + site.encode() + b'":', start) >= 0:
            raise _NotCanonical(site)
    return out


def loads_entity(raw: bytes, sites: frozenset[str] | None = None, whole: bool = True) -> Any:
    """Parse one entity line (trailing comma allowed) without decoding its ``claims``.

    With ``sites``, only those sitelinks are read (by pattern, from the compact form the
    dumps use) and the rest of the sitelinks object is skipped too. A line that may be cut
    (``whole`` false: the last line of a file without a final newline, or a line not ending
    in ``}``) is always parsed in full, so a truncated entity becomes a reject.
    """
    raw = raw.strip(_STRIP)
    i = raw.find(_CLAIMS)
    if i > 0 and whole and raw.endswith(b"}"):
        j = raw.rfind(_SITELINKS)
        if j > i:
            try:
                if sites is None:
                    return orjson.loads(raw[:i] + raw[j:])
                head = orjson.loads(raw[:i].rstrip().rstrip(b",") + b"}")
                head["sitelinks"] = _sitelinks(raw, j, sites)
                return head
            except (orjson.JSONDecodeError, _NotCanonical):
                pass
    return orjson.loads(raw)


def iter_entities(doc: Any) -> Iterable[dict]:
    """The entities of a parsed record: itself, or the values of an ``entities`` wrapper."""
    if isinstance(doc, dict) and "id" not in doc and isinstance(doc.get("entities"), dict):
        return [e for e in doc["entities"].values() if isinstance(e, dict)]
    if isinstance(doc, dict):
        return [doc]
    if isinstance(doc, list):
        return [e for e in doc if isinstance(e, dict)]
    raise ValueError(f"expected a JSON object, found {type(doc).__name__}")


def _as_dict(value: Any) -> dict:
    return value if isinstance(value, dict) else {}  # empty maps are serialised as [] in the dumps


class _Columns:
    """Column lists of the label and sitelink rows of one batch; per-entity values (qid,
    source, position) are stored once and repeated by Arrow at the end."""

    def __init__(self) -> None:
        self.qids: list[str] = []
        self.positions: list[int] = []
        self.sources: list[str] = []
        self.n_labels: list[int] = []
        self.lang: list[str] = []
        self.label: list[str | None] = []
        self.alias_counts: list[int] = []
        self.alias_values: list[str] = []
        self.description: list[str | None] = []
        self.n_links: list[int] = []
        self.site: list[str] = []
        self.title: list[str] = []

    def add(self, ent: dict, languages: frozenset[str] | None, sites: frozenset[str] | None,
            source: str, position: int) -> None:
        lab = _as_dict(ent.get("labels"))
        als = _as_dict(ent.get("aliases"))
        desc = _as_dict(ent.get("descriptions"))
        langs = lab.keys() | als.keys()
        if languages is not None:
            langs &= languages
        langs = sorted(langs)
        links = _as_dict(ent.get("sitelinks"))
        kept = sorted(links if sites is None else links.keys() & sites)
        qid = ent["id"]
        if not isinstance(qid, str):
            raise ValueError(f"entity id must be a string, found {qid!r}")
        # everything that can fail on a malformed entity happens before any append
        label = [lab[x]["value"] if x in lab else None for x in langs]
        alias_counts = [len(als[x]) if x in als else 0 for x in langs]
        alias_values = [a["value"] for x in langs if x in als for a in als[x]]
        description = [desc[x]["value"] if x in desc else None for x in langs]
        titles = [links[x]["title"] for x in kept]
        self.qids.append(qid)
        self.positions.append(position)
        self.sources.append(source)
        self.n_labels.append(len(langs))
        self.lang += langs
        self.label += label
        self.alias_counts += alias_counts
        self.alias_values += alias_values
        self.description += description
        self.n_links.append(len(kept))
        self.site += kept
        self.title += titles

    def tables(self) -> dict[str, pa.RecordBatch]:
        """``wikidata_labels`` and ``wikidata_sitelinks`` batches; ids are the natural keys
        ``QID@lang`` and ``QID@site`` (unique, stable, readable)."""
        qids = pa.array(self.qids, pa.string())
        per_label = pa.array(np.repeat(np.arange(len(self.qids)), self.n_labels))
        per_link = pa.array(np.repeat(np.arange(len(self.qids)), self.n_links))
        lq, sq = qids.take(per_label), qids.take(per_link)
        lang, site = pa.array(self.lang, pa.string()), pa.array(self.site, pa.string())
        labels = pa.RecordBatch.from_arrays(
            [pc.binary_join_element_wise(lq, lang, "@"), lq, lang, pa.array(self.label, pa.string()),
             pa.ListArray.from_arrays(pa.array(np.r_[0, np.cumsum(self.alias_counts, dtype=np.int64)].astype(np.int32)),
                                      pa.array(self.alias_values, pa.string())),
             pa.array(self.description, pa.string()),
             pa.array(self.sources, pa.string()).take(per_label),
             pa.array(self.positions, pa.int64()).take(per_label)],
            names=["id", "qid", "lang", "label", "aliases", "description", "source", "position"])
        links = pa.RecordBatch.from_arrays(
            [pc.binary_join_element_wise(sq, site, "@"), sq, site, pa.array(self.title, pa.string())],
            names=["id", "qid", "site", "title"])
        return {"wikidata_labels": contract("wikidata_labels").validate(labels),
                "wikidata_sitelinks": contract("wikidata_sitelinks").validate(links)}


class ParseEntities(Stage):
    """Stage: raw dump lines -> ``{wikidata_labels, wikidata_sitelinks}``; bad lines rejected.

    ``languages`` / ``sites`` restrict what is kept (None: everything). ``require_site``
    keeps only items with a sitelink to that wiki (e.g. ``enwiki``: the items an English
    Wikipedia link can resolve to). ``fast`` (default) reads only the wanted sitelinks
    (see :func:`loads_entity`); off, the whole sitelinks object is decoded.
    """

    name = "parse_wikidata"

    def __init__(self, languages: list[str] | None = None, sites: list[str] | None = None,
                 require_site: str | None = None, fast: bool = True):
        self.fast = fast
        self.languages = frozenset(languages) if languages is not None else None
        self.sites = frozenset(sites) if sites is not None else None
        self.require_site = require_site
        self._lookup = None if self.sites is None else self.sites | ({require_site} if require_site else set())

    def __call__(self, batch: pa.RecordBatch) -> StageOutput:
        cols = _Columns()
        rejects: list[Reject] = []
        sources = batch.column("source").to_pylist()
        positions = batch.column("position").to_pylist()
        wholes = batch.column("whole").to_pylist() if "whole" in batch.schema.names else [True] * len(sources)
        for source, pos, raw, whole in zip(sources, positions, batch.column("raw").to_pylist(), wholes):
            try:
                entities = iter_entities(loads_entity(raw, self._lookup if self.fast else None, whole))
                for ent in entities:
                    if self.require_site and self.require_site not in (ent.get("sitelinks") or {}):
                        continue
                    cols.add(ent, self.languages, self.sites, source, pos)
            except (orjson.JSONDecodeError, ValueError, KeyError, TypeError) as exc:
                reason = f"malformed entity at byte {pos}: {type(exc).__name__}: {exc}"
                rejects.append(Reject(source, pos, self.name, reason,
                                      raw[:200].decode("utf-8", "replace")))
        return StageOutput(cols.tables(), rejects)


def default_dump() -> Path:
    """The bundled sample dump."""
    return Path(__file__).resolve().parents[2] / "data" / "sample" / "entitycs" / "wikidata-sample.json"
