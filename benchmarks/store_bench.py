"""Store overhead against plain Parquet, DuckDB GROUP BY speed, and peak memory.

    .venv/bin/python benchmarks/store_bench.py [--rows 10000000] [--batch 100000]

Each measurement runs in its own subprocess (so peak RSS is that of one job alone):

1. ``gen``:   drain the data generator only (its cost is subtracted from both writes);
2. ``plain``: the same batches, ``pyarrow.parquet.write_table`` of the whole table (defaults);
3. ``store``: the same batches streamed through ``Store.write`` (validation, partitioning
   by ``lang``, Delta commit with lineage);
4. ``sql``:   ``SELECT lang, count(*) FROM bench GROUP BY lang`` through ``Store.sql``.

Goals: store <= 1.5x plain Parquet; the query < 1 s for 10M rows; store peak
memory < 1 GB. Results go to ``benchmarks/results/store_bench.json``.
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import subprocess
import sys
import tempfile
import time

import numpy as np
import pyarrow as pa
from _results import write_results  # noqa: E402

LANGS = ["en", "de", "fr", "es", "it", "mt", "zh-hans", "ar", "ru", "sw"]


def bench_contract():
    from xlcorpus.schema import Field, TableContract

    return TableContract("bench", "benchmark table", (
        Field("id", pa.string(), False, ""), Field("lang", pa.string(), False, ""),
        Field("text", pa.string(), False, ""), Field("n", pa.int64(), False, "")), ("lang",), "bench")


def batches(rows: int, size: int):
    """Deterministic short-text rows: id, lang (10 values), text (~30 chars), n."""
    rng = np.random.default_rng(0)
    words = np.array(["the", "a", "corpus", "language", "model", "entity", "Paris", "river",
                      "translation", "of", "and", "in", "data", "token", "sentence", "Malta"])
    texts = pa.array([" ".join(rng.choice(words, 5)) for _ in range(4096)])
    langs = pa.array(LANGS)
    schema = bench_contract().arrow_schema
    for start in range(0, rows, size):
        n = min(size, rows - start)
        idx = np.arange(start, start + n)
        ids = pa.array(np.char.add("r", idx.astype("U10")).astype(object), pa.string())
        yield pa.RecordBatch.from_arrays(
            [ids, langs.take(pa.array(idx % len(LANGS))), texts.take(pa.array(rng.integers(0, 4096, n))),
             pa.array(idx, pa.int64())], schema=schema)


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def job(kind: str, rows: int, size: int, root: str) -> dict:
    import pyarrow.parquet as pq

    from xlcorpus.store import Store

    start = time.perf_counter()
    if kind == "gen":
        n = sum(b.num_rows for b in batches(rows, size))
    elif kind == "plain":
        table = pa.Table.from_batches(list(batches(rows, size)))
        pq.write_table(table, f"{root}/plain.parquet")  # pyarrow defaults (snappy), as delta-rs
        n = table.num_rows
    elif kind == "store":
        Store(root).write("bench", batches(rows, size), contract_=bench_contract(),
                          metadata={"pipeline": "store_bench"})
        n = rows
    else:  # sql: run twice, report both (the first includes opening the Delta log)
        store = Store(root)
        q = "SELECT lang, count(*) AS n FROM bench GROUP BY lang ORDER BY lang"
        t0 = time.perf_counter()
        result = store.sql(q)
        first = time.perf_counter() - t0
        t0 = time.perf_counter()
        store.sql(q)
        second = time.perf_counter() - t0
        assert sum(result.column("n").to_pylist()) == rows, result
        return {"first_s": first, "second_s": second, "groups": result.num_rows, "peak_mb": peak_mb()}
    return {"seconds": time.perf_counter() - start, "rows": n, "peak_mb": peak_mb()}


def run_job(kind: str, rows: int, size: int, root: str) -> dict:
    out = subprocess.run([sys.executable, __file__, "--job", kind, "--rows", str(rows), "--batch", str(size),
                          "--root", root], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=10_000_000)
    ap.add_argument("--batch", type=int, default=100_000)
    ap.add_argument("--job", choices=["gen", "plain", "store", "sql"])
    ap.add_argument("--root")
    args = ap.parse_args()
    if args.job:
        print(json.dumps(job(args.job, args.rows, args.batch, args.root)))
        return
    with tempfile.TemporaryDirectory() as tmp:
        res = {k: run_job(k, args.rows, args.batch, tmp) for k in ("gen", "plain", "store", "sql")}
    gen = res["gen"]["seconds"]
    plain_net = res["plain"]["seconds"] - gen
    store_net = res["store"]["seconds"] - gen
    summary = {
        "rows": args.rows, "batch": args.batch, "machine": platform.processor() or platform.machine(),
        "generate_s": gen, "plain_parquet_s": res["plain"]["seconds"], "store_s": res["store"]["seconds"],
        "ratio_store_vs_plain_net_of_generation": store_net / plain_net,
        "ratio_store_vs_plain_raw": res["store"]["seconds"] / res["plain"]["seconds"],
        "store_rows_per_s": args.rows / store_net,
        "store_peak_mb": res["store"]["peak_mb"], "plain_peak_mb": res["plain"]["peak_mb"],
        "duckdb_group_by_first_s": res["sql"]["first_s"], "duckdb_group_by_second_s": res["sql"]["second_s"],
    }
    write_results("store_bench", summary)
    print(f"rows {args.rows:,}: generate {gen:.2f}s | plain parquet {res['plain']['seconds']:.2f}s | "
          f"store {res['store']['seconds']:.2f}s")
    print(f"store / plain (net of generation): {summary['ratio_store_vs_plain_net_of_generation']:.2f}x "
          f"(goal <= 1.5x); raw {summary['ratio_store_vs_plain_raw']:.2f}x")
    print(f"DuckDB GROUP BY lang: {res['sql']['first_s']:.3f}s first, {res['sql']['second_s']:.3f}s second (goal < 1 s)")
    print(f"peak memory: store {res['store']['peak_mb']:.0f} MB (goal < 1024), plain {res['plain']['peak_mb']:.0f} MB")


if __name__ == "__main__":
    main()
