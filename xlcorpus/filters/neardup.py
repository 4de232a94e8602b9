"""Near-duplicate filter: MinHash LSH over the whole input table finds candidates, an exact edit
similarity decides; deterministic.

Each row's text (``src`` and ``tgt`` lower-cased, punctuation and symbols removed, spaces
collapsed, joined by `` | ``) is compared only with rows of the same language pair. Rows are
taken in ``id`` order (so the result does not depend on how the table's files are laid out);
rows with the same normalised text are exact duplicates of the first one. The others become
sets of character ``shingle``-grams with ``num_perm`` MinHash values (multiply-shift hashing of
32-bit shingle hashes, seeded), split into ``bands`` bands (LSH): rows sharing a band are
candidates. Every candidate pair gets its exact similarity, ``1 - indel distance / (len a +
len b)`` (rapidfuzz's ``Indel.normalized_similarity``, the ratio of difflib and fuzzywuzzy):
one changed character in a 60-character pair scores about 0.98, one dropped word about 0.95,
where shingle Jaccard would give 0.8. A row's score is its largest similarity to a row
*earlier in id order* (0 when no candidate was found); it is dropped when that reaches
``threshold``. All of it runs once, in the driver, as array operations over the whole table;
workers only look the scores up by id.

With the defaults (64 values in 16 bands of 4) a pair whose shingle Jaccard is 0.6 is a
candidate with probability 0.88, 0.7 with 0.988 and 0.8 with 0.99999; `filter_bench.py`
measures which edit similarities that covers (re-thresholding the stored scores in SQL sees
the candidates only).
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, ClassVar

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..engine.core import TableSource
from ..params import Ge, Gt, Help, Ratio
from .base import Filter, reason_where

def normalise(texts: pa.Array) -> pa.Array:
    """Lower case, punctuation and symbols removed, whitespace collapsed and stripped."""
    t = pc.utf8_lower(texts)
    t = pc.replace_substring_regex(t, r"[\pP\pS]+", " ")
    t = pc.replace_substring_regex(t, r"\s+", " ")
    return pc.utf8_trim_whitespace(t)


def shingle_hashes(texts: list[str], k: int) -> tuple[np.ndarray, np.ndarray]:
    """32-bit hashes of every character k-gram of every text (a text shorter than k is one
    shingle) and the start offset of each text's run in that array (one rolling
    polynomial hash over all texts at once, then a 64-bit mix)."""
    lens = np.fromiter((len(t) for t in texts), np.int64, len(texts))
    codes = np.frombuffer("".join(texts).encode("utf-32-le"), dtype=np.uint32).astype(np.uint64)
    starts = np.concatenate([[0], np.cumsum(lens)[:-1]]) if len(texts) else np.zeros(0, np.int64)
    n_grams = np.maximum(lens - k + 1, np.minimum(lens, 1))  # short texts: one shingle, empty: none
    total = int(n_grams.sum())
    if total == 0:
        return np.zeros(0, np.uint32), np.zeros(len(texts), np.int64)
    first = np.concatenate([[0], np.cumsum(n_grams)[:-1]])
    pos = np.arange(total) + np.repeat(starts - first, n_grams)  # where each shingle starts
    short = np.nonzero((lens < k) & (lens > 0))[0]  # shorter than k: one shingle, the whole text
    short_pos, short_len = first[short], lens[short]
    h = np.zeros(total, np.uint64)
    padded = np.concatenate([codes + np.uint64(1), np.zeros(k, np.uint64)])
    with np.errstate(over="ignore"):
        for j in range(k):
            c = padded[j:][pos]
            if len(short):
                gone = short_len <= j
                c[short_pos[gone]] = 0
            h *= np.uint64(1_000_003)
            h += c
        h ^= h >> np.uint64(33)  # murmur3 finaliser
        h *= np.uint64(0xFF51AFD7ED558CCD)
        h ^= h >> np.uint64(33)
    return (h & np.uint64(0xFFFFFFFF)).astype(np.uint32), first


def signatures(hashes: np.ndarray, first: np.ndarray, num_perm: int, seed: int) -> np.ndarray:
    """MinHash values, one row per text: min over its shingles of ((a*x + b) mod 2^64) >> 32."""
    rng = np.random.RandomState(seed)
    a = rng.randint(1, 2**62, num_perm, dtype=np.int64).astype(np.uint64) | np.uint64(1)
    b = rng.randint(0, 2**62, num_perm, dtype=np.int64).astype(np.uint64)
    x = hashes.astype(np.uint64)
    out = np.empty((len(first), num_perm), np.uint32)
    buf = np.empty_like(x)
    shift = np.uint64(32)
    with np.errstate(over="ignore"):
        for p in range(num_perm):  # in place: one buffer for every permutation
            np.multiply(x, a[p], out=buf)
            np.add(buf, b[p], out=buf)
            np.right_shift(buf, shift, out=buf)
            out[:, p] = np.minimum.reduceat(buf, first) if len(buf) else 0
    return out


def candidate_pairs(sig: np.ndarray, bands: int, cap: int = 50) -> np.ndarray:
    """(later, earlier) row pairs that share at least one LSH band (rows are in id order);
    each row is paired with at most ``cap`` earlier rows of a bucket."""
    n, num_perm = sig.shape
    r = num_perm // bands
    pairs = []
    for band in range(bands):
        key = np.zeros(n, np.uint64)
        with np.errstate(over="ignore"):
            for j in range(band * r, (band + 1) * r):  # a 64-bit hash of the band's values
                key = key * np.uint64(0x9E3779B97F4A7C15) + sig[:, j].astype(np.uint64)
        order = np.argsort(key, kind="stable")
        sk = key[order]
        same = np.concatenate([[False], sk[1:] == sk[:-1]])
        group_start = np.maximum.accumulate(np.where(~same, np.arange(n), 0))
        for lag in range(1, cap + 1):
            ok = same & (np.arange(n) - lag >= group_start)
            if not ok.any():
                break
            idx = np.nonzero(ok)[0]
            a, b = order[idx], order[idx - lag]
            pairs.append(np.stack([np.maximum(a, b), np.minimum(a, b)], axis=1))
    if not pairs:
        return np.zeros((0, 2), np.int64)
    return np.unique(np.concatenate(pairs), axis=0)


def near_duplicate_scores(ids: list[str], texts: list[str], groups: list[str] | None = None, shingle: int = 5,
                          num_perm: int = 64, bands: int = 16, seed: int = 1) -> tuple[list[float], list[str | None]]:
    """For every row: the largest edit similarity to an earlier row (in id order) of the same
    group among its LSH candidates, and that row's id (0 and None when there is none)."""
    from rapidfuzz.distance import Indel
    from rapidfuzz.process import cpdist

    groups = groups if groups is not None else [""] * len(ids)
    order = sorted(range(len(ids)), key=ids.__getitem__)
    ids_s = [ids[i] for i in order]
    score = np.zeros(len(ids_s))
    best = np.full(len(ids_s), -1, np.int64)
    first_of: dict[tuple[str, str], int] = {}
    unique_rows = []
    for pos, i in enumerate(order):  # exact duplicates of the normalised text, per group
        j = first_of.setdefault((groups[i], texts[i]), pos)
        if j != pos:
            score[pos], best[pos] = 1.0, j
        else:
            unique_rows.append(pos)
    uniq = np.array(unique_rows, np.int64)
    texts_u = [texts[order[p]] for p in uniq]
    hashes, first = shingle_hashes(texts_u, shingle)
    if len(uniq) > 1 and len(hashes):
        pairs = candidate_pairs(signatures(hashes, first, num_perm, seed), bands)
        group_u = np.array([groups[order[p]] for p in uniq], dtype=object)
        pairs = pairs[group_u[pairs[:, 0]] == group_u[pairs[:, 1]]] if len(pairs) else pairs
        if len(pairs):
            sim = cpdist([texts_u[i] for i in pairs[:, 0]], [texts_u[i] for i in pairs[:, 1]],
                         scorer=Indel.normalized_similarity, dtype=np.float64, workers=1)
            rows = uniq[pairs[:, 0]]
            ranked = np.lexsort((pairs[:, 1], -sim, rows))  # per later row: best, then earliest
            top = ranked[np.concatenate([[True], rows[ranked][1:] != rows[ranked][:-1]])]
            score[rows[top]] = sim[top]
            best[rows[top]] = uniq[pairs[top, 1]]
    out_score = [0.0] * len(ids)
    out_of: list[str | None] = [None] * len(ids)
    for pos, i in enumerate(order):
        out_score[i] = float(score[pos])
        out_of[i] = ids_s[best[pos]] if best[pos] >= 0 else None
    return out_score, out_of


