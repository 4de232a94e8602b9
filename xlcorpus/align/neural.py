"""SimAlign-style word alignment from a multilingual encoder, batched (Jalili Sabet et al. 2020).

Same algorithm and defaults as the ``simalign`` package (its ``SentenceAligner`` with
``token_type="bpe"``, ``distortion=0``): subword embeddings from hidden layer ``layer``
(8 by default; 0 is the embedding layer), cosine similarity mapped to ``(cos + 1) / 2``,
subword links from

- ``argmax`` (simalign ``inter``): mutual argmax of rows and columns;
- ``itermax``: argmax, then one more round of mutual argmax over the similarity matrix
  damped (x0.9) on rows/columns already aligned;
- ``match`` (simalign ``mwmf``): maximum-weight bipartite matching (Hungarian algorithm;
  equals networkx's max-cardinality max-weight matching on these complete graphs),

mapped to words (a word pair is linked when any of their subwords are). Unlike simalign,
each distinct sentence is encoded once, in length-sorted batches whose padding stays under
10% of their tokens (none for sentences of equal length, which then need no attention mask),
through only the layers up to ``layer``, under
``torch.inference_mode``; similarity, argmax and itermax run as batched tensor operations
on the device, the matching with scipy's Hungarian solver. ``device="auto"`` uses CUDA when
available.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

METHODS = ("argmax", "itermax", "match")
SIMALIGN_NAMES = {"argmax": "inter", "itermax": "itermax", "match": "mwmf"}

Link = tuple[int, int]


def resolve_device(device: str = "auto") -> str:
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return device


@dataclass
class _Encoded:
    """Subword vectors of a batch of sentences plus each subword's word index."""

    vectors: "torch.Tensor"      # (n_sent, max_subwords, dim), padding rows are zero
    word_ids: np.ndarray         # (n_sent, max_subwords), -1 for padding
    lengths: np.ndarray          # subwords per sentence


