"""Generated ``wiki_sentences`` and ``wikidata_labels`` tables for tests and benchmarks.

Sentences look like linked Wikipedia sentences (about 23 words, about 2 links, some
non-ASCII entity names, some links without a QID); labels cover a random subset of the
target languages per item, with aliases.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from ..ids import stable_id
from ..schema import contract

_WORDS = ("the of and in to a was is for on as by with from at that his an which were it "
          "also first city river war party born team national league during after known").split()
_NAMES = ("Berlin", "Ōsaka", "Paris", "Zürich", "São Paulo", "Kraków", "Düsseldorf", "Malta", "Reykjavík",
          "Nile", "Danube", "Ελλάδα", "Québec", "Москва", "Cairo", "Lisbon")


def labels_table(n_items: int, languages: list[str], seed: int = 0, coverage: float = 0.7) -> pa.Table:
    """``wikidata_labels`` rows for items Q1..Qn: each language present with ``coverage``."""
    rs = np.random.default_rng(seed)
    rows: dict[str, list] = {n: [] for n in contract("wikidata_labels").names}
    for q in range(1, n_items + 1):
        qid = f"Q{q}"
        for lang in languages:
            if rs.random() > coverage:
                continue
            label = f"{_NAMES[q % len(_NAMES)]}-{lang}{q}" if q % 3 else f"L{q}{lang}"
            aliases = [f"{label} alias{j}" for j in range(int(rs.integers(0, 3)))]
            for key, value in (("id", stable_id(qid, lang)), ("qid", qid), ("lang", lang), ("label", label),
                               ("aliases", aliases), ("description", None), ("source", "synthetic"),
                               ("position", q)):
                rows[key].append(value)
    return pa.Table.from_batches([contract("wikidata_labels").batch(rows)])


def sentences_batch(n: int, n_items: int, seed: int = 0, start: int = 0) -> pa.RecordBatch:
    """``n`` ``wiki_sentences`` rows with 0-4 links to items Q1..Q(n_items) (some unknown)."""
    rs = np.random.default_rng(seed)
    ids, texts, links = [], [], []
    for i in range(start, start + n):
        n_words = int(rs.integers(6, 40))
        n_links = int(rs.integers(0, 5))
        words = [_WORDS[j] for j in rs.integers(0, len(_WORDS), n_words)]
        slots = sorted(set(int(x) for x in rs.integers(0, n_words, n_links)))
        parts, lks, pos = [], [], 0
        for w, word in enumerate(words):
            if w:
                parts.append(" ")
                pos += 1
            if w in slots:
                q = int(rs.integers(1, n_items + 1))
                name = _NAMES[q % len(_NAMES)]
                qid = f"Q{q}" if rs.random() > 0.1 else None
                lks.append({"start": pos, "end": pos + len(name), "title": name, "qid": qid})
                parts.append(name)
                pos += len(name)
            else:
                parts.append(word)
                pos += len(word)
        text = "".join(parts) + "."
        ids.append(stable_id("synthetic", seed, i))
        texts.append(text)
        links.append(lks)
    c = contract("wiki_sentences")
    return c.batch({"id": ids, "lang": ["en"] * n, "page_id": list(range(start, start + n)),
                    "page_title": ["Synthetic"] * n, "sentence_id": [0] * n, "text": texts,
                    "links": links, "source": ["synthetic"] * n})
