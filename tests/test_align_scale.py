"""Chunked eflomal: priors trained once, chunks in parallel, resumable, seeded per call."""

import json
import random
from collections import Counter

import numpy as np
import pyarrow.compute as pc
import pytest

from xlcorpus.align import seeding
from xlcorpus.align.chunked import ChunkAligner, chunk_options, in_sample
from xlcorpus.align.priors import Priors
from xlcorpus.align.scale import ChunkedAlignSource
from xlcorpus.cli import entry
from xlcorpus.engine.local import LocalEngine
from xlcorpus.pipeline import build, fingerprint, plan_step, run
from xlcorpus.store import Store

needs_seed = pytest.mark.skipif(not seeding.can_seed(), reason="no user namespaces: eflomal cannot be seeded")
WORDS = [("house", "maison"), ("green", "vert"), ("dog", "chien"), ("cat", "chat"), ("sees", "voit"),
         ("small", "petit"), ("the", "le"), ("red", "rouge"), ("eats", "mange"), ("bread", "pain"),
         ("big", "grand"), ("sleeps", "dort"), ("today", "aujourd'hui"), ("near", "près"), ("river", "rivière")]


def pairs(n: int, seed: int = 0) -> list[tuple[str, str]]:
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        ws = [rng.choice(WORDS) for _ in range(rng.randint(3, 7))]
        tgt = [w[1] for w in ws]
        if rng.random() < 0.5:
            tgt[0], tgt[-1] = tgt[-1], tgt[0]
        out.append((" ".join(w[0] for w in ws) + " .", " ".join(tgt) + " ."))
    return out


def write_pairs(path, n, seed=0):
    path.write_text("".join(f"{s} ||| {t}\n" for s, t in pairs(n, seed)), encoding="utf-8")


@needs_seed
def test_align_cli_chunks_priors_workers_and_priors_reuse(tmp_path, capsys):
    """Chunks with trained priors: same links with 1 and 2 workers (2: the priors' eflomal
    directions in two processes); the saved priors given back with --priors (applied whole:
    no chunk's own share is left out) give the same links with 1 and 2 workers."""
    inp = tmp_path / "pairs.txt"
    write_pairs(inp, 300)
    common = ["align", "--input", str(inp), "--chunk-pairs", "100", "--priors-sample", "150", "--runs", "1"]
    one, two, again, again2 = (tmp_path / f"{n}.links" for n in ("one", "two", "again", "again2"))
    priors = tmp_path / "priors.txt"
    assert entry(common + ["--output", str(one), "--priors-out", str(priors)]) == 0
    assert entry(common + ["--output", str(two), "--workers", "2"]) == 0
    assert entry(common + ["--output", str(again), "--priors", str(priors)]) == 0
    assert entry(common + ["--output", str(again2), "--priors", str(priors), "--workers", "2"]) == 0
    got = one.read_text().splitlines()
    assert len(got) == 300 and got == two.read_text().splitlines()
    assert len(again.read_text().splitlines()) == 300
    assert again.read_text() == again2.read_text()
    assert sum("0-0" in l.split() for l in got) > 200
    learnt = Priors.read(priors)
    assert learnt.lex[("house", "maison")] > 10 and learnt.hmmf
    assert "aligned 300 pairs in chunks of 100" in capsys.readouterr().out


def test_sample_is_a_function_of_seed_and_key():
    keys = [f"id{i}" for i in range(4000)]
    a = {k for k in keys if in_sample(3, k, 0.25)}
    assert a == {k for k in reversed(keys) if in_sample(3, k, 0.25)}
    assert 800 < len(a) < 1200 and a != {k for k in keys if in_sample(4, k, 0.25)}
    assert all(in_sample(0, k, 1.0) for k in keys[:10])


@needs_seed
def test_a_chunk_is_seeded_per_call_and_runs_in_parallel_threads():
    """Two chunks aligned at once in threads give what each gives alone (no shared state)."""
    from concurrent.futures import ThreadPoolExecutor

    data = pairs(120, 1)
    src, tgt = [s.split() for s, _ in data], [t.split() for _, t in data]
    aligner = ChunkAligner(chunk_options(1, 120_000), None, "vote", 5, 120_000)
    alone = [aligner.align(src, tgt, i).forward for i in (0, 1)]
    with ThreadPoolExecutor(2) as pool:
        together = list(pool.map(lambda i: aligner.align(src, tgt, i).forward, (0, 1)))
    assert together == alone and alone[0] != alone[1]  # other chunk index, other seed


