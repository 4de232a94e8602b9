"""eflomal at scale: consistency of chunked links, memory, throughput, extrapolation, resuming.

Parts (``--part``, default all):

- ``consistency``: the English-French Hansards gold (447 pairs) spread evenly through the
  29,000 Multi30k en-fr training pairs (tokenized as in ``align_quality.py``): AER on the
  gold of (a) the unchunked aligner (:func:`align_pairs`, the gold pairs plus Multi30k as
  extra bitext, defaults), (b) chunks of 2,000 pairs with priors trained once on the whole
  corpus (``--priors-sample`` above its size), (c) the same chunks, each on its own (no
  shared priors: today's per-chunk way). Goal: (b) within 0.5 AER points of (a). How the
  priors are counted (from symmetrized links) was chosen on the first half of the gold
  pairs with 8,000 Multi30k pairs: the second half (``held_out_half``) was not looked at.
- ``memory``: generated pairs (``align_speed.generate``: Zipfian 50k-word vocabularies) at
  ``--sizes`` (default 100k, 300k, 1M): ``xlcorpus align --workers 2`` with the default
  chunk size against the plain eflomal CLI (``eflomal-align``, one run, the whole corpus),
  each a subprocess whose process tree's resident memory is summed from ``/proc`` every
  0.2 s. Reports peak RSS, wall seconds and pairs/s. Goal: <= 2 GB at 1M, flat 300k -> 1M.
- ``throughput``: ``xlcorpus align`` with 1 and 2 workers on ``--pairs`` pairs (default
  100k), ``--repeat`` times each, alternated, the median run of each reported with every
  run's time (goal >= 1.7x at 2), against the plain eflomal CLI on one thread (``OMP_NUM_THREADS=1``:
  per core, against ours with 1 worker; ours seeds eflomal, which runs it on one thread) and
  with its default threads (against ours with 2 workers), per-chunk cost and priors cost
  from its progress lines, and an
  extrapolation to 200M pairs on 16 and 64 cores: priors cost + chunks / cores x per-chunk
  cost (cores assumed as fast as these and not memory-bound: a lower bound).
- ``per-core``: ``xlcorpus align`` with 1 worker against plain eflomal on one thread on
  ``--pairs`` pairs (default 2M): the per-core comparison once the priors' fixed cost is
  spread over more pairs than in ``throughput``.
- ``resume``: a pipeline run (``bitext-align``, ``--workers 2``, chunks of a sixth of the
  pairs) on ``--pairs`` (default 300k) pairs killed with SIGKILL when half of its chunks are done, then run
  again: the chunks aligned by the rerun (its progress lines) must be exactly the missing
  ones and the stored links identical to an uninterrupted run in another store.

``--quick``: sizes 20k / 60k, 30k pairs for throughput and resume (a check of the script).
The machine load is printed before and after each part: on a shared machine, pairs/s and
ratios move with it.

Run: ``.venv/bin/python benchmarks/align_scale.py [--quick] [--part memory --sizes 100000,1000000]``
Writes ``benchmarks/results/align_scale.json`` (parts run separately are merged).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import print_load
from _results import RESULTS, write_results

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
BIN = Path(sys.executable).parent
OUT = RESULTS / "align_scale.json"
CHUNK_LINE = re.compile(r"chunk (\d+)/(\d+): ([\d,]+) pairs in ([\d.]+) s")
PRIORS_LINE = re.compile(r"priors: trained on a sample of ([\d,]+) pairs in ([\d.]+) s")


# ------------------------------------------------------------------ helpers
def tree_rss_mb(pid: int) -> float:
    """Resident memory of a process and all its descendants, in MB."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as fh:
                parts = fh.read().rsplit(")", 1)[1].split()
            children.setdefault(int(parts[1]), []).append(int(d))
            rss[int(d)] = int(parts[21]) * os.sysconf("SC_PAGE_SIZE")
        except (OSError, IndexError, ValueError):
            continue
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        total += rss.get(p, 0)
        todo.extend(children.get(p, []))
    return total / 2**20


