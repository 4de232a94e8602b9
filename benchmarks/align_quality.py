"""Alignment quality (AER, precision, recall, F1) on the English-French Hansards gold.

Gold: ``../shared/data/wordalign/enfr.src-tgt`` (447 tokenized pairs) and ``enfr.gold``
(1-indexed, ``i-j`` sure, ``ipj`` possible). Extra bitext: the 29,000 Multi30k en-fr
training pairs (``../shared/data/parallel/multi30k/train.{en,fr}``), tokenized with
:mod:`xlcorpus.text` (spaCy rules) and, on the French side, with the gold's conventions
(``du`` -> ``de le``, ``l'`` -> ``le``, ``des`` -> ``de les`` ...: the Hansards gold
expands contractions; without this step AER with extra bitext is ~0.3 points worse).

Same run, each configuration with and without the extra bitext:

- ``plain``: one eflomal run (eflomal's own defaults), intersection and grow-diag-final;
- ``ours``: :func:`xlcorpus.align.statistical.align_pairs` defaults (4 runs alternating
  prefix-4/5 words, similarity priors, ``vote``);
- ablations of ours: no similarity priors; no prefix truncation; a single run.

eflomal is stochastic: numbers move by a few tenths of a point between runs.

A quality benchmark: its figures are scores, the same on any machine for a given seed,
so there is no speed baseline to interleave; the seconds it prints are for information,
next to the machine load (``benchmarks/_common.py``).

Run: ``.venv/bin/python benchmarks/align_quality.py [--skip-ablations]``
Writes ``benchmarks/results/align_quality.json``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from _common import print_load
from _results import write_results

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
SHARED = ROOT.parent / "shared" / "data"

# the Hansards gold writes French contractions expanded
FR_EXPAND = {"l'": ["le"], "d'": ["de"], "qu'": ["que"], "c'": ["ce"], "n'": ["ne"], "s'": ["se"],
             "j'": ["je"], "m'": ["me"], "t'": ["te"], "du": ["de", "le"], "au": ["à", "le"],
             "aux": ["à", "les"], "des": ["de", "les"]}


def load_gold():
    from xlcorpus.align.evaluate import parse_gold_line

    d = SHARED / "wordalign"
    pairs = [l.split("|||") for l in (d / "enfr.src-tgt").read_text(encoding="utf-8").splitlines()]
    gold = [parse_gold_line(l, True, f"enfr.gold:{n}")
            for n, l in enumerate((d / "enfr.gold").read_text().splitlines(), 1)]
    return [a.split() for a, _ in pairs], [b.split() for _, b in pairs], gold


def load_multi30k():
    from xlcorpus.text import get_tokenizer

    d = SHARED / "parallel" / "multi30k"
    en = (d / "train.en").read_text(encoding="utf-8").splitlines()
    fr = (d / "train.fr").read_text(encoding="utf-8").splitlines()
    src = [t.tokens for t in get_tokenizer("en").pipe(en)]
    tgt = [[x for w in t.tokens for x in FR_EXPAND.get(w.lower(), [w])] for t in get_tokenizer("fr").pipe(fr)]
    return src, tgt


def evaluate(gold, links) -> dict:
    from xlcorpus.align.evaluate import score

    r = score(gold, [set(l) for l in links])
    return {"aer": round(100 * r.aer, 2), "precision": round(100 * r.precision, 2),
            "recall": round(100 * r.recall, 2), "f1": round(100 * r.f1, 2)}


def run(src, tgt, gold, extra, label, **kw) -> dict:
    from xlcorpus.align.statistical import align_pairs
    from xlcorpus.align.symmetrize import symmetrize

    t0 = time.perf_counter()
    res = align_pairs(src, tgt, **extra, **kw)
    secs = round(time.perf_counter() - t0, 1)
    out = {"seconds": secs, "options": {k: v for k, v in kw.items()}, label: evaluate(gold, res.links)}
    if kw.get("symmetrize") == "intersection":   # plain: also grow-diag-final from the same run
        gdf = [symmetrize(f, r, "grow-diag-final", len(s), len(t))
               for f, r, s, t in zip(res.forward, res.reverse, src, tgt)]
        out["grow-diag-final"] = evaluate(gold, gdf)
    print(label, kw, out, flush=True)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--skip-ablations", action="store_true")
    args = ap.parse_args()
    if not SHARED.exists():
        sys.exit(f"{SHARED} is absent")
    load_before = print_load("before")
    src, tgt, gold = load_gold()
    t0 = time.perf_counter()
    xs, xt = load_multi30k()
    results = {"gold_pairs": len(src), "extra_pairs": len(xs), "tokenize_extra_s": round(time.perf_counter() - t0, 1),
               "reference_plain_eflomal_lowercased (issue)": {"gold_only": {"intersection": 16.9, "grow-diag-final": 18.8},
                                                             "with_multi30k": {"intersection": 12.9, "grow-diag-final": 16.2}}}
    plain = dict(runs=1, similarity_priors=False, prefix_len=0, n_samplers=3, symmetrize="intersection")
    configs = [("plain", plain), ("ours_default", {})]
    if not args.skip_ablations:
        configs += [("ours_no_similarity_priors", {"similarity_priors": False}),
                    ("ours_no_prefix", {"prefix_len": 0}),
                    ("ours_single_run", {"runs": 1}),
                    ("ours_grow_diag_final_and", {"symmetrize": "grow-diag-final-and"})]
    for name, kw in configs:
        label = "intersection" if name == "plain" else kw.get("symmetrize", "vote")
        results[name] = {"gold_only": run(src, tgt, gold, {}, label, **kw),
                         "with_multi30k": run(src, tgt, gold, {"extra_src": xs, "extra_tgt": xt}, label, **kw)}
    results["load_before"], results["load_after"] = load_before, print_load("after")
    write_results("align_quality", results, indent=1)
    print(json.dumps({k: v for k, v in results.items() if k.startswith("ours_default") or k == "plain"}, indent=1))


if __name__ == "__main__":
    main()
