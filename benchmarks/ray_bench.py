"""Ray engine overhead against the local engine: same pipeline, same data, same run.

    .venv/bin/python benchmarks/ray_bench.py [--pairs 500000] [--workers 2]

Writes ``--pairs`` English-French pairs (Moses pair of files, ~5% duplicates, one empty line
in 1,000) and imports them with the ``bitext-import`` pipeline into two fresh stores:

1. ``local``: ``LocalEngine(workers=W)`` (process pool);
2. ``ray``:   ``RayEngine(workers=W)`` on a local Ray with W CPUs. Ray's start-up
   (``ray.init``) and a first, cold Ray run are timed apart; then the local engine and the
   warm Ray engine run in ``--rounds`` alternating rounds (``benchmarks/_common.py``), each
   into a fresh store, and their median step times (read -> stages -> spill -> Delta
   commit) are compared. Wall times are the figure to read: the CPU seconds count this
   process and its ended children, so they include the local pool's workers but only the
   driver for Ray (its workers are not children of this process).

Both stores must hold the same rows (checked). Prints rows/s and the Ray/local ratio.

For the cluster prediction it also times the three parts of a step alone, in this process:
the reader (Moses files -> batches), the stages (``ToBitext`` on those batches, one core)
and the driver's collect-and-commit (dedupe + spill + Delta commit of the stage outputs).
Predicted rate with W workers (the driver's own work is serial, one process):
``min(W * stage, 1 / (1/reader + 1/collect))`` for a reader pulled by the driver, and
``min(W / (1/stage + 1/reader), collect)`` for a reader with ``parts()`` (read on the workers).
The ratio measured/predicted at W (on this machine the driver shares its cores with the
workers) is kept as ``efficiency``. Writes ``benchmarks/results/ray_bench.json``.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import tempfile
import time
from pathlib import Path
from _common import interleave, print_load
from _results import write_results

WORDS = ("the a corpus language model entity Paris river translation of and in data token "
         "sentence Malta city north old new bridge").split()


def write_pairs(folder: Path, n: int) -> tuple[Path, Path]:
    rng = random.Random(0)
    src, tgt = folder / "bench.en", folder / "bench.fr"
    with src.open("w", encoding="utf-8") as fs, tgt.open("w", encoding="utf-8") as ft:
        for i in range(n):
            k = rng.randrange(n // 20) if i % 20 == 0 else i  # ~5% repeat an earlier pair
            words = [WORDS[(k * 7 + j * 3) % len(WORDS)] for j in range(6 + k % 9)]
            fs.write("\n" if i % 1000 == 999 else f"{' '.join(words)} {k}\n")
            ft.write(f"{' '.join(reversed(words))} {k} fr\n")
    return src, tgt


def run(engine, src: Path, tgt: Path, store_dir: Path):
    from xlcorpus import pipeline as pl
    from xlcorpus.sources.bitext import BitextImport
    from xlcorpus.store import Store

    store = Store(store_dir)
    start = time.perf_counter()
    report = pl.run(BitextImport("en", "fr", src=src, tgt=tgt), store, engine)
    seconds = time.perf_counter() - start
    return store, report.steps[0], seconds


def parts(src: Path, tgt: Path, store_dir: Path) -> dict[str, float]:
    """Rows/s of the reader, the stages (one core) and the driver's collect + commit alone."""
    from xlcorpus.engine.core import UnitResult
    from xlcorpus.engine.local import StagedEngine
    from xlcorpus.sources.bitext import BitextImport, ToBitext
    from xlcorpus.store import Store

    pipe = BitextImport("en", "fr", src=src, tgt=tgt)
    t = time.perf_counter()
    items = [b for b in pipe.reader() if hasattr(b, "num_rows")]
    read_s = time.perf_counter() - t
    n = sum(b.num_rows for b in items)
    stage = ToBitext("en", "fr")
    t = time.perf_counter()
    results = [(out.batch, out.rejects, b.num_rows) for b in items for out in [stage(b)]]
    stage_s = time.perf_counter() - t

    class Replay(StagedEngine):  # the driver's part only: dedupe, spill, commit
        def _results(self, step, staging):
            for batch, rejects, n_in in results:
                yield UnitResult({"bitext": batch}, rejects, n_in)

    step = next(iter(pipe.steps(None)))
    t = time.perf_counter()
    Replay(progress=False).run_step(step, Store(store_dir), "bench", {})
    collect_s = time.perf_counter() - t
    return {"reader_rows_per_s": n / read_s, "stage_rows_per_s_one_core": n / stage_s,
            "collect_commit_rows_per_s": n / collect_s}


