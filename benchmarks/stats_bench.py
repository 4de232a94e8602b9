"""``xlcorpus stats`` on a large ``bitext`` table, against one full scan of the same table.

    .venv/bin/python benchmarks/stats_bench.py [--rows 10000000] [--store DIR]

Builds (once; reused when ``--store`` already holds it) a ``bitext`` table of ``--rows``
synthetic pairs in 5 language pairs, sentence lengths 10-200 characters, then times

1. ``baseline``: one DuckDB query that reads both text columns once
   (``SELECT count(*), sum(length(src) + length(tgt)) FROM bitext``);
2. ``stats``: :func:`xlcorpus.stats.table_stats` (language pairs, length summaries and
   histograms, rejects, lineage), in-process;

in ``--rounds`` alternating rounds (``benchmarks/_common.py``): medians of wall and CPU
seconds (all threads; on a shared machine, CPU seconds / cores bounds what a quiet machine
would take) and the machine load.

Goal: stats < 5 s on 10M rows. The ratio stats / baseline says how many full scans the
statistics cost. Results go to ``benchmarks/results/stats_bench.json``.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
from _common import interleave, print_load, ratio
from _results import write_results

PAIRS = [("en", "de"), ("en", "fr"), ("en", "es"), ("en", "mt"), ("de", "fr")]
BATCH = 500_000


def batches(rows: int):
    rng = np.random.default_rng(0)
    words = np.array("the a of committee report Brussels approved meeting year next will and to in on "
                     "le la de comité rapport approuvé année prochaine".split())
    pool = pa.array([" ".join(rng.choice(words, size=int(k))) for k in rng.integers(2, 40, size=20_000)])
    done = 0
    while done < rows:
        n = min(BATCH, rows - done)
        pair = PAIRS[(done // BATCH) % len(PAIRS)]
        idx = np.arange(done, done + n)
        yield pa.record_batch({
            "id": pa.array(np.char.add("b", idx.astype(str))),
            "src_lang": pa.array([pair[0]] * n), "tgt_lang": pa.array([pair[1]] * n),
            "src": pool.take(pa.array(rng.integers(0, len(pool), n))),
            "tgt": pool.take(pa.array(rng.integers(0, len(pool), n))),
            "source": pa.array(["bench.tsv"] * n), "line": pa.array(idx + 1),
        })
        done += n


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=10_000_000)
    ap.add_argument("--rounds", type=int, default=3, help="alternating rounds of the full scan and stats (>= 3)")
    ap.add_argument("--store", default=os.path.join(tempfile.gettempdir(), "xlcorpus-stats-bench"))
    args = ap.parse_args()

    from xlcorpus.schema import contract
    from xlcorpus.stats import table_stats
    from xlcorpus.store import Store

    store = Store(args.store)
    if not store.exists("bitext") or store.count("bitext") != args.rows:
        start = time.perf_counter()
        c = contract("bitext")
        store.write("bitext", (c.validate(b.cast(c.arrow_schema)) for b in batches(args.rows)), mode="overwrite")
        print(f"built {args.rows:,} rows in {time.perf_counter() - start:.1f} s")
    load_before = print_load("before")
    t = interleave({"baseline_full_scan": lambda: store.sql("SELECT count(*), sum(length(src) + length(tgt)) FROM bitext"),
                    "stats": lambda: table_stats(store, "bitext")}, rounds=args.rounds)
    st, base = t["stats"], t["baseline_full_scan"]
    result = {"rows": st.result.rows, "rounds": args.rounds, "stats": st.as_dict(), "baseline_full_scan": base.as_dict(),
              "stats_s": round(st.wall_median, 2), "ratio_to_full_scan": ratio(st, base),
              "goal_s": 5.0, "met": st.wall_median < 5.0, "load_before": load_before, "load_after": print_load("after"),
              "cpus": os.cpu_count()}
    print(result)
    print(write_results("stats_bench", result))


if __name__ == "__main__":
    main()
