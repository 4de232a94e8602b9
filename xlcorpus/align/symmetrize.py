"""Symmetrization of two directional word alignments (Koehn et al. 2003; Moses ``symal``).

``symmetrize(fwd, rev, method, n_src, n_tgt)`` combines a forward alignment (each target
word linked to at most one source word) and a reverse one, both given as ``(src, tgt)``
0-indexed pairs, into one sorted list of ``(src, tgt)`` links. Methods:

- ``intersection``: links in both directions (high precision);
- ``union``: links in either (high recall);
- ``grow-diag``: the intersection grown with neighbouring (incl. diagonal) union links that
  touch a still unaligned source or target word, until nothing changes;
- ``grow-diag-final``: then add union links whose source *or* target word is unaligned;
- ``grow-diag-final-and``: then add union links whose source *and* target word are unaligned.

Links outside ``n_src x n_tgt`` are dropped.
"""

from __future__ import annotations

from collections.abc import Iterable

METHODS = ("intersection", "union", "grow-diag", "grow-diag-final", "grow-diag-final-and")
NEIGHBOURS = ((-1, 0), (0, -1), (1, 0), (0, 1), (-1, -1), (-1, 1), (1, -1), (1, 1))

Link = tuple[int, int]


def _clip(links: Iterable[Link], n_src: int, n_tgt: int) -> set[Link]:
    return {(int(s), int(t)) for s, t in links if 0 <= s < n_src and 0 <= t < n_tgt}


def _grow_diag(alignment: set[Link], union: set[Link], n_src: int, n_tgt: int) -> None:
    src_aligned = {s for s, _ in alignment}
    tgt_aligned = {t for _, t in alignment}
    added = True
    while added:
        added = False
        for s in range(n_src):
            for t in range(n_tgt):
                if (s, t) not in alignment:
                    continue
                for ds, dt in NEIGHBOURS:
                    s2, t2 = s + ds, t + dt
                    if ((s2, t2) in union and (s2, t2) not in alignment
                            and (s2 not in src_aligned or t2 not in tgt_aligned)):
                        alignment.add((s2, t2))
                        src_aligned.add(s2)
                        tgt_aligned.add(t2)
                        added = True


def _final(alignment: set[Link], directional: set[Link], both: bool) -> None:
    src_aligned = {s for s, _ in alignment}
    tgt_aligned = {t for _, t in alignment}
    for s, t in sorted(directional):
        free_s, free_t = s not in src_aligned, t not in tgt_aligned
        if (free_s and free_t) if both else (free_s or free_t):
            alignment.add((s, t))
            src_aligned.add(s)
            tgt_aligned.add(t)


def symmetrize(fwd: Iterable[Link], rev: Iterable[Link], method: str, n_src: int,
               n_tgt: int) -> list[Link]:
    """Combine forward and reverse ``(src, tgt)`` links with ``method`` (see module doc)."""
    if method not in METHODS:
        raise ValueError(f"unknown symmetrization {method!r} (known: {', '.join(METHODS)})")
    f, r = _clip(fwd, n_src, n_tgt), _clip(rev, n_src, n_tgt)
    union = f | r
    if method == "union":
        return sorted(union)
    alignment = f & r
    if method != "intersection":
        _grow_diag(alignment, union, n_src, n_tgt)
        if method != "grow-diag":
            both = method == "grow-diag-final-and"
            _final(alignment, f, both)
            _final(alignment, r, both)
    return sorted(alignment)
