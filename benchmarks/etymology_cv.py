"""10-fold cross-validation of the etymology CRF, grouped by sentence, vs two baselines.

    .venv/bin/python benchmarks/etymology_cv.py [--annotations TSV] [--folds 10] [--seed 0]

On ``../shared/data/maltese/etymology-annotations.dev.tsv`` by default (350 sentences, ~8,100
tokens). For the fine labels (7 classes) and the merged labels (5 classes), on the same
folds: the CRF, a majority-class baseline and a lookup baseline (each training token's most
frequent label, exact then lower-cased form; unseen -> majority). Scores are over the pooled
held-out predictions (accuracy, macro-F1, per-class precision/recall/F1), plus the mean and
standard deviation of per-fold accuracy.
A quality benchmark: its figures are scores, the same on any machine for a given seed,
so there is no speed baseline to interleave; the seconds it prints are for information,
next to the machine load (``benchmarks/_common.py``). Results go to ``benchmarks/results/etymology_cv.json``.
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from pathlib import Path
from _common import print_load
from _results import write_results

REPO = Path(__file__).resolve().parents[1]
DEFAULT = REPO.parent / "shared" / "data" / "maltese" / "etymology-annotations.dev.tsv"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--annotations", type=Path, default=DEFAULT)
    ap.add_argument("--folds", type=int, default=10)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    if not args.annotations.is_file():
        print(f"skipped: {args.annotations} is absent")
        return 0
    from xlcorpus.translit.etymology import cross_validate, read_annotations

    sentences = read_annotations(args.annotations)
    result = {"benchmark": "etymology_cv", "annotations": args.annotations.name, "python": platform.python_version(),
              "load_before": print_load("before")}
    for labels in ("fine", "merged"):
        start = time.perf_counter()
        cv = cross_validate(sentences, labels, args.folds, args.seed)
        cv["seconds"] = round(time.perf_counter() - start, 1)
        result[labels] = cv
        print(f"\n{labels} labels ({cv['label_column']}), {cv['folds']}-fold CV grouped by sentence, "
              f"{cv['sentences']} sentences, {cv['tokens']} tokens, {cv['seconds']} s")
        classes = sorted(cv["crf"]["per_class"])
        print(f"{'':10} {'accuracy':>9} {'macro-F1':>9}  " + "  ".join(f"{c[:14]:>14}" for c in classes))
        for m in ("crf", "lookup", "majority"):
            r = cv[m]
            print(f"{m:10} {r['accuracy']:9.4f} {r['macro_f1']:9.4f}  "
                  + "  ".join(f"{r['per_class'].get(c, {}).get('f1', 0.0):14.4f}" for c in classes)
                  + f"   (fold acc {r['fold_accuracy_mean']:.4f} +- {r['fold_accuracy_std']:.4f})")
    result["load_after"] = print_load("after")
    print(f"\nwrote {write_results('etymology_cv', result)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
