"""Engine figures: commit path overhead, skip decision time, shared label index, Ray driver memory.

    .venv/bin/python benchmarks/engine_bench.py [--rows 10000000] [--rounds 3] [--commits 1000]
        [--entities 1000000] [--workers 2] [--ray-pairs 200000] [--skip-ray]

1. ``commit``: one step (10M ``bitext`` rows, no stage, merge into a new table) through the
   engine of this checkout ("new": Delta app transaction in every commit, per-stage
   statistics, rows inserted read from the commit) and through the engine as it was before
   (git commit 7e6c00e, checked out into a temporary folder: "old"), in alternating rounds,
   each run in its own process. Goal: new no slower than old (median wall time).
2. ``skip``: a table with ``--commits`` commits by other writers (each with its own app
   transaction), then the skip decision of a step over it and its rejects table (the step's
   transaction found, and not found). Goal < 0.5 s.
3. ``index``: a label index of ``--entities`` entities x 5 languages, loaded by N worker
   processes: memory-mapped (this engine: ``prepare()`` saves it, ``setup()`` maps it) vs a
   private copy per worker (the old way: the index object pickled into each worker). Memory
   is PSS from ``/proc/PID/smaps_rollup`` (shared pages split between the processes that map
   them; RSS would count a shared page once per process), after each worker touched every
   page of the index. Goal: total index memory of N workers < 1.3x one worker's.
4. ``ray``: a Ray step whose workers write their own part files (a source with parts, no
   dedupe), at ``--ray-pairs`` and 10x that: the driver's peak RSS. Goal: flat.

Results: ``benchmarks/results/engine_bench.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _results import write_results  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
OLD_COMMIT = "7e6c00e"


def load_text() -> str:
    try:
        return Path("/proc/loadavg").read_text().split()[0]
    except OSError:
        return "?"


# ---------------------------------------------------------------- 1. commit path
def bitext_batches(rows: int, size: int = 100_000):
    from xlcorpus.schema import contract

    schema = contract("bitext").arrow_schema
    rng = np.random.default_rng(0)
    words = np.array(["the", "a", "corpus", "language", "model", "entity", "Paris", "river", "data"])
    texts = pa.array([" ".join(rng.choice(words, 5)) for _ in range(4096)])
    for start in range(0, rows, size):
        n = min(size, rows - start)
        idx = np.arange(start, start + n)
        ids = pa.array(np.char.add("b", idx.astype("U10")).astype(object), pa.string())
        pick = pa.array(rng.integers(0, 4096, n))
        cols = {"id": ids, "src_lang": pa.array(["en"] * n), "tgt_lang": pa.array(["fr"] * n),
                "src": texts.take(pick), "tgt": texts.take(pick), "source": pa.array(["bench"] * n),
                "line": pa.array(idx + 1, pa.int64())}
        yield pa.RecordBatch.from_arrays([cols[f.name].cast(f.type) for f in schema], schema=schema)


def commit_job(rows: int, root: str, new: bool) -> dict:
    from xlcorpus.engine import LocalEngine, Step
    from xlcorpus.store import Store

    step = Step("bench", bitext_batches(rows), [], ["bitext"], mode="merge")
    start = time.perf_counter()
    cpu = time.process_time()
    kwargs = {"txn": ("bench-step", 1)} if new else {}
    report = LocalEngine(progress=False).run_step(step, Store(root), "bench", {"pipeline": "bench"}, **kwargs)
    assert report.rows["bitext"] == rows, report.rows
    return {"seconds": time.perf_counter() - start, "cpu_s": time.process_time() - cpu,
            "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def old_checkout(tmp: str) -> str:
    dest = Path(tmp) / "old"
    dest.mkdir()
    archive = subprocess.run(["git", "-C", str(REPO), "archive", OLD_COMMIT, "xlcorpus", "schemas"],
                             capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(dest)], input=archive, check=True)
    return str(dest)


def sub(args: list[str], pythonpath: str | None = None) -> dict:
    env = dict(os.environ)
    if pythonpath:
        env["PYTHONPATH"] = pythonpath
    out = subprocess.run([sys.executable, __file__, *args], capture_output=True, text=True, env=env)
    if out.returncode:
        raise RuntimeError(out.stderr[-3000:])
    return json.loads(out.stdout.strip().splitlines()[-1])


def bench_commit(rows: int, rounds: int) -> dict:
    runs: dict[str, list[dict]] = {"old": [], "new": []}
    with tempfile.TemporaryDirectory() as tmp:
        old = old_checkout(tmp)
        for r in range(rounds):
            for name in (("old", "new") if r % 2 == 0 else ("new", "old")):
                root = f"{tmp}/{name}{r}"
                runs[name].append(sub(["--job", "commit", "--rows", str(rows), "--root", root,
                                       "--code", name], old if name == "old" else str(REPO)))
                print(f"  round {r} {name}: {runs[name][-1]['seconds']:.2f} s wall, "
                      f"{runs[name][-1]['cpu_s']:.2f} s CPU (load {load_text()})", flush=True)
    med = {k: statistics.median(x["seconds"] for x in v) for k, v in runs.items()}
    return {"rows": rows, "rounds": rounds, "runs": runs, "median_s": med,
            "median_cpu_s": {k: statistics.median(x["cpu_s"] for x in v) for k, v in runs.items()},
            "ratio_new_vs_old": med["new"] / med["old"]}


# ---------------------------------------------------------------- 2. skip decision
def bench_skip(commits: int) -> dict:
    from xlcorpus import pipeline as pl
    from xlcorpus.engine import Step
    from xlcorpus.store import Store

    with tempfile.TemporaryDirectory() as tmp:
        store = Store(tmp)
        step = Step("import", [], [], ["bitext"])
        fp = "f" * 32
        aid = pl.app_id(fp, step)
        batch = next(bitext_batches(10, 10))
        t0 = time.perf_counter()
        store.write("bitext", batch, mode="append", txn=(aid, 1))  # this step's commit, then others
        store.write("bitext_rejects", pa.RecordBatch.from_pylist([], schema=store_schema("bitext_rejects")),
                    txn=(aid, 1))
        for i in range(commits - 1):
            store.write("bitext", batch, mode="append", txn=(f"other-{i}", 1))
        build = time.perf_counter() - t0
        times_found, times_missing = [], []
        for _ in range(5):
            t0 = time.perf_counter()
            plan = pl.plan_step(step, store, fp)
            times_found.append(time.perf_counter() - t0)
            assert plan.up_to_date
            t0 = time.perf_counter()
            plan = pl.plan_step(step, store, "0" * 32)
            times_missing.append(time.perf_counter() - t0)
            assert not plan.up_to_date
        return {"commits": store.version("bitext") + 1, "build_s": build,
                "decision_found_s": statistics.median(times_found),
                "decision_missing_s": statistics.median(times_missing)}


def store_schema(table: str) -> pa.Schema:
    from xlcorpus.schema import contract

    return contract(table).arrow_schema


# ---------------------------------------------------------------- 3. shared index
TARGETS = ("de", "fr", "es", "it", "mt")


def make_index(entities: int, folder: str) -> str:
    from xlcorpus.codeswitch.entitycs import LabelIndex

    rng = np.random.default_rng(0)
    n = entities * len(TARGETS)
    qid = np.char.add("Q", np.repeat(np.arange(1, entities + 1), len(TARGETS)).astype("U9"))
    lang = np.tile(np.array(TARGETS), entities)
    label = np.char.add("label ", rng.integers(0, 10**9, n).astype("U10"))
    labels = pa.table({"qid": pa.array(qid.astype(object)), "lang": pa.array(lang.astype(object)),
                       "label": pa.array(label.astype(object)),
                       "aliases": pa.array([None] * n, pa.list_(pa.string()))})
    index = LabelIndex(labels, TARGETS)
    index.save(folder)
    import pickle

    with open(f"{folder}/index.pickle", "wb") as fh:
        pickle.dump(index, fh, protocol=5)
    return folder


def pss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        if line.startswith("Pss:"):
            return int(line.split()[1])
    return 0


def _index_worker(folder: str, mode: str, conn) -> None:
    import pickle

    from xlcorpus.codeswitch.entitycs import LabelIndex

    conn.send(pss_kb(os.getpid()))  # before: interpreter and imports
    if mode == "mmap":
        index = LabelIndex.load(folder)
    else:  # the old way: a private copy of the object, as pickled into each worker
        with open(f"{folder}/index.pickle", "rb") as fh:
            index = pickle.load(fh)
    # touch every page: a lookup of every item, every label's bytes
    total = int(index.items(index.qnum).sum()) + int(index.keys.sum()) + len(index.label.buffers()[2] or b"")
    total += sum(b.size for b in index.label.buffers() if b is not None)
    np.asarray(index.label.buffers()[2]).sum()
    conn.send(total)
    conn.recv()  # measured by the parent now
    conn.send(pss_kb(os.getpid()))
    conn.recv()


def bench_index(entities: int, workers: int) -> dict:
    import multiprocessing as mp

    ctx = mp.get_context("spawn")
    out: dict = {"entities": entities, "languages": len(TARGETS)}
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        make_index(entities, tmp)
        out["build_and_save_s"] = time.perf_counter() - t0
        out["files_mb"] = sum(p.stat().st_size for p in Path(tmp).glob("*.arrow")) / 2**20
        for mode in ("mmap", "pickled"):
            for n in (1, workers):
                procs, conns = [], []
                for _ in range(n):
                    a, b = ctx.Pipe()
                    p = ctx.Process(target=_index_worker, args=(tmp, mode, b))
                    p.start()
                    procs.append(p)
                    conns.append(a)
                before = [c.recv() for c in conns]
                [c.recv() for c in conns]  # all loaded and touched
                pss = [pss_kb(p.pid) for p in procs]
                for c in conns:
                    c.send(None)
                [c.recv() for c in conns]
                for c in conns:
                    c.send(None)
                for p in procs:
                    p.join()
                out[f"{mode}_{n}_workers_index_pss_mb"] = (sum(pss) - sum(before)) / 1024
                out[f"{mode}_{n}_workers_total_pss_mb"] = sum(pss) / 1024
    for mode in ("mmap", "pickled"):
        out[f"{mode}_ratio_{workers}_vs_1"] = (out[f"{mode}_{workers}_workers_index_pss_mb"]
                                               / out[f"{mode}_1_workers_index_pss_mb"])
    return out


# ---------------------------------------------------------------- 4. Ray driver memory
class _FileParts:
    """A source with parts: one per file, read on the workers."""

    def __init__(self, paths: list[str]):
        self.paths = paths

    def parts(self, workers: int = 1):
        from xlcorpus.engine.core import call
        from xlcorpus.sources.bitext import read_pairs

        return [call(read_pairs, Path(p), "pipes", 10_000) for p in self.paths]

    def __iter__(self):
        for part in self.parts():
            yield from part


def ray_job(pairs: int, root: str) -> dict:
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    from xlcorpus.engine import Step
    from xlcorpus.engine.ray_engine import RayEngine
    from xlcorpus.sources.bitext import ToBitext
    from xlcorpus.store import Store

    files = []
    per = max(1, pairs // 20)
    for i in range(20):
        path = f"{root}/in{i}.txt"
        with open(path, "w", encoding="utf-8") as fh:
            fh.writelines(f"source {i} {k} text of a pair ||| cible {i} {k} texte d'une paire\n" for k in range(per))
        files.append(path)
    engine = RayEngine(workers=2, progress=False, object_store_mb=256)
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    t0 = time.perf_counter()
    report = engine.run_step(Step("import", _FileParts(files), [ToBitext("en", "fr")], ["bitext"], mode="append"),
                             Store(f"{root}/store"), "bench", {})
    return {"pairs": report.rows["bitext"], "seconds": time.perf_counter() - t0, "driver_peak_mb_before": base,
            "driver_peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def bench_ray(pairs: int) -> dict:
    out = {}
    for n in (pairs, 10 * pairs):
        with tempfile.TemporaryDirectory() as tmp:
            out[str(n)] = sub(["--job", "ray", "--rows", str(n), "--root", tmp], str(REPO))
            print(f"  ray {n:,} pairs: driver peak {out[str(n)]['driver_peak_mb']:.0f} MB, "
                  f"{out[str(n)]['seconds']:.1f} s", flush=True)
    small, big = out[str(pairs)], out[str(10 * pairs)]
    return {"runs": out, "driver_peak_ratio_10x": big["driver_peak_mb"] / small["driver_peak_mb"]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=10_000_000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--commits", type=int, default=1000)
    ap.add_argument("--entities", type=int, default=1_000_000)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--ray-pairs", type=int, default=200_000)
    ap.add_argument("--skip-ray", action="store_true")
    ap.add_argument("--only", choices=["commit", "skip", "index", "ray"])
    ap.add_argument("--job", choices=["commit", "ray"])
    ap.add_argument("--root")
    ap.add_argument("--code", choices=["old", "new"])
    args = ap.parse_args()
    if args.job == "commit":
        print(json.dumps(commit_job(args.rows, args.root, args.code == "new")))
        return
    if args.job == "ray":
        print(json.dumps(ray_job(args.rows, args.root)))
        return
    results: dict = {"load_at_start": load_text(), "cpus": os.cpu_count()}
    path = REPO / "benchmarks" / "results" / "engine_bench.json"
    if args.only and path.exists():
        results = {**json.loads(path.read_text()), **results}
    todo = [args.only] if args.only else ["commit", "skip", "index"] + ([] if args.skip_ray else ["ray"])
    if "commit" in todo:
        print(f"commit path: {args.rows:,} rows, {args.rounds} alternating rounds")
        results["commit"] = c = bench_commit(args.rows, args.rounds)
        print(f"  median old {c['median_s']['old']:.2f} s, new {c['median_s']['new']:.2f} s: "
              f"new/old {c['ratio_new_vs_old']:.3f} (goal <= 1.0)")
    if "skip" in todo:
        results["skip"] = s = bench_skip(args.commits)
        print(f"skip decision on {s['commits']} commits: {s['decision_found_s'] * 1000:.0f} ms (step done), "
              f"{s['decision_missing_s'] * 1000:.0f} ms (not done) (goal < 500 ms)")
    if "index" in todo:
        results["index"] = x = bench_index(args.entities, args.workers)
        w = args.workers
        print(f"label index, {args.entities:,} entities x {len(TARGETS)} languages ({x['files_mb']:.0f} MB of files):")
        for mode in ("mmap", "pickled"):
            print(f"  {mode}: index memory 1 worker {x[f'{mode}_1_workers_index_pss_mb']:.0f} MB, "
                  f"{w} workers {x[f'{mode}_{w}_workers_index_pss_mb']:.0f} MB in all "
                  f"({x[f'{mode}_ratio_{w}_vs_1']:.2f}x; goal < 1.3x for mmap)")
    if "ray" in todo:
        results["ray"] = r = bench_ray(args.ray_pairs)
        print(f"  ray driver peak, output x10: {r['driver_peak_ratio_10x']:.2f}x (goal: flat)")
    results["load_at_end"] = load_text()
    print(f"results: {write_results('engine_bench', results)} (load {results['load_at_start']} -> {results['load_at_end']})")


if __name__ == "__main__":
    main()
