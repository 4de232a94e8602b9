"""Selection: at most one target span per source span, non-overlapping across the sentence.

:func:`select_spans` solves the assignment exactly when small (maximising the total score
of the chosen pairs; a source span may stay unprojected, a candidate below ``threshold`` is
never chosen) by branch and bound over the source spans, and falls back to greedy
(highest score first, skipping conflicts) beyond ``exact_limit`` search nodes. The label
is copied from the source span and the score kept.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple


class Projected(NamedTuple):
    """A projected target span: token range, label, score and the source span's index."""

    start: int
    end: int
    label: str
    score: float
    source: int


def _overlap(a: tuple[int, int], b: tuple[int, int]) -> bool:
    return a[0] < b[1] and b[0] < a[1]


def greedy(options: Sequence[Sequence[tuple[tuple[int, int], float]]]) -> list[int | None]:
    """Highest-scoring pair first; skip pairs whose span overlaps one already chosen."""
    flat = sorted(((sc, k, r) for k, opts in enumerate(options) for r, (_, sc) in enumerate(opts)),
                  key=lambda x: (-x[0], x[1], x[2]))
    chosen: list[int | None] = [None] * len(options)
    taken: list[tuple[int, int]] = []
    for _, k, r in flat:
        rng = options[k][r][0]
        if chosen[k] is None and not any(_overlap(rng, t) for t in taken):
            chosen[k] = r
            taken.append(rng)
    return chosen


def exact(options: Sequence[Sequence[tuple[tuple[int, int], float]]], limit: int) -> list[int | None] | None:
    """Best total score by branch and bound; None if more than ``limit`` nodes are needed."""
    n = len(options)
    order = [sorted(range(len(o)), key=lambda r: -o[r][1]) for o in options]
    bound = [0.0] * (n + 1)
    for k in range(n - 1, -1, -1):
        bound[k] = bound[k + 1] + max((sc for _, sc in options[k]), default=0.0)
    best: list = [-1.0, [None] * n]
    nodes = 0
    current: list[int | None] = [None] * n

    def go(k: int, total: float, taken: list[tuple[int, int]]) -> bool:
        nonlocal nodes
        nodes += 1
        if nodes > limit:
            return False
        if total + bound[k] <= best[0]:
            return True
        if k == n:
            best[0], best[1] = total, list(current)
            return True
        for r in order[k]:
            rng, sc = options[k][r]
            if not any(_overlap(rng, t) for t in taken):
                current[k] = r
                if not go(k + 1, total + sc, taken + [rng]):
                    return False
        current[k] = None
        return go(k + 1, total, taken)

    return best[1] if go(0, 0.0, []) else None


def select_spans(labels: Sequence[str], options: Sequence[Sequence[tuple[tuple[int, int], float]]],
                 threshold: float = 0.0, exact_limit: int = 20_000) -> list[Projected]:
    """Choose for each source span (``labels[k]``, candidates ``options[k]`` as
    ``((start, end), score)``) at most one target span; spans chosen do not overlap."""
    kept = [[(rng, sc) for rng, sc in opts if sc >= threshold] for opts in options]
    chosen = exact(kept, exact_limit)
    if chosen is None:
        chosen = greedy(kept)
    out = [Projected(kept[k][r][0][0], kept[k][r][0][1], labels[k], kept[k][r][1], k)
           for k, r in enumerate(chosen) if r is not None]
    return sorted(out, key=lambda p: (p.start, p.end))
