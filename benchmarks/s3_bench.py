"""A store on a local S3 endpoint against a store on the local disk, and a 2-node Ray run into S3.

    .venv/bin/python benchmarks/s3_bench.py [--pairs 500000] [--rounds 3] [--ray-pairs 500000] [--no-ray]

Needs ``moto_server`` (``pip install 'xlcorpus[test]'``), started here on 127.0.0.1.

1. **Import**: ``--pairs`` English-French pairs (Moses pair of files, as in ray_bench.py) are
   imported with the ``bitext-import`` pipeline (local engine, one process) into a fresh local
   store and into a fresh ``s3://`` store, in alternating rounds; rows/s of each and the
   S3/local ratio (medians). moto keeps objects in memory on this machine, so the S3 figure
   is the cost of the S3 protocol path (HTTP, object store client, staging in the bucket,
   conditional-write check), not of a network.
2. **Cluster**: a 2-node ``ray.cluster_utils.Cluster`` (1 CPU each) imports the pairs split
   into 8 files (``src ||| tgt``), read and staged by the workers themselves straight into
   the bucket, committed by this driver without reading them; the driver's resident memory
   before and at its peak during a run of a tenth of the pairs and of all of them (sampled
   every 20 ms), and rows/s.

Writes ``benchmarks/results/s3_bench.json``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from _common import print_load  # noqa: E402
from _results import write_results  # noqa: E402
from ray_bench import write_pairs  # noqa: E402

from tests.conftest import S3_BUCKET, moto_endpoint  # noqa: E402


def import_rate(src: Path, tgt: Path, root: str) -> float:
    from xlcorpus import pipeline as pl
    from xlcorpus.engine import LocalEngine
    from xlcorpus.sources.bitext import BitextImport
    from xlcorpus.store import Store

    store = Store(root)
    step = pl.run(BitextImport("en", "fr", src=src, tgt=tgt), store, LocalEngine(progress=False)).steps[0]
    assert store.count("bitext") == step.rows["bitext"]
    return step.input_rows / step.seconds


class FileParts:
    """One part per file: read by the Ray workers themselves."""

    def __init__(self, paths: list[Path]):
        self.paths = paths

    def parts(self, workers: int = 1):
        from xlcorpus.engine.core import call
        from xlcorpus.sources.bitext import read_pairs

        return [call(read_pairs, p, "pipes", 10_000) for p in self.paths]

    def __iter__(self):
        for part in self.parts():
            yield from part


def split_pairs(src: Path, tgt: Path, folder: Path, n: int, files: int = 8) -> list[Path]:
    """The first ``n`` pairs as ``files`` files of ``src ||| tgt`` lines (streamed, round robin)."""
    paths = [folder / f"part{n}-{i}.txt" for i in range(files)]
    outs = [p.open("w", encoding="utf-8") for p in paths]
    with src.open(encoding="utf-8") as fs, tgt.open(encoding="utf-8") as ft:
        for i, (s, t) in enumerate(zip(fs, ft)):
            if i == n:
                break
            if s.strip():
                outs[i % files].write(f"{s.rstrip()} ||| {t.rstrip()}\n")
    for fh in outs:
        fh.close()
    return paths


class PeakRSS:
    """This process's resident memory, sampled every 20 ms while in the ``with`` block."""

    def __enter__(self):
        import threading

        self.before = self.peak = rss_mb()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self) -> None:
        while not self._stop.wait(0.02):
            self.peak = max(self.peak, rss_mb())

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, rss_mb())


def rss_mb() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def cluster_run(src: Path, tgt: Path, work: Path, pairs: int) -> dict:
    import ray
    from ray.cluster_utils import Cluster

    from xlcorpus.engine import Step
    from xlcorpus.engine.ray_engine import RayEngine
    from xlcorpus.sources.bitext import ToBitext
    from xlcorpus.store import Store

    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    c = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "object_store_memory": 200 << 20})
    c.add_node(num_cpus=1, object_store_memory=200 << 20)
    c.wait_for_nodes()
    ray.init(address=c.address, include_dashboard=False, log_to_driver=False)
    out = {}
    try:
        engine = RayEngine(workers=2, progress=False, address=c.address)
        for n in (pairs // 10, pairs):
            files = split_pairs(src, tgt, work, n)
            store = Store(f"s3://{S3_BUCKET}/{uuid.uuid4().hex[:8]}/store")
            step = Step("import", FileParts(files), [ToBitext("en", "fr")], ["bitext"], mode="merge")
            with PeakRSS() as mem:
                report = engine.run_step(step, store, "bench", {})
            paths = store._delta("bitext").get_add_actions(flatten=True).column("path").to_pylist()
            out[str(n)] = {"rows": report.rows["bitext"], "rows_per_s": round(report.input_rows / report.seconds),
                           "driver_rss_before_mb": round(mem.before, 1), "driver_peak_rss_mb": round(mem.peak, 1),
                           "files_added_in_place": sum(p.startswith("_staging/") for p in paths),
                           "files": len(paths)}
            print(f"2-node Ray into S3, {n:,} pairs: {out[str(n)]}")
    finally:
        ray.shutdown()
        c.shutdown()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--pairs", type=int, default=500_000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--ray-pairs", type=int, default=500_000)
    ap.add_argument("--no-ray", action="store_true")
    args = ap.parse_args()
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    result: dict = {"pairs": args.pairs, "load_before": print_load("before")}
    with tempfile.TemporaryDirectory() as tmp, moto_endpoint() as url:
        if url is None:
            sys.exit("moto_server is not installed: pip install 'xlcorpus[test]'")
        work = Path(tmp)
        src, tgt = write_pairs(work, args.pairs)
        rates: dict[str, list[float]] = {"local": [], "s3": []}
        for r in range(args.rounds):
            order = ["local", "s3"] if r % 2 == 0 else ["s3", "local"]
            for where in order:
                root = str(work / f"store-{r}") if where == "local" else f"s3://{S3_BUCKET}/{uuid.uuid4().hex[:8]}/store"
                rates[where].append(import_rate(src, tgt, root))
                print(f"round {r + 1}: {where}: {rates[where][-1]:,.0f} rows/s")
        local, s3 = statistics.median(rates["local"]), statistics.median(rates["s3"])
        result["import"] = {"local_rows_per_s": round(local), "s3_rows_per_s": round(s3),
                            "s3_over_local": round(s3 / local, 3),
                            "rounds": {k: [round(v) for v in vs] for k, vs in rates.items()}}
        print(f"bitext import of {args.pairs:,} pairs: local {local:,.0f} rows/s, S3 endpoint {s3:,.0f} rows/s "
              f"({s3 / local:.2f}x)")
        if not args.no_ray:
            (work / "ray").mkdir()
            rsrc, rtgt = (src, tgt) if args.ray_pairs == args.pairs else write_pairs(work / "ray", args.ray_pairs)
            result["ray_cluster_into_s3"] = cluster_run(rsrc, rtgt, work / "ray", args.ray_pairs)
    result["load_after"] = print_load("after")
    print(f"results: {write_results('s3_bench', result)}")


if __name__ == "__main__":
    main()
