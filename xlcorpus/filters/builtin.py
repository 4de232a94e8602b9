"""Built-in filters computed with Arrow's (RE2) string kernels: lengths, length ratio,
script agreement, numbers / URLs / punctuation mismatch, unaligned share.

Lengths count ``char`` (code points) or ``word``: a run of characters between spaces, where
each character of a script written without spaces (Han, Hiragana, Katakana, Thai, Lao,
Khmer, Myanmar) counts as one word, so that Chinese and English lengths compare.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, ClassVar, Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import regex

from ..engine.core import TableSource
from ..params import Ge, Gt, Help, Ratio
from .base import Filter, reason_where

_NOSPACE = r"\p{Han}\p{Hiragana}\p{Katakana}\p{Thai}\p{Lao}\p{Khmer}\p{Myanmar}"
WORD = rf"[{_NOSPACE}]|[^\s{_NOSPACE}]+"
Unit = Literal["char", "word"]


def count_chars(arr: pa.Array, char_class: str) -> pa.Array:
    """Characters of each string in ``char_class`` (an RE2 class body such as ``\\pL``):
    every other run deleted, then measured (for dense classes such as letters, faster than
    counting one-character matches; sparse ones are counted)."""
    return pc.utf8_length(pc.replace_substring_regex(arr, f"[^{char_class}]+", ""))


def lengths(arr: pa.Array, unit: str) -> pa.Array:
    """Length of each string in code points or words (see the module doc)."""
    if unit == "char":
        return pc.utf8_length(arr)
    return pc.count_substring_regex(arr, WORD)


@dataclass
class Length(Filter):
    """Each side's length within [min, max] (``length_src``, ``length_tgt``)."""

    name: ClassVar[str] = "length"
    min: Annotated[int, Ge(0), Help("shortest side kept")] = 1
    max: Annotated[int, Gt(0), Help("longest side kept")] = 1000
    unit: Annotated[Unit, Help("count code points or words")] = "char"

    def columns(self):
        return {f"{self.key}_src": pa.int32(), f"{self.key}_tgt": pa.int32()}

    def score(self, batch):
        return {f"{self.key}_{s}": lengths(batch.column(s), self.unit).cast(pa.int32()) for s in ("src", "tgt")}

    def accept(self, scores):
        src, tgt = scores[f"{self.key}_src"], scores[f"{self.key}_tgt"]
        return pc.coalesce(reason_where(pc.or_(pc.less(src, self.min), pc.less(tgt, self.min)), "too_short"),
                           reason_where(pc.or_(pc.greater(src, self.max), pc.greater(tgt, self.max)), "too_long"))


@dataclass
class LengthRatio(Filter):
    """Longer side over shorter side (at least 1 each): ``length_ratio`` <= max."""

    name: ClassVar[str] = "length_ratio"
    max: Annotated[float, Ge(1.0), Help("largest ratio kept")] = 3.0
    unit: Annotated[Unit, Help("count code points or words")] = "word"

    def score(self, batch):
        a = pc.max_element_wise(lengths(batch.column("src"), self.unit), 1).cast(pa.float64())
        b = pc.max_element_wise(lengths(batch.column("tgt"), self.unit), 1).cast(pa.float64())
        return {self.key: pc.divide(pc.max_element_wise(a, b), pc.min_element_wise(a, b))}

    def accept(self, scores):
        return reason_where(pc.greater(scores[self.key], self.max), "above_max")


