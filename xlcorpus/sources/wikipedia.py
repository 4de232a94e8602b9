"""Wikipedia dumps -> ``wiki_sentences`` (clean sentences with resolved hyperlinks).

Inputs:

- a MediaWiki ``pages-articles`` XML export (``.xml``, ``.xml.bz2`` with parallel bz2,
  ``.gz``, ``.xz``), parsed as a stream (bounded memory: each page is dropped once read);
  articles (namespace 0) are kept, redirect pages feed the redirect table;
- WikiExtractor JSON output (``--json --links``): one page per line with ``id``, ``title``,
  ``text`` and ``<a href="Target">anchor</a>`` links; a file or a folder of such files.

:func:`read_wikipedia` yields batches of raw pages; :class:`PagesToSentences` cleans them
(:mod:`.wikitext`), splits sentences and resolves each link target through the redirects
(up to 10 hops) and the Wikidata sitelinks of the wiki to a QID. A malformed page becomes a
reject with its byte offset and reading goes on at the next page; a dump cut in the middle
keeps the pages before the cut and gives one reject saying it is truncated.
"""

from __future__ import annotations

import html
import os
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import orjson
import pyarrow as pa

from ..engine.core import Reject, Stage
from ..ids import stable_id
from ..schema import contract
from .inputs import display_name, input_error, iter_lines, open_input
from .wikitext import clean_extractor_text, clean_wikitext, normalize_title, sentences_with_links

PAGE_SCHEMA = pa.schema([("source", pa.string()), ("position", pa.int64()), ("page_id", pa.int64()),
                         ("title", pa.string()), ("text", pa.large_string()), ("format", pa.string())])
MAX_REDIRECT_HOPS = 10


def _local(tag: str) -> str:
    return tag.rpartition("}")[2]


def iter_xml_pages(path: str | os.PathLike[str]) -> Iterator[dict | Reject]:
    """Pages of a MediaWiki XML export: ``{page_id, ns, title, redirect, text, position}``
    (``position``: 1-based page number in the file).

    Each ``<page>`` element is parsed on its own, so a broken page (an invalid byte, bad
    markup) becomes one reject with its byte offset in the decompressed stream and reading
    goes on at the next ``<page>``; a dump that ends inside a page or without
    ``</mediawiki>`` gives a reject saying it is truncated. A file that is not a MediaWiki
    export raises InputError.
    """
    source = display_name(path)
    n = 0
    with open_input(path) as fh:
        blocks = _page_blocks(fh, path)
        for offset, block in blocks:
            if block is None:  # end of stream: offset is the stream's length
                yield Reject(source, offset, "read_wikipedia",
                             f"truncated dump: it ends at byte {offset} without </mediawiki>", None)
                break
            n += 1
            if not block.endswith(b"</page>"):
                yield Reject(source, offset, "read_wikipedia", f"truncated dump: page {n} at byte {offset} "
                             f"is cut by the end of the file after {len(block)} bytes", None)
                break
            try:
                page = _page(ET.fromstring(block), n)
            except (ET.ParseError, ValueError) as exc:
                yield Reject(source, offset, "read_wikipedia", f"malformed page {n} at byte {offset}: {exc}",
                             block[:200].decode("utf-8", "replace"))
                continue
            yield page


def _page(elem: ET.Element, n: int) -> dict:
    """The fields of one ``<page>`` element; a non-numeric ``ns`` or ``id`` raises ValueError."""
    page = {"position": n, "page_id": None, "ns": 0, "title": "", "redirect": None, "text": ""}
    for child in elem.iter():
        name = _local(child.tag)
        if name == "title":
            page["title"] = child.text or ""
        elif name == "ns":
            page["ns"] = int(child.text or 0)  # ValueError: a malformed page
        elif name == "id" and page["page_id"] is None:
            page["page_id"] = int(child.text or "")
        elif name == "redirect":
            page["redirect"] = child.get("title")
        elif name == "text":
            page["text"] = child.text or ""
    return page


_OPEN, _CLOSE, _END = b"<page>", b"</page>", b"</mediawiki>"
READ_BYTES = 1 << 20


