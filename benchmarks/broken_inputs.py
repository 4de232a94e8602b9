"""Counts of the bad-input cases in the test suite, by command and reader, and how many end
in a traceback or a crash: with this checkout and with a baseline commit (before the
hostile-inputs work), in the same run.

- the CLI corpus of ``tests/broken_inputs.py`` (inputs cut, flipped, mislabelled,
  duplicated; damaged stores; hostile paths), each case a subprocess; outcome ``ok`` (the
  expected exit code and the file named), ``traceback``, ``crash`` (a signal) or ``wrong``
  (another exit code, or the file not named);
- the property suite of ``tests/test_fuzz_readers.py``: ``--examples`` random damaged
  inputs per reader (this checkout only: it uses the new input layer), failures counted.

Run: ``python benchmarks/broken_inputs.py [--base 7e6c00e] [--examples 200]``.
Writes ``benchmarks/results/broken_inputs.json``.
"""

from __future__ import annotations

import argparse
import collections
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from _baseline import checkout  # noqa: E402
from _results import write_results  # noqa: E402
from tests.broken_inputs import build, damage_store, run_case, verdict  # noqa: E402


def outcome(case, proc) -> str:
    problem = verdict(case, proc)
    if problem is None:
        return "ok"
    if problem.startswith("crashed"):
        return "crash"
    return "traceback" if problem.startswith("traceback") else "wrong"


def corpus(checkout: Path, tmp: Path) -> list[dict]:
    rows = []
    cases = build(tmp / "inputs")
    store = tmp / "store"
    subprocess.run([sys.executable, "-m", "xlcorpus", "-q", "run", str(ROOT / "pipelines" / "import_bitext.yaml"),
                    "--store", str(store)], env={**os.environ, "PYTHONPATH": str(ROOT)}, check=True)
    cases += damage_store(store)
    for case in cases:
        proc = run_case(case, tmp, checkout=checkout)
        rows.append({"case": case.name, "command": case.command, "reader": case.reader,
                     "exit": proc.returncode, "outcome": outcome(case, proc)})
    return rows


def summary(rows: list[dict]) -> dict:
    out: dict = {"cases": len(rows), "outcomes": dict(collections.Counter(r["outcome"] for r in rows))}
    for key in ("command", "reader"):
        by: dict = collections.defaultdict(collections.Counter)
        for r in rows:
            by[r[key]][r["outcome"]] += 1
        out[f"by_{key}"] = {k: dict(v) for k, v in sorted(by.items())}
    return out


def fuzz(examples: int) -> dict:
    from tests.test_fuzz_readers import READERS

    out = {}
    env = {**os.environ, "PYTHONPATH": str(ROOT), "XLCORPUS_FUZZ_EXAMPLES": str(examples)}
    for reader in sorted(READERS):
        proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                               "tests/test_fuzz_readers.py", "-k", f"damaged and {reader}"],
                              cwd=ROOT, env=env, capture_output=True, text=True)
        out[reader] = {"examples": examples, "failures": 0 if proc.returncode == 0 else 1,
                       "crash": proc.returncode < 0}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--base", default="7e6c00e")
    ap.add_argument("--examples", type=int, default=200)
    args = ap.parse_args()
    results: dict = {"base_commit": args.base}
    with tempfile.TemporaryDirectory() as tmp, checkout(args.base) as base:
        for who, folder in (("baseline", base), ("ours", ROOT)):
            rows = corpus(folder, Path(tmp) / who)
            results[f"cli_{who}"] = {**summary(rows), "rows": rows}
            print(who, summary(rows)["outcomes"], flush=True)
    results["fuzz_ours"] = fuzz(args.examples)
    results["load_average"] = os.getloadavg()
    print("fuzz", {k: v["failures"] for k, v in results["fuzz_ours"].items()})
    print(f"-> {write_results('broken_inputs', results)}")


if __name__ == "__main__":
    main()
