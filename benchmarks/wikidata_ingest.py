"""Wikidata ingest: our reader + ParseEntities vs a plain ``json.loads`` line loop.

Generates a dump in the real layout (``[``, one entity per line ending in ``,``, ``]``) of
realistic entities (~25 KB each: ~150 label languages, descriptions, aliases, ~100
sitelinks, claims with qualifiers and references), then measures in the same run:

- ``baseline``: ``for line in file: json.loads(line.rstrip(",\\n"))`` and extraction of the
  same fields (labels/aliases/descriptions of the kept languages, enwiki sitelink);
- ``ours-parse``: ``read_wikidata`` + ``ParseEntities`` in one process (Arrow batches out);
- ``ours-step-wN``: the whole ``wikidata`` step with N workers, from worker start-up to the
  Delta commit: with one worker everything runs in this process; with more, each worker
  reads byte ranges of the dump itself, parses them and writes its Parquet part files, and
  this process only commits them (speed-up vs one worker is reported);
- peak memory (max RSS) of the step on the dump and on a dump twice as large, each in a
  fresh process.

All variants run in ``--rounds`` alternating rounds (``benchmarks/_common.py``); medians of
wall and CPU seconds (CPU of this process and its ended workers) are reported, with the
machine load.

Run: ``.venv/bin/python benchmarks/wikidata_ingest.py [--entities 3000] [--workers 1 2]``
(the reported figures use ``--entities 40000``: 1.2 GB, so that the fixed cost of starting
worker processes, ~0.5 s, does not hide how reading and parsing scale).
Writes ``benchmarks/results/wikidata_ingest.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from xlcorpus.codeswitch.entitycs import XLMR_LANGUAGES  # noqa: E402
from _common import interleave, print_load  # noqa: E402
from _results import write_results  # noqa: E402

LANGS = [f"{a}{b}" for a in "abcdefghijklmnopqrstuvwxyz" for b in "aeiou"][:60] + list(XLMR_LANGUAGES)
KEEP = sorted(set(XLMR_LANGUAGES))
SITE = "enwiki"


def make_entity(q: int, rs: random.Random) -> dict:
    def text(n):
        return "".join(rs.choice("abcdefghijklmnopqrstuvwxyzéöñ ") for _ in range(n)).strip() or "x"

    langs = rs.sample(LANGS, 130)
    snak = lambda p: {"snaktype": "value", "property": f"P{p}", "hash": "%040x" % rs.getrandbits(160),  # noqa: E731
                      "datavalue": {"value": {"entity-type": "item", "numeric-id": rs.randint(1, 10**7),
                                              "id": f"Q{rs.randint(1, 10**7)}"}, "type": "wikibase-entityid"},
                      "datatype": "wikibase-item"}
    claims = {}
    for p in rs.sample(range(1, 3000), 10):
        claims[f"P{p}"] = [{"mainsnak": snak(p), "type": "statement", "id": f"Q{q}$%032x" % rs.getrandbits(128),
                            "rank": "normal", "qualifiers": {"P580": [snak(580)]}, "qualifiers-order": ["P580"],
                            "references": [{"hash": "%040x" % rs.getrandbits(160), "snaks": {"P248": [snak(248)]},
                                            "snaks-order": ["P248"]}]} for _ in range(rs.randint(1, 2))]
    return {"type": "item", "id": f"Q{q}",
            "labels": {lang: {"language": lang, "value": text(rs.randint(4, 20))} for lang in langs},
            "descriptions": {lang: {"language": lang, "value": text(rs.randint(10, 30))} for lang in langs[:60]},
            "aliases": {lang: [{"language": lang, "value": text(10)} for _ in range(2)] for lang in langs[:25]},
            "claims": claims,
            "sitelinks": {f"{lang}wiki": {"site": f"{lang}wiki", "title": text(rs.randint(4, 20)), "badges": []}
                          for lang in ["en", *langs[:59]]},
            "lastrevid": rs.randint(1, 10**9)}


def write_dump(path: Path, n: int, seed: int = 0, unique: int = 5000) -> int:
    """``n`` entities; after the first ``unique`` (random), each is a generated one again
    under a new id (generation is slow; parsing caches nothing, so repeats cost the same)."""
    rs = random.Random(seed)
    templates: list[bytes] = []
    with open(path, "wb") as fh:
        fh.write(b"[\n")
        for q in range(1, n + 1):
            if q <= unique:
                line = json.dumps(make_entity(q, rs), separators=(",", ":")).encode()
                templates.append(line)
            else:
                t = (q - 1) % unique + 1
                line = templates[t - 1].replace(b'"id":"Q%d"' % t, b'"id":"Q%d"' % q, 1)
            fh.write(line + (b",\n" if q < n else b"\n"))
        fh.write(b"]\n")
    return path.stat().st_size


def baseline(path: Path) -> int:
    """The plain loop: json.loads per line and the same extraction, in Python."""
    keep = set(KEEP)
    n = 0
    rows = []
    with open(path, "rb") as fh:
        for line in fh:
            line = line.strip().rstrip(b",")
            if line in (b"[", b"]", b""):
                continue
            e = json.loads(line)
            for lang, lab in e.get("labels", {}).items():
                if lang in keep:
                    rows.append((e["id"], lang, lab["value"], [a["value"] for a in e.get("aliases", {}).get(lang, [])],
                                 e.get("descriptions", {}).get(lang, {}).get("value")))
            link = e.get("sitelinks", {}).get(SITE)
            if link:
                rows.append((e["id"], SITE, link["title"]))
            n += 1
    return n


def ours_parse(path: Path) -> int:
    from xlcorpus.sources.wikidata import ParseEntities, read_wikidata

    stage = ParseEntities(KEEP, [SITE])
    n = 0
    for batch in read_wikidata(path):
        stage(batch)
        n += batch.num_rows
    return n


def ours_step(path: Path, workers: int) -> int:
    from xlcorpus.engine.core import Step
    from xlcorpus.engine.local import LocalEngine
    from xlcorpus.sources.wikidata import ParseEntities, read_wikidata
    from xlcorpus.store import Store

    with tempfile.TemporaryDirectory() as d:
        step = Step("wikidata", read_wikidata(path, chunk_bytes=4 << 20), [ParseEntities(KEEP, [SITE])],
                    ["wikidata_labels", "wikidata_sitelinks"])
        report = LocalEngine(workers=workers, progress=False).run_step(step, Store(d), "bench", {})
        return report.input_rows


def peak_rss(path: Path, workers: int) -> dict[str, float]:
    """Peak RSS (MB) of a fresh process running the step, and of its largest worker.

    The process's own peak is read from ``VmHWM`` (reset by ``exec``), not from
    ``getrusage``, whose maximum a child inherits from the (here large) benchmark process
    it was forked from. Workers are forked from the small fresh process: ``getrusage``
    of its children is right for them.
    """
    code = (f"import sys; sys.path[:0] = [{str(ROOT)!r}, {str(ROOT / 'benchmarks')!r}]; "
            "from wikidata_ingest import ours_step; "
            f"from pathlib import Path; ours_step(Path({str(path)!r}), {workers}); import resource, re; "
            "hwm = int(re.search(r'VmHWM:\\s+(\\d+)', open('/proc/self/status').read()).group(1)); "
            "print(hwm, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    main_kb, worker_kb = map(int, out.stdout.strip().splitlines()[-1].split())
    return {"main_process": round(main_kb / 1024), "largest_worker": round(worker_kb / 1024)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--entities", type=int, default=3000)
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--no-memory", action="store_true")
    ap.add_argument("--rounds", type=int, default=3, help="alternating rounds of every variant (>= 3)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        dump = Path(d) / "dump.json"
        size = write_dump(dump, args.entities)
        mb = size / 1e6
        print(f"dump: {args.entities:,} entities, {mb:.1f} MB ({size / args.entities / 1e3:.1f} KB/entity), "
              f"{len(KEEP)} languages kept; {os.cpu_count()} CPUs")
        results = {"entities": args.entities, "dump_mb": round(mb, 1), "kb_per_entity": round(size / args.entities / 1e3, 1),
                   "languages_kept": len(KEEP), "cpus": os.cpu_count(), "runs": {}}
        warm = Path(d) / "warm.json"
        write_dump(warm, 20, seed=2)
        baseline(warm), ours_parse(warm)  # imports and first-call costs out of the timings
        runs = {"baseline json.loads loop": lambda: baseline(dump),
                "ours parse (1 process, no store)": lambda: ours_parse(dump)}
        runs |= {f"ours step, {w} worker(s), Delta commit": (lambda w=w: ours_step(dump, w)) for w in args.workers}
        results["load_before"] = print_load("before")
        timings = interleave(runs, rounds=args.rounds)
        results["load_after"] = print_load("after")
        results["rounds"] = args.rounds
        for name, t in timings.items():
            assert t.result == args.entities, (name, t.result)
            sec = t.wall_median
            results["runs"][name] = {"seconds": round(sec, 3), **t.as_dict(args.entities, "entities"),
                                     "mb_per_s": round(mb / sec, 1), "cpu_seconds": round(t.cpu_median, 3)}
            print(f"{name:45s} {sec:7.2f} s  {args.entities / sec:9,.0f} entities/s  {mb / sec:7.1f} MB/s  "
                  f"(CPU {t.cpu_median:.2f} s, medians of {args.rounds} rounds)")
        base = results["runs"]["baseline json.loads loop"]["seconds"]
        for name, r in results["runs"].items():
            r["speedup_vs_baseline"] = round(base / r["seconds"], 2)
        steps = {w: results["runs"][f"ours step, {w} worker(s), Delta commit"]["seconds"] for w in args.workers}
        if 1 in steps:
            results["step_speedup_vs_1_worker"] = {str(w): round(steps[1] / t, 2) for w, t in steps.items()}
            print("step speed-up vs 1 worker: " + ", ".join(f"{w} workers: {v}x"
                                                          for w, v in results["step_speedup_vs_1_worker"].items()))
        print("speed-up vs baseline (wall): " + ", ".join(f"{k}: {v['speedup_vs_baseline']}x" for k, v in results["runs"].items()))
        cpu_ratio = (results["runs"]["baseline json.loads loop"]["cpu_seconds"]
                     / results["runs"]["ours parse (1 process, no store)"]["cpu_seconds"])
        results["parse_cpu_speedup"] = round(cpu_ratio, 2)
        print(f"parse speed-up in CPU time (one core, same work): {cpu_ratio:.2f}x")
        if not args.no_memory:
            big = Path(d) / "dump2.json"
            write_dump(big, 2 * args.entities, seed=1)
            w = max(args.workers)
            rss1, rss2 = peak_rss(dump, w), peak_rss(big, w)
            results["peak_rss_mb"] = {f"{args.entities} entities": rss1, f"{2 * args.entities} entities": rss2,
                                      "workers": w}
            print(f"peak RSS ({w} workers, MB): {rss1} for {args.entities:,} entities, {rss2} for {2 * args.entities:,}")
    out = write_results("wikidata_ingest", results)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
