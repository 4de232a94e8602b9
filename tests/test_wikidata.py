"""Wikidata dump reader: layouts, truncation, rejects with byte offsets, compression, workers."""

from __future__ import annotations

import bz2
import gzip
import json
from pathlib import Path

import pytest

from xlcorpus.engine.core import Reject, StageOutput
from xlcorpus.sources.wikidata import ParseEntities, default_dump, loads_entity, read_wikidata

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
HEAD50 = SHARED / "wikidata" / "latest-all.head50.json"
Q22 = SHARED / "wikidata" / "Q22.json"
needs_shared = pytest.mark.skipif(not HEAD50.exists(), reason="needs ../shared/data/wikidata")


def parse(path, **kw):
    stage = ParseEntities(**kw)
    labels, links, rejects = [], [], []
    for batch in read_wikidata(path, chunk_bytes=4096):
        if isinstance(batch, Reject):
            rejects.append(batch)
            continue
        out = stage(batch)
        assert isinstance(out, StageOutput)
        labels += out.batch["wikidata_labels"].to_pylist()
        links += out.batch["wikidata_sitelinks"].to_pylist()
        rejects += out.rejects
    return labels, links, rejects


def entity(qid, **labels):
    return {"type": "item", "id": qid,
            "labels": {k: {"language": k, "value": v} for k, v in labels.items()},
            "descriptions": {}, "aliases": {"en": [{"language": "en", "value": f"{qid} alias"}]},
            "claims": {"P31": [{"mainsnak": {"property": "P31", "datavalue": {"value": {"id": "Q5"}}}}]},
            "sitelinks": {"enwiki": {"site": "enwiki", "title": f"Title {qid}", "badges": []}}}


def test_bundled_sample_and_reject_offset():
    path = default_dump()
    labels, links, rejects = parse(path, languages=["en", "de", "fr", "mt"])
    by = {(r["qid"], r["lang"]): r for r in labels}
    assert by[("Q183", "mt")]["label"] == "Ġermanja"
    assert by[("Q183", "de")]["aliases"] == ["Bundesrepublik Deutschland", "BRD"]
    assert by[("Q183", "en")]["description"] == "country in Central Europe"
    assert ("Q1684", "mt") not in by
    assert {r["lang"] for r in labels} <= {"en", "de", "fr", "mt"}
    assert {"qid": "Q23800", "site": "mtwiki", "title": "Il-Belt Valletta"}.items() <= \
        next(r for r in links if r["qid"] == "Q23800" and r["site"] == "mtwiki").items()
    assert len(rejects) == 1
    data = path.read_bytes()
    bad = data.index(b'{"type":"item","id":"Q999999"')
    assert rejects[0].position == bad and "byte" in rejects[0].reason
    # every label row points at the byte offset where its entity line starts
    for r in labels:
        assert data[r["position"]:].startswith(b'{"type":"item","id":"%s"' % r["qid"].encode())


def test_truncated_dump_without_closing_bracket(tmp_path):
    lines = [json.dumps(entity(f"Q{i}", en=f"E{i}")) + "," for i in range(1, 4)]
    full = "[\n" + "\n".join(lines) + "\n"
    cut = full + lines[0][:50]  # cut in the middle of a fourth line, no ']'
    p = tmp_path / "trunc.json"
    p.write_text(cut)
    labels, _, rejects = parse(p, languages=["en"])
    assert [r["qid"] for r in labels] == ["Q1", "Q2", "Q3"]
    assert len(rejects) == 1 and rejects[0].position == len(full.encode())
    for fast in (True, False):  # cut inside the sitelinks, after the claims
        p.write_text(full + lines[0][:-12])
        labels, _, rejects = parse(p, languages=["en"], sites=["enwiki"], fast=fast)
        assert len(labels) == 3 and [r.position for r in rejects] == [len(full.encode())]
    p.write_text(full)  # cut exactly after a line: nothing rejected
    labels, _, rejects = parse(p, languages=["en"])
    assert len(labels) == 3 and not rejects


