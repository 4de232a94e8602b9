"""eflomal wrapper: shapes, extra bitext, priors, votes (tiny corpora, fast)."""

import random
from collections import Counter

import pytest

from xlcorpus.align.priors import Priors, similar, similarity_priors
from xlcorpus.align.statistical import AlignResult, align_pairs

LEX = {"the": "le", "cat": "chat", "dog": "chien", "eats": "mange", "sees": "voit",
       "fish": "poisson", "bird": "oiseau", "red": "rouge", "big": "grand", "man": "homme"}
NOUNS = ["cat", "dog", "fish", "bird", "man"]


def synthetic(n, seed=1):
    """Pairs 'the ADJ? N V the N' -> 'le N ADJ? V le N' (adjective after the noun in French)."""
    rng = random.Random(seed)
    src, tgt, gold = [], [], []
    for _ in range(n):
        a, b = rng.choice(NOUNS), rng.choice(NOUNS)
        v = rng.choice(["eats", "sees"])
        if rng.random() < 0.5:
            adj = rng.choice(["red", "big"])
            s = ["the", adj, a, v, "the", b]
            t = ["le", LEX[a], LEX[adj], LEX[v], "le", LEX[b]]
            g = [(0, 0), (1, 2), (2, 1), (3, 3), (4, 4), (5, 5)]
        else:
            s = ["the", a, v, "the", b]
            t = ["le", LEX[a], LEX[v], "le", LEX[b]]
            g = [(i, i) for i in range(5)]
        src.append(s)
        tgt.append(t)
        gold.append(g)
    return src, tgt, gold


def accuracy(links, gold):
    hit = sum(len(set(l) & set(g)) for l, g in zip(links, gold))
    return hit / sum(len(g) for g in gold)


def test_align_pairs_learns_synthetic_lexicon():
    src, tgt, gold = synthetic(150)
    res = align_pairs(src, tgt, symmetrize="intersection", runs=1)
    assert isinstance(res, AlignResult)
    assert len(res.links) == len(res.forward) == len(res.reverse) == len(res.scores) == 150
    assert accuracy(res.links, gold) > 0.85   # typically 0.91 (the two "the"/"le" are ambiguous)
    for links, fwd, rev, s, t, sc in zip(res.links, res.forward, res.reverse, src, tgt, res.scores):
        assert set(links) == set(fwd) & set(rev)         # intersection really is one
        assert len({j for _, j in fwd}) == len(fwd)       # forward: one source per target word
        assert len({i for i, _ in rev}) == len(rev)       # reverse: one target per source word
        assert all(0 <= i < len(s) and 0 <= j < len(t) for i, j in links)
        assert len(sc) == len(links) and all(x == 1.0 for x in sc)  # both directions agree


def test_default_vote_keeps_majority_links():
    src, tgt, gold = synthetic(120, seed=7)
    res = align_pairs(src, tgt)
    assert res.method == "vote" and res.options["runs"] == 4 and res.options["prefix_len"] == [4, 5]
    assert accuracy(res.links, gold) > 0.85   # typically 0.91 (the two "the"/"le" are ambiguous)
    for links, sc in zip(res.links, res.scores):
        assert len(sc) == len(links) and all(0.5 < x <= 1.0 for x in sc)


def test_extra_bitext_only_trains_and_votes():
    src, tgt, gold = synthetic(40, seed=2)
    xs, xt, _ = synthetic(200, seed=3)
    res = align_pairs(src[:10], tgt[:10], extra_src=xs, extra_tgt=xt, runs=3,
                      symmetrize="grow-diag-final-and")
    assert len(res.links) == 10 and len(res.forward) == 10
    assert res.options["extra_pairs"] == 200 and res.options["runs"] == 3
    assert accuracy(res.links, gold[:10]) > 0.85
    assert all(0 < x <= 1 for sc in res.scores for x in sc)


def test_errors_and_empty():
    assert align_pairs([], []).links == []
    r = align_pairs([[], ["a", "b"], ["a b", "c"]], [["x"], [], ["y", "z"]], runs=2)  # empty sides, a spaced token
    assert len(r.links) == 3 and r.links[0] == r.links[1] == [] and r.forward[1] == []
    with pytest.raises(ValueError, match="2 source sentences but 1"):
        align_pairs([["a"], ["b"]], [["c"]])
    with pytest.raises(ValueError, match="unknown symmetrization"):
        align_pairs([["a"]], [["b"]], symmetrize="diag")
    with pytest.raises(TypeError, match="unknown option"):
        align_pairs([["a"]], [["b"]], iterations=3)


