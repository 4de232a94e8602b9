"""eflomal priors: Dirichlet prior *counts* (not probabilities) for lexical translation,
jumps (HMM) and fertility, read/written in eflomal's text format::

    LEX<TAB>src<TAB>tgt<TAB>count      HMMF<TAB>jump<TAB>count    HMMR<TAB>jump<TAB>count
    FERF<TAB>src<TAB>fert<TAB>count    FERR<TAB>tgt<TAB>fert<TAB>count

Two sources: :meth:`Priors.from_alignments` (reuse what an earlier alignment learnt) and
:func:`similarity_priors` (identical tokens, equal numbers, equal punctuation and
orthographically similar words, e.g. cognates such as ``government``/``gouvernement``).
Tokens are lowercased, as eflomal does.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from dataclasses import dataclass, field
from operator import itemgetter
from pathlib import Path

import numpy as np

NUMBER = re.compile(r"^[+-]?\d[\d.,]*$")


@dataclass
class Priors:
    lex: Counter = field(default_factory=Counter)    # (src, tgt) -> count
    hmmf: Counter = field(default_factory=Counter)   # jump -> count
    hmmr: Counter = field(default_factory=Counter)
    ferf: Counter = field(default_factory=Counter)   # (src, fertility) -> count
    ferr: Counter = field(default_factory=Counter)

    def __add__(self, other: "Priors") -> "Priors":
        return Priors(self.lex + other.lex, self.hmmf + other.hmmf, self.hmmr + other.hmmr,
                      self.ferf + other.ferf, self.ferr + other.ferr)

    def __iadd__(self, other: "Priors") -> "Priors":
        for name in ("lex", "hmmf", "hmmr", "ferf", "ferr"):
            getattr(self, name).update(getattr(other, name))
        return self

    def __str__(self) -> str:
        return f"Priors({len(self.lex)} lexical, {len(self.hmmf) + len(self.hmmr)} jump)"

    def write(self, path: str | Path) -> None:
        """Write the counts in eflomal's format (exact: integral counts as integers)."""
        with open(path, "w", encoding="utf-8") as fh:
            self._write(fh, self.lex, self.ferf, self.ferr, self.hmmf, self.hmmr)

    def write_leaving_out(self, own: "Priors", path: str | Path) -> None:
        """Write the lines that, appended to this set's file, make eflomal read this set
        minus ``own``: ``own``'s lexical and fertility counts negated (eflomal sums those
        lines) and every jump count corrected (eflomal keeps the last line of a jump)."""
        with open(path, "w", encoding="utf-8") as fh:
            neg = lambda table: {k: -c for k, c in table.items()}  # noqa: E731
            fix = lambda table, mine: {k: c - mine.get(k, 0) for k, c in table.items()}  # noqa: E731
            self._write(fh, neg(own.lex), neg(own.ferf), neg(own.ferr), fix(self.hmmf, own.hmmf),
                        fix(self.hmmr, own.hmmr))

    @staticmethod
    def _write(fh, lex, ferf, ferr, hmmf, hmmr) -> None:
        for (s, t), c in sorted(lex.items()):
            fh.write(f"LEX\t{s}\t{t}\t{_num(c)}\n")
        for tag, table in (("FERF", ferf), ("FERR", ferr)):
            for (w, fert), c in sorted(table.items()):
                fh.write(f"{tag}\t{w}\t{fert}\t{_num(c)}\n")
        for tag, table in (("HMMF", hmmf), ("HMMR", hmmr)):
            for jump, c in sorted(table.items()):
                fh.write(f"{tag}\t{jump}\t{_num(c)}\n")

    @classmethod
    def read(cls, path: str | Path) -> "Priors":
        """Read an eflomal priors file; a bad line raises ValueError naming file and line."""
        p = cls()
        with open(path, encoding="utf-8") as fh:
            for n, line in enumerate(fh, 1):
                f = line.rstrip("\n").split("\t")
                try:
                    if f[0] == "LEX" and len(f) == 4:
                        p.lex[(f[1], f[2])] += float(f[3])
                    elif f[0] in ("FERF", "FERR") and len(f) == 4:
                        getattr(p, f[0].lower())[(f[1], int(f[2]))] += float(f[3])
                    elif f[0] in ("HMMF", "HMMR") and len(f) == 3:
                        getattr(p, f[0].lower())[int(f[1])] += float(f[2])
                    elif line.strip():
                        raise ValueError("unknown record")
                except ValueError as exc:
                    raise ValueError(f"{path}:{n}: invalid eflomal priors line {line.strip()!r} ({exc})") from None
        return p

    @classmethod
    def from_alignments(cls, src: list[list[str]], tgt: list[list[str]],
                        fwd: list[list[tuple[int, int]]], rev: list[list[tuple[int, int]]],
                        zero_fertility: bool = False) -> "Priors":
        """Counts as eflomal's ``calculate_priors`` computes them from directional links;
        with ``zero_fertility``, a word without links also counts as fertility 0 (used for
        symmetrized links, where many words have none: counting only the linked ones would
        tell every chunk that words are rarely unaligned)."""
        p = cls()
        p.add(alignment_events(src, tgt, fwd, rev, zero_fertility))
        return p

    def add(self, events: "Events") -> None:
        """Count the :func:`alignment_events` (in C: one update per table)."""
        for table, keys in zip((self.lex, self.hmmf, self.hmmr, self.ferf, self.ferr), events):
            table.update(keys)