# ISO 15924 script -> RE2 script classes that write it
_SCRIPTS = {"Latn": ["Latin"], "Cyrl": ["Cyrillic"], "Arab": ["Arabic"], "Hebr": ["Hebrew"], "Grek": ["Greek"],
            "Deva": ["Devanagari"], "Beng": ["Bengali"], "Hans": ["Han"], "Hant": ["Han"], "Hani": ["Han"],
            "Jpan": ["Han", "Hiragana", "Katakana"], "Kore": ["Hangul", "Han"], "Hang": ["Hangul"],
            "Thai": ["Thai"], "Ethi": ["Ethiopic"], "Geor": ["Georgian"], "Armn": ["Armenian"],
            "Taml": ["Tamil"], "Telu": ["Telugu"], "Knda": ["Kannada"], "Mlym": ["Malayalam"],
            "Gujr": ["Gujarati"], "Guru": ["Gurmukhi"], "Orya": ["Oriya"], "Sinh": ["Sinhala"],
            "Khmr": ["Khmer"], "Laoo": ["Lao"], "Mymr": ["Myanmar"], "Tibt": ["Tibetan"], "Mong": ["Mongolian"],
            "Thaa": ["Thaana"], "Syrc": ["Syriac"]}


def expected_script(lang: str) -> list[str] | None:
    """RE2 script names for a language code (``langcodes``' likely script), None if unknown."""
    import langcodes

    try:
        script = langcodes.Language.get(lang).maximize().script
    except (ValueError, langcodes.LanguageTagError):
        return None
    return _SCRIPTS.get(script or "")


@dataclass
class Script(Filter):
    """Share of each side's letters written in its language's script (``script_src``,
    ``script_tgt``, null when the script is unknown or the side has no letter) >= min_share."""

    name: ClassVar[str] = "script"
    needs: ClassVar[tuple[str, ...]] = ("src", "tgt", "src_lang", "tgt_lang")
    min_share: Annotated[Ratio, Help("smallest share of letters in the expected script")] = 0.8

    def columns(self):
        return {f"{self.key}_src": pa.float64(), f"{self.key}_tgt": pa.float64()}

    def score(self, batch):
        out = {}
        for side in ("src", "tgt"):
            text, langs = batch.column(side), batch.column(f"{side}_lang")
            share = np.full(batch.num_rows, np.nan)
            letters = count_chars(text, r"\pL").to_numpy(zero_copy_only=False).astype(float)
            for lang in pc.unique(langs).to_pylist():  # each row scanned once, with its language's script
                scripts = expected_script(lang)
                if not scripts:
                    continue
                idx = pc.indices_nonzero(pc.equal(langs, lang)).to_numpy()
                hits = count_chars(pc.take(text, idx), "".join(rf"\p{{{s}}}" for s in scripts))
                with np.errstate(divide="ignore", invalid="ignore"):
                    share[idx] = np.where(letters[idx] > 0, hits.to_numpy(zero_copy_only=False) / letters[idx], np.nan)
            out[f"{self.key}_{side}"] = pa.array(share, pa.float64(), mask=np.isnan(share))
        return out

    def accept(self, scores):
        return pc.coalesce(reason_where(pc.less(scores[f"{self.key}_src"], self.min_share), "src"),
                           reason_where(pc.less(scores[f"{self.key}_tgt"], self.min_share), "tgt"))


def _agreement(src: pa.Array, tgt: pa.Array, pattern: str, clean=lambda s: s) -> pa.Array:
    """Per row: items matching ``pattern`` found on both sides / items on the side with more
    (multisets); 1.0 when neither side has any. Only rows where RE2 finds a match are
    scanned (with ``regex``, same pattern)."""
    rx = regex.compile(pattern)
    has = pc.or_(pc.match_substring_regex(src, pattern), pc.match_substring_regex(tgt, pattern))
    idx = pc.indices_nonzero(has).to_pylist()
    values = [1.0] * len(src)
    if idx:
        s_rows = pc.take(src, pa.array(idx)).to_pylist()
        t_rows = pc.take(tgt, pa.array(idx)).to_pylist()
        for i, a, b in zip(idx, s_rows, t_rows):
            ca = Counter(clean(x) for x in rx.findall(a))
            cb = Counter(clean(x) for x in rx.findall(b))
            values[i] = sum((ca & cb).values()) / max(sum(ca.values()), sum(cb.values()))
    return pa.array(values, pa.float64())


