"""The BibTeX entries the Hub cards ship: well-formed, complete, and on the cards they belong to."""

from __future__ import annotations

import re

import pyarrow as pa
import pytest

from xlcorpus.export.provenance import METHODS, SOURCES
from xlcorpus.ids import stable_id
from xlcorpus.schema import contract
from xlcorpus.store import Store

REQUIRED = {"article": {"author", "title", "journal", "year"},
            "inproceedings": {"author", "title", "booktitle", "year"},
            "misc": {"title", "howpublished"}}
MONTHS = {"jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"}
# What each pipeline kind's card must cite, by BibTeX key (the papers of its methods and the
# sources it reads by construction), stated here rather than read from the code under test.
CITES = {"entitycs": {"whitehouse-etal-2022-entitycs", "wikipedia", "vrandecic2014wikidata"},
         "bitext-align": {"ostling-tiedemann-2016-efficient"},
         "bitext-align/neural": {"jalili-sabet-etal-2020-simalign"},
         "tprojection": {"garcia-ferrero-etal-2023-t"}, "translate-train": {"garcia-ferrero-etal-2023-t"},
         "romanize": {"hermjakob-etal-2018-box"}, "maltese": {"micallef-etal-2024-cross"},
         "bitext-import": set()}


def braced(text: str, i: int) -> int:
    """Index just past the ``{...}`` group that opens at ``text[i]`` (nested groups allowed)."""
    depth = 0
    for j in range(i, len(text)):
        depth += {"{": 1, "}": -1}.get(text[j], 0)
        if depth == 0:
            return j + 1
        assert depth > 0, text[i:j + 1]
    raise AssertionError(f"unbalanced braces from {text[i:i + 40]!r}")


def parse(text: str) -> list[tuple[str, str, dict[str, str]]]:
    """``(type, key, fields)`` of every entry in ``text``; fails on anything malformed."""
    entries = []
    pos = 0
    for m in re.finditer(r"@(\w+)\{", text):
        assert not text[pos:m.start()].strip(), f"text between entries: {text[pos:m.start()]!r}"
        end = braced(text, m.end() - 1)
        body = text[m.end():end - 1]
        key, _, rest = body.partition(",")
        assert re.fullmatch(r"[\w:-]+", key), key
        fields: dict[str, str] = {}
        i = 0
        while True:
            f = re.compile(r"\s*(\w+)\s*=\s*").match(rest, i)
            if not f:
                break
            name = f.group(1)
            assert name not in fields, f"{key}: {name} twice"
            if rest[f.end()] == "{":
                j = braced(rest, f.end())
                fields[name] = rest[f.end() + 1:j - 1]
            else:
                word = re.compile(r"\w+").match(rest, f.end())
                assert word, f"{key}: {name} has no value"
                j, fields[name] = word.end(), word.group()
            sep = re.compile(r"\s*(,|$)").match(rest, j)
            assert sep and sep.group(), f"{key}: junk after {name}: {rest[j:j + 30]!r}"
            i = sep.end()
        assert not rest[i:].strip(), f"{key}: cannot read {rest[i:i + 40]!r}"
        entries.append((m.group(1).lower(), key, fields))
        pos = end
    assert not text[pos:].strip(), text[pos:]
    return entries


SHIPPED = {**{f"method {k}": v for k, v in METHODS.items()}, **{f"source {k}": s.bibtex for k, s in SOURCES.items()}}


@pytest.mark.parametrize("name", sorted(SHIPPED))
def test_shipped_entry_parses_with_its_required_fields(name):
    [(kind, key, fields)] = parse(SHIPPED[name])
    assert REQUIRED[kind] <= set(fields), (key, REQUIRED[kind] - set(fields))
    assert all(v.strip() for v in fields.values()), key
    if "year" in fields:
        assert re.fullmatch(r"(19|20)\d\d", fields["year"]), key
    if "pages" in fields:
        first, last = map(int, re.fullmatch(r"(\d+)--(\d+)", fields["pages"]).groups())
        assert first <= last, key
    if "month" in fields:
        assert fields["month"] in MONTHS, key
    if "doi" in fields:
        assert re.fullmatch(r"10\.\d{4,}/\S+", fields["doi"]), key
    if "url" in fields:
        assert re.fullmatch(r"https://\S+", fields["url"]), key
    if "author" in fields:
        assert all(re.fullmatch(r"[^,]+, [^,]+|\{[^{}]+\}", a) for a in fields["author"].split(" and ")), key


def test_keys_are_unique_and_the_parser_rejects_broken_entries():
    keys = [parse(text)[0][1] for text in SHIPPED.values()]
    assert len(keys) == len(set(keys))
    for broken in ["@article{k,\n  title = {A {B}\n}", "@article{k,\n  title = {A}}\n}", "@misc{k, title = {A} year = {2}}"]:
        with pytest.raises(AssertionError):
            parse(broken)


@pytest.mark.parametrize("kind", sorted(CITES))
def test_card_of_each_pipeline_kind_cites_its_methods_and_sources(kind, tmp_path, monkeypatch):
    """A table whose lineage names ``kind`` (and, outside EntityCS, an NTREX input) exported
    as a Hub folder: its card's BibTeX block holds exactly the entries that kind needs."""
    pytest.importorskip("huggingface_hub")
    from huggingface_hub import DatasetCard

    from xlcorpus.export import export_hf

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    store = Store(tmp_path / "store")
    rows = [{"id": stable_id("en", "fr", "Hello.", "Bonjour."), "src_lang": "en", "tgt_lang": "fr", "src": "Hello.",
             "tgt": "Bonjour.", "source": "newstest2019-ref.fra.txt", "line": 1}]
    ntrex = "/data/NTREX-128/newstest2019-ref.fra.txt"
    pipeline, _, method = kind.partition("/")
    params = {"tgt": ntrex, **({"method": method} if method else {})}
    store.write("bitext", pa.Table.from_batches([contract("bitext").batch(rows)]),
                metadata={"pipeline": pipeline, "params": params, "inputs": {"tgt": "sha256:0"}})
    exp = export_hf(store, "bitext", tmp_path / "hf")
    card = DatasetCard.load(exp.folder / "README.md")
    block = re.search(r"```bibtex\n(.*?)```", card.text, re.S)
    want = CITES[kind] | ({"federmann-etal-2022-ntrex"} if kind != "entitycs" else set())
    assert {key for _, key, _ in parse(block.group(1))} == want
    assert card.data.to_dict()["license"] == "cc-by-sa-4.0"  # NTREX, or Wikipedia with Wikidata