def predict(rates: dict[str, float], workers: int) -> dict[str, float]:
    r, s, c = rates["reader_rows_per_s"], rates["stage_rows_per_s_one_core"], rates["collect_commit_rows_per_s"]
    return {"driver_reader": min(workers * s, 1 / (1 / r + 1 / c)),
            "parts_reader": min(workers / (1 / s + 1 / r), c)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pairs", type=int, default=500_000)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--object-store-mb", type=int, default=768)
    ap.add_argument("--rounds", type=int, default=3, help="alternating rounds of local and warm Ray (>= 3)")
    args = ap.parse_args()
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")

    from xlcorpus.engine.local import LocalEngine
    from xlcorpus.engine.ray_engine import RayEngine, init_ray

    out: dict = {"pairs": args.pairs, "workers": args.workers, "machine": platform.machine(),
                 "cpus": os.cpu_count(), "pipeline": "bitext-import (Moses pair, dedupe on id)"}
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        t = time.perf_counter()
        src, tgt = write_pairs(tmp_path, args.pairs)
        out["generate_s"] = time.perf_counter() - t

        t = time.perf_counter()
        init_ray(args.workers, object_store_mb=args.object_store_mb)
        out["ray_init_s"] = time.perf_counter() - t
        ray_store, cold, cold_s = run(RayEngine(workers=args.workers, progress=False), src, tgt, tmp_path / "ray")
        out["load_before"] = print_load("before")
        fresh = iter(range(1_000_000))

        def variant(engine_cls):
            def go():
                return run(engine_cls(workers=args.workers, progress=False), src, tgt, tmp_path / f"s{next(fresh)}")
            return go

        timings = interleave({"local": variant(LocalEngine), "ray": variant(RayEngine)}, rounds=args.rounds)
        out["load_after"] = print_load("after")
        local_store, local, local_s = timings["local"].result[0], timings["local"].result[1], timings["local"].wall_median
        warm_s = timings["ray"].wall_median
        out["rounds"] = {k: v.as_dict(args.pairs, "rows") for k, v in timings.items()}
        same = all(sorted(local_store.to_arrow(t).column("id").to_pylist())
                   == sorted(ray_store.to_arrow(t).column("id").to_pylist())
                   for t in ("bitext", "bitext_rejects"))
        if not same:
            raise SystemExit("the Ray engine's tables differ from the local engine's")
        out.update({
            "rows_out": local.rows["bitext"], "rejects": local.rejects, "duplicates": local.duplicates,
            "local_s": local_s, "local_rows_per_s": args.pairs / local_s,
            "ray_cold_s": cold_s, "ray_cold_rows_per_s": args.pairs / cold_s,
            "ray_warm_s": warm_s, "ray_warm_rows_per_s": args.pairs / warm_s,
            "ratio_ray_warm_vs_local_time": warm_s / local_s,
            "ratio_ray_cold_vs_local_time": cold_s / local_s,
            "ray_overhead_s_warm": warm_s - local_s,
            "tables_identical_ids": same,
        })
        out["alone"] = parts(src, tgt, tmp_path / "replay")
        out["predicted_rows_per_s"] = {w: predict(out["alone"], w) for w in (args.workers, 16, 64)}
        out["efficiency"] = out["ray_warm_rows_per_s"] / out["predicted_rows_per_s"][args.workers]["driver_reader"]
    write_results("ray_bench", out)
    print(f"{args.pairs:,} pairs, {args.workers} workers ({out['cpus']} CPUs); ray.init {out['ray_init_s']:.1f} s")
    print(f"local: {out['local_s']:.2f} s  {out['local_rows_per_s']:,.0f} rows/s")
    print(f"ray:   {out['ray_cold_s']:.2f} s  {out['ray_cold_rows_per_s']:,.0f} rows/s (first run)")
    print(f"ray:   {out['ray_warm_s']:.2f} s  {out['ray_warm_rows_per_s']:,.0f} rows/s (warm)")
    print(f"ray/local time: {out['ratio_ray_warm_vs_local_time']:.2f}x warm, "
          f"{out['ratio_ray_cold_vs_local_time']:.2f}x first run")
    print("alone: " + ", ".join(f"{k} {v:,.0f}" for k, v in out["alone"].items()))
    print(f"measured/predicted at {args.workers} workers: {out['efficiency']:.2f}")
    for w, p in out["predicted_rows_per_s"].items():
        print(f"predicted at {w} workers: {p['driver_reader']:,.0f} rows/s (driver-side reader), "
              f"{p['parts_reader']:,.0f} rows/s (reader with parts())")


if __name__ == "__main__":
    main()