def test_priors_roundtrip_and_reuse(tmp_path):
    src, tgt, gold = synthetic(80, seed=4)
    res = align_pairs(src, tgt)
    pri = res.priors()
    assert pri.lex[("cat", "chat")] > 0 and sum(pri.hmmf.values()) > 0
    path = tmp_path / "priors.txt"
    pri.write(path)
    back = Priors.read(path)
    assert back.lex == pri.lex and back.hmmr == pri.hmmr and back.ferf == pri.ferf
    # reuse: align a handful of new pairs with the learnt priors only
    s2, t2, g2 = synthetic(8, seed=5)
    again = align_pairs(s2, t2, priors=path, symmetrize="intersection")
    assert accuracy(again.links, g2) > 0.85
    (tmp_path / "bad.txt").write_text("LEX\ta\tb\tx\n")
    with pytest.raises(ValueError, match="bad.txt:1"):
        Priors.read(tmp_path / "bad.txt")


def test_similarity_priors():
    assert similar("government", "gouvernement") and similar("parliament", "parlement")
    assert similar("Canada", "canada") and not similar("house", "maison")
    assert not similar("on", "ont")  # too short for a cognate
    assert similar("réalité", "realite") and not similar("2", "3") and not similar(",", ".")
    pri = similarity_priors([["The", "parliament", "2", ","]], [["le", "parlement", "2", ","]])
    assert set(pri.lex) == {("parliament", "parlement"), ("2", "2"), (",", ",")}


def test_priors_match_eflomal_calculate_priors():
    eflomal = pytest.importorskip("eflomal")
    src, tgt = ["a b c", "d e"], ["x y", "z w v"]
    fwd, rev = ["0-0 2-1", "0-1 1-0 1-2"], ["0-0 1-1 2-1", "1-0 0-2"]
    ref = eflomal.calculate_priors(src, tgt, fwd, rev)

    def parse(lines):
        return [[tuple(map(int, x.split("-"))) for x in l.split()] for l in lines]

    ours = Priors.from_alignments([s.split() for s in src], [t.split() for t in tgt], parse(fwd), parse(rev))
    assert (ours.lex, ours.hmmf, ours.hmmr, ours.ferf, ours.ferr) == tuple(ref)


def test_romanized_similarity_priors():
    pytest.importorskip("uroman")
    from xlcorpus.align.priors import romanize_types

    rom = romanize_types([["парламент", "Canada"]])
    assert rom == {"парламент": "parlament"}
    pri = similarity_priors([["the", "parliament"]], [["парламент"]], 2.0, rom)
    assert pri.lex == {("parliament", "парламент"): 2.0}


@pytest.mark.skipif(not __import__("xlcorpus.align.seeding", fromlist=["x"]).can_seed(),
                    reason="no user namespaces: eflomal cannot be seeded")
def test_same_seed_same_links_other_seed_other_sampler():
    """eflomal seeds itself from /dev/urandom; run in its own mount namespace, the seed decides."""
    src, tgt, _ = synthetic(300, seed=3)
    noisy_src = [s + [f"w{random.Random(i).randrange(40)}"] for i, s in enumerate(src)]
    a = align_pairs(noisy_src, tgt, runs=2, seed=7)
    b = align_pairs(noisy_src, tgt, runs=2, seed=7)
    assert a.links == b.links and a.forward == b.forward and a.reverse == b.reverse and a.scores == b.scores
    others = [align_pairs(noisy_src, tgt, runs=2, seed=s) for s in (8, 9, 10)]
    assert any(o.forward != a.forward or o.reverse != a.reverse for o in others)


@pytest.mark.parametrize("model", [1, 3])
def test_each_eflomal_phase_is_reported_as_it_ends(tmp_path, model):
    """eflomal's stderr names each model phase of both directions and the final argmax: the
    progress callback sees every one of them, in the real binary's output."""
    from xlcorpus.align.statistical import EflomalOptions, align_files, phases

    src, tgt, _ = synthetic(40, seed=3)
    for name, side in (("s.txt", src), ("t.txt", tgt)):
        (tmp_path / name).write_text("".join(" ".join(t) + "\n" for t in side), encoding="utf-8")
    seen = []
    fwd, rev = align_files(tmp_path / "s.txt", tmp_path / "t.txt", None, EflomalOptions(model=model), 0, 1,
                           tmp_path, on_phase=lambda: seen.append(1))
    assert len(seen) == phases(model) == 2 * (model + 1)
    assert len(open(fwd).read().splitlines()) == len(open(rev).read().splitlines()) == 40


def test_token_lines_for_eflomal_replace_inner_whitespace():
    from xlcorpus.align.statistical import _clean

    assert _clean(["a", "b"]) == "a b"
    assert _clean([]) == ""
    cases = [["a b", "c"], ["", "x"], ["x", ""], ["a\u00a0b"], ["tab\there"], ["thin\u2009space", "ok"],
             ["line\nbreak"], [" lead", "trail "], ["a", "  ", "b"], ["\u3000"]]
    for tokens in cases:
        line = _clean(tokens)
        assert line.split(" ") == line.split() and len(line.split()) == len(tokens), (tokens, line)
        assert line == " ".join("_".join(t.split()) or "_" for t in tokens)


