"""The bitext-align pipeline (import, tokenize, align, store) and the align CLI."""

import json

import pytest

from xlcorpus.cli import entry
from xlcorpus.engine.local import LocalEngine
from xlcorpus.pipeline import load, run

from .conftest import REPO


def test_bitext_pipeline_on_sample(store, capsys):
    spec = load(REPO / "pipelines" / "bitext.yaml")
    report = run(spec.pipeline, store, LocalEngine(progress=False))
    assert [s.step for s in report.steps] == ["import", "align", "lexical", "codeswitch"]
    rows = store.to_arrow("bitext_aligned").to_pylist()
    assert len(rows) == 30
    for r in rows:
        for side in ("src", "tgt"):
            for tok, off in zip(r[f"{side}_tokens"], r[f"{side}_offsets"]):
                assert r[side][off["start"]:off["end"]] == tok
        assert len(r["scores"]) == len(r["alignment"]) and all(0.5 < x <= 1 for x in r["scores"])
        assert all(l["s"] < len(r["src_tokens"]) and l["t"] < len(r["tgt_tokens"]) for l in r["alignment"])
        assert r["method"] == "eflomal" and r["symmetrize"] == "vote"
        assert json.loads(r["params"])["runs"] == 4
    # the final full stop is the same token on both sides: always aligned to itself
    assert all({"s": len(r["src_tokens"]) - 1, "t": len(r["tgt_tokens"]) - 1} in r["alignment"] for r in rows)
    lex = {(r["src"], r["tgt"]): r for r in store.to_arrow("lexical_table").to_pylist()}
    assert lex[(".", ".")]["count"] == 30
    cs = store.to_arrow("align_codeswitched").to_pylist()
    assert len(cs) == 30 and any(r["switched"] for r in cs)
    by_id = {r["id"]: r for r in rows}
    for c in cs:
        a = by_id[c["aligned_id"]]
        for sp in c["switched"]:
            assert c["text"][sp["start"]:sp["end"]] == a["tgt"][sp["tgt_start"]:sp["tgt_end"]]
    # rerun: nothing duplicated (steps up to date)
    again = run(spec.pipeline, store, LocalEngine(progress=False))
    assert all(s.skipped for s in again.steps) and store.count("bitext_aligned") == 30
    capsys.readouterr()
    assert entry(["show", "--store", store.root, "--limit", "2"]) == 0
    assert "en→fr  eflomal (vote)" in capsys.readouterr().out


def test_align_cli_contract_and_errors(tmp_path, capsys):
    pairs = tmp_path / "pairs.txt"
    lines = ["the cat . ||| le chat .", "the dog . ||| le chien .", "a cat . ||| un chat ."] * 20
    pairs.write_text("\n".join(lines) + "\n")
    extra_s, extra_t = tmp_path / "x.en", tmp_path / "x.fr"
    extra_s.write_text("the dog sleeps .\n" * 30)
    extra_t.write_text("le chien dort .\n" * 30)
    out, scores = tmp_path / "links.txt", tmp_path / "scores.txt"
    assert entry(["align", "--input", str(pairs), "--output", str(out), "--symmetrize", "grow-diag-final-and",
                  "--extra-bitext", str(extra_s), str(extra_t), "--scores", str(scores)]) == 0
    got = out.read_text().splitlines()
    assert len(got) == 60 and got[0] == "0-0 1-1 2-2"
    assert len(scores.read_text().splitlines()) == 60
    bad = tmp_path / "bad.txt"
    bad.write_text("a ||| b\nno separator here\n")
    assert entry(["align", "--input", str(bad), "--output", str(out)]) == 1
    assert "bad.txt:2" in capsys.readouterr().err
    assert entry(["align", "--input", str(pairs), "--output", str(out), "--method", "neural"]) == 2
    extra_t.write_text("le chien dort .\n")
    assert entry(["align", "--input", str(pairs), "--output", str(out), "--extra-bitext", str(extra_s),
                  str(extra_t)]) == 1


def test_pipeline_parameter_errors():
    from xlcorpus.errors import PipelineError

    with pytest.raises(PipelineError, match="needs 'model'"):
        load(REPO / "pipelines" / "bitext.yaml", ["method=neural"])
    with pytest.raises(PipelineError, match=r"--set symmetrize: expected one of \[.intersection., .*found .diag."):
        load(REPO / "pipelines" / "bitext.yaml", ["symmetrize=diag"])
