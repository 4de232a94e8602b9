#!/usr/bin/env bash
# GPU check, one short run on a machine with a CUDA GPU (after scripts/setup.sh):
#   1. the neural aligner on the real all-MiniLM-L6-v2 encoder (layer 6; ArgMax, IterMax,
#      Match) over the Hansards en-fr pairs, batch sizes 1..256: pairs/s, peak GPU memory,
#      links identical to the CPU links (per method);
#   2. the NMT scorer (T-Projection's translation-probability score) on a seq2seq model of
#      realistic size built here (Marian-like: 6+6 layers, d_model 512, FFN 2048, 8 heads,
#      word vocabulary of the data, random weights: speed and memory only), batch sizes
#      1..256: pairs/s, peak GPU memory, largest difference from the CPU scores.
# Prints one JSON object per line and writes benchmarks/results/gpu_check.json.
#   bash benchmarks/gpu_check.sh                 # needs CUDA
#   GPU_CHECK_DEVICE=cpu GPU_CHECK_PAIRS=16 GPU_CHECK_BATCHES="1 8" bash benchmarks/gpu_check.sh  # smoke test
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-.venv/bin/python}"
PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" "$PY" - <<'EOF'
import json, os, sys, tempfile, time
from pathlib import Path

import torch

sys.path.insert(0, "benchmarks")
from _results import write_results  # noqa: E402
from xlcorpus.align.neural import NeuralAligner  # noqa: E402
from xlcorpus.project.scorers import NMTScorer  # noqa: E402

device = os.environ.get("GPU_CHECK_DEVICE", "cuda")
if device.startswith("cuda") and not torch.cuda.is_available():
    sys.exit("gpu_check: no CUDA device here (GPU_CHECK_DEVICE=cpu runs a smoke test)")
n_pairs = int(os.environ.get("GPU_CHECK_PAIRS", "447"))
batches = [int(b) for b in os.environ.get("GPU_CHECK_BATCHES", "1 2 4 8 16 32 64 128 256").split()]
data = Path(os.environ.get("XLCORPUS_SHARED", "../shared/data")) / "wordalign" / "enfr.src-tgt"
lines = data.read_text(encoding="utf-8").splitlines()[:n_pairs]
src = [l.split("|||")[0].split() for l in lines]
tgt = [l.split("|||")[1].split() for l in lines]
cuda = device.startswith("cuda")
out = {"device": torch.cuda.get_device_name() if cuda else "cpu", "pairs": len(src), "aligner": [], "nmt": []}


def sync():
    if cuda:
        torch.cuda.synchronize()


def peak_mb():
    return round(torch.cuda.max_memory_allocated() / 2**20, 1) if cuda else None


methods = ("argmax", "itermax", "match")
cpu_links = NeuralAligner("minilm", layer=6, device="cpu", batch_size=64).align(src, tgt, methods)
for bs in batches:
    al = NeuralAligner("minilm", layer=6, device=device, batch_size=bs)
    al.align(src[:bs], tgt[:bs], methods)                       # warm-up
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    sync(); t0 = time.perf_counter()
    got = al.align(src, tgt, methods)
    sync(); secs = time.perf_counter() - t0
    row = {"part": "aligner", "batch_size": bs, "pairs_per_s": round(len(src) / secs, 1), "peak_gpu_mb": peak_mb(),
           "identical_to_cpu": {m: sum(a == b for a, b in zip(got[m], cpu_links[m])) == len(src) for m in methods},
           "identical_pairs": {m: sum(a == b for a, b in zip(got[m], cpu_links[m])) for m in methods}}
    print(json.dumps(row), flush=True)
    out["aligner"].append(row)
    del al

# a Marian-sized seq2seq model (random weights) with a word-level tokenizer over the data
import transformers  # noqa: E402
from tokenizers import Tokenizer, models, pre_tokenizers, processors  # noqa: E402

words = sorted({w.lower() for s in src + tgt for w in s})
vocab = {w: i for i, w in enumerate(["<pad>", "</s>", "<unk>", *words])}
tok = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
tok.post_processor = processors.TemplateProcessing(single="$A </s>", special_tokens=[("</s>", 1)])
fast = transformers.PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>", eos_token="</s>",
                                            unk_token="<unk>")
torch.manual_seed(0)
cfg = transformers.MarianConfig(vocab_size=len(vocab), d_model=512, encoder_layers=6, decoder_layers=6,
                                encoder_attention_heads=8, decoder_attention_heads=8, encoder_ffn_dim=2048,
                                decoder_ffn_dim=2048, pad_token_id=0, eos_token_id=1, decoder_start_token_id=0,
                                max_position_embeddings=512)
with tempfile.TemporaryDirectory() as tmp:
    transformers.MarianMTModel(cfg).save_pretrained(tmp)
    fast.save_pretrained(tmp)
    n_params = sum(p.numel() for p in transformers.MarianMTModel(cfg).parameters())
    sources = [" ".join(s).lower() for s in src]
    cands = [" ".join(t[: max(1, len(t) // 3)]).lower() for t in tgt]   # span-sized candidates
    ref = NMTScorer(tmp, device="cpu", batch_size=64).score_pairs(sources, cands)
    for bs in batches:
        sc = NMTScorer(tmp, device=device, batch_size=bs)
        sc.score_pairs(sources[:bs], cands[:bs])                 # warm-up
        if cuda:
            torch.cuda.reset_peak_memory_stats()
        sync(); t0 = time.perf_counter()
        got = sc.score_pairs(sources, cands)
        sync(); secs = time.perf_counter() - t0
        row = {"part": "nmt", "batch_size": bs, "model_params_m": round(n_params / 1e6, 1),
               "pairs_per_s": round(len(sources) / secs, 1), "peak_gpu_mb": peak_mb(),
               "max_rel_diff_vs_cpu": max(abs(a - b) / max(abs(b), 1e-9) for a, b in zip(got, ref))}
        print(json.dumps(row), flush=True)
        out["nmt"].append(row)
        del sc
if cuda:
    print("results ->", write_results("gpu_check", out))
EOF