@pytest.mark.parametrize("opener,suffix", [(open, ".json"), (gzip.open, ".json.gz"), (bz2.open, ".json.bz2")])
def test_layouts_and_compression(tmp_path, opener, suffix):
    ents = [entity("Q1", en="One", de="Eins"), entity("Q2", en="Two")]
    jsonl = tmp_path / f"lines{suffix}"
    with opener(jsonl, "wb") as fh:
        fh.write(b"\n".join(json.dumps(e).encode() for e in ents) + b"\n")
    labels, links, rejects = parse(jsonl)
    assert sorted((r["qid"], r["lang"], r["label"]) for r in labels) == [
        ("Q1", "de", "Eins", ), ("Q1", "en", "One"), ("Q2", "en", "Two")]
    assert not rejects and len(links) == 2
    pretty = tmp_path / f"single{suffix}"
    with opener(pretty, "wb") as fh:
        fh.write(json.dumps(ents[0], indent=2).encode())
    labels, _, _ = parse(pretty)
    assert {(r["qid"], r["label"]) for r in labels} == {("Q1", "One"), ("Q1", "Eins")}
    wrapped = tmp_path / f"entitydata{suffix}"
    with opener(wrapped, "wb") as fh:
        fh.write(json.dumps({"entities": {"Q2": ents[1]}}).encode())
    labels, _, _ = parse(wrapped)
    assert [(r["qid"], r["label"]) for r in labels] == [("Q2", "Two")]


def test_claims_skipping_is_exact():
    e = entity("Q7", en='has "claims": inside', de="x")
    e["claims"]["P1"] = [{"note": '"sitelinks": {"fake": 1}'}]
    raw = json.dumps(e).encode() + b","
    fast = loads_entity(raw)
    assert fast["labels"] == e["labels"] and fast["sitelinks"] == e["sitelinks"] and "claims" not in fast


def test_require_site_and_sites_filter():
    labels, links, _ = parse(default_dump(), languages=["en"], sites=["frwiki"], require_site="mtwiki")
    assert {r["site"] for r in links} == {"frwiki"}
    assert "Q1684" not in {r["qid"] for r in labels}  # Spree has no mtwiki page


@needs_shared
def test_real_head50_and_single_entity():
    labels, links, rejects = parse(HEAD50, languages=["en", "fr", "de", "mt"], sites=["enwiki"])
    assert not rejects
    qids = {r["qid"] for r in labels}
    assert len(qids) == 49 and len(links) == 49
    by = {(r["qid"], r["lang"]): r for r in labels}
    assert by[("Q22", "fr")]["label"] == "Écosse"
    assert by[("Q313", "en")]["aliases"] == ["Sol II", "♀", "Sol c"]
    # the fast path (claims skipped) gives the same labels as a full parse of every line
    for line in HEAD50.read_bytes().splitlines()[1:]:
        full = json.loads(line.rstrip(b","))
        assert loads_entity(line)["labels"] == full["labels"]
        assert loads_entity(line)["sitelinks"] == full["sitelinks"]
    single, _, _ = parse(Q22, languages=["fr"])
    assert [(r["qid"], r["label"]) for r in single] == [("Q22", "Écosse")]


def test_workers_and_chunk_size_do_not_change_tables(tmp_path):
    from xlcorpus.engine.core import Step
    from xlcorpus.engine.local import LocalEngine
    from xlcorpus.store import Store

    def build(workers, chunk, part=64 << 20):
        store = Store(tmp_path / f"s{workers}-{chunk}-{part}")
        step = Step("wikidata", read_wikidata(default_dump(), chunk_bytes=chunk, part_bytes=part),
                    [ParseEntities(["en", "de", "fr", "mt"], ["enwiki"])],
                    ["wikidata_labels", "wikidata_sitelinks"])
        LocalEngine(workers=workers, progress=False).run_step(step, store, "r", {})
        return {t: store.to_arrow(t).sort_by("id") for t in ("wikidata_labels", "wikidata_sitelinks",
                                                             "wikidata_labels_rejects")}

    one, two = build(1, 1 << 20), build(2, 700)
    assert read_wikidata(default_dump(), part_bytes=2000).parts()  # the workers read byte ranges
    three = build(2, 700, part=2000)
    for t in one:
        assert one[t].equals(two[t]), t
        assert one[t].equals(three[t]), t
    assert one["wikidata_labels_rejects"].num_rows == 1


