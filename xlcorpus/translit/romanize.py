"""Exact, fast uroman romanization with an offset map.

:class:`ExactRomanizer` returns, for every sentence, exactly the string that
``Uroman().romanize_string(text, lcode=...)`` returns for the whole sentence (the default
``cache_size=0``, which is the reference; uroman's own ``cache_size`` splits at ``。`` and
punctuation and changes the output of some sentences), plus uroman's EDGES (source span ->
romanized span) for every piece. It is fast because it does not romanize whole sentences:

1. **Segments.** A sentence is cut after every run of spaces (U+0020): a *chunk* is a word
   plus its trailing spaces. Across a space, uroman's context is the same as a string
   boundary: no rule key starts with a space (the only key containing one, Ethiopic
   ``"፡ "``, ends with it and stays inside the chunk, since spaces stay with the word before
   them); a space has no rule edges while rules and numbers are built, so word-start/
   word-end tests, number grouping (digits, ``.``, signs, ``分之``) and Japanese/Indic
   neighbour rules stop at it; outputs that begin or end with a space (``，`` -> ``", "``)
   are trimmed the same way next to a space and at a string edge. uroman tests for ``" "``
   itself, so tabs, NBSP, thin and ideographic spaces are never cut points.

   **Where token-wise cannot be identical (documented exceptions).**

   - *Thai* ``อ`` (O ANG): uroman keeps or deletes it depending on the romanization found
     by a backward search (``Lattice.find_rom_edge_path_backwards``) that skips positions
     without edges (spaces, quotes) and, after an empty edge such as a tone mark, one more
     position, so it can reach into the previous word (``ก ต่อมา`` -> ``k tomaa`` but
     ``ต่อมา`` -> ``tmaa``). Each segment is romanized on a lattice that records when that
     search runs out of string (:func:`uroman_edges`); such a segment is joined to the one
     before it, again until none does.
   - *Scripts not validated*: cutting is used only for sentences whose characters all
     belong to :data:`SEGMENT_SCRIPTS` (the scripts of the NTREX-128 and Tatoeba files it is
     checked on). Any other script (Tibetan and Braille have sentence-wide passes, abugidas
     other than Devanagari are unchecked...) makes the whole sentence one uroman call
     (``method = "whole"``).

2. **Cache.** Each distinct segment is romanized once per worker (token streams are
   Zipfian) and kept in a bounded cache across batches.

3. **Context-free characters.** A segment whose characters all have a context-free
   romanization (:meth:`ExactRomanizer.char_rom`) and contains no longer rule key with a
   non-transparent rule (:meth:`ExactRomanizer.blockers`; e.g. Greek ``αυ``, Russian
   ``ий``) is romanized character by character from a table, without a uroman lattice.
   Its edges are then one per character (uroman's own edges may group characters under an
   identity rule such as ``tion``; the text is the same).

4. **Cuts inside segments.** Any other segment is cut between two context-free
   characters unless a multi-character rule key or number token covers both, or a key with
   a word-boundary condition starts or ends there (:meth:`ExactRomanizer.inner_cuts`); the
   pieces are romanized and cached on their own. Chinese and Japanese phrases, which have no
   spaces, and Russian or Greek words with one context rule become short, mostly cached
   pieces instead of one uroman call each.

5. **Faster uroman.** :mod:`.fastregex` caches uroman's compiled regular expressions
   (identical results, faster) for the segments left to uroman, and uroman's
   lattice gets three exact shortcuts (:func:`_observed_lattice`).

Identity with the whole-string call is checked on every sentence of the 16 NTREX-128 files
by ``benchmarks/romanize_bench.py``, on a sample of them, on tricky strings and on random
strings by ``tests/test_romanize.py`` (and was checked on the 46,212 Tatoeba test
sentences of 25 languages and their English sides and 10,000 random mixed-script strings
when the cuts were added).

All of this is the *fast path*, used only with the uroman version it was checked on
(:data:`.uroman_compat.VALIDATED_UROMAN`, the version ``pyproject.toml`` pins). With any
other version, or ``XLCORPUS_UROMAN_FAST=0``, :class:`ExactRomanizer` takes the plain path:
one public ``Uroman.romanize_string(sentence, lcode=..., rom_format=EDGES)`` call per
sentence (identical by definition, slower); see :mod:`.uroman_compat`.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import pyarrow as pa

from ..engine.core import Reject, Stage, StageOutput
from ..errors import XlcorpusError
from ..ids import stable_id
from ..schema import contract
from . import fastregex, uroman_compat
from .uroman_cache import load_uroman

log = logging.getLogger(__name__)
BLANKS = " \t"  # characters without rules: romanized as themselves
_CHUNK = re.compile(r"[^ ]*[ ]*")  # cut points: after runs of spaces only (see below)
O_ANG = "\u0e2d"
SEGMENT_SCRIPTS = frozenset({"", "Latin", "Cyrillic", "Greek", "Arabic", "Hebrew", "Devanagari", "CJK",
                             "Hiragana", "Katakana", "Hangul", "Ethiopic", "Thai"})
# Scripts whose characters may use the per-character table (each character is still checked).
CHAR_SCRIPTS = frozenset({"", "Latin", "Cyrillic", "Greek", "Arabic", "Hebrew", "CJK", "Hiragana", "Katakana", "Hangul",
                          "Ethiopic"})
# Characters that uroman's special rules look at as *neighbours* (っ doubling, small ya, long
# vowel mark, Braille capital, Gurmukhi addak, combining grave after Coptic).
_NEIGHBOUR_CHARS = frozenset("っッ\u0a71ゃゅょャュョー\u2820\u0300")
_RULE_FLAGS = ("use-only-at-start-of-word", "dont-use-at-start-of-word", "use-only-at-end-of-word",
               "dont-use-at-end-of-word", "use-only-for-whole-word", "t-at-end-of-syllable", "num",
               "is-minus-sign", "is-plus-sign", "is-decimal-point", "fraction-connector",
               "percentage-marker", "int-frac-connector", "is-large-power")
_POSITION_FLAGS = 5  # the first five flags only decide *whether* a rule applies
_CHAR_BOOLS = ("is-virama", "is-vowel-sign", "is-medial-consonant-sign", "is-large-power",
               "is-minus-sign", "is-plus-sign", "is-decimal-point")


class LanguageError(XlcorpusError):
    """A language code that cannot be mapped to ISO 639-3."""


@lru_cache(maxsize=4096)
def uroman_lcode(lang: str | None) -> str | None:
    """The ISO 639-3 code uroman expects for a BCP-47 (or ISO 639) tag: ``uk`` -> ``ukr``,
    ``zh-CN`` -> ``zho``, ``ar`` -> ``ara``; ``None``/``und``/empty -> ``None`` (no code).

    uroman silently ignores codes it does not know (``uk`` would change nothing), so an
    unknown tag is an error here instead.
    """
    if lang is None or not lang.strip() or lang.strip().lower() in ("und", "mul", "zxx"):
        return None
    import langcodes

    try:
        return langcodes.Language.get(lang.strip()).to_alpha3()
    except (LookupError, ValueError) as exc:
        raise LanguageError(f"language {lang!r}: not a BCP-47/ISO 639 code with an ISO 639-3 "
                            f"equivalent ({exc})") from exc


def chunks(text: str) -> list[str]:
    """``text`` cut after every run of spaces (each piece keeps its trailing spaces)."""
    return [c for c in _CHUNK.findall(text) if c]


@dataclass(frozen=True)
class Piece:
    """The romanization of one segment: text and uroman's edges as lengths."""

    romanized: str
    src_lens: tuple[int, ...]
    rom_lens: tuple[int, ...]
    reads_left: bool = False  # uroman looked before the segment's start (Thai อ rule)