@dataclass
class Numbers(Filter):
    """Numbers (runs of decimal digits of any script, compared by value) shared by both
    sides: ``numbers`` >= min_score."""

    name: ClassVar[str] = "numbers"
    min_score: Annotated[Ratio, Help("smallest share of numbers found on both sides")] = 0.5

    def score(self, batch):
        return {self.key: _agreement(batch.column("src"), batch.column("tgt"), r"\p{Nd}+", lambda s: str(int(s)))}

    def accept(self, scores):
        return reason_where(pc.less(scores[self.key], self.min_score), "mismatch")


URL = r"(?:https?://|www\.)[^\s<>\"']+[^\s<>\"'.,;:!?)]"


@dataclass
class Urls(Filter):
    """URLs found on both sides: ``urls`` >= min_score (1.0: every URL on both sides)."""

    name: ClassVar[str] = "urls"
    min_score: Annotated[Ratio, Help("smallest share of URLs found on both sides")] = 1.0

    def score(self, batch):
        return {self.key: _agreement(batch.column("src"), batch.column("tgt"), URL)}

    def accept(self, scores):
        return reason_where(pc.less(scores[self.key], self.min_score), "mismatch")


@dataclass
class Punctuation(Filter):
    """Punctuation counts of the two sides: ``punctuation`` = 1 - |a - b| / (a + b) (1.0 when
    neither has any) >= min_score."""

    name: ClassVar[str] = "punctuation"
    min_score: Annotated[Ratio, Help("smallest agreement of punctuation counts")] = 0.2

    def score(self, batch):
        a = pc.count_substring_regex(batch.column("src"), r"\pP").cast(pa.float64())  # sparse: count matches
        b = pc.count_substring_regex(batch.column("tgt"), r"\pP").cast(pa.float64())
        total = pc.add(a, b)
        value = pc.subtract(1.0, pc.divide(pc.abs(pc.subtract(a, b)), pc.if_else(pc.equal(total, 0), 1.0, total)))
        return {self.key: value}

    def accept(self, scores):
        return reason_where(pc.less(scores[self.key], self.min_score), "mismatch")


@dataclass
class Unaligned(Filter):
    """Share of tokens without a word link in ``bitext_aligned`` (both sides together), by
    pair id: ``unaligned`` <= max (null, and kept, when the pair was not aligned)."""

    name: ClassVar[str] = "unaligned"
    needs: ClassVar[tuple[str, ...]] = ("id",)
    max: Annotated[Ratio, Help("largest share of unaligned tokens kept")] = 0.5
    table: Annotated[str, Help("the alignment table (pair_id, src_tokens, tgt_tokens, alignment)")] = "bitext_aligned"

    def prepare(self, workdir, source: TableSource):
        import pyarrow.feather as feather

        from ..errors import PipelineError

        store = source.store.open() if hasattr(source.store, "open") else source.store
        if not store.exists(self.table):
            raise PipelineError(f"filter {self.key!r}: no table {self.table!r} in the store (run an alignment first)")
        t = store.to_arrow(self.table, columns=["pair_id", "src_tokens", "tgt_tokens", "alignment"])
        n = pc.add(pc.list_value_length(t["src_tokens"]), pc.list_value_length(t["tgt_tokens"]))
        shares = []
        for n_tok, links in zip(n.to_pylist(), t["alignment"].to_pylist()):
            linked = len({link["s"] for link in links}) + len({link["t"] for link in links})
            shares.append(1.0 - linked / n_tok if n_tok else None)
        self.path = str(Path(workdir) / f"unaligned-{self.key}.arrow")
        feather.write_feather(pa.table({"id": t["pair_id"], "share": pa.array(shares, pa.float64())}), self.path)

    def setup(self):
        import pyarrow.feather as feather

        t = feather.read_table(self.path)
        self._share = dict(zip(t["id"].to_pylist(), t["share"].to_pylist()))

    def score(self, batch):
        return {self.key: pa.array([self._share.get(i) for i in batch.column("id").to_pylist()], pa.float64())}

    def accept(self, scores):
        return reason_where(pc.greater(scores[self.key], self.max), "above_max")