def test_unseeded_when_namespaces_are_missing(tmp_path, monkeypatch, caplog):
    monkeypatch.setattr(seeding, "can_seed", lambda: False)
    argv, env = seeding.eflomal_command(["-h"], 1, tmp_path)
    assert argv[0] == seeding.eflomal_binary() and env["OMP_NUM_THREADS"] == "1"


def _pipeline(tmp_path, store_dir, n=240, **more):
    src, tgt = tmp_path / "c.en", tmp_path / "c.fr"
    data = pairs(n, 2)
    src.write_text("".join(s + "\n" for s, _ in data), encoding="utf-8")
    tgt.write_text("".join(t + "\n" for _, t in data), encoding="utf-8")
    params = {"src": str(src), "tgt": str(tgt), "src_lang": "en", "tgt_lang": "fr", "pretokenized": True,
              "runs": 1, "chunk_pairs": 80, "priors_sample": 120, **more}
    return build("bitext-align", params, "test", tmp_path), Store(store_dir)


def _links(store):
    t = store.to_arrow("bitext_aligned").sort_by("pair_id")
    return [(r["pair_id"], r["id"], r["alignment"], r["forward"]) for r in t.to_pylist()]


@needs_seed
def test_pipeline_priors_once_chunks_parallel_resume_and_lexical(tmp_path):
    pipe, store = _pipeline(tmp_path, tmp_path / "a")
    report = run(pipe, store, LocalEngine(workers=2, progress=False))
    assert [s.step for s in report.steps] == ["import", "priors", "align", "lexical"]
    pri = store.to_arrow("align_priors")
    assert len(set(pri["priors_id"].to_pylist())) == 1 and pri.num_rows > 20
    rows = store.to_arrow("bitext_aligned").to_pylist()
    assert len(rows) == 240
    params = json.loads(rows[0]["params"])
    assert params["priors"] == pri["priors_id"][0].as_py() and params["chunk_pairs"] == 80
    assert not (tmp_path / "a" / "_align").exists() or not any((tmp_path / "a" / "_align").iterdir())
    # lexical_table: merged chunk counts == counts of the stored links
    lex = {(r["src"], r["tgt"]): r["count"] for r in store.to_arrow("lexical_table").to_pylist()}
    recount: dict = {}
    for r in rows:
        for l in r["alignment"]:
            k = (r["src_tokens"][l["s"]].lower(), r["tgt_tokens"][l["t"]].lower())
            recount[k] = recount.get(k, 0) + 1
    assert lex == recount

    # a crash after chunk 0 was aligned: the rerun aligns only chunks 1 and 2, same links
    pipe_b, store_b = _pipeline(tmp_path, tmp_path / "b")
    fp, _ = fingerprint(pipe_b)
    steps = pipe_b.steps(store_b)
    for _ in ("import", "priors"):                                               # committed as run() does
        step = next(steps)
        plan = plan_step(step, store_b, fp)
        LocalEngine(progress=False).run_step(step, store_b, fp[:16], {}, txn=(plan.app_id, 1))
    align_step = next(steps)
    assert isinstance(align_step.reader, ChunkedAlignSource)
    own = sorted(p.name for p in align_step.reader.plan.path(".").glob("own-*.priors"))
    assert own == ["own-00000.priors", "own-00001.priors", "own-00002.priors"]  # each chunk had sampled pairs
    parts = align_step.reader.parts(workers=2)
    assert len(parts) == 3
    list(parts[0]())                                                            # then "killed"
    folder = align_step.reader.plan.path("progress.log")
    assert [json.loads(l)["chunk"] for l in folder.read_text().splitlines()] == [0]
    report_b = run(pipe_b, store_b, LocalEngine(workers=2, progress=False))
    assert [s.step for s in report_b.steps if not s.skipped] == ["align", "lexical"]
    assert _links(store_b) == _links(store)


