"""Romanize stage vs a plain uroman loop on the 16 NTREX-128 files; checks identity on all.

    .venv/bin/python benchmarks/romanize_bench.py [--workers 2] [--rounds 3] [--no-ablation] [--limit N]

1. **Baseline** (own subprocess, plain uroman): ``Uroman()`` once, then
   ``romanize_string(s, lcode=L)`` for every sentence of the 16 files (deu ita spa fra mlt
   eng arb heb rus ell hin zho-CN jpn kor amh tha; ~32,000 sentences); ``L`` is the ISO
   639-3 code :func:`uroman_lcode` gives for the file's language code. Uroman construction
   is not timed.
2. **Ours**: the ``romanize`` pipeline on the same files with ``LocalEngine(workers=N)`` into
   a fresh store, end to end: worker start-up (each loads ``Uroman`` from the user's cached
   copy, ~0.2 s, see :mod:`xlcorpus.translit.uroman_cache`), romanization, offsets, Arrow
   batches, Delta commit. ``ours_cold_uroman_cache`` runs first with an empty cache folder
   (each worker builds its ``Uroman``, ~1.2 s, as on a machine's very first run).
3. **Ablation** (unless ``--no-ablation``): the same pipeline without :mod:`fastregex`
   (uroman's regular expressions looked up in the ``regex`` module's own cache), to show
   what segmenting, caching, the character table and the lattice shortcuts give alone.

All variants run in ``--rounds`` alternating rounds (``benchmarks/_common.py``); the figures
are medians. Wall-clock speedup is the goal; CPU seconds (baseline process vs this process
+ its workers) and the machine load are reported too, since a loaded machine distorts wall
time. The run says which uroman path romanizes (``xlcorpus --version``). Every romanized sentence read
back from the store must equal the baseline's string; the
script exits 1 otherwise. Goal: >= 10x sentences/s on 2 cores with identical
output. Results go to ``benchmarks/results/romanize_bench.json``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import pickle
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from _common import Reported, cpu_seconds, interleave, print_load, ratio  # noqa: E402
from _results import write_results  # noqa: E402

NTREX = REPO.parent / "shared" / "data" / "parallel" / "ntrex128"
FILES = ["deu", "ita", "spa", "fra", "mlt", "eng", "arb", "heb", "rus", "ell", "hin", "zho-CN",
         "jpn", "kor", "amh", "tha"]


def ntrex_path(code: str) -> Path:
    return NTREX / ("newstest2019-src.eng.txt" if code == "eng" else f"newstest2019-ref.{code}.txt")


def read_lines(path: Path, limit: int | None) -> list[str]:
    lines = path.read_text(encoding="utf-8").split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return [ln.rstrip("\r") for ln in lines][:limit]


def baseline(job: str) -> None:
    """Subprocess: plain uroman loop; writes {code: [romanized]} and the time to ``job``."""
    from uroman import Uroman

    spec = json.loads(Path(job).read_text())
    u = Uroman()
    out, start, cpu = {}, time.perf_counter(), time.process_time()
    for code, lcode in spec["lcodes"].items():
        out[code] = [u.romanize_string(s, lcode=lcode) for s in read_lines(ntrex_path(code), spec["limit"])]
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    Path(job).with_suffix(".pkl").write_bytes(pickle.dumps({"seconds": seconds, "cpu": cpu, "out": out}))


def run_baseline(job: Path) -> Reported:
    """The plain uroman loop in its own process, timed inside it (without ``Uroman()``)."""
    subprocess.run([sys.executable, __file__, "--baseline-job", str(job)], check=True)
    base = pickle.loads(job.with_suffix(".pkl").read_bytes())
    return Reported(base["out"], base["seconds"], base["cpu"])


def ours(workers: int, fast_regex: bool, files: list[Path], langs: list[str]):
    """Run the pipeline into a temporary store; return (seconds, CPU seconds,
    {(source, line): romanized}, rows)."""
    from xlcorpus import pipeline as pl
    from xlcorpus.engine.local import LocalEngine
    from xlcorpus.store import Store
    from xlcorpus.translit.pipeline import RomanizePipeline

    with tempfile.TemporaryDirectory() as tmp:
        pipe = RomanizePipeline(files=files, langs=langs, batch_size=500, fast_regex=fast_regex)
        store = Store(Path(tmp) / "store")
        start, cpu = time.perf_counter(), cpu_seconds()
        pl.run(pipe, store, LocalEngine(workers=workers, progress=False))
        seconds, cpu = time.perf_counter() - start, cpu_seconds() - cpu
        table = store.sql("SELECT source, line, romanized, method FROM romanized")
    rows = table.to_pylist()
    return seconds, cpu, {(r["source"], r["line"]): r["romanized"] for r in rows}, rows


@contextlib.contextmanager
def cache_dir(path: Path | None):
    """Point the workers' Uroman cache at ``path`` (an empty folder: every worker builds its
    ``Uroman``, as on a machine's first run); None: the user's cache, as on any later run."""
    old = os.environ.get("XLCORPUS_CACHE_DIR")
    if path is not None:
        os.environ["XLCORPUS_CACHE_DIR"] = str(path)
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("XLCORPUS_CACHE_DIR", None)
        else:
            os.environ["XLCORPUS_CACHE_DIR"] = old


def run_ours(workers: int, fast: bool, files: list[Path], cold: Path | None) -> Reported:
    """One pipeline run (``cold``: a fresh, empty uroman cache folder)."""
    if cold is not None:
        cold.mkdir(parents=True)
    with cache_dir(cold):
        seconds, cpu, got, rows = ours(workers, fast, files, FILES)
    return Reported((got, rows), seconds, cpu)


def summary(timing, base, texts: dict, n_sent: int, n_chars: int) -> dict:
    """Median figures of one variant, its speed-up and its identity check (last round)."""
    got, rows = timing.result
    check = compare(texts, base.result, got)
    identical = sum(v["identical"] for v in check.values())
    methods: dict[str, int] = {}
    for r in rows:
        methods[r["method"]] = methods.get(r["method"], 0) + 1
    return {**timing.as_dict(n_sent, "sentences"), "chars_per_s": round(n_chars / timing.wall_median),
            "speedup": ratio(base, timing), "identical": identical, "sentences": n_sent,
            "stored_rows_by_method": methods, "mismatches": {c: v for c, v in check.items() if v["first_mismatch"]}}


def compare(texts: dict[str, list[str]], ref: dict[str, list[str]], got: dict) -> dict:
    """Per file: sentences, identical, first mismatch. Deduplicated rows: a repeated
    sentence is stored once (same id), so each line is looked up by its first occurrence."""
    report = {}
    for code, lines in texts.items():
        name = ntrex_path(code).name
        first: dict[str, int] = {}
        same, bad = 0, None
        for i, s in enumerate(lines, 1):
            line = first.setdefault(s, i)
            if got.get((name, line)) == ref[code][i - 1]:
                same += 1
            elif bad is None:
                bad = {"line": i, "expected": ref[code][i - 1], "got": got.get((name, line))}
        report[code] = {"sentences": len(lines), "identical": same, "first_mismatch": bad}
    return report


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--no-ablation", action="store_true")
    ap.add_argument("--limit", type=int, default=None, help="sentences per file (default: all)")
    ap.add_argument("--baseline-job", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.baseline_job:
        baseline(args.baseline_job)
        return 0
    if not NTREX.is_dir():
        print(f"skipped: {NTREX} is absent")
        return 0
    from xlcorpus.translit.romanize import uroman_lcode

    from xlcorpus.translit.uroman_cache import load_uroman
    from xlcorpus.translit.uroman_compat import describe

    load_before = print_load("before")
    print(f"romanize path: {describe()}")
    texts = {c: read_lines(ntrex_path(c), args.limit) for c in FILES}
    n_sent = sum(map(len, texts.values()))
    n_chars = sum(len(s) for v in texts.values() for s in v)
    print(f"{n_sent:,} sentences ({n_chars:,} chars), {args.rounds} rounds", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        job = Path(tmp) / "baseline.json"
        job.write_text(json.dumps({"lcodes": {c: uroman_lcode(c) for c in FILES}, "limit": args.limit}))
        files = [ntrex_path(c) for c in FILES]
        if args.limit:  # the first N lines of each file, same file names
            files = [Path(tmp) / f.name for f in files]
            for f, c in zip(files, FILES):
                f.write_text("".join(s + "\n" for s in texts[c]), encoding="utf-8")
        load_uroman()  # the user's cached copy exists after any first run (not timed, like Uroman() above)
        colds = iter(range(1_000_000))
        variants = {
            "baseline": lambda: run_baseline(job),
            "ours": lambda: run_ours(args.workers, True, files, None),
            "ours_cold_uroman_cache": lambda: run_ours(args.workers, True, files,
                                                       Path(tmp) / f"uroman-cache-{next(colds)}"),
        }
        if not args.no_ablation:
            variants["ours_without_fastregex"] = lambda: run_ours(args.workers, False, files, None)
        timings = interleave(variants, rounds=args.rounds)
    base = timings.pop("baseline")
    runs = {label: summary(t, base, texts, n_sent, n_chars) for label, t in timings.items()}
    result = {
        "benchmark": "romanize", "machine": f"{platform.machine()}, {os.cpu_count()} cpus",
        "python": platform.python_version(), "workers": args.workers, "files": FILES, "rounds": args.rounds,
        "romanize_path": describe(), "sentences": n_sent, "chars": n_chars,
        "load_before": load_before, "load_after": print_load("after"),
        "baseline": {"what": "Uroman().romanize_string(s, lcode) per sentence, one process",
                     **base.as_dict(n_sent, "sentences"), "chars_per_s": round(n_chars / base.wall_median)},
        **runs,
        "goal": ">= 10x sentences/s on 2 cores with identical output",
    }
    write_results("romanize_bench", result)
    for label, run in runs.items():
        print(f"{label}: median {run['median_wall_s']} s, {run['sentences_per_s']:,} sentences/s, "
              f"{run['speedup']['wall']}x wall, {run['speedup']['cpu']}x CPU, identical {run['identical']}/{n_sent}")
    ok = all(r["identical"] == n_sent for r in runs.values())
    print("identical output on every sentence" if ok else "MISMATCH: see the JSON")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
