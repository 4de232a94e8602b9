"""Reader throughput on clean input: this checkout against a baseline commit, same run.

The hostile-inputs work (input layer with codec sniffing and guarded decompression,
Wikipedia pages parsed one by one so a broken page is skipped, repeated Wikidata entities
dropped) must not slow the clean path. For each reader and input this script times, in
alternating rounds (baseline first in odd rounds, ours first in even ones), each in a fresh
process:

- ``wikidata`` : ``read_wikidata`` + ``ParseEntities`` (4 languages, enwiki) over a dump made
  of the shared ``latest-all.head50.json`` entities repeated with new ids (clean: no
  repeated id), plain and ``.bz2``;
- ``wikipedia``: ``scan_redirects`` + ``read_wikipedia`` (pages) over the shared
  ``enwiki-...-shortened.bz2`` excerpt with its pages repeated ``--copies`` times, as
  ``.xml`` and ``.xml.bz2``.

It reports wall and CPU seconds per round, their medians and minima, the ratios ours /
baseline (goal: at most 1.05) and the machine's load average. On a shared machine the wall
times mostly measure the other load; the CPU seconds (all threads of the process) are then
the figure to read.

Run: ``python benchmarks/reader_bench.py [--base 7e6c00e] [--rounds 5] [--copies 8]``.
The baseline is checked out read-only (``git worktree``) into a temporary folder.
Writes ``benchmarks/results/reader_bench.json``.
"""

from __future__ import annotations

import argparse
import bz2
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
from _baseline import checkout  # noqa: E402
from _results import write_results  # noqa: E402

SHARED = ROOT.parent / "shared" / "data"
HEAD50 = SHARED / "wikidata" / "latest-all.head50.json"
ENWIKI = SHARED / "wikipedia" / "enwiki-latest-pages-articles1.xml-p000000010p000030302-shortened.bz2"

WORKER = r"""
import json, sys, time
kind, path = sys.argv[1], sys.argv[2]
from xlcorpus.sources.wikidata import ParseEntities, read_wikidata
from xlcorpus.sources.wikipedia import read_wikipedia, scan_redirects
t0, c0 = time.perf_counter(), time.process_time()  # reading only, not the imports
n = 0
if kind == "wikidata":
    stage = ParseEntities(["en", "de", "fr", "mt"], ["enwiki"])
    for b in read_wikidata(path):
        if hasattr(b, "num_rows"):
            n += stage(b).batch["wikidata_labels"].num_rows
else:
    n = len(scan_redirects(path))
    for b in read_wikipedia(path):
        n += getattr(b, "num_rows", 0)
print(json.dumps({"wall": time.perf_counter() - t0, "cpu": time.process_time() - c0, "items": n}))
"""


def make_wikidata(folder: Path, copies: int) -> Path:
    """The shared head50 entities ``copies`` times, each copy with new ids (clean input)."""
    lines = [line for line in HEAD50.read_bytes().splitlines() if line.strip() not in (b"[", b"]", b"")]
    out = folder / "wikidata.json"
    with out.open("wb") as fh:
        fh.write(b"[\n")
        for k in range(copies):
            for line in lines:
                fh.write(re.sub(rb'"id":"([QPL])(\d+)"', lambda m: b'"id":"%s%d%03d"' % (m[1], int(m[2]), k),
                                line.rstrip(b","), count=1) + b",\n")
        fh.write(b"]\n")
    return out


def make_wikipedia(folder: Path, copies: int) -> Path:
    """The shared enwiki excerpt with its pages repeated ``copies`` times (one export)."""
    data = bz2.decompress(ENWIKI.read_bytes())
    first, last = data.index(b"  <page>"), data.rindex(b"</page>") + len(b"</page>\n")
    out = folder / "enwiki.xml"
    out.write_bytes(data[:first] + data[first:last] * copies + data[last:])
    return out


def measure(checkout: Path, kind: str, path: Path) -> dict:
    env = {**os.environ, "PYTHONPATH": str(checkout)}
    proc = subprocess.run([sys.executable, "-c", WORKER, kind, str(path)], capture_output=True, text=True,
                          env=env, cwd=checkout, check=True)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--base", default="7e6c00e", help="baseline commit")
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--copies", type=int, default=12, help="copies of the head50 entities and enwiki pages")
    args = ap.parse_args()
    if not HEAD50.exists() or not ENWIKI.exists():
        sys.exit(f"needs {HEAD50} and {ENWIKI}")
    with tempfile.TemporaryDirectory() as tmp, checkout(args.base) as base:
        tmp_path = Path(tmp)
        wd = make_wikidata(tmp_path, args.copies)
        wd_bz2 = tmp_path / "wikidata.json.bz2"
        wd_bz2.write_bytes(bz2.compress(wd.read_bytes(), 9))
        xml = make_wikipedia(tmp_path, args.copies)
        xml_bz2 = tmp_path / "enwiki.xml.bz2"
        xml_bz2.write_bytes(bz2.compress(xml.read_bytes(), 9))
        inputs = {"wikidata plain": ("wikidata", wd), "wikidata bz2": ("wikidata", wd_bz2),
                  "wikipedia xml": ("wikipedia", xml), "wikipedia bz2": ("wikipedia", xml_bz2)}
        runs: dict[str, dict[str, list[dict]]] = {k: {"baseline": [], "ours": []} for k in inputs}
        for r in range(args.rounds):
            order = [("baseline", base), ("ours", ROOT)]
            if r % 2:
                order.reverse()
            for name, (kind, path) in inputs.items():
                for who, folder in order:
                    runs[name][who].append(measure(folder, kind, path))
            print(f"round {r + 1}/{args.rounds} done (load {os.getloadavg()[0]:.1f})", flush=True)
        sizes = {name: path.stat().st_size for name, (_, path) in inputs.items()}
    results: dict = {"base_commit": args.base, "rounds": args.rounds, "load_average": os.getloadavg(),
                     "cpus": os.cpu_count(), "note": "machine shared with other work: see load_average",
                     "readers": {}}
    for name, by in runs.items():
        med = {who: {m: statistics.median(x[m] for x in rs) for m in ("wall", "cpu")} for who, rs in by.items()}
        best = {who: {m: min(x[m] for x in rs) for m in ("wall", "cpu")} for who, rs in by.items()}
        same = {x["items"] for rs in by.values() for x in rs}
        row = {"file_bytes": sizes[name], "items": sorted(same), "same_output_size": len(same) == 1,
               "median": med, "min": best, "ratio_wall_min": best["ours"]["wall"] / best["baseline"]["wall"],
               "ratio_wall": med["ours"]["wall"] / med["baseline"]["wall"],
               "ratio_cpu": med["ours"]["cpu"] / med["baseline"]["cpu"],
               "mb_per_s_ours": sizes[name] / 1e6 / med["ours"]["wall"], "runs": by}
        results["readers"][name] = row
        print(f"{name:16s} baseline {med['baseline']['wall']:.3f}s wall {med['baseline']['cpu']:.3f}s cpu | "
              f"ours {med['ours']['wall']:.3f}s wall {med['ours']['cpu']:.3f}s cpu | "
              f"ratio wall {row['ratio_wall']:.3f} cpu {row['ratio_cpu']:.3f}")
    print(f"load average {os.getloadavg()}")
    print(f"-> {write_results('reader_bench', results)}")


if __name__ == "__main__":
    main()