@needs_seed
def test_priors_from_another_store_are_reused(tmp_path):
    pipe, store = _pipeline(tmp_path, tmp_path / "a")
    run(pipe, store, LocalEngine(progress=False))
    first = store.to_arrow("align_priors")
    other, store2 = _pipeline(tmp_path, tmp_path / "b", n=200, priors=f"{tmp_path / 'a'}/align_priors@{store.version('align_priors')}")
    run(other, store2, LocalEngine(progress=False))
    second = store2.to_arrow("align_priors")
    key = lambda t: sorted(zip(t["kind"].to_pylist(), t["src"].to_pylist(), t["tgt"].to_pylist(),  # noqa: E731
                               t["value"].to_pylist(), t["count"].to_pylist()), key=str)
    assert key(first) == key(second)
    pid = second["priors_id"][0].as_py()
    rows = store2.to_arrow("bitext_aligned")
    assert rows.num_rows == 200 and all(json.loads(p)["priors"] == pid for p in rows["params"].to_pylist())
    assert pc.all(pc.equal(second["priors_id"], pid)).as_py()


def test_bad_priors_spec_is_a_clear_error(tmp_path, capsys):
    inp = tmp_path / "pairs.txt"
    write_pairs(inp, 10)
    code = entry(["align", "--input", str(inp), "--output", str(tmp_path / "o"), "--priors", str(tmp_path / "nope")])
    assert code == 1 and "neither a priors file nor a store table" in capsys.readouterr().err


@needs_seed
def test_chunks_on_ray_give_the_links_of_the_local_engine(tmp_path):
    ray = pytest.importorskip("ray")
    from xlcorpus.engine.ray_engine import RayEngine, init_ray

    pipe, store = _pipeline(tmp_path, tmp_path / "local", n=160)
    run(pipe, store, LocalEngine(progress=False))
    started = not ray.is_initialized()
    init_ray(2, object_store_mb=256)
    try:
        other, store_ray = _pipeline(tmp_path, tmp_path / "ray", n=160)
        report = run(other, store_ray, RayEngine(workers=2, progress=False))
    finally:
        if started:
            ray.shutdown()
    assert [s.step for s in report.steps] == ["import", "priors", "align", "lexical"]
    assert _links(store_ray) == _links(store) and len(_links(store)) == 160


def _as_eflomal_reads(path) -> Priors:
    """The counts eflomal's own reader ends up with: LEX and FER lines summed, the last line
    of each jump kept."""
    import eflomal

    with open(path, encoding="utf-8") as fh:
        lex, hmmf, hmmr, ferf, ferr = eflomal.read_priors(fh)
    p = Priors(hmmf=Counter(hmmf), hmmr=Counter(hmmr))
    for s, t, a in lex:
        p.lex[(s, t)] += a
    for table, rows in ((p.ferf, ferf), (p.ferr, ferr)):
        for w, fert, a in rows:
            table[(w, fert)] += a
    for table in (p.lex, p.ferf, p.ferr, p.hmmf, p.hmmr):
        for k in [k for k, v in table.items() if v == 0]:
            del table[k]
    return p


def test_leaving_a_chunks_own_counts_out_is_exact_as_eflomal_reads_the_file(tmp_path):
    """Shared priors from two chunks' pairs; appending chunk 0's leave-out lines to the shared
    file makes eflomal read exactly the counts of chunk 1's pairs (large counts stay exact)."""
    src = [["The", "house", "is", "red"], ["a", "house"], ["le", "chat"]]
    tgt = [["la", "maison", "est", "rouge"], ["une", "maison"], ["the", "cat"]]
    links = [[(0, 0), (1, 1), (3, 3)], [(0, 0), (1, 1)], [(1, 1)]]
    mine = Priors.from_alignments(src[:2], tgt[:2], links[:2], links[:2], zero_fertility=True)
    rest = Priors.from_alignments(src[2:], tgt[2:], links[2:], links[2:], zero_fertility=True)
    rest.lex[("big", "grand")] = 1_234_567_891
    shared = mine + rest
    rest.write(tmp_path / "rest")
    shared.write(tmp_path / "shared")
    shared.write_leaving_out(mine, tmp_path / "own")
    (tmp_path / "chunk").write_text((tmp_path / "shared").read_text() + (tmp_path / "own").read_text())
    got = _as_eflomal_reads(tmp_path / "chunk")
    assert got == _as_eflomal_reads(tmp_path / "rest") and got.lex[("big", "grand")] == 1_234_567_891
    assert ("house", "maison") not in got.lex and shared.lex[("house", "maison")] == 2