@dataclass
class Romanized:
    """One sentence: the romanized text, its edges (as source/romanized lengths, contiguous
    from 0) and how it was produced (``segments``, ``whole`` or ``keep-latin``)."""

    romanized: str
    src_lens: list[int]
    rom_lens: list[int]
    method: str

    def edges(self) -> list[tuple[int, int, int, int]]:
        """``(start, end, rom_start, rom_end)`` per edge, in code points, half-open."""
        out, s, r = [], 0, 0
        for a, b in zip(self.src_lens, self.rom_lens):
            out.append((s, s + a, r, r + b))
            s, r = s + a, r + b
        return out


class ExactRomanizer:
    """uroman with whole-string-identical output, offsets, a segment cache and a character table.

    ``uroman``: an existing ``Uroman`` (default: :func:`.uroman_cache.load_uroman`, a
    cached copy, faster to load than building one).
    ``cache_size``: segments kept (the cache is emptied when full). ``fast``: the fast path
    (default: :func:`.uroman_compat.fast_path`; never with an unvalidated uroman version);
    otherwise each sentence is one plain ``romanize_string`` call. ``char_table``: use the
    per-character table and cuts (fast path only). ``fast_regex``: give uroman
    compiled-pattern caching (:mod:`.fastregex`, fast path only; same output, faster).
    """

    def __init__(self, uroman=None, cache_size: int = 500_000, char_table: bool = True,
                 fast_regex: bool = True, fast: bool | None = None):
        self.fast = uroman_compat.fast_path() if fast is None else fast and uroman_compat.validated()
        log.info("romanize: %s", uroman_compat.describe(self.fast))
        if fast_regex and self.fast:
            fastregex.install()
        self.u = uroman if uroman is not None else load_uroman()
        self.cache_size = cache_size
        self.char_table = char_table and self.fast
        self._pieces: dict[tuple[str, str | None], Piece] = {}
        self._chars: dict[tuple[str, str | None], str | None] = {}
        self._scripts: dict[str, str] = {}
        self._token_scripts: dict[str, str] = {}
        self._blockers: dict[tuple[str, str | None], tuple[str, ...]] = {}
        self._multi: dict[str, list[str]] = {}
        for k in self.u.rom_rules:
            if len(k) > 1:
                self._multi.setdefault(k[0], []).append(k)
        self._segment_ok: set[str] = set()  # characters known to be in SEGMENT_SCRIPTS
        # lookups: segments looked up in the cache (misses: romanized; hits = the rest)
        self.stats = {"segments": 0, "whole": 0, "lookups": 0, "piece_misses": 0, "char_table": 0, "cut": 0}
        # multi-character keys with a rule that tests a word boundary or a number property
        self._flagged = frozenset(k for keys in self._multi.values() for k in keys
                                  if any(rule[f] for rule in self.u.rom_rules[k] for f in _RULE_FLAGS))
        u = self.u
        self._number_tokens = tuple(t for t in (*u.fraction_connectors, *u.minus_signs, *u.plus_signs) if len(t) > 1)

    # --------------------------------------------------------------- scripts
    def script(self, ch: str) -> str:
        """uroman's script name of one character ('' for punctuation, digits, blanks)."""
        s = self._scripts.get(ch)
        if s is None:
            s = self._scripts[ch] = self.u.dict_str.get(("script", ch), "")
        return s

    def token_script(self, token: str) -> str:
        """The most frequent script among the characters of ``token`` that have one
        (``Common`` if none has)."""
        hit = self._token_scripts.get(token)
        if hit is not None:
            return hit
        counts: dict[str, int] = {}
        for ch in token:
            s = self.script(ch)
            if s:
                counts[s] = counts.get(s, 0) + 1
        best = max(counts, key=counts.__getitem__) if counts else "Common"
        if len(self._token_scripts) >= self.cache_size:
            self._token_scripts.clear()
        self._token_scripts[token] = best
        return best

    # ------------------------------------------------------- character table
    def char_rom(self, ch: str, lcode: str | None) -> str | None:
        """``ch``'s romanization if uroman's rules *for ch itself* ignore context, else ``None``.

        Only rules that apply to ``lcode`` count. Rejected: positional, syllable and number
        rules; outputs that start/end with a space (trimmed next to blanks) or change under
        capitalisation (``SH`` before a lower-case letter); digits, signs, viramas, vowel
        signs, tone marks, kana and the other characters uroman's special rules look at as
        neighbours; scripts outside :data:`CHAR_SCRIPTS`. The value must also be the same
        alone and between two letters. Rules for longer strings are :meth:`blockers`.
        """
        key = (ch, lcode)
        if key not in self._chars:
            self._chars[key] = self._char_rom(ch, lcode)
        return self._chars[key]

    def _char_rom(self, ch: str, lcode: str | None) -> str | None:
        if ch in BLANKS:
            return ch  # no rules; the fallback edge keeps a blank as it is
        u = self.u
        if (self.script(ch) not in CHAR_SCRIPTS or ch in _NEIGHBOUR_CHARS
                or u.num_props.get(ch) or u.dict_num.get(ch) is not None
                or any(u.dict_bool.get((k, ch)) for k in _CHAR_BOOLS)
                or u.dict_str.get(("tone-mark", ch)) or u.dict_str.get(("syllable-info", ch))
                or ch in u.minus_signs or ch in u.plus_signs or ch in u.fraction_connectors):
            return None
        for rule in u.rom_rules.get(ch, ()):
            if rule["lcodes"] and lcode not in rule["lcodes"]:
                continue  # never valid for this language
            t = rule["t"] or ""
            if any(rule[flag] for flag in _RULE_FLAGS) or t[:1] == " " or t[-1:] == " ":
                return None
        from uroman import RomFormat

        alone = u.romanize_string(ch, lcode=lcode, rom_format=RomFormat.EDGES)
        inside = u.romanize_string(f"a{ch}a", lcode=lcode, rom_format=RomFormat.EDGES)
        if len(alone) != 1 or (alone[0].start, alone[0].end) != (0, 1) or len(inside) != 3 \
                or (inside[1].start, inside[1].end, inside[1].txt) != (1, 2, alone[0].txt):
            return None
        rom = alone[0].txt
        if rom[:1] == " " or rom[-1:] == " " or (rom.isupper() and rom.capitalize() != rom):
            return None
        return rom

    def blockers(self, ch: str, lcode: str | None) -> tuple[str, ...]:
        """Longer rule keys starting with ``ch`` whose rules for ``lcode`` are not
        *transparent*; a segment containing one is left to uroman.

        A rule is transparent if its output equals its characters' own romanizations and it
        has no syllable or number attribute (uroman's English identity rules ``tion`` ->
        ``tion``; a positional condition then only decides whether it applies, not the
        text), so whichever path uroman takes through the lattice, the text is the same.
        """
        key = (ch, lcode)
        if key not in self._blockers:
            out = []
            for k in self._multi.get(ch, ()):
                for rule in self.u.rom_rules[k]:
                    if rule["lcodes"] and lcode not in rule["lcodes"]:
                        continue
                    parts = [self.char_rom(x, lcode) for x in k]
                    if (None in parts or rule["t"] != "".join(parts)
                            or any(rule[flag] for flag in _RULE_FLAGS[_POSITION_FLAGS:])):
                        out.append(k)
                        break
            self._blockers[key] = tuple(out)
        return self._blockers[key]

    # ------------------------------------------------------------ segments
    def piece(self, seg: str, lcode: str | None) -> Piece:
        """Romanize one segment (cached)."""
        key = (seg, lcode)
        p = self._pieces.get(key)
        if p is not None:
            return p
        self.stats["piece_misses"] += 1
        p = self._piece_by_chars(seg, lcode) if self.char_table else None
        if p is None:
            cuts = self.inner_cuts(seg, lcode) if self.char_table else []
            if cuts:
                p = self._piece_by_cuts(seg, lcode, cuts)
            else:
                p = self._piece_by_uroman(seg, lcode)
        else:
            self.stats["char_table"] += 1
        if len(self._pieces) >= self.cache_size:
            self._pieces.clear()
        self._pieces[key] = p
        return p

    def inner_cuts(self, seg: str, lcode: str | None) -> list[int]:
        """Positions inside ``seg`` where it can be cut with the same romanization.

        A cut at ``i`` needs both neighbours ``seg[i-1]`` and ``seg[i]`` to be context-free
        characters (:meth:`char_rom`, blanks excluded), no multi-character rule key of any
        language, nor a multi-character number token (fraction connector, sign), covering
        both, and no multi-character key with a word-boundary condition (Greek ``γκ`` only
        at the start of a word, Russian ``ий`` at its end) starting or ending at ``i``.
        Everything uroman looks at across characters then stops at the cut: neighbour rules
        and number grouping act only on characters that are not context-free, positional
        and capitalisation tests of a context-free character give the same result next to
        any letter, and no edge spans the cut. Not used with Thai ``อ`` (its backward
        search may pass any character).
        """
        n = len(seg)
        if n < 2 or O_ANG in seg:
            return []
        safe = [ch not in BLANKS and self.char_rom(ch, lcode) is not None for ch in seg]
        if sum(safe) < 2:
            return []
        covered = bytearray(n + 1)  # covered[i]: no cut at i
        multi, flagged = self._multi, self._flagged
        for j, ch in enumerate(seg):
            for k in multi.get(ch, ()):
                if seg.startswith(k, j):
                    covered[j + 1:j + len(k)] = b"\x01" * (len(k) - 1)
                    if k in flagged:  # its rule tests the word boundary at its ends
                        covered[j] = covered[j + len(k)] = 1
        for token in self._number_tokens:
            j = seg.find(token)
            while j >= 0:
                covered[j + 1:j + len(token)] = b"\x01" * (len(token) - 1)
                j = seg.find(token, j + 1)
        return [i for i in range(1, n) if safe[i - 1] and safe[i] and not covered[i]]

    def _piece_by_cuts(self, seg: str, lcode: str | None, cuts: list[int]) -> Piece:
        """``seg`` as the concatenation of its pieces between ``cuts`` (each cached)."""
        texts: list[str] = []
        src_lens: list[int] = []
        rom_lens: list[int] = []
        for a, b in zip([0, *cuts], [*cuts, len(seg)]):
            sub = seg[a:b]
            p = self._pieces.get((sub, lcode))
            if p is None:
                p = self._piece_by_chars(sub, lcode) or self._piece_by_uroman(sub, lcode)
                self._pieces[(sub, lcode)] = p
            texts.append(p.romanized)
            src_lens.extend(p.src_lens)
            rom_lens.extend(p.rom_lens)
        self.stats["cut"] += 1
        return Piece("".join(texts), tuple(src_lens), tuple(rom_lens))

    def _piece_by_chars(self, seg: str, lcode: str | None) -> Piece | None:
        roms, table, blockers = [], self._chars, self._blockers
        for i, ch in enumerate(seg):
            key = (ch, lcode)
            r = table[key] if key in table else self.char_rom(ch, lcode)
            if r is None:
                return None
            b = blockers[key] if key in blockers else self.blockers(ch, lcode)
            if b and seg.startswith(b, i):
                return None
            roms.append(r)
        return Piece("".join(roms), (1,) * len(seg), tuple(map(len, roms)))

    def _piece_by_uroman(self, seg: str, lcode: str | None) -> Piece:
        edges, reads_left = uroman_edges(self.u, seg, lcode, observed=self.fast)
        src_lens, rom_lens, texts, pos = [], [], [], 0
        for e in edges:
            if e.start > pos:  # a character uroman skipped: map it to nothing
                src_lens.append(e.start - pos)
                rom_lens.append(0)
            src_lens.append(e.end - e.start)
            rom_lens.append(len(e.txt))
            texts.append(e.txt)
            pos = e.end
        if pos < len(seg):
            src_lens.append(len(seg) - pos)
            rom_lens.append(0)
        return Piece("".join(texts), tuple(src_lens), tuple(rom_lens), reads_left)

    def segmentable(self, text: str) -> bool:
        """Whether every character of ``text`` is in one of :data:`SEGMENT_SCRIPTS`."""
        chars = set(text)
        unknown = chars - self._segment_ok
        if not unknown:
            return True
        if all(self.script(ch) in SEGMENT_SCRIPTS for ch in unknown):
            self._segment_ok |= unknown
            return True
        return False

    def segments(self, text: str, lcode: str | None = None, keep_latin: bool = False) -> tuple[list[tuple[str, bool]], str]:
        """How ``text`` is romanized: ``([(segment, keep), ...], method)``."""
        segs, keeps, method = self._segments(text, lcode, keep_latin)
        return list(zip(segs, keeps or [False] * len(segs))), method

    def _segments(self, text: str, lcode: str | None, keep_latin: bool) -> tuple[list[str], list[bool] | None, str]:
        """Segments, which to keep as they are (None: none) and the method."""
        pieces = chunks(text)
        segmentable = self.fast and self.segmentable(text)
        if not keep_latin:
            if not segmentable:
                return [text], None, "whole"
            return (self._join_thai(pieces, lcode) if O_ANG in text else pieces), None, "segments"
        segs: list[str] = []
        keeps: list[bool] = []
        run: list[str] = []

        def flush() -> None:
            joined = (self._join_thai(run, lcode) if segmentable else ["".join(run)]) if run else []
            segs.extend(joined)
            keeps.extend([False] * len(joined))
            run.clear()

        for c in pieces:
            if all(self.script(ch) in ("", "Latin") for ch in c):
                flush()
                segs.append(c)
                keeps.append(True)
            else:
                run.append(c)
        flush()
        return segs, keeps, "keep-latin"

    def _join_thai(self, pieces: list[str], lcode: str | None) -> list[str]:
        """Group chunks into segments: a segment with Thai ``อ`` whose romanization read
        before its start is joined to the one before it (again, until none does)."""
        out: list[str] = []
        for c in pieces:
            out.append(c)
            while len(out) > 1 and O_ANG in out[-1] and self.piece(out[-1], lcode).reads_left:
                last = out.pop()
                out[-1] += last
        return out

    # ------------------------------------------------------------ sentences
    def romanize(self, text: str, lcode: str | None = None, keep_latin: bool = False) -> Romanized:
        """Romanize one sentence; ``lcode`` is an ISO 639-3 code (see :func:`uroman_lcode`)."""
        segs, keeps, method = self._segments(text, lcode, keep_latin)
        self.stats["whole" if method == "whole" else "segments"] += 1
        self.stats["lookups"] += len(segs)
        get = self._pieces.get
        if len(segs) == 1 and not keeps:
            p = get((segs[0], lcode)) or self.piece(segs[0], lcode)
            return Romanized(p.romanized, list(p.src_lens), list(p.rom_lens), method)
        parts: list[str] = []
        src_lens: list[int] = []
        rom_lens: list[int] = []
        for i, seg in enumerate(segs):
            if keeps and keeps[i]:
                parts.append(seg)
                src_lens.append(len(seg))
                rom_lens.append(len(seg))
                continue
            p = get((seg, lcode)) or self.piece(seg, lcode)
            parts.append(p.romanized)
            src_lens.extend(p.src_lens)
            rom_lens.extend(p.rom_lens)
        return Romanized("".join(parts), src_lens, rom_lens, method)