@dataclass
class NearDuplicate(Filter):
    """Largest similarity to an earlier row of the table (``near_duplicate``) < threshold;
    ``near_duplicate_of`` names that row."""

    name: ClassVar[str] = "near_duplicate"
    needs: ClassVar[tuple[str, ...]] = ("id", "src_lang", "tgt_lang", "src", "tgt")
    threshold: Annotated[Ratio, Help("edit similarity (1 - indel distance / total length) to an earlier row "
                                     "of the same language pair at which a row is a near-duplicate")] = 0.9
    shingle: Annotated[int, Gt(0), Help("characters per shingle (candidate search)")] = 5
    num_perm: Annotated[int, Ge(8), Help("MinHash values per row")] = 64
    bands: Annotated[int, Gt(0), Help("LSH bands (num_perm must be a multiple)")] = 16
    seed: Annotated[int, Ge(0), Help("seed of the MinHash permutations")] = 1

    def __post_init__(self) -> None:
        from ..errors import MissingDependency, PipelineError

        if self.num_perm % self.bands:
            raise PipelineError(f"near_duplicate: num_perm {self.num_perm} is not a multiple of bands {self.bands}")
        import importlib.util

        if importlib.util.find_spec("rapidfuzz") is None:
            raise MissingDependency("the near_duplicate filter needs rapidfuzz: pip install 'xlcorpus[filters]'")

    def columns(self):
        return {self.key: pa.float64(), f"{self.key}_of": pa.string()}

    def prepare(self, workdir, source: TableSource):
        import pyarrow.feather as feather

        store = source.store.open() if hasattr(source.store, "open") else source.store
        t = store.to_arrow(source.table, columns=["id", "src_lang", "tgt_lang", "src", "tgt"])
        text = pc.binary_join_element_wise(normalise(t["src"]), normalise(t["tgt"]), " | ")
        pair = pc.binary_join_element_wise(t["src_lang"], t["tgt_lang"], "-")
        score, of = near_duplicate_scores(t["id"].to_pylist(), text.to_pylist(), pair.to_pylist(), self.shingle,
                                          self.num_perm, self.bands, self.seed)
        self.path = str(Path(workdir) / f"neardup-{self.key}-{zlib.crc32(self.key.encode())}.arrow")
        feather.write_feather(pa.table({"id": t["id"], "score": pa.array(score, pa.float64()),
                                        "of": pa.array(of, pa.string())}), self.path)

    def setup(self):
        import pyarrow.feather as feather

        t = feather.read_table(self.path)
        self._found = dict(zip(t["id"].to_pylist(), zip(t["score"].to_pylist(), t["of"].to_pylist())))

    def score(self, batch):
        got = [self._found.get(i, (None, None)) for i in batch.column("id").to_pylist()]
        return {self.key: pa.array([g[0] for g in got], pa.float64()),
                f"{self.key}_of": pa.array([g[1] for g in got], pa.string())}

    def accept(self, scores):
        return reason_where(pc.greater_equal(scores[self.key], self.threshold), "similar")