def _page_blocks(fh, path) -> Iterator[tuple[int, bytes | None]]:
    """``(byte offset, b"<page>...</page>")`` for each page of the stream; the last block is
    shorter (no ``</page>``) when the stream ends inside a page, and ``(length, None)`` comes
    last when the stream ends without ``</mediawiki>``. ``<page>`` cannot occur inside a
    page's text (the dumps escape ``<``), so the byte search is exact."""
    buf = bytearray(fh.read(READ_BYTES))
    if b"<mediawiki" not in buf[:4096] and not buf.lstrip().startswith(b"<?xml"):
        raise input_error(path, "not a MediaWiki XML export (no <mediawiki> element at its start)")
    base, pos, eof, ended = 0, 0, False, False  # base: stream offset of buf[0]

    def more() -> bool:
        data = fh.read(READ_BYTES)
        buf.extend(data)
        return not data

    while True:
        start = buf.find(_OPEN, pos)
        while start < 0 and not eof:
            ended = ended or buf.find(_END, pos) >= 0
            keep = max(len(buf) - len(_END), pos)
            del buf[:keep]
            base, pos = base + keep, 0
            eof = more()
            start = buf.find(_OPEN)
        if start < 0:
            if not ended and buf.find(_END, pos) < 0:
                yield base + len(buf), None
            return
        end = buf.find(_CLOSE, start)
        if end < 0:
            del buf[:start]
            base, start = base + start, 0
        while end < 0 and not eof:
            scanned = len(buf)
            eof = more()
            end = buf.find(_CLOSE, max(0, scanned - len(_CLOSE)))
        if end < 0:
            yield base + start, bytes(buf[start:])
            return
        pos = end + len(_CLOSE)
        yield base + start, bytes(buf[start:pos])


_REDIRECT = re.compile(rb'<redirect title="([^"]*)"')
SCAN_BYTES = 1 << 22


def scan_redirects(path: str | os.PathLike[str]) -> dict[str, str]:
    """``{source title: target title}`` of the redirect pages of an XML dump (both
    normalised), by a byte scan: the stream is read in blocks cut after their last
    ``</page>``, each ``<redirect title=...>`` is found with one regex search and paired
    with the ``<title>`` of its page (the nearest one before it, with no ``</page>`` in
    between). Page texts cannot hide a match: the dumps escape ``<``."""
    if _is_extractor(Path(path)):
        return {}
    out: dict[str, str] = {}
    with open_input(path) as fh:
        carry = b""
        while True:
            data = fh.read(SCAN_BYTES)
            block = carry + data
            if not data:
                _redirects_in(block, len(block), out)
                return out
            cut = block.rfind(_CLOSE)
            if cut < 0:  # no whole page yet: read on
                carry = block
                continue
            cut += len(_CLOSE)
            _redirects_in(block, cut, out)
            carry = block[cut:]


def _redirects_in(block: bytes, end: int, out: dict[str, str]) -> None:
    """Add the redirects of the whole pages in ``block[:end]`` to ``out``."""
    for m in _REDIRECT.finditer(block, 0, end):
        title_at = block.rfind(b"<title>", 0, m.start())
        if title_at < 0 or block.rfind(_CLOSE, title_at, m.start()) >= 0:
            continue
        title_end = block.find(b"</title>", title_at, m.start())
        if title_end < 0:
            continue
        src = normalize_title(html.unescape(block[title_at + 7:title_end].decode("utf-8", "replace")))
        dst = normalize_title(html.unescape(m.group(1).decode("utf-8", "replace")))
        if src and dst and src != dst:
            out[src] = dst


def resolve_title(title: str, redirects: dict[str, str]) -> str:
    """Follow redirects from ``title`` (at most 10 hops; a loop stops where it started)."""
    seen = {title}
    for _ in range(MAX_REDIRECT_HOPS):
        nxt = redirects.get(title)
        if nxt is None or nxt in seen:
            break
        seen.add(nxt)
        title = nxt
    return title


def _is_extractor(path: Path) -> bool:
    if path.is_dir():
        return True
    name = path.name.lower()
    if ".xml" in name:
        return False
    if name.endswith((".json", ".jsonl", ".json.gz", ".json.bz2", ".jsonl.gz", ".jsonl.bz2")):
        return True
    with open_input(path) as fh:
        return fh.read(64).lstrip().startswith(b"{")


def _extractor_files(path: Path) -> list[Path]:
    if path.is_dir():
        return sorted(p for p in path.rglob("*") if p.is_file() and not p.name.startswith("."))
    return [path]


def iter_extractor_pages(path: Path) -> Iterator[dict | Reject]:
    """Pages of WikiExtractor JSON output (a file, or a folder of ``wiki_NN`` files)."""
    for f in _extractor_files(path):
        source = display_name(f) if f == path else str(f.relative_to(path))
        for n, raw in iter_lines(f):
            if not raw.strip():
                continue
            try:
                doc = orjson.loads(raw)
                yield {"position": n, "page_id": int(doc["id"]), "ns": 0, "title": doc.get("title", ""),
                       "redirect": None, "text": doc.get("text", ""), "source": source}
            except (orjson.JSONDecodeError, KeyError, ValueError, TypeError) as exc:
                yield Reject(source, n, "read_wikiextractor", f"line {n}: {type(exc).__name__}: {exc}",
                             raw[:200].decode("utf-8", "replace"))


