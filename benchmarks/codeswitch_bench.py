"""Code-switch generation: vectorised ``code_switch`` vs the per-row Python reference.

Generates ``--sentences`` linked sentences (default 1,000,000; ~20 words, ~1.9 links, some
non-ASCII names, 10% of links without a QID) and labels for ``--items`` items in the 92
EntityCS target languages (70% coverage, aliases), then in the same run:

- ``ours``: :func:`xlcorpus.codeswitch.entitycs.code_switch` over all sentences in
  batches of ``--batch`` rows;
- ``baseline``: :func:`xlcorpus.codeswitch.reference.code_switch_rows` (a straightforward
  per-row implementation of the same algorithm, same output) on the first
  ``--baseline-rows`` sentences (its cost is linear in rows; the full million would take
  many minutes);
- checks that both give the identical table on the baseline rows.

Run: ``.venv/bin/python benchmarks/codeswitch_bench.py [--sentences 1000000]``
Writes ``benchmarks/results/codeswitch_bench.json``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import pyarrow as pa

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from xlcorpus.codeswitch import synthetic  # noqa: E402
from xlcorpus.codeswitch.entitycs import CSConfig, LabelIndex, code_switch  # noqa: E402
from xlcorpus.codeswitch.reference import code_switch_rows, label_dict  # noqa: E402
from _results import write_results  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sentences", type=int, default=1_000_000)
    ap.add_argument("--items", type=int, default=20_000)
    ap.add_argument("--batch", type=int, default=50_000)
    ap.add_argument("--baseline-rows", type=int, default=50_000)
    ap.add_argument("--alias-prob", type=float, default=0.2)
    args = ap.parse_args()
    cfg = CSConfig(alias_prob=args.alias_prob)
    t = time.perf_counter()
    labels = synthetic.labels_table(args.items, list(cfg.targets))
    batches = [synthetic.sentences_batch(min(args.batch, args.sentences - s), args.items, seed=s, start=s)
               for s in range(0, args.sentences, args.batch)]
    print(f"generated {args.sentences:,} sentences, {labels.num_rows:,} labels in {time.perf_counter() - t:.0f} s; "
          f"{len(cfg.targets)} target languages, k={cfg.k}; {os.cpu_count()} CPUs")

    t = time.perf_counter()
    index = LabelIndex(labels, cfg.targets)
    index_s = time.perf_counter() - t
    code_switch(batches[0].slice(0, 100), index, cfg)  # warm-up
    t = time.perf_counter()
    n_out = sum(code_switch(b, index, cfg).num_rows for b in batches)
    ours = time.perf_counter() - t

    base_in = pa.Table.from_batches(batches).slice(0, args.baseline_rows).combine_chunks().to_batches()[0]
    t = time.perf_counter()
    table = label_dict(labels, cfg)
    dict_s = time.perf_counter() - t
    t = time.perf_counter()
    slow = code_switch_rows(base_in, table, cfg)
    base = time.perf_counter() - t
    fast = pa.Table.from_batches([code_switch(base_in.slice(i, args.batch), index, cfg)
                                  for i in range(0, base_in.num_rows, args.batch)])
    identical = fast.equals(pa.Table.from_batches([slow]))

    ours_rate = args.sentences / ours
    base_rate = base_in.num_rows / base
    res = {"sentences": args.sentences, "items": args.items, "labels": labels.num_rows,
           "target_languages": len(cfg.targets), "k": cfg.k, "alias_prob": cfg.alias_prob, "cpus": os.cpu_count(),
           "ours": {"seconds": round(ours, 2), "sentences_per_s": round(ours_rate), "outputs": n_out,
                    "outputs_per_s": round(n_out / ours), "index_build_s": round(index_s, 2)},
           "baseline": {"rows": base_in.num_rows, "seconds": round(base, 2), "sentences_per_s": round(base_rate),
                        "dict_build_s": round(dict_s, 2)},
           "speedup": round(ours_rate / base_rate, 1), "identical_output": identical}
    print(f"ours:     {args.sentences:,} sentences in {ours:.2f} s = {ours_rate:,.0f} sentences/s "
          f"({n_out:,} code-switched rows, {n_out / ours:,.0f}/s); label index built in {index_s:.2f} s")
    print(f"baseline: {base_in.num_rows:,} sentences in {base:.2f} s = {base_rate:,.0f} sentences/s")
    print(f"speed-up: {res['speedup']}x; identical output on the baseline rows: {identical}")
    out = write_results("codeswitch_bench", res)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