# ------------------------------------------------------------------ stage
_TOKEN = re.compile(r"\S+")
RAW_SCHEMA = pa.schema([("source", pa.string()), ("position", pa.int64()), ("lang", pa.string()),
                        ("text", pa.string())])


def romanized_id(lang: str, keep_latin: bool, text: str) -> str:
    """Id of a ``romanized`` row: equal inputs (language, option, text) share it."""
    return stable_id("romanize", lang, "keep-latin" if keep_latin else "", text)


class RomanizeStage(Stage):
    """Stage: rows ``(source, position, lang, text)`` -> ``romanized`` rows.

    One :class:`ExactRomanizer` per worker (built in :meth:`setup`); its caches persist
    across batches. A language code that has no ISO 639-3 equivalent rejects the row.
    """

    name = "romanize"

    def __init__(self, keep_latin: bool = False, cache_size: int = 500_000, char_table: bool = True,
                 fast_regex: bool = True):
        self.keep_latin = keep_latin
        self.options = {"cache_size": cache_size, "char_table": char_table, "fast_regex": fast_regex}
        self.rom: ExactRomanizer | None = None

    def setup(self) -> None:
        if self.rom is None:
            self.rom = ExactRomanizer(**self.options)

    def __getstate__(self) -> dict:
        return {**self.__dict__, "rom": None}  # workers build their own

    def __call__(self, batch: pa.RecordBatch) -> StageOutput:
        self.setup()
        rom = self.rom
        assert rom is not None
        n = batch.num_rows
        langs, texts, sources, positions = (batch.column(k).to_pylist() for k in ("lang", "text", "source", "position"))
        lcodes: dict[str, str | None] = {}
        rejects = []
        for lang, text, source, position in zip(langs, texts, sources, positions):
            if lang not in lcodes:
                try:
                    lcodes[lang] = uroman_lcode(lang)
                except LanguageError as exc:
                    rejects.append(Reject(source, position, self.name, str(exc), text))
        keep = [i for i in range(n) if langs[i] in lcodes] if rejects else range(n)
        if not keep:
            return StageOutput(None, rejects)
        cols: dict[str, list] = {"id": [], "romanized": [], "method": []}
        src_lens: list[int] = []
        rom_lens: list[int] = []
        n_edges: list[int] = []
        starts: list[int] = []
        ends: list[int] = []
        scripts: list[str] = []
        n_tokens: list[int] = []
        script_of = rom._token_scripts.get
        for i in keep:
            text, lang = texts[i], langs[i]
            out = rom.romanize(text, lcodes[lang], self.keep_latin)
            cols["id"].append(romanized_id(lang, self.keep_latin, text))
            cols["romanized"].append(out.romanized)
            cols["method"].append(out.method)
            src_lens.extend(out.src_lens)
            rom_lens.extend(out.rom_lens)
            n_edges.append(len(out.src_lens))
            before = len(starts)
            for m in _TOKEN.finditer(text):
                tok = m.group()
                starts.append(m.start())
                ends.append(m.end())
                scripts.append(script_of(tok) or rom.token_script(tok))
            n_tokens.append(len(starts) - before)
        c = contract("romanized")
        cols.update(lang=[langs[i] for i in keep], lcode=[lcodes[langs[i]] for i in keep],
                    text=[texts[i] for i in keep], source=[sources[i] for i in keep],
                    line=[positions[i] for i in keep])
        arrays = {k: pa.array(v, c.arrow_schema.field(k).type) for k, v in cols.items()}
        arrays["offsets"] = offsets_array(src_lens, rom_lens, n_edges)
        arrays["tokens"] = list_of_structs({"start": pa.array(starts, pa.int32()), "end": pa.array(ends, pa.int32()),
                                            "script": pa.array(scripts, pa.string())}, n_tokens)
        out_batch = pa.RecordBatch.from_arrays([arrays[k] for k in c.names], schema=c.arrow_schema)
        return StageOutput(c.validate(out_batch), rejects)


