"""Lexical translation table from word alignments: ``(src, tgt, count, p(t|s), p(s|t))``.

Counts every link of every pair once; ``p(t|s) = count(s, t) / links(s)`` and
``p(s|t) = count(s, t) / links(t)``. This is the resource vocabulary-transfer methods
(e.g. initialising target embeddings from aligned source words) start from.
:class:`LexicalTable` holds the same counts in memory; label projection scores with it.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

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


@dataclass
class LexicalTable:
    """Link counts with their marginals: ``p(t|s) = count(s, t) / links(s)`` and
    ``p(s|t) = count(s, t) / links(t)`` (tokens lowercased when counted so)."""

    counts: Counter
    src_total: Counter
    tgt_total: Counter
    lowercase: bool = True

    @classmethod
    def from_counts(cls, counts: Counter, lowercase: bool = True) -> "LexicalTable":
        src_total: Counter = Counter()
        tgt_total: Counter = Counter()
        for (s, t), c in counts.items():
            src_total[s] += c
            tgt_total[t] += c
        return cls(counts, src_total, tgt_total, lowercase)

    @classmethod
    def from_links(cls, src: Sequence[Sequence[str]], tgt: Sequence[Sequence[str]],
                   *link_sets: Sequence[Sequence[Link]], lowercase: bool = True) -> "LexicalTable":
        """Count each link of each link set (e.g. forward and reverse) of every pair."""
        return cls.from_counts(count_links(((s, t, ls) for links in link_sets
                                            for s, t, ls in zip(src, tgt, links)), lowercase), lowercase)

    def transposed(self) -> "LexicalTable":
        """The table of the reverse direction (target words as sources)."""
        return LexicalTable(Counter({(t, s): c for (s, t), c in self.counts.items()}),
                            self.tgt_total, self.src_total, self.lowercase)

    def prob(self, s: str, t: str) -> float:
        """``sqrt(p(t|s) p(s|t))``, 0 if never linked."""
        return self.row(s, [t])[0]

    def row(self, s: str, targets: Sequence[str]) -> list[float]:
        """:meth:`prob` of ``s`` with each of ``targets``."""
        if self.lowercase:
            s = s.lower()
        n_s = self.src_total.get(s)
        if not n_s:
            return [0.0] * len(targets)
        out = []
        for t in targets:
            if self.lowercase:
                t = t.lower()
            c = self.counts.get((s, t))
            out.append(math.sqrt(c / n_s * c / self.tgt_total[t]) if c else 0.0)
        return out

    def rows(self, src_lang: str, tgt_lang: str, min_count: int = 1) -> list[dict]:
        """Rows of the ``lexical_table`` contract, most frequent first."""
        return [{"id": stable_id(src_lang, tgt_lang, s, t), "src_lang": src_lang, "tgt_lang": tgt_lang,
                 "src": s, "tgt": t, "count": c, "p_tgt_given_src": c / self.src_total[s],
                 "p_src_given_tgt": c / self.tgt_total[t]}
                for (s, t), c in sorted(self.counts.items(), key=lambda kv: (-kv[1], kv[0])) if c >= min_count]


def lexical_table(aligned: pa.Table | pa.RecordBatch, min_count: int = 1,
                  lowercase: bool = True) -> pa.Table:
    """``lexical_table`` rows from a ``bitext_aligned`` table (one group per language pair)."""
    cols = aligned.select(["src_lang", "tgt_lang", "src_tokens", "tgt_tokens", "alignment"]).to_pydict()
    groups: dict[tuple[str, str], list] = {}
    for sl, tl, st, tt, al in zip(*cols.values()):
        groups.setdefault((sl, tl), []).append((st, tt, [(x["s"], x["t"]) for x in al]))
    rows = []
    for (sl, tl), triples in sorted(groups.items()):
        rows.extend(LexicalTable.from_counts(count_links(triples, lowercase)).rows(sl, tl, min_count))
    return pa.Table.from_batches([contract("lexical_table").batch(rows)])
