"""Lexical translation table from word alignments: ``(src, tgt, count, p(t|s), p(s|t))``.

Counts every link of every pair once; ``p(t|s) = count(s, t) / links(s)`` and
``p(s|t) = count(s, t) / links(t)``. This is the resource vocabulary-transfer methods
(e.g. initialising target embeddings from aligned source words) start from.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence

import pyarrow as pa

from ..ids import stable_id
from ..schema import contract

Link = tuple[int, int]


def count_links(pairs: Iterable[tuple[Sequence[str], Sequence[str], Iterable[Link]]],
                lowercase: bool = True) -> Counter:
    """``(src_word, tgt_word) -> links`` over ``(src_tokens, tgt_tokens, links)`` triples."""
    counts: Counter = Counter()
    for src, tgt, links in pairs:
        for s, t in links:
            a, b = src[s], tgt[t]
            counts[(a.lower(), b.lower()) if lowercase else (a, b)] += 1
    return counts


def lexical_rows(counts: Counter, src_lang: str, tgt_lang: str, min_count: int = 1) -> list[dict]:
    """Rows of the ``lexical_table`` contract, most frequent first."""
    by_src: Counter = Counter()
    by_tgt: Counter = Counter()
    for (s, t), c in counts.items():
        by_src[s] += c
        by_tgt[t] += c
    rows = []
    for (s, t), c in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])):
        if c < min_count:
            continue
        rows.append({"id": stable_id(src_lang, tgt_lang, s, t), "src_lang": src_lang,
                     "tgt_lang": tgt_lang, "src": s, "tgt": t, "count": c,
                     "p_tgt_given_src": c / by_src[s], "p_src_given_tgt": c / by_tgt[t]})
    return rows


def lexical_table(aligned: pa.Table | pa.RecordBatch, min_count: int = 1,
                  lowercase: bool = True) -> pa.Table:
    """``lexical_table`` rows from a ``bitext_aligned`` table (one group per language pair)."""
    cols = aligned.select(["src_lang", "tgt_lang", "src_tokens", "tgt_tokens", "alignment"]).to_pydict()
    groups: dict[tuple[str, str], list] = {}
    for sl, tl, st, tt, al in zip(*cols.values()):
        groups.setdefault((sl, tl), []).append((st, tt, [(x["s"], x["t"]) for x in al]))
    rows = []
    for (sl, tl), triples in sorted(groups.items()):
        rows.extend(lexical_rows(count_links(triples, lowercase), sl, tl, min_count))
    return pa.Table.from_batches([contract("lexical_table").batch(rows)])
