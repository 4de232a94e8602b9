"""Label projection: candidates, selection constraints, scorers (tiny random seq2seq model),
the projector, the CLI and the ``tprojection`` pipeline."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from xlcorpus.cli import entry
from xlcorpus.project.candidates import (Seq2SeqCandidateGenerator, alignment_candidates, blocks, edge_ok,
                                         find_token_spans, ngram_candidates, stopwords, trim)
from xlcorpus.project.project import ProjectionOptions, project_corpus
from xlcorpus.align.lexical import LexicalTable
from xlcorpus.project.fit import fit_model, gold_labels, reliability
from xlcorpus.project.scorers import FEATURES, FeatureScorer, NMTScorer, PairContext, ScoringModel, string_similarity
from xlcorpus.project.select import greedy, select_spans
from xlcorpus.project.spans import Sentence, Span, read_conll

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "data" / "sample" / "project"


# ------------------------------------------------------------------ candidates
# A common function word per language whose stop words spaCy ships (the projection's languages).
STOP_WORD_OF = {"en": "the", "es": "de", "de": "und", "fr": "le", "it": "di", "pt": "que", "nl": "het",
                "ru": "и", "ar": "في", "hi": "और", "fi": "ja", "tr": "ve", "el": "και", "he": "של",
                "ja": "これ", "zh": "的", "ko": "수"}


@pytest.mark.parametrize("lang", sorted(STOP_WORD_OF))
def test_stopwords_come_from_spacy_for_each_language(lang):
    words = stopwords(lang)
    assert len(words) > 20 and STOP_WORD_OF[lang] in words


def test_stopwords_of_three_letter_codes_and_unknown_languages():
    assert stopwords("spa") == stopwords("es") and stopwords("en-GB") == stopwords("en")
    assert stopwords("mt") == frozenset() and stopwords("12") == frozenset()


def test_edge_pruning_and_ngrams():
    es = stopwords("es")
    assert "de" in es and stopwords("xx-unknown") == frozenset()
    toks = ["el", "Fondo", "de", "Cohesión", ",", "dijo"]
    assert not edge_ok(toks, 0, es, "Cohesion") and not edge_ok(toks, 4, es, "Fund")
    assert not edge_ok(toks, 2, es, "x") and edge_ok(toks, 2, es, "de")  # same token as the source edge
    got = ngram_candidates(toks, anchors=[3], max_len=3, stop=es)
    assert got == {(1, 4), (3, 4)}  # 'dijo' is a Spanish stop word in spaCy's list
    for a, b in got:
        assert edge_ok(toks, a, es, "") and edge_ok(toks, b - 1, es, "") and a <= 3 < b and b - a <= 3
    assert trim((0, 5), toks, es, "", "") == (1, 4)
    assert trim((4, 5), toks, es, "", "") is None


def test_alignment_candidates_minmax_and_blocks():
    links = [(0, 0), (1, 2), (1, 3), (1, 6), (2, 5)]
    got = alignment_candidates(Span(1, 2, "X"), [links])
    assert got == {(2, 7), (2, 4), (6, 7)}
    assert blocks([5, 1, 2, 2]) == [(1, 3), (5, 6)]
    assert find_token_spans(["a", "b", "a", "b"], ["a", "b"]) == [(0, 2), (2, 4)]


# ------------------------------------------------------------------ selection
def test_selection_one_per_source_no_overlap_threshold():
    options = [[((0, 2), 0.9), ((3, 4), 0.5)],
               [((1, 3), 0.8), ((3, 4), 0.7)],
               [((5, 6), 0.1)]]
    out = select_spans(["ORG", "PER", "LOC"], options, threshold=0.2)
    # exact assignment: (0,2)+(3,4)=1.6 beats the greedy-compatible alternatives
    assert [(p.start, p.end, p.label, p.score, p.source) for p in out] == [(0, 2, "ORG", 0.9, 0), (3, 4, "PER", 0.7, 1)]
    spans = [(p.start, p.end) for p in out]
    assert all(a[1] <= b[0] for a, b in zip(spans, spans[1:]))
    assert len({p.source for p in out}) == len(out)


def test_exact_beats_greedy_and_fallback():
    options = [[((0, 3), 1.0)], [((0, 1), 0.9)], [((2, 3), 0.9)]]
    assert greedy(options) == [0, None, None]
    out = select_spans(["A", "B", "C"], options)
    assert sorted(p.source for p in out) == [1, 2]
    fallback = select_spans(["A", "B", "C"], options, exact_limit=1)  # too small: greedy
    assert [p.source for p in fallback] == [0]
    assert select_spans([], []) == []


# ------------------------------------------------------------------ CPU scorer
def test_feature_scorer_prefers_the_full_translation():
    src = ["the", "European", "Social", "Fund", "helps"]
    tgt = ["el", "Fondo", "Social", "Europeo", "ayuda"]
    table = LexicalTable.from_links([src], [tgt], [[(0, 0), (1, 3), (2, 2), (3, 1), (4, 4)]])
    assert table.prob("Fund", "fondo") == pytest.approx(1.0) and table.prob("fund", "ayuda") == 0.0
    assert string_similarity("Europe", "Europa") >= 0.7 and string_similarity("de", "la") == 0.0
    ctx = PairContext(src, tgt, {(2, 2): 1.0, (3, 1): 0.5}, stopwords("en"), stopwords("es"))
    cands = [(1, 4), (2, 4), (1, 3), (2, 3), (1, 5)]
    scores = FeatureScorer(table).score(ctx, (1, 4), cands)
    assert max(zip(scores, cands))[1] == (1, 4)
    assert all(math.isfinite(s) for s in scores)


def test_case_features_need_case_on_both_sides():
    src = ["the", "European", "Fund", "helps"]
    cands = [(1, 3), (0, 2)]
    cased = PairContext(src, ["el", "Fondo", "Europeo", "ayuda"], {(1, 2): 1.0, (2, 1): 1.0})
    lower = PairContext(src, ["el", "fondo", "europeo", "ayuda"], {(1, 2): 1.0, (2, 1): 1.0})
    case = list(FEATURES).index("case")
    scorer = FeatureScorer(None, "hand")
    assert [r[case] for r in scorer.features(cased, (1, 3), cands)] == [1.0, -1.0]
    # a lower-cased target carries no case information: the feature is neutral, not a penalty
    assert [r[case] for r in scorer.features(lower, (1, 3), cands)] == [0.0, 0.0]
    assert scorer.features(lower, (1, 3), cands)[0][0] == pytest.approx(scorer.features(cased, (1, 3), cands)[0][0])


def test_scoring_models_load_by_name_and_score_as_documented(tmp_path):
    rows = [[0.9, 1, 0, 0.1, 0, 0, 0], [0.4, -1, 0.5, 0.2, 1, 0.5, 0.7]]
    for name in ("hand", "core", "softmax-en-es", "softmax-es-en", "logistic-en-es", "logistic-es-en"):
        model = ScoringModel.load(name)
        z = [model.bias + sum(w * x for w, x in zip(model.vector, r)) for r in rows]
        scores = model.score(rows)
        if model.link == "identity":
            assert scores == pytest.approx(z)
        elif model.link == "logistic":
            assert scores == pytest.approx([1 / (1 + math.exp(-v)) for v in z])
        else:  # softmax over the candidates of one span plus "no projection"
            assert scores == pytest.approx([math.exp(v) / (1 + sum(map(math.exp, z))) for v in z])
            assert sum(scores) < 1 and 0 < model.min_score < 1
        assert scores[0] > scores[1]  # every model prefers the well-explained, case-matching candidate
    path = tmp_path / "mine.json"
    ScoringModel("mine", {"core": 2.0}, -1.0, "logistic", 0.3).save(path)
    again = ScoringModel.load(str(path))
    assert (again.name, again.weights, again.bias, again.link, again.min_score) == ("mine", {"core": 2.0}, -1.0, "logistic", 0.3)
    with pytest.raises(ValueError, match="unknown scoring model 'nope'"):
        ScoringModel.load("nope")
    with pytest.raises(ValueError, match="unknown features"):
        ScoringModel("bad", {"colour": 1.0})
    bad = tmp_path / "bad.json"
    for text in ("{not json", '{"bias": 1}', '{"weights": {"core": "x"}}', '{"weights": {"colour": 1}}'):
        bad.write_text(text, encoding="utf-8")
        with pytest.raises(ValueError, match="bad.json"):
            ScoringModel.load(str(bad))


def test_alignment_seen_from_the_target_side():
    from xlcorpus.project.project import Alignment

    src, tgt = [["the", "Fund"]], [["el", "Fondo", "social"]]
    table = LexicalTable.from_links(src, tgt, [[(0, 0), (1, 1)]])
    al = Alignment([{(1, 1): 1.0, (1, 2): 0.5}], [[(1, 1)]], table, [[(1, 1), (1, 2)]], [[(1, 1)]])
    rev = al.transposed()
    assert rev.weights == [{(1, 1): 1.0, (2, 1): 0.5}] and rev.links == [[(1, 1)]]
    assert rev.forward == [[(1, 1)]] and rev.reverse == [[(1, 1), (2, 1)]]  # directions swap too
    assert rev.table.prob("fondo", "fund") == table.prob("fund", "fondo") == pytest.approx(1.0)
    assert rev.transposed().weights == al.weights


def test_reliability_table_and_ece():
    ece, table = reliability([0.95, 0.95, 0.15, 0.15], [True, False, False, False])
    # bin 0.9-1.0: mean score 0.95, precision 0.5; bin 0.1-0.2: 0.15 vs 0
    assert ece == pytest.approx(0.5 * 0.45 + 0.5 * 0.15)
    assert [(r["bin"], r["spans"], r["precision"]) for r in table] == [("0.1-0.2", 2, 0.0), ("0.9-1.0", 2, 0.5)]


def test_gold_labels_match_one_to_one():
    src = [Sentence(["A", "y", "B"], [Span(0, 1, "PER"), Span(2, 3, "PER")])]
    gold = [Sentence(["a", "and", "b"], [Span(0, 1, "PER"), Span(2, 3, "PER")])]
    # both source spans have both gold spans among their candidates; core decides who takes which
    feats = [[([(0, 1), (2, 3)], [[0.9] + [0] * 6, [0.2] + [0] * 6]),
              ([(0, 1), (2, 3)], [[0.95] + [0] * 6, [0.8] + [0] * 6])]]
    assert gold_labels(src, gold, feats) == [[[0, 1], [1, 0]]]


@pytest.mark.parametrize("kind", ["softmax", "logistic"])
def test_fit_on_the_sample_direction_and_project(kind):
    pytest.importorskip("sklearn")
    from xlcorpus.project.project import align_corpus, candidate_features

    src = read_conll(SAMPLE / "sample.en.conll")
    gold = read_conll(SAMPLE / "sample.es.conll")
    opts = ProjectionOptions(runs=1)
    align = align_corpus([s.tokens for s in src], [g.tokens for g in gold], opts=opts)
    feats = candidate_features(src, gold, "en", "es", align, opts, FeatureScorer(align.table, "core"))
    model, report = fit_model("sample", kind, src, gold, feats, folds=2, strengths=(1.0, 10.0))
    assert model.link == kind and report["positives"] > 0 and report["strength"] in (1.0, 10.0)
    assert set(report["log_loss"]) == {"1.0", "10.0"} and model.min_score == report["min_score"]
    assert model.weights["core"] > 0  # a candidate that explains the source span better is more likely right
    out = project_corpus(src, gold, "en", "es", opts=ProjectionOptions(runs=1, scoring=model, min_score=0.0),
                         alignment=align)
    assert all(0.0 <= p.score <= 1.0 for ps in out for p in ps)
    correct = sum(len({Span(p.start, p.end, p.label) for p in ps} & set(g.spans)) for ps, g in zip(out, gold))
    assert correct >= 0.6 * sum(len(g.spans) for g in gold)


# ------------------------------------------------------------------ tiny seq2seq model
WORDS = ("the european parliament el parlamento europeo commission comisión of de la "
         "<ORG> </ORG> <PER> </PER> fund fondo").split()


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    """A random-init T5 with a word-level tokenizer, saved and loaded through the real path."""
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    from tokenizers import Tokenizer, models, pre_tokenizers, processors

    vocab = {w: i for i, w in enumerate(["<pad>", "</s>", "<unk>", *WORDS])}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tok.post_processor = processors.TemplateProcessing(single="$A </s>", special_tokens=[("</s>", 1)])
    fast = transformers.PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>", eos_token="</s>",
                                                unk_token="<unk>")
    torch.manual_seed(0)
    cfg = transformers.T5Config(vocab_size=len(vocab), d_model=32, d_ff=64, d_kv=8, num_heads=2, num_layers=2,
                                num_decoder_layers=2, pad_token_id=0, eos_token_id=1, decoder_start_token_id=0)
    path = tmp_path_factory.mktemp("tiny-t5")
    transformers.T5ForConditionalGeneration(cfg).save_pretrained(path)
    fast.save_pretrained(path)
    return str(path)


def test_nmt_scorer_formula_batching_and_teacher_forcing(tiny_model):
    import torch
    from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

    sources = ["european parliament", "commission", "the european fund"]
    cands = ["parlamento europeo", "comisión de la", "fondo"]
    big = NMTScorer(tiny_model, device="cpu", batch_size=64)
    one = NMTScorer(tiny_model, device="cpu", batch_size=1)
    lp_big, lp_one = big.log_probs(sources, cands), one.log_probs(sources, cands)
    assert lp_big == pytest.approx(lp_one, abs=1e-5)  # padding does not change the scores
    # teacher-forced mean log-probability computed by hand for one pair
    tok = AutoTokenizer.from_pretrained(tiny_model)
    model = AutoModelForSeq2SeqLM.from_pretrained(tiny_model).eval()
    x = tok(sources[1], return_tensors="pt")
    y = tok(text_target=cands[1], return_tensors="pt").input_ids
    with torch.no_grad():
        logits = model(**x, labels=y).logits
    manual = torch.log_softmax(logits, -1)[0, torch.arange(y.shape[1]), y[0]].mean().item()
    assert lp_big[1] == pytest.approx(manual, abs=1e-5)
    scores = big.score_pairs(sources, cands)
    assert all(s > 0 and math.isfinite(s) for s in scores)
    assert big.score_pairs(["commission"], ["commission"]) == [pytest.approx(1.0)]
    a, b = lp_big[0], big.log_probs([cands[0]], [sources[0]])[0]
    ss, cc = big.log_probs([sources[0]], [sources[0]])[0], big.log_probs([cands[0]], [cands[0]])[0]
    assert scores[0] == pytest.approx(0.5 * (math.exp(b - ss) + math.exp(a - cc)), rel=1e-5)


def test_seq2seq_generator_format_and_valid_ranges(tiny_model):
    gen = Seq2SeqCandidateGenerator(tiny_model, device="cpu", num_beams=4, num_return=3, max_new_tokens=6)
    assert gen.format_input(["el", "parlamento"], "ORG") == "el parlamento <ORG>"
    assert gen.parse_output("<ORG>Parlamento Europeo</ORG><PER>x</PER><ORG> </ORG>", "ORG") == ["Parlamento Europeo"]
    tokens = ["el", "parlamento", "europeo"]
    found = gen.generate([(tokens, "ORG"), (["comisión"], "PER")])
    assert len(found) == 2
    for f, toks in zip(found, [tokens, ["comisión"]]):
        assert all(0 <= a < b <= len(toks) for a, b in f)


def test_project_nmt_method_with_tiny_model(tiny_model):
    src = read_conll(SAMPLE / "sample.en.conll")[:3]
    tgt = read_conll(SAMPLE / "sample.es.tokens.conll", with_tags=False)[:3]
    out = project_corpus(src, tgt, "en", "es",
                         opts=ProjectionOptions(method="nmt", nmt_model=tiny_model, runs=1, device="cpu"))
    for s, t, ps in zip(src, tgt, out):
        assert all(0 <= p.start < p.end <= len(t.tokens) and p.label == s.spans[p.source].label for p in ps)


# ------------------------------------------------------------------ projector, CLI, pipeline
def test_project_sample_features_and_minmax():
    src = read_conll(SAMPLE / "sample.en.conll")
    tgt = read_conll(SAMPLE / "sample.es.tokens.conll", with_tags=False)
    gold = read_conll(SAMPLE / "sample.es.conll")
    for method in ("features", "minmax"):
        out = project_corpus(src, tgt, "en", "es", opts=ProjectionOptions(method=method, runs=1))
        assert len(out) == len(src)
        for s, t, ps in zip(src, tgt, out):
            ranges = sorted((p.start, p.end) for p in ps)
            assert all(a[1] <= b[0] for a, b in zip(ranges, ranges[1:]))
            assert len({p.source for p in ps}) == len(ps)
            assert all(p.label == s.spans[p.source].label for p in ps)
    out = project_corpus(src, tgt, "en", "es", opts=ProjectionOptions(runs=1))
    correct = sum(len({Span(p.start, p.end, p.label) for p in ps} & set(g.spans)) for ps, g in zip(out, gold))
    assert correct >= 0.6 * sum(len(g.spans) for g in gold)  # names, capitals and string matches


def test_cli_project_and_eval_spans(tmp_path, capsys):
    out = tmp_path / "out.conll"
    rc = entry(["project", "--source", str(SAMPLE / "sample.en.conll"), "--target", str(SAMPLE / "sample.es.tokens.conll"),
                "--output", str(out), "--runs", "1", "--extra-bitext", str(SAMPLE / "sample.extra.en"),
                str(SAMPLE / "sample.extra.es")])
    assert rc == 0 and len(read_conll(out)) == 8
    capsys.readouterr()
    assert entry(["eval", "spans", "--gold", str(SAMPLE / "sample.es.conll"), "--pred", str(SAMPLE / "sample.es.conll")]) == 0
    rep = json.loads(capsys.readouterr().out)
    assert rep["f1"] == 1.0 and rep["precision"] == 1.0 and rep["recall"] == 1.0 and "PER" in rep["per_label"]
    assert entry(["eval", "spans", "--gold", str(SAMPLE / "sample.es.conll"), "--pred", str(out)]) == 0
    rep = json.loads(capsys.readouterr().out)
    assert 0.5 <= rep["f1"] <= 1.0 and set(rep["errors"]) == {"boundary", "label", "spurious", "missed"}
    short = tmp_path / "short.conll"
    short.write_text("a\tO\n", encoding="utf-8")
    assert entry(["project", "--source", str(SAMPLE / "sample.en.conll"), "--target", str(short),
                  "--output", str(tmp_path / "x.conll")]) == 1
    assert "sentences" in capsys.readouterr().err


def test_cli_min_score_filters_by_calibrated_score(tmp_path, capsys):
    base = ["project", "--source", str(SAMPLE / "sample.en.conll"), "--target", str(SAMPLE / "sample.es.tokens.conll"),
            "--runs", "1"]
    counts = {}
    for s in ("0", "0.5", "0.999"):
        out = tmp_path / f"out{s}.jsonl"
        assert entry(base + ["--output", str(out), "--min-score", s]) == 0
        counts[s] = sum(len(json.loads(line)["spans"]) for line in out.read_text(encoding="utf-8").splitlines())
    assert counts["0"] >= counts["0.5"] >= counts["0.999"] and counts["0"] > counts["0.999"]
    capsys.readouterr()
    assert entry(base + ["--output", str(tmp_path / "x.conll"), "--scoring", "nope"]) == 2
    assert "unknown scoring model 'nope'" in capsys.readouterr().err


def test_pipeline_writes_projected_table(tmp_path):
    from xlcorpus import pipeline as pl
    from xlcorpus.store import Store

    out = tmp_path / "proj.conll"
    spec = pl.load(ROOT / "pipelines" / "tprojection.yaml", [f"output_conll={out}"])
    store = Store(tmp_path / "store")
    pl.run(spec.pipeline, store)
    rows = store.to_arrow("projected").to_pylist()
    assert len(rows) == 8 and len(read_conll(out)) == 8
    for r in rows:
        assert r["tgt_text"] == " ".join(r["tgt_tokens"])
        for tok_span, char_span in zip(r["projected_spans"], r["projected_char_spans"]):
            surface = " ".join(r["tgt_tokens"][tok_span["start"]:tok_span["end"]])
            assert r["tgt_text"][char_span["start"]:char_span["end"]] == surface
            assert tok_span["label"] == r["src_spans"][tok_span["source"]]["label"] == char_span["label"]
            assert spec.pipeline.min_score is None and 0.0 < tok_span["score"] <= 1.0  # a probability
            assert tok_span["score"] >= ScoringModel.load("softmax-en-es").min_score - 1e-6
    pl.run(spec.pipeline, store)  # rerun: skipped, no duplicates
    assert store.count("projected") == 8