def test_one_run_vote_is_the_general_vote_of_one_run():
    """The vectorized vote of one run (both directions) gives what the general vote gives,
    link for link, with sorted directions, positions beyond the sentence dropped from the
    links only, and a bad output line named."""
    from xlcorpus.align.statistical import combine_runs, parse_links, vote_one_run

    rng = random.Random(3)
    src_lens, tgt_lens, fwd_lines, rev_lines = [], [], [], []
    for _ in range(300):
        a, b = rng.randint(0, 12), rng.randint(0, 12)
        src_lens.append(a)
        tgt_lens.append(b)
        for out in (fwd_lines, rev_lines):
            links = {(rng.randint(0, a + 1), rng.randint(0, b + 1)) for _ in range(rng.randint(0, a + b))}
            out.append(" ".join(f"{i}-{j}" for i, j in rng.sample(sorted(links), len(links))) + "\n")
    fwd = [parse_links(x) for x in fwd_lines]
    rev = [parse_links(x) for x in rev_lines]
    for threshold in (0.5, 0.9, 1.0):
        expected = combine_runs([(fwd, rev)], src_lens, tgt_lens, "vote", threshold)
        assert vote_one_run(fwd_lines, rev_lines, src_lens, tgt_lens, threshold) == expected
        links, f, r, scores = vote_one_run(fwd_lines, rev_lines, src_lens, tgt_lens, threshold, directions=False)
        assert (links, scores) == (expected[0], expected[3]) and f == r == []
        assert any(expected[0]) == (threshold < 1)
    assert any(l != sorted(l) for l in fwd)
    with pytest.raises(ValueError, match="x-1"):
        vote_one_run(fwd_lines[:2] + ["0-0 x-1\n"], rev_lines[:3], src_lens[:3], tgt_lens[:3], 0.5)
    with pytest.raises(RuntimeError, match="fewer alignment lines"):
        vote_one_run(fwd_lines[:2], rev_lines[:3], src_lens[:3], tgt_lens[:3], 0.5)


def test_priors_parts_read_as_eflomal_reads_their_concatenation(tmp_path):
    import eflomal

    from xlcorpus.align.statistical import read_priors_parts

    shared = Priors.from_alignments([["a", "b"], ["b", "c"]], [["x", "y"], ["y", "z"]],
                                    [[(0, 0), (1, 1)], [(0, 0), (1, 1)]], [[(0, 0), (1, 1)], [(0, 0)]])
    own = Priors.from_alignments([["a", "b"]], [["x", "y"]], [[(0, 0), (1, 1)]], [[(0, 0), (1, 1)]])
    shared.write(tmp_path / "shared")
    shared.write_leaving_out(own, tmp_path / "own")
    Priors(lex={("a", "x"): 2.5}).write(tmp_path / "sim")
    parts = [tmp_path / "shared", tmp_path / "own", tmp_path / "sim"]
    (tmp_path / "all").write_text("".join(p.read_text() for p in parts))
    with open(tmp_path / "all", encoding="utf-8") as fh:
        expected = eflomal.read_priors(fh)
    for _ in range(2):  # the second time, the shared part comes from the cache
        assert read_priors_parts(parts) == expected
    assert read_priors_parts(parts[:1]) == read_priors_parts(parts[:1]) != expected


def test_symmetrized_counts_are_the_counts_of_from_alignments():
    from xlcorpus.align.priors import symmetrized_counts

    rng = random.Random(5)
    words = ["Le", "le", "chat", "Chat", "dog", "é", "x y", "a"]
    src, tgt, links = [], [], []
    for _ in range(400):
        s = [rng.choice(words) for _ in range(rng.randint(0, 9))]
        t = [rng.choice(words) for _ in range(rng.randint(0, 9))]
        cand = {(rng.randrange(len(s)), rng.randrange(len(t))) for _ in range(rng.randint(0, 12))} if s and t else set()
        src.append(s)
        tgt.append(t)
        links.append(sorted(cand))
    expected = Priors.from_alignments(src, tgt, links, links, zero_fertility=True)
    got = symmetrized_counts(src, tgt, links)
    for name in ("lex", "hmmf", "hmmr", "ferf", "ferr"):
        assert getattr(got, name) == getattr(expected, name), name
    assert expected.hmmf and any(k < 0 for k in expected.hmmf) and ("x y", 0) in expected.ferf
    empty = symmetrized_counts([[], ["a"]], [["b"], []], [[], []])
    assert empty.lex == Counter() and empty.ferf == Counter({("a", 0): 1})
