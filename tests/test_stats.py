"""``xlcorpus stats`` / ``head``: DuckDB figures checked against the same figures computed
in plain Python from the stored rows, on tables the bundled pipelines build."""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import subprocess
from collections import Counter
from pathlib import Path

import pytest

from xlcorpus import pipeline as pl
from xlcorpus.cli import entry
from xlcorpus.engine import LocalEngine
from xlcorpus.stats.compute import render, table_stats
from xlcorpus.store import Store

REPO = Path(__file__).resolve().parents[1]
PIPELINES = ["import_bitext.yaml", "bitext.yaml", "entitycs.yaml", "maltese.yaml", "tprojection.yaml"]


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> Store:
    st = Store(tmp_path_factory.mktemp("stats") / "store")
    for name in PIPELINES:
        pl.run(pl.load(REPO / "pipelines" / name).pipeline, st, LocalEngine(progress=False))
    return st


def rows(store: Store, table: str) -> list[dict]:
    return store.to_arrow(table).to_pylist()


def section(stats, name: str) -> list[dict]:
    sec = stats.section(name)
    assert sec is not None, name
    return sec.rows


def test_bitext_languages_lengths_rejects(store):
    s = table_stats(store, "bitext")
    data = rows(store, "bitext")
    assert s.rows == len(data)
    pairs = Counter((r["src_lang"], r["tgt_lang"]) for r in data)
    assert {(r["src_lang"], r["tgt_lang"]): r["rows"] for r in section(s, "languages")} == pairs
    lengths = {r["column"]: r for r in section(s, "lengths")}
    for col in ("src", "tgt"):
        n = sorted(len(r[col]) for r in data)  # code points
        assert (lengths[col]["min"], lengths[col]["max"]) == (n[0], n[-1])
        assert lengths[col]["p50"] == n[(len(n) - 1) // 2]
        assert sum(b["count"] for b in s.histograms[f"length: {col} (characters)"]) == len(n)
    rejects = rows(store, "bitext_rejects")
    assert {(r["stage"], r["reason"]): r["rows"] for r in section(s, "rejects")} == Counter(
        (r["stage"], r["reason"]) for r in rejects)
    assert section(s, "versions")[0]["version"] == store.version("bitext")


def test_entitycs_coverage_and_entities_per_sentence(store):
    s = table_stats(store, "entitycs")
    data = rows(store, "entitycs")
    per_sentence = Counter(len(r["entities"]) for r in data)
    assert {r["entities"]: r["sentences"] for r in section(s, "entities_per_sentence")} == per_sentence
    all_qids = {e["qid"] for r in data for e in r["entities"]}
    for cov in section(s, "entity_coverage"):
        mine = [r for r in data if r["tgt_lang"] == cov["tgt_lang"]]
        qids = {e["qid"] for r in mine for e in r["entities"]}
        assert cov["sentences"] == len(mine) and cov["distinct_qids"] == len(qids)
        assert cov["qid_coverage"] == round(len(qids) / len(all_qids), 4)
        for r in mine:
            for e in r["entities"]:
                assert r["text"][e["start"]:e["end"]] == e["surface"]
    top = Counter((e["qid"], r["tgt_lang"]) for r in data for e in r["entities"])
    assert all(top[(r["qid"], r["tgt_lang"])] == r["switches"] for r in section(s, "top_entities"))


def test_bitext_aligned_links_unaligned_fertility(store):
    s = table_stats(store, "bitext_aligned")
    data = rows(store, "bitext_aligned")
    (a,) = section(s, "alignment")
    links = sum(len(r["alignment"]) for r in data)
    ns = sum(len(r["src_tokens"]) for r in data)
    nt = sum(len(r["tgt_tokens"]) for r in data)
    src_aligned = sum(len({x["s"] for x in r["alignment"]}) for r in data)
    tgt_aligned = sum(len({x["t"] for x in r["alignment"]}) for r in data)
    assert a["pairs"] == len(data) and a["links"] == links
    assert a["links_per_token"] == pytest.approx(links / ((ns + nt) / 2), abs=1e-3)
    assert a["src_unaligned"] == pytest.approx(1 - src_aligned / ns, abs=1e-3)
    assert a["tgt_unaligned"] == pytest.approx(1 - tgt_aligned / nt, abs=1e-3)
    assert a["src_fertility"] == pytest.approx(links / src_aligned, abs=1e-3)
    assert sum(b["count"] for b in s.histograms["link score"]) == sum(len(r["scores"]) for r in data)


def test_transliterated_origins_and_actions(store):
    s = table_stats(store, "transliterated")
    data = rows(store, "transliterated")
    first = min(r["preset"] for r in data)
    origins = Counter(t["origin"] for r in data if r["preset"] == first for t in r["tokens"])
    assert {r["origin"]: r["tokens"] for r in section(s, "origins")} == origins
    actions = Counter((r["preset"], t["action"]) for r in data for t in r["tokens"])
    assert {(r["preset"], r["action"]): r["tokens"] for r in section(s, "actions")} == actions


def test_projected_scores_and_unprojected_spans(store):
    s = table_stats(store, "projected")
    data = rows(store, "projected")
    (p,) = section(s, "projection")
    src = sum(len(r["src_spans"]) for r in data)
    assert p["source_spans"] == src and p["unprojected_spans"] == src - sum(len(r["projected_spans"]) for r in data)
    missed = Counter()
    for r in data:
        done = {x["source"] for x in r["projected_spans"]}
        for i, sp in enumerate(r["src_spans"]):
            missed[sp["label"]] += i not in done
    assert {r["label"]: r["unprojected"] for r in section(s, "unprojected")} == missed
    scores = [x["score"] for r in data for x in r["projected_spans"]]
    hist = s.histograms["projected span score"]
    assert sum(b["count"] for b in hist) == len(scores)
    assert sum(b["count"] for b in hist if b["start"] >= 0.9) == sum(v >= 0.9 for v in scores)


def test_cli_formats_and_head(store, capsys):
    assert entry(["stats", "bitext", "--store", store.root, "--format", "json"]) == 0
    got = json.loads(capsys.readouterr().out)
    assert got["table"] == "bitext" and got["rows"] == store.count("bitext")
    assert entry(["stats", "entitycs", "--store", store.root, "--format", "markdown"]) == 0
    md = capsys.readouterr().out
    assert md.startswith("## entitycs (v") and "| tgt_lang | sentences |" in md
    assert entry(["stats", "bitext", "--store", store.root]) == 0
    assert "language pairs:" in capsys.readouterr().out
    assert entry(["head", "bitext", "--store", store.root, "-n", "2", "--where", "tgt_lang = 'fr'",
                  "--format", "json"]) == 0
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert len(lines) == 2 and all(r["tgt_lang"] == "fr" for r in lines)
    assert entry(["head", "bitext", "--store", store.root, "--where", "no_such_column = 1"]) == 1
    assert "no_such_column" in capsys.readouterr().err
    assert entry(["stats", "nope", "--store", store.root]) == 1
    assert "no table 'nope'" in capsys.readouterr().err


def test_render_text_lists_every_section(store):
    s = table_stats(store, "projected")
    text = render(s, "text")
    assert all(f"{sec.title}:" in text for sec in s.sections)


# ------------------------------------------------------------------ report
CHECK_HEAD = "<script>window.__errors=[];addEventListener('error',e=>__errors.push(String(e.message)));</script>"
CHECK_TAIL = """<script>
const figs=[...document.querySelectorAll('figure svg')];
const drawn=figs.filter(s=>{const b=s.getBoundingClientRect();
  return b.width>0&&b.height>0&&s.querySelectorAll('path,rect,use,text').length>0;});
const external=performance.getEntriesByType('resource').map(r=>r.name);
const out=document.createElement('pre');out.id='check';
out.textContent=JSON.stringify({svgs:figs.length,drawn:drawn.length,errors:__errors,external});
document.body.appendChild(out);
</script>"""


def chromium(*args: str) -> subprocess.CompletedProcess:
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if not exe:
        pytest.skip("chromium is not installed (scripts/setup.sh installs Debian's chromium with apt-get "
                    "where it can); the report was not checked in a browser")
    return subprocess.run([exe, "--headless", "--no-sandbox", "--disable-gpu", "--enable-logging=stderr",
                           "--v=0", *args], capture_output=True, text=True, timeout=120)


def test_report_renders_in_a_headless_browser(store, tmp_path):
    from xlcorpus.stats.report import write_report

    out = write_report(store, tmp_path / "report.html")
    page = out.read_text(encoding="utf-8")
    assert "<script" not in page and not re.search(r"""(src|href)=["']?(https?:|//)""", page)  # self-contained
    expected = page.count("<figure>")
    tables = [t for t in store.tables() if not t.endswith("_rejects")]
    # per table: a language bar chart where it has languages, its histograms, and the special views
    assert expected >= len(tables) + 3 + 1  # + alignment matrices of 3 sample pairs + entity heat map
    assert "most switched entities x target language" in page and "alignment of sample pair 1" in page
    assert "projected span score" in page and "reject reasons" in page and "versions and lineage" in page
    checked = tmp_path / "check.html"
    checked.write_text(page.replace("<head>", "<head>" + CHECK_HEAD).replace("</body>", CHECK_TAIL + "</body>"),
                       encoding="utf-8")
    got = chromium("--dump-dom", checked.as_uri())
    assert got.returncode == 0, got.stderr[-2000:]
    result = json.loads(html.unescape(re.search(r'<pre id="check">(.*?)</pre>', got.stdout, re.S).group(1)))
    assert result == {"svgs": expected, "drawn": expected, "errors": [], "external": []}, result
    console = [x for x in got.stderr.splitlines() if "CONSOLE" in x or "Uncaught" in x]
    assert not console, console
    shots = Path(os.environ.get("XLCORPUS_ARTIFACTS") or tmp_path)
    shots.mkdir(parents=True, exist_ok=True)
    shot = shots / "report.png"
    got = chromium(f"--screenshot={shot}", "--window-size=1200,7000", "--hide-scrollbars", out.as_uri())
    assert got.returncode == 0 and shot.stat().st_size > 10_000, got.stderr[-2000:]
    print(f"report screenshot: {shot}")