def read_wikipedia(path: str | os.PathLike[str], batch_pages: int = 32,
                   namespaces: tuple[int, ...] = (0,)) -> Iterator[pa.RecordBatch | Reject]:
    """Batches of article pages (redirects and other namespaces skipped) for
    :class:`PagesToSentences`."""
    p = Path(path)
    extractor = _is_extractor(p)
    pages = iter_extractor_pages(p) if extractor else iter_xml_pages(p)
    fmt = "extractor" if extractor else "wikitext"
    default_source = display_name(p)
    rows: list[dict] = []
    for page in pages:
        if isinstance(page, Reject):
            yield page
            continue
        if page["redirect"] is not None or page["ns"] not in namespaces or page["page_id"] is None:
            continue
        rows.append({"source": page.get("source", default_source), "position": page["position"],
                     "page_id": page["page_id"], "title": page["title"], "text": page["text"], "format": fmt})
        if len(rows) >= batch_pages:
            yield pa.RecordBatch.from_pylist(rows, schema=PAGE_SCHEMA)
            rows = []
    if rows:
        yield pa.RecordBatch.from_pylist(rows, schema=PAGE_SCHEMA)


class PagesToSentences(Stage):
    """Stage: raw pages -> ``wiki_sentences`` rows.

    ``redirects`` maps normalised titles to redirect targets; ``sitelinks`` maps page titles
    of this wiki to QIDs. With ``linked_only`` only sentences with at least one link are kept.
    """

    name = "wiki_sentences"

    def __init__(self, lang: str, redirects: dict[str, str] | None = None,
                 sitelinks: dict[str, str] | None = None, linked_only: bool = True):
        self.lang = lang
        self.redirects = redirects or {}
        self.sitelinks = sitelinks or {}
        self.linked_only = linked_only

    def _link(self, start: int, end: int, title: str | None) -> dict:
        qid = None
        if title is not None:
            title = resolve_title(title, self.redirects)
            qid = self.sitelinks.get(title)
        return {"start": start, "end": end, "title": title, "qid": qid}

    def __call__(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        rows = []
        for page in batch.to_pylist():
            if page["format"] == "extractor":
                paragraphs = clean_extractor_text(page["text"], page["title"])
            else:
                paragraphs = clean_wikitext(page["text"])
            sid = 0
            for para, links in paragraphs:
                for sentence, inner in sentences_with_links(para, links, self.lang):
                    if inner or not self.linked_only:
                        rows.append({
                            "id": stable_id(self.lang, page["page_id"], sid), "lang": self.lang,
                            "page_id": page["page_id"], "page_title": page["title"], "sentence_id": sid,
                            "text": sentence, "links": [self._link(lk.start, lk.end, lk.title) for lk in inner],
                            "source": page["source"]})
                    sid += 1
        return contract("wiki_sentences").batch(rows)


class ResolveLinks(PagesToSentences):
    """:class:`PagesToSentences` whose lookups are built when the step runs, not when it is
    listed: :meth:`prepare` scans the dump's redirects once (saved as an Arrow file), and
    each worker's :meth:`setup` loads them and this wiki's sitelinks from the store."""

    def __init__(self, lang: str, dump: str | os.PathLike[str], store, site: str, linked_only: bool = True):
        super().__init__(lang, None, None, linked_only)
        self.dump, self.site = str(dump), site
        self.store = store.ref() if hasattr(store, "ref") else store
        self.redirects_path: str | None = None
        self.ready = False

    def prepare(self, workdir: str) -> None:
        redirects = scan_redirects(self.dump)
        table = pa.table({"src": pa.array(list(redirects), pa.string()),
                          "dst": pa.array(list(redirects.values()), pa.string())})
        self.redirects_path = str(Path(workdir) / "redirects.arrow")
        with pa.OSFile(self.redirects_path, "wb") as sink, pa.ipc.new_file(sink, table.schema) as w:
            w.write_table(table)

    def setup(self) -> None:
        import pyarrow.compute as pc

        if self.redirects_path is not None:
            t = pa.ipc.open_file(pa.memory_map(self.redirects_path)).read_all()
            self.redirects = dict(zip(t["src"].to_pylist(), t["dst"].to_pylist()))
        store = self.store.open()
        if store.exists("wikidata_sitelinks"):
            links = store.read("wikidata_sitelinks").to_table(filter=pc.field("site") == self.site,
                                                             columns=["title", "qid"])
            self.sitelinks = dict(zip(links["title"].to_pylist(), links["qid"].to_pylist()))
        self.ready = True

    def __getstate__(self) -> dict:
        return {**self.__dict__, "redirects": {}, "sitelinks": {}, "ready": False}

    def __call__(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        if not self.ready:
            self.setup()
        return super().__call__(batch)


def default_dump() -> Path:
    """The bundled sample export."""
    return Path(__file__).resolve().parents[2] / "data" / "sample" / "entitycs" / "enwiki-sample.xml"