class NeuralAligner:
    """Batched SimAlign. ``model``: a local encoder folder (see
    :func:`xlcorpus.models.resolve_encoder`; ``minilm`` for the packaged all-MiniLM-L6-v2)
    or a hub id. ``threads`` sets torch's CPU threads (None: torch's default)."""

    def __init__(self, model: str, layer: int = 8, device: str = "auto", batch_size: int = 64,
                 max_length: int | None = None, threads: int | None = None):
        import torch
        from transformers import AutoConfig, AutoModel, AutoTokenizer

        if threads:
            torch.set_num_threads(threads)
        if str(model) == "minilm" or Path(str(model)).is_dir():
            from ..models import resolve_encoder

            model = resolve_encoder(model)
        self.device = torch.device(resolve_device(device))
        config = AutoConfig.from_pretrained(model)
        n_layers = getattr(config, "num_hidden_layers", None)
        if n_layers is not None and layer > n_layers:
            raise ValueError(f"layer {layer} requested but {model} has {n_layers} hidden layers "
                             f"(layers 0..{n_layers})")
        self.encoder = AutoModel.from_pretrained(model, config=config).eval().to(self.device)
        self.tokenizer = AutoTokenizer.from_pretrained(model)
        self.layer = layer
        self.batch_size = batch_size
        self.pairs_per_batch = 4          # pairs aligned together = 4 x batch_size
        self.chunk_pairs = 16384          # pairs whose sentences are encoded together
        self.pad_share = 0.1              # most padding allowed in an encoder batch
        _drop_layers_above(self.encoder, layer)
        if getattr(self.encoder, "pooler", None) is not None:
            self.encoder.pooler = None    # the pooled output is never used
        self.max_length = max_length or getattr(self.tokenizer, "model_max_length", 512)
        if not isinstance(self.max_length, int) or self.max_length > 100_000:
            self.max_length = 512
        self.model_name = str(model)

    # ------------------------------------------------------------ encoding
    def _subwords(self, sents: Sequence[Sequence[str]]) -> list[tuple[list[int], np.ndarray]]:
        """Per sentence: input ids (with special tokens) and each one's word index (-1 for
        special tokens), no padding."""
        enc = self.tokenizer([list(s) for s in sents], is_split_into_words=True, truncation=True,
                             max_length=self.max_length)
        out = []
        for i, s in enumerate(sents):
            ids = enc["input_ids"][i]
            if getattr(self.tokenizer, "is_fast", False):
                words = np.array([-1 if w is None else w for w in enc.word_ids(i)], dtype=np.int64)
            else:
                words = np.full(len(ids), -1, dtype=np.int64)
                pos = 1
                for w, word in enumerate(s):
                    for _ in self.tokenizer.tokenize(word):
                        if pos < len(ids) - 1:
                            words[pos] = w
                        pos += 1
            out.append((ids, words))
        return out

    def _forward(self, ids: list[list[int]]):
        """Hidden states of layer ``layer``; sentences of unequal length are right-padded and
        masked (the batches hold neighbouring lengths, so there is little padding)."""
        import torch

        width = max(map(len, ids))
        pad = self.tokenizer.pad_token_id or 0
        x = torch.as_tensor([i + [pad] * (width - len(i)) for i in ids], device=self.device)
        kwargs = {}
        if any(len(i) != width for i in ids):
            kwargs["attention_mask"] = torch.as_tensor([[1] * len(i) + [0] * (width - len(i)) for i in ids],
                                                       device=self.device)
        if self.layer == 0:
            return self.encoder(input_ids=x, output_hidden_states=True, **kwargs).hidden_states[0]
        return self.encoder(input_ids=x, **kwargs).last_hidden_state

    def _length_batches(self, lengths: list[int]) -> Iterator[list[int]]:
        """Indices sorted by length, cut into batches of at most ``batch_size`` whose padding
        stays within ``pad_share`` of their tokens (same-length batches have none)."""
        order = sorted(range(len(lengths)), key=lambda k: lengths[k])
        batch: list[int] = []
        for k in order:
            longest = lengths[k]
            if batch and (len(batch) >= self.batch_size
                          or (len(batch) + 1) * longest - sum(lengths[j] for j in batch) - longest
                          > self.pad_share * (len(batch) + 1) * longest):
                yield batch
                batch = []
            batch.append(k)
        if batch:
            yield batch

    def encode_each(self, sents: Sequence[Sequence[str]]) -> list[tuple["torch.Tensor", np.ndarray]]:
        """Per sentence: its subword vectors (special tokens removed) and their word indices.

        Each distinct sentence is encoded once, in batches of up to ``batch_size`` sentences of
        neighbouring subword lengths (:meth:`_length_batches`)."""
        import torch

        distinct: dict[tuple[str, ...], int] = {}
        keys = [distinct.setdefault(tuple(s), len(distinct)) for s in sents]
        subwords = self._subwords([list(k) for k in distinct])
        vectors: list = [None] * len(subwords)
        with torch.inference_mode():
            for chunk in self._length_batches([len(ids) for ids, _ in subwords]):
                out = self._forward([subwords[k][0] for k in chunk])
                for row, k in enumerate(chunk):
                    keep = np.flatnonzero(subwords[k][1] >= 0)
                    vectors[k] = (out[row, torch.as_tensor(keep, device=self.device)], subwords[k][1][keep])
        return [vectors[k] for k in keys]

    def encode(self, sents: Sequence[Sequence[str]]) -> _Encoded:
        """Subword vectors (special tokens removed) of ``sents``, padded together."""
        return _pad(self.encode_each(sents), self.device)

    # ------------------------------------------------------------ aligning
    def align(self, src: Sequence[Sequence[str]], tgt: Sequence[Sequence[str]],
              methods: Sequence[str] = ("itermax",)) -> dict[str, list[list[Link]]]:
        """Word links ``{method: [links of pair i]}`` for tokenized pairs."""
        return {m: links for m, (links, _) in self.align_scored(src, tgt, methods).items()}

    def align_scored(self, src: Sequence[Sequence[str]], tgt: Sequence[Sequence[str]],
                     methods: Sequence[str] = ("itermax",)
                     ) -> dict[str, tuple[list[list[Link]], list[list[float]]]]:
        """Like :meth:`align`, plus per link the best subword similarity ``(cos + 1) / 2``."""
        import torch

        bad = [m for m in methods if m not in METHODS]
        if bad:
            raise ValueError(f"unknown neural alignment method(s) {bad} (known: {list(METHODS)})")
        if len(src) != len(tgt):
            raise ValueError(f"{len(src)} source sentences but {len(tgt)} target sentences")
        out = {m: ([[] for _ in src], [[] for _ in src]) for m in methods}
        for first in range(0, len(src), self.chunk_pairs):
            part = range(first, min(len(src), first + self.chunk_pairs))
            vecs = self.encode_each([src[i] for i in part] + [tgt[i] for i in part])
            n = len(part)
            with torch.inference_mode():
                for idx in self._batches(vecs[:n], vecs[n:]):
                    res = self._align_batch([src[first + i] for i in idx], [tgt[first + i] for i in idx],
                                            _pad([vecs[i] for i in idx] + [vecs[n + i] for i in idx],
                                                 self.device), methods)
                    for m in methods:
                        for k, i in enumerate(idx):
                            out[m][0][first + i], out[m][1][first + i] = res[m][0][k], res[m][1][k]
        return out

    def _batches(self, src_vecs, tgt_vecs) -> Iterator[list[int]]:
        """Pair indices in batches of similar subword lengths (less padding)."""
        order = sorted(range(len(src_vecs)), key=lambda i: (len(src_vecs[i][1]), len(tgt_vecs[i][1])))
        step = self.batch_size * self.pairs_per_batch
        for start in range(0, len(order), step):
            yield order[start:start + step]

    def _align_batch(self, src, tgt, both: _Encoded, methods) -> dict[str, list[list[Link]]]:
        import torch

        empty = [not s or not t for s, t in zip(src, tgt)]
        n = len(src)
        xs, ys = both.vectors[:n], both.vectors[n:]
        sim = similarity(xs, ys)                                 # (B, M, N)
        ls = torch.as_tensor(both.lengths[:n], device=sim.device)
        lt = torch.as_tensor(both.lengths[n:], device=sim.device)
        valid = (torch.arange(sim.shape[1], device=sim.device)[None, :, None] < ls[:, None, None]) \
            & (torch.arange(sim.shape[2], device=sim.device)[None, None, :] < lt[:, None, None])
        sim = torch.where(valid, sim, torch.full_like(sim, -1.0))
        mats = {}
        if "argmax" in methods or "itermax" in methods:
            inter = mutual_argmax(sim) & valid
            if "argmax" in methods:
                mats["argmax"] = inter
            if "itermax" in methods:
                mats["itermax"] = iter_max(sim, inter, valid, ls, lt)
        if "match" in methods:
            mats["match"] = max_weight_match(sim, both.lengths[:n], both.lengths[n:])
        sw, tw = both.word_ids[:n], both.word_ids[n:]
        out = {}
        for m, mat in mats.items():
            links, scores = _to_words(mat, sw, tw, sim)
            out[m] = ([[] if empty[k] else x for k, x in enumerate(links)],
                      [[] if empty[k] else x for k, x in enumerate(scores)])
        return out


