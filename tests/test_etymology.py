"""Etymology classifier: annotations reader, CRF train/tag/save, metrics, CV, CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from xlcorpus.cli import entry
from xlcorpus.errors import InputError
from xlcorpus.translit.etymology import (EtymologyTagger, LookupBaseline, cross_validate, evaluate,
                                         folds, read_annotations, scores, token_features, train)

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "data" / "sample" / "translit" / "etymology.tsv"
REAL = Path(__file__).resolve().parents[2] / "shared" / "data" / "maltese" / "etymology-annotations.dev.tsv"


@pytest.fixture(scope="module")
def sentences():
    return read_annotations(SAMPLE)


@pytest.fixture(scope="module")
def model(tmp_path_factory, sentences):
    return train(sentences, tmp_path_factory.mktemp("model"), "fine")


def test_reader_groups_sentences_and_keeps_raw_quotes(sentences):
    assert len(sentences) == 9
    assert sentences[0].sid == "0" and sentences[0].tokens[:3] == ["Illum", "il-", "Prim"]
    last = sentences[-1]
    assert last.tokens.count('"') == 2 and last.labels["category"][1] == "Symbol"
    assert last.labels["category_merged"] == ["Arabic", "Symbol", "Non-Arabic", "Symbol", "Arabic",
                                              "Arabic", "Arabic", "Symbol"]
    text, spans = last.text_and_spans()
    assert [text[a:b] for a, b in spans] == last.tokens
    assert sentences[1].line == 12  # header + 10 tokens of sentence 0, 1-based


def test_reader_errors_name_file_and_line(tmp_path):
    bad = tmp_path / "bad.tsv"
    bad.write_text("id\ttoken\tcategory\n0\tx\tArabic\n0\ty\tArabic\textra\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"bad\.tsv:3"):
        read_annotations(bad)
    headerless = tmp_path / "plain.tsv"
    headerless.write_text('7\t"\tSymbol\tSymbol\n7\tkien\tArabic\tArabic\n8\tu\tArabic\tArabic\n', encoding="utf-8")
    got = read_annotations(headerless)
    assert [s.sid for s in got] == ["7", "8"] and got[0].tokens == ['"', "kien"]


def test_features_cover_form_affixes_and_context():
    f = token_features(["Il-", "ħobż", "."], 1)
    assert "w=ħobż" in f and "suf2=bż" in f and "mt=ħ" in f and "c3=<ħo" in f
    assert "-1:w=il-" in f and "-1:clitic" in f and "1:punct" in f and "2:EOS" in f


def test_model_is_safe_files_and_tags_with_confidence(model, sentences):
    files = sorted(p.name for p in model.iterdir())
    assert files == ["meta.json", "model.crfsuite"]
    assert not (model / "model.crfsuite").read_bytes().startswith(b"\x80")  # not a pickle
    meta = json.loads((model / "meta.json").read_text())
    assert meta["label_column"] == "category" and meta["tokens"] == 71
    tagger = EtymologyTagger(model)
    tags = tagger.tag(sentences[0].tokens)
    assert len(tags) == len(sentences[0].tokens)
    assert all(label in tagger.labels and 0.0 < conf <= 1.0 for label, conf in tags)
    assert tags[-1][0] == "Symbol"  # "." on its training data
    assert tagger.tag([]) == []
    assert evaluate(tagger, sentences)["accuracy"] > 0.9  # training data


def test_bad_model_dir(tmp_path):
    with pytest.raises(InputError, match="not an etymology model"):
        EtymologyTagger(tmp_path)


def test_scores_by_hand():
    got = scores(["A", "A", "B", "C"], ["A", "B", "B", "A"])
    assert got["accuracy"] == 0.5
    assert got["per_class"]["A"] == {"precision": 0.5, "recall": 0.5, "f1": 0.5, "support": 2}
    assert got["per_class"]["B"]["f1"] == pytest.approx(0.6667, abs=1e-4)
    assert got["per_class"]["C"]["f1"] == 0.0
    assert got["macro_f1"] == pytest.approx((0.5 + 0.6667 + 0.0) / 3, abs=1e-4)


def test_lookup_baseline():
    lb = LookupBaseline(["Il-", "il-", "il-", "kelb", "Kelb"], ["X", "A", "A", "B", "B"])
    assert lb.majority == "A"
    assert lb.predict("Il-") == "X" and lb.predict("IL-") == "A" and lb.predict("ġdid") == "A"


def test_folds_are_grouped_by_sentence(sentences):
    fs = folds(sentences, k=4, seed=1)
    flat = sorted(i for f in fs for i in f)
    assert flat == list(range(len(sentences)))
    assert folds(sentences, k=4, seed=1) == fs and all(fs)


def test_cross_validation_against_baselines(sentences):
    cv = cross_validate(sentences, "merged", k=3, seed=0)
    assert cv["label_column"] == "category_merged" and cv["tokens"] == 71
    for m in ("crf", "majority", "lookup"):
        assert 0.0 <= cv[m]["accuracy"] <= 1.0 and set(cv[m]["per_class"]) >= {"Arabic", "Symbol"}
    # the majority baseline predicts one label per fold: its pooled accuracy is the share of
    # held-out tokens carrying their fold's training majority, here always "Arabic"
    arabic = sum(y == "Arabic" for s in sentences for y in s.labels["category_merged"])
    assert cv["majority"]["accuracy"] == pytest.approx(arabic / 71, abs=1e-4)
    assert cv["crf"]["accuracy"] > cv["majority"]["accuracy"]


def test_cli_train_and_eval(tmp_path, capsys):
    out = tmp_path / "m"
    assert entry(["-q", "etymology", "train", "--annotations", str(SAMPLE), "--model", str(out),
                  "--labels", "merged"]) == 0
    capsys.readouterr()
    assert entry(["etymology", "eval", "--model", str(out), "--annotations", str(SAMPLE)]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["label_column"] == "category_merged" and 0.9 <= result["accuracy"] <= 1.0
    assert set(result["per_class"]) == {"Arabic", "Non-Arabic", "Name", "Code-Switching", "Symbol"}
    assert all("f1" in v for v in result["per_class"].values())
    assert entry(["etymology", "eval", "--model", str(tmp_path), "--annotations", str(SAMPLE)]) == 1


@pytest.mark.skipif(not REAL.is_file(), reason="../shared/data is absent")
def test_real_annotations_held_out(tmp_path):
    """Train on 300 real sentences, test on the other 50: well above the majority baseline."""
    real = read_annotations(REAL)
    assert len(real) == 350 and sum(len(s.tokens) for s in real) > 8000
    tagger = EtymologyTagger(train(real[:300], tmp_path, "fine"))
    result = evaluate(tagger, real[300:])
    arabic = [y for s in real[300:] for y in s.labels["category"]]
    assert result["accuracy"] > 0.9 > arabic.count("Arabic") / len(arabic)