def test_zero_fertility_counts_words_without_links():
    src, tgt = [["a", "b", "c"]], [["x", "y"]]
    links = [[(0, 0), (0, 1)]]
    plain = Priors.from_alignments(src, tgt, links, links)
    zero = Priors.from_alignments(src, tgt, links, links, zero_fertility=True)
    assert plain.ferf == Counter({("a", 2): 1}) and plain.ferr == Counter({("x", 1): 1, ("y", 1): 1})
    assert zero.ferf == Counter({("a", 2): 1, ("b", 0): 1, ("c", 0): 1}) and zero.ferr == plain.ferr
    assert zero.lex == plain.lex and zero.hmmf == plain.hmmf


def test_the_sample_knows_the_chunk_of_each_pair(tmp_path):
    from xlcorpus.align.chunked import sample_pairs

    inp = tmp_path / "pairs.txt"
    write_pairs(inp, 250)
    got = list(sample_pairs(str(inp), 1000, 0, 250, chunk_pairs=100, size=64))
    groups = [g for _, _, gs in got for g in gs]
    assert groups == [n // 100 for n in range(250)]
    assert [len(s) for s, _, _ in got] == [64, 64, 64, 58]


@needs_seed
def test_split_directions_give_the_links_of_one_process(tmp_path):
    """eflomal's forward and reverse models in two processes at once write the same files
    as one process running both."""
    from xlcorpus.align.statistical import EflomalOptions, align_files

    data = pairs(200, 3)
    src, tgt = tmp_path / "src.txt", tmp_path / "tgt.txt"
    src.write_text("".join(s + "\n" for s, _ in data))
    tgt.write_text("".join(t + "\n" for _, t in data))
    out = {}
    for split in (False, True):
        work = tmp_path / f"split{split}"
        work.mkdir()
        fwd, rev = align_files(src, tgt, None, EflomalOptions(), 4, 11, work, split_directions=split)
        out[split] = (open(fwd).read(), open(rev).read())
    assert out[True] == out[False] and out[True][0].count("-") > 500


def test_a_files_sample_is_a_function_of_seed_and_line_number():
    from xlcorpus.align.chunked import lines_in_sample

    whole = lines_in_sample(3, 1, 40_000, 0.25)
    assert 9_500 < whole.sum() < 10_500
    pieces = [lines_in_sample(3, first, 1000, 0.25) for first in range(1, 40_001, 1000)]
    assert (np.concatenate(pieces) == whole).all()  # blocks of any size agree
    assert (lines_in_sample(3, 5001, 7, 0.25) == whole[5000:5007]).all()
    other = lines_in_sample(4, 1, 40_000, 0.25)
    assert 0.2 < (whole & other).sum() / whole.sum() < 0.3  # another seed: an independent sample
    assert lines_in_sample(0, 1, 10, 1.0).all() and not lines_in_sample(0, 1, 1000, 0.0).any()
    runs = np.diff(np.flatnonzero(np.diff(whole.astype(int)))).max()
    assert runs < 60  # no long stretch in or out: neighbouring lines are mixed


@needs_seed
def test_tabs_and_lone_carriage_returns_inside_sentences_survive_chunk_files(tmp_path):
    """A chunk file holds each pair's text: a tab or a lone CR inside a sentence is
    whitespace between two tokens there too (it once split a pair, or a line, in two)."""
    from xlcorpus.align.chunked import align_lines_file

    data = pairs(60, 4)
    odd = [(s.replace(" ", "\t", 1), t.replace(" ", "\r", 1)) for s, t in data]
    (tmp_path / "odd.txt").write_bytes("".join(f"{s} ||| {t}\n" for s, t in odd).encode())
    write_pairs(tmp_path / "plain.txt", 60, 4)
    for name in ("odd", "plain"):
        assert align_lines_file(str(tmp_path / f"{name}.txt"), str(tmp_path / f"{name}.links"),
                                chunk_pairs=25, priors_sample=0, workers=1, seed=0) == 60
    links = (tmp_path / "odd.links").read_text().splitlines()
    assert len(links) == 60 and links == (tmp_path / "plain.links").read_text().splitlines()


@needs_seed
def test_chunks_read_in_place_or_copied_from_a_compressed_file_give_the_same_links(tmp_path):
    """A plain file's chunks are read by the workers from their byte offsets (CRLF line
    ends included); a gzip file's are copied out first: same links, 1 or 2 workers."""
    import gzip

    from xlcorpus.align.chunked import align_lines_file

    text = "".join(f"{s} ||| {t}\r\n" for s, t in pairs(230, 5)).encode()
    (tmp_path / "plain.txt").write_bytes(text[:-2])  # no line end after the last pair
    (tmp_path / "packed.txt.gz").write_bytes(gzip.compress(text))
    got = {}
    for name, workers in (("plain.txt", 1), ("plain.txt", 2), ("packed.txt.gz", 2)):
        out = tmp_path / f"{name}.{workers}.links"
        assert align_lines_file(str(tmp_path / name), str(out), chunk_pairs=70, priors_sample=100, workers=workers,
                                seed=2, runs=1, out_scores=str(out) + ".scores") == 230
        got[name, workers] = (out.read_text(), (tmp_path / f"{out}.scores").read_text())
    assert len(set(got.values())) == 1
    links = got["plain.txt", 1][0].splitlines()
    assert len(links) == 230 and sum("0-0" in l.split() for l in links) > 150


@needs_seed
def test_priors_counted_in_a_pool_are_those_counted_in_one_process(tmp_path):
    """With a pool, the sample's similarity priors and its counts are found in the workers,
    a part each: the same priors, and the same share of each chunk."""
    from xlcorpus.align.chunked import sample_pairs, train_priors
    from xlcorpus.engine.pool import Pool

    inp = tmp_path / "pairs.txt"
    write_pairs(inp, 9000, 6)
    got = []
    with Pool(2) as pool:
        for use in (None, pool):
            own: dict = {}
            shared = train_priors(sample_pairs(str(inp), 5000, 1, 9000, chunk_pairs=3000), 1, 1, own=own, pool=use)
            got.append((shared, own))
    (a, own_a), (b, own_b) = got
    assert a.lex == b.lex and a.hmmf == b.hmmf and a.ferr == b.ferr and a.lex[("house", "maison")] > 500
    assert sorted(own_a) == sorted(own_b) == [0, 1, 2]
    assert all(own_a[k].lex == own_b[k].lex and own_a[k].hmmr == own_b[k].hmmr for k in own_a)


def test_a_failed_file_run_leaves_the_previous_links_and_no_part_file(tmp_path, monkeypatch):
    """The links and scores files are replaced only when every chunk is done."""
    from xlcorpus.align import chunked

    inp = tmp_path / "pairs.txt"
    write_pairs(inp, 90, 7)
    links, scores = tmp_path / "out.links", tmp_path / "out.scores"
    links.write_text("previous links\n")
    scores.write_text("previous scores\n")
    real = chunked.ChunkAligner.align_to_files

    def second_fails(self, batches, index, out):
        if index == 1:
            raise RuntimeError("chunk 2 failed")
        return real(self, batches, index, out)

    monkeypatch.setattr(chunked.ChunkAligner, "align_to_files", second_fails)
    with pytest.raises(RuntimeError, match="chunk 2 failed"):
        chunked.align_lines_file(str(inp), str(links), chunk_pairs=40, priors_sample=0, runs=1, out_scores=str(scores))
    assert links.read_text() == "previous links\n" and scores.read_text() == "previous scores\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.links", "out.scores", "pairs.txt"]
    monkeypatch.setattr(chunked.ChunkAligner, "align_to_files", real)
    assert chunked.align_lines_file(str(inp), str(links), chunk_pairs=40, priors_sample=0, runs=1,
                                    out_scores=str(scores)) == 90
    assert len(links.read_text().splitlines()) == 90 == len(scores.read_text().splitlines())
