"""Property tests over every reader: the bundled samples cut at random points, with random
bytes flipped, re-encoded and (de)compressed. For every input a reader either gives rows and
rejects whose positions lie inside the input, or raises one ``XlcorpusError``; never another
exception, never a crash."""

from __future__ import annotations

import bz2
import os
import gzip
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from xlcorpus.engine.core import Reject
from xlcorpus.errors import XlcorpusError
from xlcorpus.sources.inputs import open_input

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "data" / "sample"
FUZZ = settings(max_examples=int(os.environ.get("XLCORPUS_FUZZ_EXAMPLES", "20")), deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def damaged(draw, data: bytes) -> tuple[bytes, str]:
    """``data`` cut, flipped, re-encoded and/or compressed; and the file suffix to use."""
    kind = draw(st.sampled_from(["cut", "flip", "encode", "duplicate", "cut+flip"]))
    if kind == "encode":
        enc = draw(st.sampled_from(["utf-16", "latin-1", "cp1252", "utf-8-sig"]))
        data = data.decode("utf-8").encode(enc, "replace")
    if kind == "duplicate":
        a = draw(st.integers(0, len(data)))
        b = draw(st.integers(a, min(len(data), a + 2000)))
        data = data[:b] + data[a:b] + data[b:]
    codec = draw(st.sampled_from(["", "", ".gz", ".bz2"]))
    compress_first = codec and draw(st.booleans())
    if compress_first:
        data = gzip.compress(data) if codec == ".gz" else bz2.compress(data)
    if "flip" in kind and data:
        for _ in range(draw(st.integers(1, 4))):
            i = draw(st.integers(0, len(data) - 1))
            data = data[:i] + bytes([draw(st.integers(0, 255))]) + data[i + 1:]
    if "cut" in kind:
        data = data[: draw(st.integers(0, len(data)))]
    if codec and not compress_first:
        data = gzip.compress(data) if codec == ".gz" else bz2.compress(data)
    mislabel = codec and draw(st.integers(0, 9)) == 0  # compressed data under a plain name
    return data, "" if mislabel else codec


def readable_size(path: Path) -> int:
    """Bytes a reader can see in the file: decompressed, as far as decompression goes."""
    size = 0
    try:
        with open_input(path) as fh:
            while chunk := fh.read(4096):
                size += len(chunk)
    except XlcorpusError:
        pass
    return size


def run_reader(read: Callable[[Path], Iterable], data: bytes, name: str, suffix: str) -> None:
    """Run ``read`` on ``data`` saved as ``name + suffix``: items, or one XlcorpusError."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / (name + suffix)
        path.write_bytes(data)
        try:
            items = list(read(path))
        except XlcorpusError as exc:
            assert str(exc).strip(), "an error must say what is wrong"
            return
        size = readable_size(path)
        for item in items:
            if isinstance(item, Reject):
                assert item.position is None or 0 <= item.position <= size + 1, item
                assert item.reason


def sample(*parts: str) -> bytes:
    return SAMPLE.joinpath(*parts).read_bytes()


# ------------------------------------------------------------------ readers
def wikidata(path: Path) -> Iterable:
    from xlcorpus.sources.wikidata import ParseEntities, read_wikidata

    stage = ParseEntities(["en", "de"], ["enwiki"])
    for item in read_wikidata(path, chunk_bytes=2048):
        if isinstance(item, Reject):
            yield item
        else:
            yield item
            yield from stage(item).rejects


def wikipedia(path: Path) -> Iterable:
    from xlcorpus.sources.wikipedia import PagesToSentences, read_wikipedia, scan_redirects

    redirects = scan_redirects(path)
    stage = PagesToSentences("en", redirects, {})
    for item in read_wikipedia(path, batch_pages=2):
        yield item
        if not isinstance(item, Reject):
            for row in stage(item).to_pylist():
                for link in row["links"]:
                    assert 0 <= link["start"] < link["end"] <= len(row["text"])


def pipes(path: Path) -> Iterable:
    from xlcorpus.sources.bitext import ToBitext, read_pairs

    stage = ToBitext("en", "de")
    for item in read_pairs(path, "pipes", batch_size=3):
        yield item
        if not isinstance(item, Reject):
            yield from stage(item).rejects


def moses(path: Path) -> Iterable:
    from xlcorpus.sources.bitext import read_moses

    return read_moses(path, SAMPLE / "bitext" / "sample.en-fr.fr", batch_size=3)


def conll(path: Path) -> Iterable:
    from xlcorpus.project.spans import read_conll

    for s in read_conll(path):
        assert all(0 <= sp.start < sp.end <= len(s.tokens) for sp in s.spans)
        yield s


def jsonl(path: Path) -> Iterable:
    from xlcorpus.project.spans import read_spans

    return read_spans(path.with_name(path.name) if path.suffix else path)


def toolbox(path: Path) -> Iterable:
    from xlcorpus.sources.igt import read_igt

    return read_igt(path, "toolbox")


def cldf(path: Path) -> Iterable:
    from xlcorpus.sources.igt import read_igt

    return read_igt(path, "cldf")


def align_pairs(path: Path) -> Iterable:
    from xlcorpus.sources.inputs import read_pair_lines

    return read_pair_lines(path)


def annotations(path: Path) -> Iterable:
    from xlcorpus.translit.etymology import read_annotations

    return read_annotations(path)


def char_map(path: Path) -> Iterable:
    from xlcorpus.translit.transliterate import read_map

    return read_map(path)[1]


def maltese_text(path: Path) -> Iterable:
    from xlcorpus.translit.pipeline import read_maltese

    return read_maltese(path)


def jsonl_sample() -> bytes:
    return ('{"text": "Angela Merkel visited São Paulo.", "spans": [{"start": 0, "end": 13, "label": "PER"}, '
            '{"start": 23, "end": 32, "label": "LOC"}]}\n'
            '{"text": "No entities here.", "spans": [], "tokens": ["No", "entities", "here", "."]}\n').encode()


READERS = {
    "wikidata": (wikidata, sample("entitycs", "wikidata-sample.json"), "dump.json"),
    "wikipedia": (wikipedia, sample("entitycs", "enwiki-sample.xml"), "pages.xml"),
    "bitext-pipes": (pipes, sample("bitext", "sample.en-de.txt"), "pairs.txt"),
    "bitext-moses": (moses, sample("bitext", "sample.en-fr.en"), "corpus.en"),
    "conll": (conll, sample("project", "sample.en.conll"), "spans.conll"),
    "jsonl-spans": (jsonl, jsonl_sample(), "spans.jsonl"),
    "igt-toolbox": (toolbox, sample("igt", "sample.es.toolbox.txt"), "igt.txt"),
    "igt-cldf": (cldf, sample("igt", "sample.de.cldf.csv"), "igt.csv"),
    "align-pairs": (align_pairs, b"".join(b"%s ||| %s\n" % (a.rstrip(b"\n"), b.rstrip(b"\n")) for a, b in zip(
        sample("align", "sample.en-fr.en").splitlines(True), sample("align", "sample.en-fr.fr").splitlines(True))),
        "pairs.txt"),
    "etymology-annotations": (annotations, sample("translit", "etymology.tsv"), "annotations.tsv"),
    "transliteration-map": (char_map, sample("translit", "letters.map"), "letters.map"),
    "maltese-text": (maltese_text, "Il-Prim Ministru qal li l-belt hija sabiħa.\nTa' Malta.\n".encode(), "mt.txt"),
}


@pytest.mark.parametrize("reader", sorted(READERS))
def test_clean_sample_reads(reader):
    read, data, name = READERS[reader]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / name
        path.write_bytes(data)
        assert list(read(path)), reader


@pytest.mark.parametrize("reader", sorted(READERS))
@FUZZ
@given(data=st.data())
def test_damaged_input_gives_rows_and_rejects_or_one_error(reader, data):
    read, clean, name = READERS[reader]
    damaged_bytes, suffix = data.draw(damaged(clean))
    run_reader(read, damaged_bytes, name, suffix)