def run_tree(cmd: list[str], env: dict | None = None, kill_when=None) -> dict:
    """Run ``cmd``, polling its process tree's RSS; ``kill_when()`` true: SIGKILL the group."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, **(env or {})}, start_new_session=True)
    peak, killed = 0.0, False
    while proc.poll() is None:
        peak = max(peak, tree_rss_mb(proc.pid))
        if kill_when is not None and not killed and kill_when():
            os.killpg(proc.pid, signal.SIGKILL)
            killed = True
        time.sleep(0.2)
    out, err = proc.communicate()
    if proc.returncode != 0 and not killed:
        raise RuntimeError(f"{cmd[:3]} failed ({proc.returncode}): {err[-2000:]}")
    return {"seconds": round(time.perf_counter() - t0, 1), "peak_rss_mb": round(peak), "stdout": out,
            "stderr": err, "killed": killed}


def write_generated(n: int, folder: Path) -> tuple[Path, Path, Path]:
    """``pairs.txt`` (src ||| tgt), ``src.txt`` and ``tgt.txt`` of ``n`` generated pairs."""
    from align_speed import generate

    pairs, s_path, t_path = folder / f"pairs{n}.txt", folder / f"src{n}.txt", folder / f"tgt{n}.txt"
    if pairs.exists():
        return pairs, s_path, t_path
    with open(pairs, "w") as fp, open(s_path, "w") as fs, open(t_path, "w") as ft:
        for block, start in enumerate(range(0, n, 100_000)):
            src, tgt = generate(min(100_000, n - start), seed=block)
            for s, t in zip(src, tgt):
                a, b = " ".join(s), " ".join(t)
                fp.write(f"{a} ||| {b}\n")
                fs.write(a + "\n")
                ft.write(b + "\n")
    return pairs, s_path, t_path


def xlcorpus_align(pairs: Path, out: Path, workers: int, *more: str) -> dict:
    cmd = [str(BIN / "xlcorpus"), "align", "--input", str(pairs), "--output", str(out),
           "--workers", str(workers), *more]
    res = run_tree(cmd, env={"PYTHONPATH": str(ROOT)})
    chunks = [(int(m[1]), int(m[3].replace(",", "")), float(m[4])) for m in CHUNK_LINE.finditer(res["stderr"])]
    res["chunk_seconds"] = [c[2] for c in chunks]
    res["chunk_pairs"] = [c[1] for c in chunks]
    m = PRIORS_LINE.search(res["stderr"])
    res["priors_seconds"] = float(m[2]) if m else 0.0
    return res


def plain_eflomal(src: Path, tgt: Path, folder: Path, threads: int | None = None) -> dict:
    """The plain eflomal CLI (unseeded: its samplers in OpenMP threads; ``threads`` caps them)."""
    for name in ("fwd", "rev"):  # eflomal-align does not overwrite
        (folder / name).unlink(missing_ok=True)
    return run_tree([str(BIN / "eflomal-align"), "-s", str(src), "-t", str(tgt), "-f", str(folder / "fwd"),
                     "-r", str(folder / "rev")], env={"OMP_NUM_THREADS": str(threads)} if threads else None)


def median_run(runs: list[dict]) -> dict:
    """The run of median wall time (the lower of the two middle ones for an even count)."""
    return sorted(runs, key=lambda r: r["seconds"])[(len(runs) - 1) // 2]


def summary(res: dict, n: int) -> dict:
    return {"seconds": res["seconds"], "pairs_per_s": round(n / res["seconds"]), "peak_rss_mb": res["peak_rss_mb"]}


# ------------------------------------------------------------------ parts
def part_consistency(_args) -> dict:
    from align_quality import evaluate, load_gold, load_multi30k

    from xlcorpus.align.chunked import align_lines_file
    from xlcorpus.align.statistical import align_pairs

    gsrc, gtgt, gold = load_gold()
    msrc, mtgt = load_multi30k()
    total = len(gsrc) + len(msrc)
    step = total // len(gsrc)
    order, gold_rows, g, m = [], [], 0, 0
    for i in range(total):  # one gold pair every `step` pairs
        if g < len(gsrc) and i % step == 0:
            order.append((gsrc[g], gtgt[g]))
            gold_rows.append(i)
            g += 1
        else:
            order.append((msrc[m], mtgt[m]))
            m += 1
    out: dict = {"pairs": total, "gold_pairs": len(gsrc), "chunk_pairs": 2000}
    t0 = time.perf_counter()
    res = align_pairs(gsrc, gtgt, extra_src=msrc, extra_tgt=mtgt, seed=0)
    half = len(gold) // 2

    def scored(links: list) -> dict:
        return {**evaluate(gold, links), "held_out_half": evaluate(gold[half:], links[half:])}

    out["unchunked"] = {**scored(res.links), "seconds": round(time.perf_counter() - t0, 1)}
    with tempfile.TemporaryDirectory() as tmp:
        pairs = Path(tmp) / "pairs.txt"
        pairs.write_text("".join(" ".join(s) + " ||| " + " ".join(t) + "\n" for s, t in order), encoding="utf-8")
        for label, sample in (("chunked_whole_corpus_priors", total + 1), ("chunked_per_chunk", 0)):
            t0 = time.perf_counter()
            links_path = Path(tmp) / f"{label}.links"
            align_lines_file(str(pairs), str(links_path), chunk_pairs=2000, priors_sample=sample, workers=2, seed=0)
            lines = links_path.read_text().splitlines()
            links = [[tuple(map(int, x.split("-"))) for x in lines[i].split()] for i in gold_rows]
            out[label] = {**scored(links), "seconds": round(time.perf_counter() - t0, 1)}
    out["aer_gap_points"] = round(out["chunked_whole_corpus_priors"]["aer"] - out["unchunked"]["aer"], 2)
    out["aer_gap_points_held_out_half"] = round(out["chunked_whole_corpus_priors"]["held_out_half"]["aer"]
                                                - out["unchunked"]["held_out_half"]["aer"], 2)
    out["goal_within_0.5"] = abs(out["aer_gap_points"]) <= 0.5
    print(json.dumps(out, indent=1))
    return out


def part_memory(args) -> dict:
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        for n in args.sizes:
            pairs, s, t = write_generated(n, Path(tmp))
            ours = xlcorpus_align(pairs, Path(tmp) / "links", 2, *args.chunk_option)
            plain = plain_eflomal(s, t, Path(tmp))
            out[str(n)] = {"ours_2_workers": summary(ours, n), "plain_eflomal_cli": summary(plain, n)}
            print(n, json.dumps(out[str(n)]))
            for f in (pairs, s, t):
                f.unlink()
    sizes = [str(n) for n in args.sizes]
    if len(sizes) >= 2:
        a, b = out[sizes[-2]]["ours_2_workers"]["peak_rss_mb"], out[sizes[-1]]["ours_2_workers"]["peak_rss_mb"]
        out["peak_ratio_last_two_sizes"] = round(b / a, 2)
    return out


def part_throughput(args) -> dict:
    n = args.throughput_pairs
    with tempfile.TemporaryDirectory() as tmp:
        pairs, s, t = write_generated(n, Path(tmp))
        ones, twos = [], []
        for _ in range(args.repeat):  # alternated: a slow spell of the machine hits both
            ones.append(xlcorpus_align(pairs, Path(tmp) / "l1", 1, *args.chunk_option))
            twos.append(xlcorpus_align(pairs, Path(tmp) / "l2", 2, *args.chunk_option))
        one, two = median_run(ones), median_run(twos)
        same = (Path(tmp) / "l1").read_text() == (Path(tmp) / "l2").read_text()
        plain = plain_eflomal(s, t, Path(tmp), threads=1)
        plain_default = plain_eflomal(s, t, Path(tmp))
    chunk_cost = sorted(one["chunk_seconds"])[len(one["chunk_seconds"]) // 2] if one["chunk_seconds"] else None
    chunk_pairs = max(one["chunk_pairs"]) if one["chunk_pairs"] else n
    priors_s = one["priors_seconds"]
    phase = {k: round(r["seconds"] - r["priors_seconds"], 1) for k, r in (("one", one), ("two", two))}
    out = {"pairs": n, "chunk_pairs": chunk_pairs, "one_worker": summary(one, n), "two_workers": summary(two, n),
           "speedup_2_workers": round(one["seconds"] / two["seconds"], 2),
           "repeats": args.repeat, "seconds_each_run": {"one": [r["seconds"] for r in ones],
                                                        "two": [r["seconds"] for r in twos]},
           "speedup_each_repeat": [round(a["seconds"] / b["seconds"], 2) for a, b in zip(ones, twos)],
           "priors_seconds": {"one": one["priors_seconds"], "two": two["priors_seconds"]},
           "chunk_phase_seconds": phase, "speedup_2_workers_chunk_phase": round(phase["one"] / phase["two"], 2),
           "identical_links_1_vs_2": same,
           "plain_eflomal_cli_one_thread": summary(plain, n),
           "plain_eflomal_cli_default_threads": summary(plain_default, n),
           "ours_1_worker_vs_plain_eflomal_per_core": round(plain["seconds"] / one["seconds"], 2),
           "ours_2_workers_vs_plain_eflomal_default_threads": round(plain_default["seconds"] / two["seconds"], 2),
           "median_chunk_seconds": chunk_cost}
    if chunk_cost:
        chunks = math.ceil(200_000_000 / chunk_pairs)
        out["extrapolation_200M"] = {
            f"{cores}_cores_hours": round((priors_s + math.ceil(chunks / cores) * chunk_cost) / 3600, 1)
            for cores in (16, 64)}
        out["extrapolation_200M"]["model"] = (f"priors cost ({priors_s} s, its sample) + "
                                              f"ceil({chunks} chunks / cores) x median chunk cost ({chunk_cost} s)")
    print(json.dumps(out, indent=1))
    return out


def part_per_core(args) -> dict:
    """Ours with 1 worker against plain eflomal on one thread, on ``--pairs`` pairs: per-core
    speed once the fixed cost of the priors (trained on a sample) is spread over more pairs."""
    n = args.pairs or (30_000 if args.quick else 2_000_000)
    with tempfile.TemporaryDirectory() as tmp:
        pairs, s, t = write_generated(n, Path(tmp))
        one = xlcorpus_align(pairs, Path(tmp) / "l1", 1, *args.chunk_option)
        plain = plain_eflomal(s, t, Path(tmp), threads=1)
    out = {"pairs": n, "ours_1_worker": summary(one, n), "priors_seconds": one["priors_seconds"],
           "chunk_phase_seconds": round(one["seconds"] - one["priors_seconds"], 1),
           "plain_eflomal_cli_one_thread": summary(plain, n),
           "ours_1_worker_vs_plain_eflomal_per_core": round(plain["seconds"] / one["seconds"], 2)}
    print(json.dumps(out, indent=1))
    return out


def part_resume(args) -> dict:
    n = args.resume_pairs
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        _, s, t = write_generated(n, folder)
        base = [str(BIN / "xlcorpus"), "-q", "run", str(ROOT / "pipelines" / "bitext.yaml"), "--workers", "2",
                "--set", f"src={s}", "--set", f"tgt={t}", "--set", "pretokenized=true", "--set", "codeswitch_ratio=0",
                "--set", f"chunk_pairs={max(1000, n // 6)}"]
        env = {"PYTHONPATH": str(ROOT), "XLCORPUS_PROGRESS": "1"}

        def half_done() -> bool:
            for marker in (folder / "a").glob("_align/*/chunks.json"):
                total = json.loads(marker.read_text())["chunks"]
                return len(list(marker.parent.glob("aligned-*.parquet"))) >= total / 2
            return False

        first = run_tree(base + ["--store", str(folder / "a")], env, kill_when=half_done)
        done_before = sorted(int(p.stem.split("-")[1]) for p in (folder / "a").glob("_align/*/aligned-*.parquet"))
        again = run_tree(base + ["--store", str(folder / "a")], env)
        rerun_chunks = sorted(int(m[1]) - 1 for m in CHUNK_LINE.finditer(again["stderr"]))
        whole = run_tree(base + ["--store", str(folder / "b")], env)
        all_chunks = sorted(int(m[1]) - 1 for m in CHUNK_LINE.finditer(whole["stderr"]))
        from xlcorpus.store import Store

        def links(store: str):
            q = "SELECT pair_id, id, alignment, forward, reverse FROM bitext_aligned ORDER BY pair_id"
            return Store(folder / store).sql(q).to_pylist()

        same = links("a") == links("b")
    out = {"pairs": n, "killed": first["killed"], "chunks": len(all_chunks), "done_before_kill": len(done_before),
           "rerun_aligned": len(rerun_chunks),
           "rerun_only_missing": rerun_chunks == sorted(set(all_chunks) - set(done_before)),
           "identical_links_to_uninterrupted": same, "seconds_killed_run": first["seconds"],
           "seconds_rerun": again["seconds"], "seconds_uninterrupted": whole["seconds"],
           "peak_rss_mb_uninterrupted_pipeline": whole["peak_rss_mb"]}
    print(json.dumps(out, indent=1))
    return out


PARTS = {"consistency": part_consistency, "throughput": part_throughput, "resume": part_resume,
         "per-core": part_per_core,
         "memory": part_memory}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--part", choices=[*PARTS, "all"], default="all")
    ap.add_argument("--quick", action="store_true", help="small sizes: a check of the script")
    ap.add_argument("--sizes", help="memory part: comma-separated pair counts (default 100000,300000,1000000)")
    ap.add_argument("--pairs", type=int,
                    help="throughput, resume and per-core parts: pairs (default 100000 / 300000 / 2000000)")
    ap.add_argument("--chunk-pairs", type=int, help="memory and throughput parts: chunk size (default: the CLI's)")
    ap.add_argument("--repeat", type=int, default=1,
                    help="throughput part: runs of each of 1 and 2 workers, alternated (the median is reported)")
    args = ap.parse_args()
    args.sizes = [int(x) for x in (args.sizes or ("20000,60000" if args.quick else "100000,300000,1000000")).split(",")]
    args.throughput_pairs = args.pairs or (30_000 if args.quick else 100_000)
    args.resume_pairs = args.pairs or (30_000 if args.quick else 300_000)
    args.chunk_option = ["--chunk-pairs", str(args.chunk_pairs or 10_000)] if args.quick or args.chunk_pairs else []
    for name, fn in PARTS.items():
        if args.part not in (name, "all"):
            continue
        before = print_load(f"before {name}")
        got = fn(args)
        results = json.loads(OUT.read_text()) if OUT.exists() else {}  # parts may run at once
        key = f"{name}_{args.pairs}" if args.pairs and name in ("throughput", "per-core") else name
        results[key] = {**got, "load_before": before, "load_after": print_load(f"after {name}"),
                        "quick": args.quick}
        write_results("align_scale", results)


if __name__ == "__main__":
    main()