def offsets_array(src_lens: list[int], rom_lens: list[int], counts: list[int]) -> pa.ListArray:
    """``list<struct<start, end, rom_start, rom_end>>`` from per-row runs of edge lengths."""
    src = np.asarray(src_lens, dtype=np.int64)
    rmn = np.asarray(rom_lens, dtype=np.int64)
    bounds = np.zeros(len(counts) + 1, dtype=np.int64)
    np.cumsum(counts, out=bounds[1:])
    src_end, rom_end = np.cumsum(src), np.cumsum(rmn)
    first = bounds[:-1]
    nonempty = np.asarray(counts) > 0
    base_src = np.zeros(len(counts), dtype=np.int64)
    base_rom = np.zeros(len(counts), dtype=np.int64)
    base_src[nonempty] = (src_end - src)[first[nonempty]]
    base_rom[nonempty] = (rom_end - rmn)[first[nonempty]]
    reps = np.asarray(counts, dtype=np.int64)
    src_end = src_end - np.repeat(base_src, reps)
    rom_end = rom_end - np.repeat(base_rom, reps)
    fields = [pa.array((src_end - src).astype(np.int32)), pa.array(src_end.astype(np.int32)),
              pa.array((rom_end - rmn).astype(np.int32)), pa.array(rom_end.astype(np.int32))]
    return list_of_structs(dict(zip(["start", "end", "rom_start", "rom_end"], fields)), counts)