def _pad(parts: list, device) -> _Encoded:
    """Stack per-sentence subword vectors into one zero-padded tensor."""
    import torch

    lengths = np.array([len(w) for _, w in parts], dtype=np.int64)
    width = max(1, int(lengths.max()) if len(lengths) else 1)
    dim = parts[0][0].shape[-1] if parts else 1
    dtype = parts[0][0].dtype if parts else torch.float32
    vec = torch.zeros((len(parts), width, dim), dtype=dtype, device=device)
    ids = np.full((len(parts), width), -1, dtype=np.int64)
    for i, (v, w) in enumerate(parts):
        vec[i, : len(w)] = v
        ids[i, : len(w)] = w
    return _Encoded(vec, ids, lengths)


def _drop_layers_above(model, layer: int) -> None:
    """Layers above ``layer`` do not change ``hidden_states[layer]``: skip computing them."""
    stack = getattr(getattr(model, "encoder", None), "layer", None)
    if stack is not None and hasattr(stack, "__getitem__") and 0 < layer < len(stack):
        model.encoder.layer = stack[:layer]


def similarity(xs, ys):
    """Batched ``(cos + 1) / 2`` between every source and target subword vector."""
    import torch

    xn = xs / xs.norm(dim=-1, keepdim=True).clamp_min(1e-12)
    yn = ys / ys.norm(dim=-1, keepdim=True).clamp_min(1e-12)
    return (torch.bmm(xn, yn.transpose(1, 2)) + 1.0) / 2.0