def test_repeated_entity_is_kept_once_on_the_first_run(tmp_path):
    """A dump that repeats an entity gives each id once (the first copy) and one reject."""
    from xlcorpus.engine.core import Step
    from xlcorpus.engine.local import LocalEngine
    from xlcorpus.store import Store

    lines = [json.dumps(entity(q, en=f"{q} {k}")) + "," for k, q in enumerate(["Q1", "Q2", "Q1", "Q3"])]
    path = tmp_path / "dup.json"
    path.write_text("[\n" + "\n".join(lines) + "\n]\n")
    store = Store(tmp_path / "s")
    step = Step("wikidata", read_wikidata(path), [ParseEntities(["en"])], ["wikidata_labels", "wikidata_sitelinks"])
    LocalEngine(workers=1, progress=False).run_step(step, store, "r", {})
    for table in ("wikidata_labels", "wikidata_sitelinks"):
        ids = store.to_arrow(table).column("id").to_pylist()
        assert len(ids) == len(set(ids)) == 3, table
    assert {r["qid"]: r["label"] for r in store.to_arrow("wikidata_labels").to_pylist()}["Q1"] == "Q1 0"
    (rej,) = store.to_arrow("wikidata_labels_rejects").to_pylist()
    assert rej["position"] == len(("[\n" + lines[0] + "\n" + lines[1] + "\n").encode())
    assert "duplicate entity Q1" in rej["reason"]


def test_repeated_entity_in_another_byte_range_is_kept_once(tmp_path):
    """Workers reading byte ranges of a plain dump: an entity repeated in a later range is
    dropped at commit (the first copy kept, the drop counted in the commit metadata)."""
    from xlcorpus.engine.core import Step
    from xlcorpus.engine.local import LocalEngine
    from xlcorpus.store import Store

    qids = [f"Q{k}" for k in range(1, 41)] + ["Q3", "Q17"] + [f"Q{k}" for k in range(41, 61)]
    lines = [json.dumps(entity(q, en=f"{q} {k}")) + "," for k, q in enumerate(qids)]
    path = tmp_path / "dup.json"
    path.write_text("[\n" + "\n".join(lines) + "\n]\n")
    reader = read_wikidata(path, chunk_bytes=500, part_bytes=len(path.read_bytes()) // 4)
    assert len(reader.parts(2)) >= 4
    store = Store(tmp_path / "s")
    step = Step("wikidata", reader, [ParseEntities(["en"])], ["wikidata_labels", "wikidata_sitelinks"],
                mode="merge")
    report = LocalEngine(workers=2, progress=False).run_step(step, store, "r", {})
    labels = {r["qid"]: r["label"] for r in store.to_arrow("wikidata_labels").to_pylist()}
    assert len(labels) == store.to_arrow("wikidata_labels").num_rows == 60
    assert labels["Q3"] == "Q3 2" and labels["Q17"] == "Q17 16"  # the first copies
    assert report.duplicates == 4  # two repeated entities, one label and one sitelink each
    assert [store.history(t)[0]["duplicates"] for t in ("wikidata_labels", "wikidata_sitelinks")] == [2, 2]


def test_seen_ids_bitmap_and_hostile_ids():
    from xlcorpus.sources.wikidata import SeenIds

    seen = SeenIds()
    lines = [b'{"type":"item","id":"%s","labels":{}}' % q for q in (b"Q5", b"P5", b"Q999999999999", b"L7")]
    assert [seen.repeated(x) for x in lines] == [None] * 4
    assert [seen.repeated(x) for x in lines] == [b"Q5", b"P5", b"Q999999999999", b"L7"]
    assert sum(map(len, seen.bits.values())) < 64  # a huge id does not grow the bitmap
    assert seen.repeated(b'{"labels":{}}') is None  # no id: left to the parser


def test_compressed_dump_by_content_not_name(tmp_path):
    """gzip data named .json is read as gzip (never split into byte ranges); a truncated
    .bz2 or a .bz2 that is not bz2 data is an error naming the file."""
    from xlcorpus.errors import InputError

    body = ("[\n" + "\n".join(json.dumps(entity(f"Q{i}", en="x")) + "," for i in range(1, 30)) + "\n]\n").encode()
    hidden = tmp_path / "dump.json"
    hidden.write_bytes(gzip.compress(body))
    assert read_wikidata(hidden, part_bytes=100).parts() is None
    assert len(parse(hidden)[0]) == 29
    cut = tmp_path / "cut.json.bz2"
    data = bz2.compress(body)
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError, match=r"cut.json.bz2: corrupt or truncated bz2 data"):
        parse(cut)
    fake = tmp_path / "plain.json.bz2"
    fake.write_bytes(body)
    with pytest.raises(InputError, match=r"plain.json.bz2: is named .bz2 but is not bz2 data"):
        parse(fake)


