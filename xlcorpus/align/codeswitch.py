"""Alignment-based code-switching: replace aligned source words or phrases by their target
counterparts (the code-switched few-shot data of xCoT-style methods).

Units are the minimal *consistent* phrase pairs of the alignment: each connected component
of the link graph spans source tokens ``[i1, i2]`` and target tokens ``[j1, j2]``; it is a
unit when no link leaves that box (as in phrase extraction). Units are picked at random
(seeded per pair, so the choice depends on ``seed`` and the pair, never on batching) until
``ratio`` of the source tokens are switched. The source characters of a unit's span are
replaced by the target characters of its span (target spacing kept), and every switched span
is reported with its offsets in the new text, the source and the target.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

from ..ids import seed_for

Link = tuple[int, int]


@dataclass(frozen=True)
class Switched:
    start: int        # in the code-switched text
    end: int
    src_start: int    # the source span it replaced
    src_end: int
    tgt_start: int    # the target span it came from
    tgt_end: int


def phrase_units(links: Sequence[Link]) -> list[tuple[int, int, int, int]]:
    """Consistent minimal phrase pairs ``(i1, i2, j1, j2)`` (inclusive token ranges)."""
    parent: dict = {}

    def find(x):
        while parent.setdefault(x, x) != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for s, t in links:
        parent[find(("s", s))] = find(("t", t))
    comps: dict = {}
    for s, t in links:
        comps.setdefault(find(("s", s)), []).append((s, t))
    units = []
    for comp in comps.values():
        i1, i2 = min(s for s, _ in comp), max(s for s, _ in comp)
        j1, j2 = min(t for _, t in comp), max(t for _, t in comp)
        consistent = all((i1 <= s <= i2) == (j1 <= t <= j2) for s, t in links)
        if consistent:
            units.append((i1, i2, j1, j2))
    units.sort()
    # nested or overlapping boxes cannot both be switched: keep the first of each overlap
    out, last = [], -1
    for u in units:
        if u[0] > last:
            out.append(u)
            last = u[1]
    return out


def code_switch(src: str, src_offsets: Sequence[tuple[int, int]], tgt: str,
                tgt_offsets: Sequence[tuple[int, int]], links: Sequence[Link], ratio: float,
                seed: int, key: str = "") -> tuple[str, list[Switched]]:
    """Switch about ``ratio`` of the source tokens (see the module docstring).

    ``key`` identifies the pair (e.g. its id): the random choice depends on (seed, key) only.
    """
    if not 0.0 <= ratio <= 1.0:
        raise ValueError(f"code-switching ratio must be in [0, 1], got {ratio}")
    units = phrase_units([l for l in links if l[0] < len(src_offsets) and l[1] < len(tgt_offsets)])
    rng = random.Random(seed_for(seed, key))
    rng.shuffle(units)
    want = ratio * len(src_offsets)
    chosen, covered = [], 0
    for u in units:
        if covered >= want:
            break
        chosen.append(u)
        covered += u[1] - u[0] + 1
    chosen.sort()
    pieces, spans, pos, out_len = [], [], 0, 0
    for i1, i2, j1, j2 in chosen:
        s0, s1 = src_offsets[i1][0], src_offsets[i2][1]
        t0, t1 = tgt_offsets[j1][0], tgt_offsets[j2][1]
        pieces.append(src[pos:s0])
        out_len += s0 - pos
        pieces.append(tgt[t0:t1])
        spans.append(Switched(out_len, out_len + t1 - t0, s0, s1, t0, t1))
        out_len += t1 - t0
        pos = s1
    pieces.append(src[pos:])
    return "".join(pieces), spans