def _one_hot_argmax(x, dim: int):
    import torch

    idx = x.argmax(dim=dim, keepdim=True)
    return torch.zeros_like(x, dtype=torch.bool).scatter_(dim, idx, True)


def mutual_argmax(sim):
    """Cells that are the maximum of their row and of their column (first max on ties)."""
    return _one_hot_argmax(sim, 2) & _one_hot_argmax(sim, 1)


def iter_max(sim, inter, valid, ls, lt, alpha: float = 0.9):
    """simalign's ``iter_max`` with ``max_count=2``: one extra round of mutual argmax over
    the similarity damped on already aligned rows/columns (pairs with a side of <= 2 subwords
    keep the plain argmax result)."""
    import torch

    inter_f = inter.to(sim.dtype)
    mask_x = 1.0 - inter_f.sum(2, keepdim=True).clamp(0.0, 1.0)       # (B, M, 1)
    mask_y = 1.0 - inter_f.sum(1, keepdim=True).clamp(0.0, 1.0)       # (B, 1, N)
    vx = valid.any(2, keepdim=True)
    vy = valid.any(1, keepdim=True)
    mask_x = torch.where(vx, mask_x, torch.zeros_like(mask_x))
    mask_y = torch.where(vy, mask_y, torch.zeros_like(mask_y))
    mask = (alpha * mask_x + alpha * mask_y).clamp(0.0, 1.0)
    mask_zeros = 1.0 - (1.0 - mask_x) * (1.0 - mask_y)
    stop = (mask_x.sum((1, 2)) < 1.0) | (mask_y.sum((1, 2)) < 1.0)   # nothing left to align
    # padding never wins: real cells are >= 0 after masking, padding is pushed below
    new_sim = torch.where(valid, sim * mask, torch.full_like(sim, -1.0))
    fwd = _one_hot_argmax(new_sim, 2) & (mask_zeros > 0)
    bac = _one_hot_argmax(new_sim, 1) & (mask_zeros > 0)
    new = fwd & bac & valid & ~stop[:, None, None]
    small = (torch.minimum(ls, lt) <= 2)[:, None, None]
    return inter | (new & ~small)


def max_weight_match(sim, ls: np.ndarray, lt: np.ndarray):
    """Maximum-weight bipartite matching per pair (Hungarian algorithm on the CPU)."""
    import torch
    from scipy.optimize import linear_sum_assignment

    host = sim.detach().to("cpu", torch.float64).numpy()
    out = np.zeros(host.shape, dtype=bool)
    for b in range(host.shape[0]):
        m, n = int(ls[b]), int(lt[b])
        if m and n:
            rows, cols = linear_sum_assignment(host[b, :m, :n], maximize=True)
            out[b, rows, cols] = True
    return torch.as_tensor(out)


def _to_words(mat, src_ids: np.ndarray, tgt_ids: np.ndarray, sim
              ) -> tuple[list[list[Link]], list[list[float]]]:
    """Subword link matrices (B, M, N) -> sorted word links per pair, with the best
    similarity of the subword links behind each word link."""
    b, i, j = (x.cpu().numpy() for x in mat.to(sim.device).nonzero(as_tuple=True))
    values = sim[b, i, j].float().cpu().numpy() if len(b) else np.zeros(0)
    ws, wt = src_ids[b, i], tgt_ids[b, j]
    links: list[list[Link]] = [[] for _ in range(mat.shape[0])]
    scores: list[list[float]] = [[] for _ in range(mat.shape[0])]
    if len(b):
        keys = np.stack([b, ws, wt], 1)
        order = np.lexsort((-values, wt, ws, b))            # per word pair, best first
        keys, values = keys[order], values[order]
        first = np.ones(len(keys), dtype=bool)
        first[1:] = (keys[1:] != keys[:-1]).any(1)
        for (bb, s, t), v in zip(keys[first].tolist(), values[first].tolist()):
            links[bb].append((s, t))
            scores[bb].append(round(v, 4))
    return links, scores
