"""Span I/O: CoNLL tag schemes, repair rule, JSON lines with character spans, evaluation."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from xlcorpus.errors import InputError
from xlcorpus.project.evaluate import evaluate_spans
from xlcorpus.project.spans import (Sentence, Span, char_to_token_spans, detokenize, iter_jsonl, read_conll,
                                    read_spans, spans_to_tags, tags_to_spans, token_offsets,
                                    token_to_char_spans, write_conll, write_jsonl)
from xlcorpus.text.tokenize import tokenize

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"


def test_iob2_iob1_bioes_decode_to_the_same_spans():
    want = [Span(0, 2, "ORG"), Span(2, 3, "ORG"), Span(4, 5, "PER")]
    assert tags_to_spans(["B-ORG", "I-ORG", "B-ORG", "O", "B-PER"], "iob2") == want
    assert tags_to_spans(["I-ORG", "I-ORG", "B-ORG", "O", "I-PER"], "iob1") == want
    assert tags_to_spans(["B-ORG", "E-ORG", "S-ORG", "O", "S-PER"], "bioes") == want
    assert tags_to_spans(["B-ORG", "E-ORG", "S-ORG", "O", "S-PER"]) == want  # auto -> bioes


@pytest.mark.parametrize("tags,want", [
    (["O", "I-PER", "I-PER"], [Span(1, 3, "PER")]),                      # I- after O starts an entity
    (["B-PER", "I-LOC"], [Span(0, 1, "PER"), Span(1, 2, "LOC")]),        # type change closes
    (["I-MISC"], [Span(0, 1, "MISC")]),
])
def test_repair_rule_iob2(tags, want):
    assert tags_to_spans(tags, "iob2") == want


@pytest.mark.parametrize("tags,want", [
    (["B-PER", "I-PER", "O"], [Span(0, 2, "PER")]),                      # B without E
    (["I-PER", "E-PER"], [Span(0, 2, "PER")]),                           # I without B
    (["E-LOC", "S-PER"], [Span(0, 1, "LOC"), Span(1, 2, "PER")]),        # E without B
    (["B-PER", "B-PER", "E-PER"], [Span(0, 1, "PER"), Span(1, 3, "PER")]),
])
def test_repair_rule_bioes(tags, want):
    assert tags_to_spans(tags, "bioes") == want


@pytest.mark.parametrize("tags,scheme", [
    (["O", "I-PER"], "iob2"), (["B-PER", "I-PER", "O"], "bioes"), (["B-PER", "S-LOC"], "bioes"),
    (["I-PER", "E-PER"], "bioes"),
])
def test_no_repair_rejects_with_line(tmp_path, tags, scheme):
    f = tmp_path / "bad.conll"
    f.write_text("".join(f"w{i}\t{t}\n" for i, t in enumerate(tags)), encoding="utf-8")
    with pytest.raises(InputError, match=r"bad\.conll:\d"):
        read_conll(f, scheme=scheme, repair=False)
    read_conll(f, scheme=scheme, repair=True)  # repaired fine


def test_iob1_i_after_o_is_legal_without_repair():
    assert tags_to_spans(["O", "I-PER"], "iob1", repair=False) == [Span(1, 2, "PER")]


@pytest.mark.parametrize("tag", ["X-PER", "B-", "PER", "E-LOC"])
def test_invalid_tags_name_the_line(tmp_path, tag):
    f = tmp_path / "t.conll"
    f.write_text(f"a\tO\nb\t{tag}\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"t\.conll:2"):
        read_conll(f, scheme="iob2")


def test_conll_layout_is_decided_once_per_file(tmp_path):
    """A token holding a tab, or a line of another layout, is an error with its line; a
    no-break space in a space-separated file stays inside its token."""
    tabbed = tmp_path / "tab.conll"
    tabbed.write_text("Der\tO\nEuro\t10\tB-MISC\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"tab.conll:2: 3 tab-separated columns, but the file's first token line has 2"):
        read_conll(tabbed)
    mixed = tmp_path / "mixed.conll"
    mixed.write_text("La DT B-ORG\n\nEn\tO\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"mixed.conll:3: 2 space-separated columns"):
        read_conll(mixed)
    nbsp = tmp_path / "nbsp.conll"
    nbsp.write_text("kostet O\n10\u00a0000 B-MONEY\nEuro I-MONEY\n", encoding="utf-8")
    (s,) = read_conll(nbsp)
    assert s.tokens == ["kostet", "10\u00a0000", "Euro"] and s.spans == [Span(1, 3, "MONEY")]
    bad = tmp_path / "bad.conll"
    bad.write_bytes(b"Der O\nM\xfcnchen B-LOC\n")
    with pytest.raises(InputError, match=r"bad.conll:2: invalid UTF-8 at byte 1"):
        read_conll(bad)


def test_conll_formats_tab_space_columns_docstart_crlf(tmp_path):
    f = tmp_path / "x.conll"
    f.write_bytes("-DOCSTART- O\n\nLa DT B-ORG\nComisi\u00f3n   NN  I-ORG\r\n\n\n\nEn IN O\nBruselas NNP B-LOC".encode())
    sents = read_conll(f)
    assert [s.tokens for s in sents] == [["La", "Comisi\u00f3n"], ["En", "Bruselas"]]
    assert sents[0].spans == [Span(0, 2, "ORG")] and sents[1].spans == [Span(1, 2, "LOC")]
    assert sents[0].line == 3 and sents[1].line == 8
    tabs = tmp_path / "t.conll"
    tabs.write_text("En\tO\nBruselas\tB-LOC\n", encoding="utf-8")
    assert read_conll(tabs)[0].spans == [Span(1, 2, "LOC")]
    tokens_only = tmp_path / "tok.conll"
    tokens_only.write_text("a\nb\n\nc\n", encoding="utf-8")
    assert [s.spans for s in read_conll(tokens_only)] == [[], []]
    assert read_conll(f, with_tags=False)[0].spans == []


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 3), st.integers(1, 3), st.sampled_from(["PER", "LOC"])), max_size=6),
       st.sampled_from(["iob1", "iob2", "bioes"]))
def test_tags_round_trip(parts, scheme):
    spans, pos = [], 0
    for gap, width, label in parts:
        pos += gap
        spans.append(Span(pos, pos + width, label))
        pos += width
    n = pos + 1
    tags = spans_to_tags(spans, n, scheme)
    assert tags_to_spans(tags, scheme, repair=False) == spans


def test_spans_to_tags_rejects_overlap():
    with pytest.raises(ValueError, match="overlap"):
        spans_to_tags([Span(0, 2, "A"), Span(1, 3, "B")], 4)


def test_write_read_conll_round_trip(tmp_path):
    sents = [Sentence(["El", "Reino", "Unido", "vota"], [Span(1, 3, "LOC")]), Sentence(["Hola"], [])]
    for scheme in ("iob1", "iob2", "bioes"):
        path = tmp_path / f"{scheme}.conll"
        assert write_conll(path, sents, scheme) == 2
        back = read_conll(path, scheme=scheme, repair=False)
        assert [(s.tokens, s.spans) for s in back] == [(s.tokens, s.spans) for s in sents]


def test_char_token_conversion_unicode():
    text = "Señor  Müller visitó São Paulo."
    tok = tokenize(text, scheme="words")
    tokens, offsets = tok.tokens, tok.spans
    assert tokens == ["Señor", "Müller", "visitó", "São", "Paulo", "."]
    assert token_offsets(text, tokens) == offsets
    start = text.index("São Paulo")
    chars = [Span(start, start + len("São Paulo"), "LOC")]
    assert text[chars[0].start:chars[0].end] == "São Paulo"
    tok = char_to_token_spans(chars, offsets, strict=True)
    assert tok == [Span(3, 5, "LOC")]
    back = token_to_char_spans(tok, offsets)
    assert text[back[0].start:back[0].end] == "São Paulo"
    # a span inside a token expands to the whole token, unless strict
    part = [Span(text.index("Müller") + 1, text.index("Müller") + 4, "PER")]
    assert char_to_token_spans(part, offsets) == [Span(1, 2, "PER")]
    with pytest.raises(InputError, match="token boundaries"):
        char_to_token_spans(part, offsets, strict=True)
    with pytest.raises(InputError, match="covers no token"):
        char_to_token_spans([Span(5, 7, "X")], offsets)  # the two spaces


def test_jsonl_round_trip_and_errors(tmp_path):
    sents = [Sentence(["Ms", "Lynne", "(", "UK", ")"], [Span(1, 2, "PER"), Span(3, 4, "LOC")])]
    path = tmp_path / "a.jsonl"
    write_jsonl(path, sents)
    rec = json.loads(path.read_text(encoding="utf-8"))
    for s, surface in zip(rec["spans"], ["Lynne", "UK"]):
        assert rec["text"][s["start"]:s["end"]] == surface
    back = list(iter_jsonl(path))
    assert back[0].tokens == sents[0].tokens and back[0].spans == sents[0].spans
    assert read_spans(path)[0].spans == sents[0].spans
    # without tokens: the text is tokenized
    path.write_text(json.dumps({"text": "Viva España!", "spans": [{"start": 5, "end": 11, "label": "LOC"}]}) + "\n",
                    encoding="utf-8")
    s = next(iter_jsonl(path))
    assert s.tokens == ["Viva", "España", "!"] and s.spans == [Span(1, 2, "LOC")]
    path.write_text('{"text": "abc", "spans": []}\n{"text": "abc", "spans": [{"start": 2, "end": 9, "label": "X"}]}\n',
                    encoding="utf-8")
    with pytest.raises(InputError, match=r"a\.jsonl:2: span 2-9 is outside"):
        list(iter_jsonl(path))
    path.write_text('{"tokens": []}\n', encoding="utf-8")
    with pytest.raises(InputError, match=r"a\.jsonl:1"):
        list(iter_jsonl(path))


def test_detokenize_offsets():
    text, offsets = detokenize(["a", "bc", "d"])
    assert text == "a bc d" and [text[a:b] for a, b in offsets] == ["a", "bc", "d"]


def test_evaluate_exact_match_and_error_kinds():
    gold = [[Span(0, 2, "ORG"), Span(3, 4, "PER"), Span(6, 7, "LOC")], [Span(0, 1, "MISC")]]
    pred = [[Span(0, 2, "ORG"), Span(3, 5, "PER"), Span(6, 7, "ORG")], [Span(2, 3, "LOC")]]
    rep = evaluate_spans(gold, pred, tokens=[list("abcdefg"), list("abc")])
    assert rep.precision == pytest.approx(1 / 4) and rep.recall == pytest.approx(1 / 4)
    assert rep.f1 == pytest.approx(1 / 4)
    assert rep.errors == {"boundary": 1, "label": 1, "spurious": 1, "missed": 1}
    assert rep.per_label["ORG"]["precision"] == 0.5 and rep.per_label["ORG"]["recall"] == 1.0
    assert rep.per_label["PER"]["f1"] == 0.0 and rep.per_label["LOC"]["support"] == 1
    assert rep.examples["boundary"][0]["text"] == "d e"
    empty = evaluate_spans([[]], [[]])
    assert empty.f1 == 0.0 and empty.per_label == {}
    with pytest.raises(ValueError, match="sentences"):
        evaluate_spans([[]], [])


@pytest.mark.shared
@pytest.mark.skipif(not SHARED.exists(), reason="needs ../shared/data")
def test_europarl_files_parse():
    en = read_conll(SHARED / "europarl-ner" / "en-europarl.test.conll02", repair=False)
    es = read_conll(SHARED / "europarl-ner" / "es-europarl.test.conll02")
    assert len(en) == len(es) == 799
    assert sum(len(s.spans) for s in en) == 702 and sum(len(s.spans) for s in es) == 697
    assert evaluate_spans([s.spans for s in es], [s.spans for s in es]).f1 == 1.0