def list_of_structs(fields: dict[str, pa.Array], counts: list[int]) -> pa.ListArray:
    """A ``list<struct<...>>`` column: row i holds the next ``counts[i]`` struct values."""
    bounds = np.zeros(len(counts) + 1, dtype=np.int32)
    np.cumsum(counts, out=bounds[1:])
    struct = pa.StructArray.from_arrays(list(fields.values()), names=list(fields))
    return pa.ListArray.from_arrays(pa.array(bounds), struct)


# ------------------------------------------------------------ uroman core
_OBSERVED: type | None = None


def uroman_edges(u, s: str, lcode: str | None, observed: bool = True) -> tuple[list, bool]:
    """uroman's EDGES for ``s`` and whether its Thai ``อ`` rule read before ``s``'s start.

    ``observed`` (fast path, validated uroman version only): run the steps of
    ``romanize_string_core`` (``cache_size=0``, EDGES format) on a ``Lattice`` subclass that
    records when ``find_rom_edge_path_backwards`` (used only by the ``อ`` rule) runs out of
    string before finding a romanized character: inside a longer text it would have gone on
    into the text before. Otherwise: the public ``romanize_string`` call, and ``True`` for
    any string with ``อ`` (such a chunk would then be joined to the one before).
    """
    if not (observed and uroman_compat.validated()):
        from uroman import RomFormat

        return u.romanize_string(s, lcode=lcode, rom_format=RomFormat.EDGES), O_ANG in s
    lat = _observed_lattice()(s, uroman=u, lcode=lcode)
    lat.pick_tibetan_vowel_edge()
    lat.prep_braille()
    lat.add_romanization()
    lat.add_numbers(u)
    lat.add_braille_numbers()
    lat.add_rom_fall_back_singles()
    return lat.best_rom_edge_path(0, len(s)), lat.reads_left


