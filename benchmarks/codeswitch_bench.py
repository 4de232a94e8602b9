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

Both run in this process in ``--rounds`` alternating rounds (``benchmarks/_common.py``);
rates and the speed-up (per sentence) come from the median wall time; CPU seconds and the
machine load are reported too (the machine may be shared).

Run: ``.venv/bin/python benchmarks/codeswitch_bench.py [--sentences 1000000] [--rounds 3]``
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
from _common import interleave, print_load, ratio  # noqa: E402
from _results import write_results  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sentences", type=int, default=1_000_000)
    ap.add_argument("--items", type=int, default=20_000)
    ap.add_argument("--batch", type=int, default=50_000)
    ap.add_argument("--baseline-rows", type=int, default=50_000)
    ap.add_argument("--alias-prob", type=float, default=0.2)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    load_before = print_load("before")
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
    t = time.perf_counter()
    table = label_dict(labels, cfg)
    dict_s = time.perf_counter() - t
    base_in = pa.Table.from_batches(batches).slice(0, args.baseline_rows).combine_chunks().to_batches()[0]
    code_switch(batches[0].slice(0, 100), index, cfg)  # warm-up
    timings = interleave({
        "baseline": lambda: code_switch_rows(base_in, table, cfg),
        "ours": lambda: sum(code_switch(b, index, cfg).num_rows for b in batches),
    }, rounds=args.rounds)
    base, ours = timings["baseline"], timings["ours"]
    n_out = ours.result
    fast = pa.Table.from_batches([code_switch(base_in.slice(i, args.batch), index, cfg)
                                  for i in range(0, base_in.num_rows, args.batch)])
    identical = fast.equals(pa.Table.from_batches([base.result]))
    load_after = print_load("after")

    speed = ratio(base, ours, baseline_units=base_in.num_rows, ours_units=args.sentences)
    ours_rate = args.sentences / ours.wall_median
    base_rate = base_in.num_rows / base.wall_median
    res = {"sentences": args.sentences, "items": args.items, "labels": labels.num_rows,
           "target_languages": len(cfg.targets), "k": cfg.k, "alias_prob": cfg.alias_prob, "rounds": args.rounds,
           "load_before": load_before, "load_after": load_after,
           "ours": {**ours.as_dict(args.sentences, "sentences"), "outputs": n_out,
                    "outputs_per_s": round(n_out / ours.wall_median), "index_build_s": round(index_s, 2)},
           "baseline": {"rows": base_in.num_rows, **base.as_dict(base_in.num_rows, "sentences"),
                        "dict_build_s": round(dict_s, 2)},
           "speedup": speed, "identical_output": identical}
    print(f"ours:     {args.sentences:,} sentences, median {ours.wall_median:.2f} s = {ours_rate:,.0f} sentences/s "
          f"({n_out:,} code-switched rows); label index built in {index_s:.2f} s")
    print(f"baseline: {base_in.num_rows:,} sentences, median {base.wall_median:.2f} s = {base_rate:,.0f} sentences/s")
    print(f"speed-up per sentence: {speed['wall']}x wall (rounds {speed['wall_min_round']}-{speed['wall_max_round']}x), "
          f"{speed['cpu']}x CPU; identical output on the baseline rows: {identical}")
    out = write_results("codeswitch_bench", res)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
