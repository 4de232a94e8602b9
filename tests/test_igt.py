"""Interlinear glossed text: Toolbox and CLDF, lossless round trips, rejects, pipeline, CLI."""

import pytest

from xlcorpus.cli import entry
from xlcorpus.engine.core import Reject
from xlcorpus.engine.local import LocalEngine
from xlcorpus.pipeline import load, run
from xlcorpus.sources.igt import format_cldf, format_toolbox, parse_cldf, parse_toolbox

from .conftest import REPO, SHARED, needs_shared

SAMPLE = REPO / "data" / "sample" / "igt"
BLOCKS = (
    "\\t Бакидиз хъфена\n\\m баку-ди-з хъфе-на\n\\g Baku-ERG-DAT go-AOR\n\\l  I went to Baku,\n\n"
    "\\t a b\n\\g x\n\\l broken\n\n"
    "\\t Zbz sc .\n\\g so.then PFV .\n\\nt a note\n\\l So then.\n"
)


def split(items):
    return ([x for x in items if not isinstance(x, Reject)], [x for x in items if isinstance(x, Reject)])


def test_toolbox_parse_per_word_alignment_and_rejects():
    recs, rejects = split(list(parse_toolbox(BLOCKS, "mem.txt")))
    assert len(recs) == 2 and len(rejects) == 1
    r = recs[0]
    assert r.words == ["Бакидиз", "хъфена"] and r.morphemes == [["баку", "ди", "з"], ["хъфе", "на"]]
    assert r.glosses == [["Baku", "ERG", "DAT"], ["go", "AOR"]] and r.translation == " I went to Baku,"
    assert r.line == 1 and recs[1].line == 10 and recs[1].morphemes is None
    assert recs[1].extra == [("\\nt", "a note")] and recs[1].tiers == ["\\t", "\\g", "\\nt", "\\l"]
    assert rejects[0].position == 6 and "gloss tier has 1 items but the text has 2 words" in rejects[0].reason


def test_roundtrips_on_memory_sample():
    recs, _ = split(list(parse_toolbox(BLOCKS)))
    good = BLOCKS.replace("\\t a b\n\\g x\n\\l broken\n\n", "")
    assert format_toolbox(recs) == good
    csv_text = format_cldf(recs)
    back, rej = split(list(parse_cldf(csv_text)))
    assert not rej and format_toolbox(back) == good and format_cldf(back) == csv_text


def test_cldf_sample_and_misaligned_row():
    text = (SAMPLE / "sample.de.cldf.csv").read_text(encoding="utf-8")
    recs, rej = split(list(parse_cldf(text, "de.csv")))
    assert len(recs) == 3 and not rej
    assert recs[1].morphemes[4] == ["ge", "les", "en"] and recs[1].glosses[4] == ["PTCP", "read", "PTCP"]
    assert recs[0].lang == "deu" and recs[0].words == ["Die", "Kinder", "spielen", "."]
    bad = text.replace("DEF.PL\tchild-PL\tplay-3PL\t.", "DEF.PL\tchild-PL\t.")
    recs, rej = split(list(parse_cldf(bad, "de.csv")))
    assert len(recs) == 2 and rej[0].position == 2 and "Gloss has 3 items" in rej[0].reason


@needs_shared
@pytest.mark.parametrize("path", sorted((SHARED / "igt").glob("*/*-uncovered")) if SHARED.exists() else [],
                         ids=lambda p: p.name)
def test_lossless_roundtrip_on_real_files(path, tmp_path):
    text = path.read_text(encoding="utf-8")
    recs, rej = split(list(parse_toolbox(text, path.name)))
    assert not rej and len(recs) > 50
    assert format_toolbox(recs) == text
    cldf = tmp_path / "x.csv"
    back = tmp_path / "back.txt"
    assert entry(["igt", "convert", "--input", str(path), "--from", "toolbox", "--to", "cldf",
                  "--output", str(cldf)]) == 0
    assert entry(["igt", "convert", "--input", str(cldf), "--from", "cldf", "--to", "toolbox",
                  "--output", str(back)]) == 0
    assert back.read_bytes() == path.read_bytes()


def test_igt_pipeline_and_show(tmp_path, capsys, store):
    spec = load(REPO / "pipelines" / "igt.yaml")
    report = run(spec.pipeline, store, LocalEngine(progress=False))
    assert report.steps[0].rows["igt"] == 5 and report.steps[0].rejects == 1
    rej = store.to_arrow("igt_rejects").to_pylist()
    assert rej[0]["position"] == 21 and "gloss tier has 5 items" in rej[0]["reason"]
    rows = store.to_arrow("igt").to_pylist()
    assert {r["lang"] for r in rows} == {"es"}
    r = next(r for r in rows if r["line"] == 1)
    assert len(r["words"]) == len(r["glosses"]) == len(r["morphemes"]) == 7
    capsys.readouterr()
    assert entry(["show", "--store", store.root, "--table", "igt", "--limit", "1"]) == 0
    out = capsys.readouterr().out
    assert "cat-PL" in out and "‘The cats sleep in the house.’" in out
    # the rejected block is reported by the CLI converter too
    assert entry(["igt", "convert", "--input", str(SAMPLE / "sample.es.toolbox.txt"), "--from", "toolbox",
                  "--to", "cldf", "--output", str(tmp_path / "o.csv")]) == 0
    assert "sample.es.toolbox.txt:21" in capsys.readouterr().err
