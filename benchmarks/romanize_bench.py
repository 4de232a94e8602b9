"""Romanize stage vs a plain uroman loop on the 16 NTREX-128 files; checks identity on all.

    .venv/bin/python benchmarks/romanize_bench.py [--workers 2] [--no-ablation] [--limit N]

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

Wall-clock speedup is the goal; CPU seconds (baseline process vs this process + its workers)
are reported too, since a loaded machine distorts wall time. Every romanized sentence read
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
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from _results import write_results  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
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


def ours(workers: int, fast_regex: bool, files: list[Path], langs: list[str]):
    """Run the pipeline into a temporary store; return (seconds, {(source, line): romanized})."""
    from xlcorpus import pipeline as pl
    from xlcorpus.engine.local import LocalEngine
    from xlcorpus.store import Store
    from xlcorpus.translit.pipeline import RomanizePipeline

    with tempfile.TemporaryDirectory() as tmp:
        pipe = RomanizePipeline(files=files, langs=langs, batch_size=500, fast_regex=fast_regex)
        store = Store(Path(tmp) / "store")
        start, cpu = time.perf_counter(), _cpu()
        pl.run(pipe, store, LocalEngine(workers=workers, progress=False))
        seconds, cpu = time.perf_counter() - start, _cpu() - cpu
        table = store.sql("SELECT source, line, romanized, method FROM romanized")
    rows = table.to_pylist()
    return seconds, cpu, {(r["source"], r["line"]): r["romanized"] for r in rows}, rows


def _cpu() -> float:
    """CPU seconds of this process and its finished children (the worker processes)."""
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


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


def measure(workers: int, fast: bool, files: list[Path], texts: dict, base: dict, n_sent: int,
            n_chars: int) -> dict:
    seconds, cpu, got, rows = ours(workers, fast, files, FILES)
    check = compare(texts, base["out"], got)
    identical = sum(v["identical"] for v in check.values())
    methods: dict[str, int] = {}
    for r in rows:
        methods[r["method"]] = methods.get(r["method"], 0) + 1
    run = {"seconds": round(seconds, 2), "sentences_per_s": round(n_sent / seconds, 1),
           "chars_per_s": round(n_chars / seconds), "speedup": round(base["seconds"] / seconds, 2),
           "cpu_seconds": round(cpu, 2), "cpu_speedup": round(base["cpu"] / cpu, 2),
           "identical": identical, "sentences": n_sent, "stored_rows_by_method": methods,
           "mismatches": {c: v for c, v in check.items() if v["first_mismatch"]}}
    print(f"  {seconds:.1f} s, {n_sent / seconds:,.0f} sentences/s, {run['speedup']}x, "
          f"identical {identical}/{n_sent}", flush=True)
    return run


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

    texts = {c: read_lines(ntrex_path(c), args.limit) for c in FILES}
    n_sent = sum(map(len, texts.values()))
    n_chars = sum(len(s) for v in texts.values() for s in v)
    with tempfile.TemporaryDirectory() as tmp:
        job = Path(tmp) / "baseline.json"
        job.write_text(json.dumps({"lcodes": {c: uroman_lcode(c) for c in FILES}, "limit": args.limit}))
        print(f"baseline: plain uroman loop over {n_sent:,} sentences ({n_chars:,} chars)...", flush=True)
        subprocess.run([sys.executable, __file__, "--baseline-job", str(job)], check=True)
        base = pickle.loads(job.with_suffix(".pkl").read_bytes())
    runs = {}
    with tempfile.TemporaryDirectory() as tmp:
        files = [ntrex_path(c) for c in FILES]
        if args.limit:  # the first N lines of each file, same file names
            files = [Path(tmp) / f.name for f in files]
            for f, c in zip(files, FILES):
                f.write_text("".join(s + "\n" for s in texts[c]), encoding="utf-8")
        from xlcorpus.translit.uroman_cache import load_uroman

        load_uroman()  # the user's cached copy exists after any first run (not timed, like Uroman() above)
        plan = [("ours_cold_uroman_cache", True, True), ("ours", True, False)]
        if not args.no_ablation:
            plan.append(("ours_without_fastregex", False, False))
        for label, fast, cold in plan:
            print(f"{label}: romanize pipeline, {args.workers} workers...", flush=True)
            with cache_dir(Path(tmp) / "uroman-cache" if cold else None):
                runs[label] = measure(args.workers, fast, files, texts, base, n_sent, n_chars)
    result = {
        "benchmark": "romanize", "machine": f"{platform.machine()}, {os.cpu_count()} cpus",
        "python": platform.python_version(), "workers": args.workers, "files": FILES,
        "sentences": n_sent, "chars": n_chars, "load_average_at_end": [round(x, 1) for x in os.getloadavg()],
        "baseline": {"what": "Uroman().romanize_string(s, lcode) per sentence, one process",
                     "seconds": round(base["seconds"], 2), "cpu_seconds": round(base["cpu"], 2),
                     "sentences_per_s": round(n_sent / base["seconds"], 1),
                     "chars_per_s": round(n_chars / base["seconds"])},
        **runs,
        "goal": ">= 10x sentences/s on 2 cores with identical output",
    }
    write_results("romanize_bench", result)
    print(json.dumps({k: result[k] for k in ("baseline", *runs)}, indent=2, ensure_ascii=False))
    ok = all(r["identical"] == n_sent for r in runs.values())
    print("identical output on every sentence" if ok else "MISMATCH: see the JSON")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