def rows_of(batches):
    return [(r["position"], r["raw"], r["whole"]) for b in batches for r in b.to_pylist()]


def test_parts_read_exactly_the_lines_of_the_whole_file(tmp_path):
    lines = [b"[", *(json.dumps(entity(f"Q{i}", en="x" * (i * 7 % 50))).encode() + b"," for i in range(40)),
             b"", b"  ", b'{"type": "item", "id": "Q99", "labels": {"en": {"langu']  # cut last line
    path = tmp_path / "dump.json"
    path.write_bytes(b"\n".join(lines))
    whole = rows_of(read_wikidata(path, chunk_bytes=300))
    assert whole[-1][2] is False and len(whole) == 41
    for part_bytes in (1, 2, 97, 500, path.stat().st_size - 1):
        parts = read_wikidata(path, chunk_bytes=300, part_bytes=part_bytes).parts()
        assert parts is not None and len(parts) > 1
        assert rows_of(b for part in parts for b in part()) == whole, part_bytes
    assert read_wikidata(path, part_bytes=path.stat().st_size).parts() is None  # one part: read here
    gz = tmp_path / "dump.json.gz"
    gz.write_bytes(gzip.compress(path.read_bytes()))
    assert read_wikidata(gz, part_bytes=10).parts() is None  # compressed: decompressed in one place
    doc = tmp_path / "Q1.json"
    doc.write_text(json.dumps(entity("Q1", en="One"), indent=2))
    assert read_wikidata(doc, part_bytes=10).parts() is None


@pytest.mark.parametrize("path", [default_dump(), HEAD50])
def test_arrow_fast_path_equals_per_line_parser(path):
    if not path.exists():
        pytest.skip("needs ../shared/data")
    kw = dict(languages=["en", "de", "fr", "mt", "ja"], sites=["enwiki", "mtwiki"])
    for require in (None, "mtwiki"):
        fast = parse(path, **kw, require_site=require)
        slow = parse(path, **kw, require_site=require, fast=False)
        assert sorted(fast[0], key=lambda r: r["id"]) == sorted(slow[0], key=lambda r: r["id"])
        assert sorted(fast[1], key=lambda r: r["id"]) == sorted(slow[1], key=lambda r: r["id"])
        assert [r.position for r in fast[2]] == [r.position for r in slow[2]]


class FailOnLateLines:
    """A stage that fails on a work unit past byte 3000 (picklable: runs in workers)."""

    name = "fail-late"

    def setup(self):
        pass

    def __call__(self, batch):
        if max(batch.column("position").to_pylist()) > 3000:
            raise RuntimeError("worker failed")
        return batch


def test_failing_worker_on_byte_ranges_commits_nothing(tmp_path):
    from xlcorpus.engine.core import Step
    from xlcorpus.engine.local import LocalEngine
    from xlcorpus.store import Store

    store = Store(tmp_path / "s")
    reader = read_wikidata(default_dump(), chunk_bytes=700, part_bytes=2000)
    assert reader.parts(workers=2)
    step = Step("wikidata", reader, [FailOnLateLines(), ParseEntities(["en"], ["enwiki"])],
                ["wikidata_labels", "wikidata_sitelinks"])
    with pytest.raises(RuntimeError, match="worker failed"):
        LocalEngine(workers=2, fail_fast=True, progress=False).run_step(step, store, "r", {})
    assert store.tables() == []
    assert not (tmp_path / "s" / "_staging").exists()
