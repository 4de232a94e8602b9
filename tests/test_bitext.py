from __future__ import annotations

import gzip

import pytest

from xlcorpus import pipeline as pl
from xlcorpus.engine import LocalEngine, Reject
from xlcorpus.errors import InputError
from xlcorpus.sources.bitext import BitextImport, read_moses, read_pairs


def run(store, **params):
    return pl.run(BitextImport(**params), store, LocalEngine(progress=False))


def test_moses_pair_import_dedupes_and_rejects_empty_sides(tmp_path, store):
    (tmp_path / "c.en").write_text("Hello\nSame\n\nSame\nBye\n", encoding="utf-8")
    (tmp_path / "c.fr").write_text("Bonjour\nPareil\nVide\nPareil\nAu revoir\n", encoding="utf-8")
    report = run(store, src=tmp_path / "c.en", tgt=tmp_path / "c.fr", src_lang="en", tgt_lang="fr")
    step = report.steps[0]
    assert step.rows == {"bitext": 3} and step.rejects == 1 and step.duplicates == 1
    rows = store.sql("SELECT src, tgt, line, source FROM bitext ORDER BY line").to_pylist()
    assert [r["line"] for r in rows] == [1, 2, 5]  # the first occurrence of a duplicate is kept
    assert rows[0]["source"] == "c.en|c.fr"
    (rej,) = store.to_arrow("bitext_rejects").to_pylist()
    assert rej["position"] == 3 and rej["reason"] == "empty source side"


def test_missing_line_is_an_error_not_a_shift(tmp_path):
    (tmp_path / "c.en").write_text("a\nb\nc\n", encoding="utf-8")
    (tmp_path / "c.fr").write_text("A\nB\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"c.en:3: line 3 has no counterpart: .*c.fr has only 2 lines"):
        list(read_moses(tmp_path / "c.en", tmp_path / "c.fr"))


def test_pipes_and_tsv_formats_and_rejects(tmp_path):
    p = tmp_path / "x.txt"
    p.write_bytes("a b ||| c d\nno separator\nx ||| y ||| z\n \u2028keep ||| sep\u2028arated\r\n".encode() + b"\xff\xfe ||| bad\n")
    items = list(read_pairs(p, "pipes"))
    batches = [i for i in items if not isinstance(i, Reject)]
    rejects = [i for i in items if isinstance(i, Reject)]
    rows = [r for b in batches for r in b.to_pylist()]
    assert [(r["src"], r["tgt"], r["position"]) for r in rows] == [
        ("a b", "c d", 1), (" \u2028keep", "sep\u2028arated", 4)]
    assert [(r.position, r.reason.split(" ")[0]) for r in rejects] == [(2, "expected"), (3, "expected"), (5, "invalid")]
    t = tmp_path / "x.tsv"
    t.write_text("a\tb\nonly\n", encoding="utf-8")
    items = list(read_pairs(t, "tsv"))
    assert isinstance(items[0], Reject) and items[0].position == 2 and items[1].num_rows == 1


def test_compressed_input_and_language_partitions(tmp_path, store):
    gz = tmp_path / "p.txt.gz"
    with gzip.open(gz, "wt", encoding="utf-8") as fh:
        fh.write("one ||| eins\ntwo ||| zwei\n")
    run(store, pairs=gz, src_lang="en", tgt_lang="de")
    (tmp_path / "q.txt").write_text("one ||| un\n", encoding="utf-8")
    run(store, pairs=tmp_path / "q.txt", src_lang="en", tgt_lang="fr")
    got = store.sql("SELECT tgt_lang, count(*) AS n FROM bitext GROUP BY ALL ORDER BY 1").to_pylist()
    assert got == [{"tgt_lang": "de", "n": 2}, {"tgt_lang": "fr", "n": 1}]
    assert (tmp_path / "store" / "bitext" / "src_lang=en" / "tgt_lang=de").is_dir()


def test_ids_are_stable_across_runs_and_stores(tmp_path):
    from xlcorpus.store import Store

    (tmp_path / "q.txt").write_text("one ||| un\ntwo ||| deux\n", encoding="utf-8")
    ids = []
    for name in ("s1", "s2"):
        s = Store(tmp_path / name)
        run(s, pairs=tmp_path / "q.txt", src_lang="en", tgt_lang="fr", batch_size=1 if name == "s1" else 100)
        ids.append(sorted(s.to_arrow("bitext").column("id").to_pylist()))
    assert ids[0] == ids[1] and len(ids[0]) == 2


def test_pipeline_needs_one_input_form(tmp_path):
    from xlcorpus.errors import InputError, PipelineError

    with pytest.raises(PipelineError, match="either src and tgt"):
        BitextImport(src_lang="en", tgt_lang="fr")
    with pytest.raises(InputError, match="missing.txt: does not exist"):
        BitextImport(src_lang="en", tgt_lang="fr", pairs=tmp_path / "missing.txt")