def _observed_lattice() -> type:
    global _OBSERVED
    if _OBSERVED is None:
        from uroman.uroman import Lattice, NumEdge

        class ObservedLattice(Lattice):
            """uroman's lattice, recording backward searches that run out of string, with
            exact shortcuts for three hot spots (checked with the validated uroman version):
            one Braille test per string instead of one per character, ``str.startswith``
            for the ``(?:rom|num)`` edge-type test, and no number pass over a string
            without a character that has a numeric value (the pass then adds nothing)."""

            reads_left = False

            def find_rom_edge_path_backwards(self, start, end, min_char=None, return_str=False,
                                             skip_num_edge=False):
                out = super().find_rom_edge_path_backwards(start, end, min_char, return_str, skip_num_edge)
                rom = out if return_str else "".join(e.txt for e in out)
                if start == 0 and (min_char is None or len(rom) < min_char):
                    self.reads_left = True
                return out

            def check_for_scripts(self):
                scripts, name = self.contains_script, self.uroman.chr_script_name
                for c in self.s:
                    scripts[name(c)] = True
                if _BRAILLE.search(self.s):
                    scripts["Braille"] = True

            def best_edge_in_span(self, start, end, skip_num_edge=False):
                decomp_edge = other_edge = rom_edge = None
                for edge in self.lattice[(start, end)]:
                    if isinstance(edge, NumEdge):
                        if skip_num_edge:
                            continue
                        if edge.active:
                            return edge
                    if edge.type.startswith("rom decomp"):
                        if decomp_edge is None:
                            decomp_edge = edge
                    elif edge.type.startswith(("rom", "num")):
                        if rom_edge is None:
                            rom_edge = edge
                    elif other_edge is None:
                        other_edge = edge
                return rom_edge or decomp_edge or other_edge

            def add_numbers(self, uroman, **args):
                if args.get("verbose") or any(_has_number(c, uroman) for c in self.s):
                    super().add_numbers(uroman, **args)

        _OBSERVED = ObservedLattice
    return _OBSERVED


_BRAILLE = re.compile("[\u2800-\u28ff]")
_NUMBER_CHARS: dict[str, bool] = {}


def _has_number(c: str, u) -> bool:
    """Whether uroman's number pass can act on ``c``: it has number properties or a
    Unicode numeric value."""
    hit = _NUMBER_CHARS.get(c)
    if hit is None:
        hit = _NUMBER_CHARS[c] = bool(u.num_props.get(c)) or unicodedata.numeric(c, None) is not None
    return hit
