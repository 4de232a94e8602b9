"""Batched SimAlign-style aligner == the `simalign` package on a tiny random BERT."""

import random

import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
simalign = pytest.importorskip("simalign")

from xlcorpus.align.neural import METHODS, SIMALIGN_NAMES, NeuralAligner, resolve_device  # noqa: E402

EN = "the cat dog sees eats a big red house".split()
LETTERS = {"argmax": "a", "itermax": "i", "match": "m"}  # simalign's matching_methods
FR = "le chat chien voit mange un grand rouge maison".split()


@pytest.fixture(scope="module")
def tiny_bert(tmp_path_factory):
    """8-layer random BERT with a WordPiece vocabulary built here, saved and reloaded."""
    d = tmp_path_factory.mktemp("tiny-bert")
    chars = sorted(set("".join(EN + FR) + "xyzé"))
    vocab = (["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + EN + FR + chars
             + ["##" + c for c in chars] + ["##s", "##ing", "##er", ".", ","])
    (d / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
    tok = transformers.BertTokenizer(str(d / "vocab.txt"), do_lower_case=True)
    torch.manual_seed(0)
    cfg = transformers.BertConfig(vocab_size=len(vocab), hidden_size=32, num_hidden_layers=8,
                                  num_attention_heads=2, intermediate_size=64,
                                  max_position_embeddings=128)
    transformers.BertModel(cfg).save_pretrained(d)
    tok.save_pretrained(d)
    # one thread: tiny models gain nothing from more, and OpenMP spinning on a loaded CI
    # machine can make them 50x slower
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield str(d)
    torch.set_num_threads(threads)


def make_pairs(n, seed=0):
    rng = random.Random(seed)
    src_words = EN + ["houses", "seeing", "bigger", "zebra", "Cat", "."]
    tgt_words = FR + ["chats", "maisons", "x", "été", ","]
    return [([rng.choice(src_words) for _ in range(rng.randint(1, 12))],
             [rng.choice(tgt_words) for _ in range(rng.randint(1, 12))]) for _ in range(n)]


def simalign_links(model, pairs, methods):
    ref = simalign.SentenceAligner(model=model, token_type="bpe", device="cpu", layer=8,
                                   matching_methods="".join(LETTERS[m] for m in methods))
    out = [ref.get_word_aligns(s, t) for s, t in pairs]
    return {m: [sorted(r[SIMALIGN_NAMES[m]]) for r in out] for m in methods}


def test_same_links_as_simalign(tiny_bert):
    pairs = make_pairs(60)
    ours = NeuralAligner(tiny_bert, layer=8, device="auto", batch_size=16)
    got = ours.align([s for s, _ in pairs], [t for _, t in pairs], methods=METHODS)
    expected = simalign_links(tiny_bert, pairs, ("argmax", "itermax"))
    assert got["argmax"] == expected["argmax"]
    assert got["itermax"] == expected["itermax"]
    # itermax adds links to argmax somewhere
    assert sum(map(len, got["itermax"])) > sum(map(len, got["argmax"]))
    # simalign's networkx matching is slow: compare Match on the shorter pairs
    short = [i for i, (s, t) in enumerate(pairs) if len(s) + len(t) <= 10][:15]
    expected = simalign_links(tiny_bert, [pairs[i] for i in short], ("match",))
    assert [got["match"][i] for i in short] == expected["match"] and len(short) >= 8


def test_batch_size_does_not_change_links(tiny_bert):
    pairs = make_pairs(25, seed=1)
    src, tgt = [s for s, _ in pairs], [t for _, t in pairs]
    a = NeuralAligner(tiny_bert, batch_size=1).align(src, tgt, methods=("itermax",))
    b = NeuralAligner(tiny_bert, batch_size=25).align(src, tgt, methods=("itermax",))
    assert a == b


def test_edge_cases_and_errors(tiny_bert):
    al = NeuralAligner(tiny_bert, layer=3)
    out = al.align([[], ["cat"]], [["chat"], ["chat"]], methods=("argmax", "match"))
    assert out["argmax"] == [[], [(0, 0)]] and out["match"] == [[], [(0, 0)]]
    with pytest.raises(ValueError, match="unknown neural alignment method"):
        al.align([["a"]], [["b"]], methods=("mwmf",))
    with pytest.raises(ValueError, match="layer 9 requested"):
        NeuralAligner(tiny_bert, layer=9)
    assert resolve_device("auto") == ("cuda" if torch.cuda.is_available() else "cpu")


def test_neural_cli_and_pipeline(tiny_bert, tmp_path, store):
    from xlcorpus.align.pipeline import BitextAlignPipeline
    from xlcorpus.cli import entry
    from xlcorpus.engine.local import LocalEngine
    from xlcorpus.pipeline import run

    pairs = make_pairs(12, seed=3)
    inp = tmp_path / "pairs.txt"
    inp.write_text("".join(" ".join(s) + " ||| " + " ".join(t) + "\n" for s, t in pairs))
    out = tmp_path / "links.txt"
    assert entry(["align", "--input", str(inp), "--output", str(out), "--method", "neural", "--model", tiny_bert,
                  "--neural-method", "argmax", "--batch-size", "4"]) == 0
    want = NeuralAligner(tiny_bert).align([s for s, _ in pairs], [t for _, t in pairs], ("argmax",))["argmax"]
    assert out.read_text().splitlines() == [" ".join(f"{a}-{b}" for a, b in l) for l in want]
    pipe = BitextAlignPipeline("en", "fr", pairs=inp, pretokenized=True, method="neural", model=tiny_bert,
                               neural_method="itermax", batch_size=4)
    run(pipe, store, LocalEngine(progress=False))
    rows = store.to_arrow("bitext_aligned").to_pylist()
    assert len(rows) == len({(tuple(s), tuple(t)) for s, t in pairs})
    assert {r["method"] for r in rows} == {"neural-itermax"} and all(r["forward"] is None for r in rows)
    for r in rows:
        assert len(r["scores"]) == len(r["alignment"]) and all(0 <= x <= 1 for x in r["scores"])
        for tok, off in zip(r["src_tokens"], r["src_offsets"]):
            assert r["src"][off["start"]:off["end"]] == tok