Events = tuple[list, list, list, list, list]


def alignment_events(src: list[list[str]], tgt: list[list[str]], fwd: list[list[tuple[int, int]]],
                     rev: list[list[tuple[int, int]]], zero_fertility: bool = False) -> Events:
    """What :meth:`Priors.from_alignments` counts, one key per occurrence: word pairs,
    forward and reverse jumps, source and target (word, fertility)."""
    lex: list[tuple[str, str]] = []
    hmmf: list[int] = []
    hmmr: list[int] = []
    fer_s: list[tuple[str, int]] = []
    fer_t: list[tuple[str, int]] = []
    for s, t, f, r in zip(src, tgt, fwd, rev):
        s = [w.lower() for w in s]
        t = [w.lower() for w in t]
        lex.extend((s[i], t[j]) for i, j in f)
        _jumps(hmmf, [(j, i) for i, j in f], len(s))
        _jumps(hmmr, r, len(t))
        ferf, ferr = [0] * len(s), [0] * len(t)
        for i, _ in f:
            ferf[i] += 1
        for _, j in r:
            ferr[j] += 1
        if zero_fertility:
            fer_s.extend(zip(s, ferf))
            fer_t.extend(zip(t, ferr))
        else:
            fer_s.extend((w, n) for w, n in zip(s, ferf) if n)
            fer_t.extend((w, n) for w, n in zip(t, ferr) if n)
    return lex, hmmf, hmmr, fer_s, fer_t


def _ids(sents: list[list[str]]) -> tuple[np.ndarray, list[str], np.ndarray]:
    """Lowercased tokens as ids (one array for all sentences), the id's words, and where each
    sentence starts in the array."""
    vocab: dict[str, int] = {}
    ids = np.fromiter((vocab.setdefault(w.lower(), len(vocab)) for s in sents for w in s), dtype=np.int64)
    starts = np.zeros(len(sents) + 1, dtype=np.int64)
    np.cumsum([len(s) for s in sents], out=starts[1:])
    return ids, list(vocab), starts


def _counted(keys: np.ndarray, decode) -> dict:
    values, counts = np.unique(keys, return_counts=True)
    return dict(zip(map(decode, values.tolist()), counts.tolist()))


def _vector_jumps(row: np.ndarray, pos: np.ndarray, k: np.ndarray, ends: np.ndarray) -> dict:
    """:func:`_jumps` of every sentence at once: links given as (row, position, index),
    sorted by row then position (ties in their order); ``ends``: each row's end index."""
    first = np.ones(len(row), dtype=bool)
    first[1:] = (row[1:] != row[:-1]) | (pos[1:] != pos[:-1])
    prev = np.empty(len(row), dtype=np.int64)
    prev[:1] = -1
    prev[1:] = np.where(row[1:] != row[:-1], -1, k[:-1])
    final = np.ones(len(row), dtype=bool)
    final[:-1] = row[1:] != row[:-1]
    last = np.full(len(ends), -1, dtype=np.int64)
    last[row[final]] = k[final]
    return _counted(np.concatenate([(k - prev)[first], ends - last]), int)


