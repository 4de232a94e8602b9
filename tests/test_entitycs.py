"""EntityCS code-switching: vectorised == per-row reference, filters, languages, pipeline, real data."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pyarrow as pa
import pytest

from xlcorpus.codeswitch import synthetic
from xlcorpus.codeswitch.entitycs import WORD, CSConfig, LabelIndex, code_switch, word_counts
from xlcorpus.codeswitch.reference import code_switch_rows, label_dict
from xlcorpus.ids import stable_id
from xlcorpus.schema import contract

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
WD = SHARED / "wikidata" / "latest-all.head50.json"
WP = SHARED / "wikipedia" / "enwiki-latest-pages-articles1.xml-p000000010p000030302-shortened.bz2"
LANGS = ("de", "fr", "mt", "el", "ja")


@pytest.fixture(scope="module")
def labels():
    return synthetic.labels_table(60, list(LANGS), seed=1)


def check_rows(rows):
    for r in rows:
        assert r["entities"]
        for e in r["entities"]:
            assert r["text"][e["start"]:e["end"]] == e["surface"]
        assert re.sub(r"</?[a-z]+>", "", r["marked_text"]) == r["text"]


@pytest.mark.parametrize("kw", [{}, {"switch_prob": 0.5, "alias_prob": 0.5, "seed": 7},
                                {"keep_unlabeled": True, "markers": "lang", "k": 2},
                                {"k": 1, "min_chars": 60, "max_words": 20, "max_links": 2}])
def test_vectorised_equals_reference(labels, kw):
    cfg = CSConfig(languages=LANGS, **kw)
    batch = synthetic.sentences_batch(1500, 60, seed=3)
    fast = code_switch(batch, LabelIndex(labels, cfg.targets), cfg)
    slow = code_switch_rows(batch, label_dict(labels, cfg), cfg)
    assert fast.num_rows > 100
    assert fast.equals(slow)
    check_rows(fast.to_pylist())


def test_batch_size_does_not_matter(labels):
    cfg = CSConfig(languages=LANGS, alias_prob=0.3, switch_prob=0.8)
    index = LabelIndex(labels, cfg.targets)
    batch = synthetic.sentences_batch(600, 60, seed=5)
    whole = pa.Table.from_batches([code_switch(batch, index, cfg)])
    parts = pa.Table.from_batches([code_switch(batch.slice(i, 77), index, cfg) for i in range(0, 600, 77)])
    assert whole.equals(parts)


def sentence(text, links, sid="s"):
    spans = []
    for surface, qid in links:
        start = text.index(surface)
        spans.append({"start": start, "end": start + len(surface), "title": surface, "qid": qid})
    return {"id": stable_id(sid), "lang": "en", "page_id": 1, "page_title": "T", "sentence_id": 0,
            "text": text, "links": spans, "source": "t"}


def label_rows(items):
    rows = [{"id": stable_id(q, lang), "qid": q, "lang": lang, "label": lab, "aliases": als, "description": None,
             "source": "t", "position": 0} for q, lang, lab, als in items]
    return pa.Table.from_batches([contract("wikidata_labels").batch(rows)])


LABELS = label_rows([("Q1", "de", "Deutschland", ["BRD"]), ("Q1", "fr", "Allemagne", []), ("Q1", "mt", "Ġermanja", []),
                     ("Q2", "de", "Frankreich", []), ("Q2", "fr", "France", []),
                     ("Q3", "de", "Tokio", [])])


def run(rows, **kw):
    cfg = CSConfig(languages=("de", "fr", "mt", "en"), **kw)
    out = code_switch(contract("wiki_sentences").batch(rows), LabelIndex(LABELS, cfg.targets), cfg)
    return out.to_pylist()


def test_target_languages_are_the_intersection():
    out = run([sentence("Trade between Germany and France grew in the last year.", [("Germany", "Q1"), ("France", "Q2")])])
    assert sorted(r["tgt_lang"] for r in out) == ["de", "fr"]  # mt lacks Q2; en is the source
    de = next(r for r in out if r["tgt_lang"] == "de")
    assert de["text"] == "Trade between Deutschland and Frankreich grew in the last year."
    assert de["marked_text"] == "Trade between <e>Deutschland</e> and <e>Frankreich</e> grew in the last year."
    assert [(e["start"], e["end"], e["qid"], e["src_surface"]) for e in de["entities"]] == [
        (14, 25, "Q1", "Germany"), (30, 40, "Q2", "France")]
    out = run([sentence("Trade between Germany and France grew in the last year.",
                        [("Germany", "Q1"), ("France", "Q2")])], keep_unlabeled=True, markers="lang")
    mt = next(r for r in out if r["tgt_lang"] == "mt")
    assert mt["marked_text"] == "Trade between <mt>Ġermanja</mt> and France grew in the last year."
    assert len(run([sentence("Trade between Germany and France grew in the last year.",
                             [("Germany", "Q1"), ("France", "Q2")])], k=1)) == 1


def test_aliases_and_unknown_items():
    out = run([sentence("The economy of Germany is the largest in Europe.", [("Germany", "Q1")])], alias_prob=1.0)
    assert {r["tgt_lang"]: r["entities"][0]["surface"] for r in out} == {"de": "BRD", "fr": "Allemagne",
                                                                         "mt": "Ġermanja"}
    # an entity without any label in the languages empties the intersection
    assert run([sentence("Germany and Narnia are both places on maps.", [("Germany", "Q1"), ("Narnia", "Q99")])]) == []


@pytest.mark.parametrize("text,links", [
    ("Germany.", [("Germany", "Q1")]),                                                  # too short
    ("The country " + "very " * 130 + "Germany.", [("Germany", "Q1")]),                # too many words
    ("Germany is large in size.", [("Germany is large", "Q1")]),                         # one link > half
    ("Germany | style=\"color:red\" is a table cell.", [("Germany", "Q1")]),            # markup residue
    ("File:Germany map shows the state borders.", [("Germany", "Q1")]),                 # file line
    ("Germany has no link with a QID in this row.", [("Germany", None)]),               # no entity
    (" ".join(["Germany"] * 11) + " are many.", []),                                     # too many links
])
def test_filters(text, links):
    if not links:
        row = sentence(text, [])
        row["links"] = [{"start": i * 8, "end": i * 8 + 7, "title": "Germany", "qid": "Q1"} for i in range(11)]
    else:
        row = sentence(text, links)
    assert run([row]) == []
    assert run([sentence("A sentence about Germany that passes every filter.", [("Germany", "Q1")])])


def test_counts_sentences_known_qids_and_kept():
    """A QID is known when a target language labels it; the filters keep by their own rules
    (a well-formed QID link, length...), so a kept sentence may have no known QID."""
    rows = [sentence("A sentence about Germany that passes every filter.", [("Germany", "Q1")], "a"),
            sentence("A sentence about Narnia that passes every filter.", [("Narnia", "Q99")], "b"),
            sentence("A sentence about Germany with no QID on its link.", [("Germany", None)], "c"),
            sentence("Germany.", [("Germany", "Q1")], "d")]
    cfg = CSConfig(languages=("de", "fr", "mt", "en"))
    dropped, counts = {}, {}
    out = code_switch(contract("wiki_sentences").batch(rows), LabelIndex(LABELS, cfg.targets), cfg, dropped, counts)
    assert counts == {"sentences": 4, "with known QIDs": 2, "kept by the filters": 2}
    assert dropped == {"no_qid": 1, "min_chars": 1}
    assert {r["src_id"] for r in out.to_pylist()} == {stable_id("a")}


def test_step_summary_says_sentences_known_qids_kept_and_rows(tmp_path, capsys, caplog):
    """The entitycs step's summary line and its -v log give the counts, summed over its work
    units (batches of 4); checked against the tables the run wrote."""
    from xlcorpus.cli import entry
    from xlcorpus.store import Store

    caplog.set_level("INFO", "xlcorpus")
    store = tmp_path / "s"
    assert entry(["-v", "run", str(ROOT / "pipelines" / "entitycs.yaml"), "--store", str(store),
                  "--set", "batch_size=4", "--set", "languages=mt", "--set", "min_chars=60"]) == 0
    out = capsys.readouterr().out
    st = Store(store)
    sentences = st.to_arrow("wiki_sentences").to_pylist()
    labelled = {r["qid"] for r in st.to_arrow("wikidata_labels").to_pylist() if r["lang"] == "mt" and r["label"]}
    known = sum(any(lk["qid"] in labelled for lk in s["links"]) for s in sentences)
    linked = [s for s in sentences if any(lk["qid"] for lk in s["links"])]
    short = sum(len(s["text"]) <= 60 for s in linked)
    assert 0 < known < len(sentences) and short and len(linked) == len(sentences)
    counts = (f"{len(sentences)} sentences, {known} with known QIDs, {len(sentences) - short} kept by the filters "
              f"(min_chars {short})")
    line = next(x for x in out.splitlines() if x.startswith("entitycs/entitycs: "))
    assert f"entitycs: {st.count('entitycs')} rows inserted (v0); 0 rejected; {counts}; " in line
    assert f"step entitycs: code_switch: {counts}" in caplog.text


def test_pipeline_on_bundled_sample_deterministic_across_workers(tmp_path):
    from xlcorpus.cli import entry

    tables = {}
    for workers in (1, 2):
        store = tmp_path / f"s{workers}"
        assert entry(["-q", "run", str(ROOT / "pipelines" / "entitycs.yaml"), "--store", str(store),
                      "--workers", str(workers), "--set", "batch_size=4"]) == 0
        from xlcorpus.store import Store

        tables[workers] = Store(store).to_arrow("entitycs").sort_by("id")
    assert tables[1].equals(tables[2])
    rows = tables[1].to_pylist()
    assert {r["tgt_lang"] for r in rows} == {"de", "fr", "mt"}
    check_rows(rows)
    assert (tmp_path / "s1" / "entitycs" / "tgt_lang=mt").is_dir()


@pytest.mark.skipif(not (WD.exists() and WP.exists()), reason="needs ../shared/data wikidata + wikipedia")
def test_real_samples_surfaces_are_target_labels(tmp_path):
    """Done-when: on the real samples, every switched entity's surface is that item's label
    or alias in the target language, read independently from the dump."""
    from xlcorpus.cli import entry
    from xlcorpus.store import Store

    store = tmp_path / "real"
    assert entry(["-q", "run", str(ROOT / "pipelines" / "entitycs.yaml"), "--store", str(store),
                  "--set", f"wikidata={WD}", "--set", f"wikipedia={WP}", "--set", "languages=de,fr,mt",
                  "--set", "alias_prob=0.3"]) == 0
    truth: dict[tuple[str, str], set[str]] = {}
    for line in WD.read_bytes().splitlines()[1:]:
        ent = json.loads(line.rstrip(b","))
        for lang in ("de", "fr", "mt"):
            names = set()
            if lang in ent["labels"]:
                names.add(ent["labels"][lang]["value"])
                names |= {a["value"] for a in ent.get("aliases", {}).get(lang, [])}
            truth[(ent["id"], lang)] = names
    rows = Store(store).to_arrow("entitycs").to_pylist()
    assert len(rows) > 30 and {r["tgt_lang"] for r in rows} == {"de", "fr", "mt"}
    n = 0
    for r in rows:
        for e in r["entities"]:
            assert e["surface"] in truth[(e["qid"], r["tgt_lang"])], (r["tgt_lang"], e)
            assert r["text"][e["start"]:e["end"]] == e["surface"]
            n += 1
    assert n >= len(rows)
    check_rows(rows)


def test_word_counts_match_the_word_regex():
    texts = ["", " ", "  a  b ", "\u00a0x y\u00a0", "é b\tc\nd", "日本語 テキスト", "a\x0bb\x0cc\rd", "x", "  "]
    arr = pa.array(["pad", *texts, "pad"]).slice(1, len(texts))  # a slice: offsets not at 0
    assert word_counts(arr).tolist() == [len(re.findall(WORD, t)) for t in texts]


def test_label_rows_are_found_per_item_and_language():
    targets = tuple(f"l{i}" for i in range(70))  # two mask words
    rows = [("Q1", "l0"), ("Q1", "l63"), ("Q1", "l64"), ("Q1", "l69"), ("Q7", "l5"), ("Q7", "l64"), ("Q2", "l3")]
    labels = pa.table({"qid": [q for q, _ in rows], "lang": [lang for _, lang in rows],
                       "label": [f"{q}@{lang}" for q, lang in rows], "aliases": [[] for _ in rows]})
    index = LabelIndex(labels, targets)
    items = index.items(pa.array([1, 7, 2, 5]).to_numpy())
    for q, item in zip(("Q1", "Q7", "Q2", "Q5"), items):
        for li, lang in enumerate(targets):
            row = index.rows(pa.array([item]).to_numpy(), pa.array([li]).to_numpy())[0]
            want = f"{q}@{lang}" if (q, lang) in rows else None
            assert (index.label[row].as_py() if row >= 0 else None) == want, (q, lang)