def symmetrized_counts(src: list[list[str]], tgt: list[list[str]], links: list[list[tuple[int, int]]]) -> Priors:
    """``Priors.from_alignments(src, tgt, links, links, zero_fertility=True)``, vectorized:
    the counts of symmetrized links (sorted, each once, within the sentences)."""
    sid, swords, s_at = _ids(src)
    tid, twords, t_at = _ids(tgt)
    sizes = [len(l) for l in links]
    row = np.repeat(np.arange(len(links), dtype=np.int64), sizes)
    ij = np.fromiter((x for l in links for pair in l for x in pair), dtype=np.int64,
                     count=2 * sum(sizes)).reshape(-1, 2)
    i, j = ij[:, 0], ij[:, 1]
    si, tj = s_at[:-1][row] + i, t_at[:-1][row] + j
    width = max(len(twords), 1)
    lex = _counted(sid[si] * width + tid[tj], lambda v: (swords[v // width], twords[v % width]))
    fers = []
    for ids, words, at, where in ((sid, swords, s_at, si), (tid, twords, t_at, tj)):
        fert = np.bincount(where, minlength=len(ids))
        top = int(fert.max(initial=0)) + 1
        fers.append(_counted(ids * top + fert, lambda v, words=words, top=top: (words[v // top], v % top)))
    by_target = np.lexsort((j, row))  # forward jumps: links taken by target position
    hmmf = _vector_jumps(row[by_target], j[by_target], i[by_target], np.diff(s_at))
    hmmr = _vector_jumps(row, i, j, np.diff(t_at))  # links are sorted by source position
    return Priors(Counter(lex), Counter(hmmf), Counter(hmmr), Counter(fers[0]), Counter(fers[1]))


def _num(c: float) -> str:
    return str(int(c)) if c == int(c) else repr(float(c))


def _jumps(out: list[int], links: list[tuple[int, int]], end: int) -> None:
    """eflomal's HMM jumps: links as (position, aligned index), taken by position."""
    last_pos = last = -1
    for pos, k in sorted(links, key=itemgetter(0)):
        if pos != last_pos:
            out.append(k - last)
        last_pos, last = pos, k
    out.append(end - last)


def _is_punct(w: str) -> bool:
    return all(unicodedata.category(c)[0] in "PS" for c in w)


def _strip_accents(w: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFD", w) if not unicodedata.combining(c))


def lcs_len(a: str, b: str) -> int:
    """Length of the longest common subsequence of two strings."""
    prev = [0] * (len(b) + 1)
    for x in a:
        cur = [0]
        for j, y in enumerate(b):
            cur.append(prev[j] + 1 if x == y else max(prev[j + 1], cur[j]))
        prev = cur
    return prev[-1]


def similar(a: str, b: str, min_len: int = 4, min_lcsr: float = 0.7) -> bool:
    """Identical, or cognate-like (Melamed's LCSR): accent-free, lowercased forms of at least
    ``min_len`` characters with ``LCS / max(len) >= min_lcsr``, sharing their first letter.
    Numbers and punctuation only match themselves."""
    a, b = a.lower(), b.lower()
    if a == b:
        return True
    if _is_punct(a) or _is_punct(b) or NUMBER.match(a) or NUMBER.match(b):
        return False
    a, b = _strip_accents(a), _strip_accents(b)
    if a == b:
        return True
    longer = max(len(a), len(b))
    if min(len(a), len(b)) < min_len or a[0] != b[0] or min(len(a), len(b)) < min_lcsr * longer:
        return False
    return lcs_len(a, b) >= min_lcsr * longer


@dataclass(frozen=True)
class _TypeInfo:
    plain: str        # lowercased, accent-free (romanized first when a map is given)
    special: bool     # number or punctuation: only identical tokens match


def _type_info(word: str, romanize: dict[str, str]) -> _TypeInfo:
    rom = romanize.get(word, word)
    return _TypeInfo(_strip_accents(rom), _is_punct(rom) or bool(NUMBER.match(rom)))


def similarity_priors(src: list[list[str]], tgt: list[list[str]], weight: float = 1.0,
                      romanize: dict[str, str] | None = None, max_pairs: int = 200_000,
                      cache: tuple[dict, dict] | None = None) -> Priors:
    """Lexical prior counts: ``weight`` per sentence pair for each (source, target) token
    pair that is :func:`similar` (after ``romanize``, a token -> Latin form map, if given).

    Only the first ``max_pairs`` pairs are scanned (the pairs to align come first): the
    priors matter for rare words of small corpora, and the scan is Python-speed. Candidates
    are pre-filtered by first letter, so a pair costs about one dict lookup per token.
    ``cache``: two dicts kept by the caller across batches (same ``romanize``), so that each
    word type is analysed once.
    """
    rom = romanize or {}
    info: dict[str, _TypeInfo]
    verdict: dict[tuple[str, str], bool]
    info, verdict = cache if cache is not None else ({}, {})
    lex: Counter = Counter()
    for s, t in zip(src[:max_pairs], tgt[:max_pairs]):
        by_first: dict[str, list[str]] = {}
        for b in set(map(str.lower, t)):
            ib = info.get(b) or info.setdefault(b, _type_info(b, rom))
            if ib.plain:
                by_first.setdefault(ib.plain[0], []).append(b)
        for a in set(map(str.lower, s)):
            ia = info.get(a) or info.setdefault(a, _type_info(a, rom))
            if not ia.plain:
                continue
            for b in by_first.get(ia.plain[0], ()):
                ib = info[b]
                if ia.special or ib.special:
                    ok = rom.get(a, a) == rom.get(b, b)
                elif ia.plain == ib.plain:
                    ok = True
                elif min(len(ia.plain), len(ib.plain)) < 4:
                    ok = False                     # too short to be a cognate (see similar)
                else:
                    ok = verdict.get((a, b))
                    if ok is None:
                        ok = verdict[(a, b)] = similar(rom.get(a, a), rom.get(b, b))
                if ok:
                    lex[(a, b)] += weight
    return Priors(lex=lex)


def _latin(word: str) -> bool:
    return all(ord(c) < 0x250 or not c.isalpha() for c in word)


def romanize_types(sents: list[list[str]]) -> dict[str, str]:
    """Lowercased token -> lowercased uroman romanization, for tokens not in Latin script."""
    from ..translit.uroman_cache import load_uroman

    types = sorted({w.lower() for s in sents for w in s if not _latin(w)})
    if not types:
        return {}
    rom = load_uroman()
    return {w: str(rom.romanize_string(w)).lower() for w in types}
