"""The EntityCS algorithm, vectorised over Arrow batches with NumPy.

Given ``wiki_sentences`` rows (text + links with QIDs) and the Wikidata labels, produce
``entitycs`` rows:

1. **filter** sentences (EntityCS defaults, each a parameter): at least one link with a
   QID; more than ``min_chars`` characters; at most ``max_words`` words; at most
   ``max_links`` links; not a single link covering more than ``max_link_share`` of the
   text; no markup residue (table attributes, ``{{``, ``[[``, ``File:``/``Image:``);
2. **target languages**: the intersection, over the sentence's entities with a QID, of
   the languages (within ``languages``) in which the item has a label (with
   ``keep_unlabeled``: the union, entities without a label staying in the source language);
   up to ``k`` of them are sampled per sentence, one output sentence each;
3. **switch** each entity with probability ``switch_prob`` to its label, or with
   probability ``alias_prob`` to one of its aliases, in that language.

Every random draw is a counter-based hash of (seed, sentence id, language, link), see
:mod:`.rng`: the output does not depend on batch size or workers, and
:mod:`.reference` (a plain per-row implementation) gives the identical table.

Strings are never built row by row: code-point offsets are mapped to byte offsets over the
UTF-8 buffers, and output texts are assembled by gathering byte ranges from the source
text, label and marker buffers in one NumPy pass.
"""

from __future__ import annotations

import functools
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..ids import params_fingerprint, seed_for
from ..params import Ge, Help, LangCode, PositiveInt, Ratio, validate
from ..schema import contract
from . import rng

# The 93 languages of the EntityCS corpus (XLM-R's languages with Wikidata labels).
XLMR_LANGUAGES: tuple[str, ...] = tuple("""
af am ar as az be bg bn br bs ca cs cy da de el en eo es et eu fa fi fr fy ga gd gl gu ha he
hi hr hu hy id is it ja jv ka kk km kn ko ku ky la lo lt lv mg mk ml mn mr ms my nb ne nl om
or pa pl ps pt ro ru sa sd si sk sl so sq sr su sv sw ta te th tl tr ug uk ur uz vi xh yi zh
""".split())

# Markup residue: table/template syntax, attributes, file links (same semantics in RE2 and re).
RESIDUE = (r"\{\{|\}\}|\{\||\|\}|\[\[|\]\]|(?:File|Image|Category):|"
           r"(?:style|colspan|rowspan|bgcolor|cellpadding|cellspacing|valign|align|class)[ \t]*=|"
           r"\|[ \t]*[A-Za-z_-]+[ \t]*=")
WORD = r"[^ \t\n\r\f\v]+"


@dataclass
class CSConfig:
    """Parameters of the code-switching algorithm (defaults from EntityCS), checked when built."""

    src_lang: Annotated[LangCode, Help("language of the Wikipedia dump")] = "en"
    languages: Annotated[list[LangCode], Help("target languages")] = field(default_factory=lambda: list(XLMR_LANGUAGES))
    k: Annotated[PositiveInt, Help("target languages sampled per sentence")] = 5
    switch_prob: Annotated[Ratio, Help("probability of switching each entity")] = 1.0
    alias_prob: Annotated[Ratio, Help("probability of using an alias instead of the label")] = 0.0
    keep_unlabeled: Annotated[bool, Help("keep entities without a label in the target language")] = False
    markers: Annotated[Literal["entity", "lang"], Help("<e>..</e> or <de>..</de> around switched entities")] = "entity"
    seed: Annotated[int, Help("sampling seed")] = 0
    min_chars: Annotated[int, Ge(0), Help("keep sentences longer than this")] = 20
    max_words: Annotated[PositiveInt, Help("keep sentences of at most this many words")] = 128
    max_links: Annotated[PositiveInt, Help("keep sentences with at most this many links")] = 10
    max_link_share: Annotated[Ratio, Help("largest share of the sentence covered by links")] = 0.5

    def __post_init__(self) -> None:
        validate(self)

    @functools.cached_property
    def targets(self) -> tuple[str, ...]:
        """The target languages, in order, without the source language."""
        return tuple(dict.fromkeys(lang for lang in self.languages if lang != self.src_lang))

    @property
    def base_seed(self) -> int:
        return seed_for(self.seed, "entitycs")

    @property
    def params_key(self) -> int:
        """Hash of the parameters that shape a row's content (part of its id)."""
        fp = params_fingerprint({"seed": self.seed, "switch": self.switch_prob, "alias": self.alias_prob,
                                 "keep": self.keep_unlabeled, "markers": self.markers})
        return int(fp[:16], 16)

    def markers_for(self, lang: str) -> tuple[str, str]:
        if self.markers == "lang":
            return f"<{lang}>", f"</{lang}>"
        return "<e>", "</e>"


def qid_numbers(qids: pa.Array) -> np.ndarray:
    """``Q123`` -> 123; -1 for null or anything else (properties, lexemes, junk)."""
    qids = qids.cast(pa.string())
    ok = pc.fill_null(pc.match_substring_regex(qids, r"^Q[0-9]{1,18}$"), False)
    digits = pc.if_else(ok, pc.utf8_slice_codeunits(qids, 1), pa.scalar("-1"))
    return pc.cast(digits, pa.int64()).to_numpy(zero_copy_only=False).copy()


def _large(arr: pa.Array | pa.ChunkedArray) -> pa.Array:
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks() if arr.num_chunks else pa.array([], arr.type)
    return arr.cast(pa.large_string())


def string_buffers(arr: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """(data bytes, int64 offsets of each element) of a string array (no copy of the data)."""
    arr = _large(arr)
    n = len(arr)
    bufs = arr.buffers()
    offsets = np.frombuffer(bufs[1], dtype=np.int64)[arr.offset: arr.offset + n + 1] if bufs[1] else np.zeros(1, np.int64)
    data = np.frombuffer(bufs[2], dtype=np.uint8) if bufs[2] is not None and bufs[2].size else np.zeros(0, np.uint8)
    return data, offsets


class LabelIndex:
    """Labels and aliases per (item, target language) as sorted NumPy keys + Arrow strings.

    ``keys[i] = item_position * L + language_index`` (sorted); ``mask[item]`` has bit ``l``
    set when the item has a label in target language ``l``. So an item's labels are the
    rows ``first[item]`` onwards, one per set bit in language order, and the label row of
    (item, language) is ``first[item]`` plus the number of set bits below the language's.
    """

    def __init__(self, labels: pa.Table, targets: tuple[str, ...]):
        self.targets = targets
        L = len(targets)
        self.words = max(1, (L + 63) // 64)
        t = labels.select(["qid", "lang", "label", "aliases"])
        t = t.filter(pc.and_(pc.is_in(t["lang"], pa.array(list(targets), pa.string())), pc.is_valid(t["label"])))
        qnum = qid_numbers(t["qid"].combine_chunks() if t.num_rows else pa.array([], pa.string()))
        lidx = pc.index_in(t["lang"], pa.array(list(targets), pa.string())).to_numpy(zero_copy_only=False)
        keep = qnum >= 0
        qnum, lidx = qnum[keep], lidx[keep].astype(np.int64)
        t = t.filter(pa.array(keep))
        self.qnum, inv = np.unique(qnum, return_inverse=True)
        keys = inv.astype(np.int64) * L + lidx
        order = np.argsort(keys, kind="stable")
        keys = keys[order]
        first = np.ones(len(keys), dtype=bool)
        first[1:] = keys[1:] != keys[:-1]
        order, self.keys = order[first], keys[first]
        take = pa.array(order, pa.int64())
        self.label = _large(t["label"].take(take))
        aliases = t["aliases"].take(take)
        aliases = aliases.combine_chunks() if aliases.num_chunks else pa.array([], pa.list_(pa.string()))
        aliases = pc.fill_null(aliases, pa.scalar([], pa.list_(pa.string())))
        loff = np.asarray(aliases.offsets, dtype=np.int64)
        self.alias_start = loff[:-1] - loff[0]
        self.alias_count = np.diff(loff)
        self.alias = _large(aliases.flatten())
        self.mask = np.zeros((len(self.qnum), self.words), dtype=np.uint64)
        item = self.keys // max(L, 1)
        lang = self.keys % max(L, 1)
        for w in range(self.words):
            sel = (lang // 64) == w
            np.bitwise_or.at(self.mask[:, w], item[sel], np.left_shift(np.uint64(1), (lang[sel] % 64).astype(np.uint64)))
        bits = np.bitwise_count(self.mask).astype(np.int64)  # labels per (item, mask word)
        self.first = _segment_starts(bits.sum(axis=1))[:-1]
        self.bits_before = np.cumsum(bits, axis=1) - bits  # labels in the item's earlier words

    def __len__(self) -> int:
        return len(self.keys)

    def items(self, qnum: np.ndarray) -> np.ndarray:
        """Position of each item number in the index, -1 when absent."""
        if not len(self.qnum):
            return np.full(len(qnum), -1, dtype=np.int64)
        pos = np.searchsorted(self.qnum, qnum)
        pos = np.minimum(pos, len(self.qnum) - 1)
        return np.where((self.qnum[pos] == qnum) & (qnum >= 0), pos, -1)

    def rows(self, item: np.ndarray, lang: np.ndarray) -> np.ndarray:
        """Label row of (item position, language index), -1 when there is no label."""
        if not len(self.keys):
            return np.full(len(item), -1, dtype=np.int64)
        it = np.where(item >= 0, item, 0)
        word = lang // 64
        bit = (lang % 64).astype(np.uint64)
        m = self.mask[it, word]
        has = (item >= 0) & ((m >> bit) & np.uint64(1)).astype(bool)
        below = np.bitwise_count(m & ((np.uint64(1) << bit) - np.uint64(1))).astype(np.int64)
        return np.where(has, self.first[it] + self.bits_before[it, word] + below, -1)

    # Saved as three Arrow IPC files that every worker memory-maps: the pages are shared
    # through the page cache, so N workers hold one copy of the index, not N.
    def save(self, folder: str | os.PathLike[str]) -> str:
        """Write the index under ``folder`` (created); return the folder."""
        path = Path(folder)
        path.mkdir(parents=True, exist_ok=True)
        items = {"qnum": pa.array(self.qnum, pa.int64()), "first": pa.array(self.first, pa.int64())}
        for w in range(self.words):
            items[f"mask{w}"] = pa.array(self.mask[:, w], pa.uint64())
            items[f"before{w}"] = pa.array(self.bits_before[:, w], pa.int64())
        rows = {"keys": pa.array(self.keys, pa.int64()), "label": self.label,
                "alias_start": pa.array(self.alias_start, pa.int64()),
                "alias_count": pa.array(self.alias_count, pa.int64())}
        for name, cols in (("items", items), ("rows", rows), ("alias", {"alias": self.alias})):
            table = pa.table(cols)
            with pa.OSFile(str(path / f"{name}.arrow"), "wb") as sink, pa.ipc.new_file(sink, table.schema) as w:
                w.write_table(table)
        (path / "targets.json").write_text(json.dumps(list(self.targets)), encoding="utf-8")
        return str(path)

    @classmethod
    def load(cls, folder: str | os.PathLike[str]) -> LabelIndex:
        """Memory-map an index written by :meth:`save` (zero-copy: nothing is read up front)."""
        path = Path(folder)
        self = cls.__new__(cls)
        self.targets = tuple(json.loads((path / "targets.json").read_text(encoding="utf-8")))
        self.words = max(1, (len(self.targets) + 63) // 64)

        def columns(name: str) -> dict[str, pa.Array]:
            table = pa.ipc.open_file(pa.memory_map(str(path / f"{name}.arrow"))).read_all()
            return {c: _single(table[c]) for c in table.column_names}

        items, rows, alias = columns("items"), columns("rows"), columns("alias")
        self.qnum, self.first = _view(items["qnum"]), _view(items["first"])
        self.mask = _columns(items, "mask", self.words, np.uint64)
        self.bits_before = _columns(items, "before", self.words, np.int64)
        self.keys, self.label = _view(rows["keys"]), rows["label"]
        self.alias_start, self.alias_count = _view(rows["alias_start"]), _view(rows["alias_count"])
        self.alias = alias["alias"]
        return self


def _columns(cols: dict[str, pa.Array], prefix: str, words: int, dtype) -> np.ndarray:
    """The 2-D array saved as columns ``prefix0..`` (one per mask word; a view when one)."""
    arrays = [_view(cols[f"{prefix}{w}"]) for w in range(words)]
    if not len(arrays[0]):
        return np.zeros((0, words), dtype)
    return arrays[0].reshape(-1, 1) if words == 1 else np.stack(arrays, axis=1)


def _single(col: pa.ChunkedArray) -> pa.Array:
    return col.chunk(0) if col.num_chunks == 1 else col.combine_chunks()


def _view(arr: pa.Array) -> np.ndarray:
    """A NumPy view of an Arrow array without nulls (no copy when memory-mapped)."""
    return arr.to_numpy(zero_copy_only=True) if len(arr) else np.zeros(0, arr.type.to_pandas_dtype())


def _ranges(starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Concatenation of ``arange(s, s + n)`` for each (s, n), vectorised."""
    total = int(lengths.sum())
    if total == 0:
        return np.zeros(0, dtype=np.int64)
    excl = np.cumsum(lengths) - lengths
    return np.repeat(starts - excl, lengths) + np.arange(total, dtype=np.int64)


def source_pieces(text: pa.Array, start: np.ndarray, end: np.ndarray, valid: np.ndarray,
                  link_offsets: np.ndarray) -> tuple[pa.Array, np.ndarray, np.ndarray]:
    """Cut every sentence at the boundaries of its valid links (sorted, non-overlapping):
    ``gap, link, gap, link, ..., tail``. Returns the pieces as a zero-copy string array over
    the text buffer, each sentence's first piece index (n + 1) and each link's piece index
    (-1 for invalid links)."""
    n = len(text)
    data, toff = string_buffers(text)
    cont = (data[toff[0]: toff[-1]] & 0xC0) == 0x80
    char_byte = np.r_[np.flatnonzero(~cont), len(cont)].astype(np.int64) + toff[0]
    cp_base = _segment_starts(rng.pc_len(text))
    sent = np.repeat(np.arange(n, dtype=np.int64), np.diff(link_offsets))
    v = np.flatnonzero(valid)
    n_valid = np.bincount(sent[v], minlength=n)
    piece_first = _segment_starts(2 * n_valid + 1)
    # boundaries: sentence start, then each valid link's start and end
    bounds = np.empty(piece_first[-1] + 1, dtype=np.int64)
    bounds[piece_first[:-1]] = toff[:-1]
    bounds[-1] = toff[-1]
    rank = np.arange(len(v), dtype=np.int64) - _segment_starts(n_valid)[sent[v]]
    at = piece_first[sent[v]] + 2 * rank
    bounds[at + 1] = char_byte[cp_base[sent[v]] + start[v]]
    bounds[at + 2] = char_byte[cp_base[sent[v]] + end[v]]
    link_piece = np.full(len(start), -1, dtype=np.int64)
    link_piece[v] = at + 1
    arr = pa.LargeStringArray.from_buffers(len(bounds) - 1, pa.py_buffer(bounds), pa.py_buffer(data))
    return arr, piece_first, link_piece


def concat_pieces(row_offsets: np.ndarray, pieces: pa.Array) -> pa.Array:
    """Join consecutive ``pieces`` into one string per row (``row_offsets``: n_rows + 1)."""
    lists = pa.LargeListArray.from_arrays(pa.array(row_offsets.astype(np.int64)), pieces)
    return pc.binary_join(lists, pa.scalar("", pa.large_string())).cast(pa.string())


def _segment_starts(counts: np.ndarray) -> np.ndarray:
    out = np.zeros(len(counts) + 1, dtype=np.int64)
    np.cumsum(counts, out=out[1:])
    return out


_WORD_SPACE = np.zeros(256, dtype=bool)
_WORD_SPACE[list(b" \t\n\r\f\v")] = True  # the bytes WORD's runs stop at (all ASCII)


def word_counts(text: pa.Array) -> np.ndarray:
    """Matches of :data:`WORD` per string (runs of bytes other than ASCII whitespace; a
    UTF-8 multi-byte character never contains one), counted over the UTF-8 buffer."""
    data, off = string_buffers(text)
    seg = data[off[0]: off[-1]]
    space = _WORD_SPACE[seg]
    start = ~space
    start[1:] &= space[:-1]
    rel = off - off[0]
    firsts = rel[:-1][rel[:-1] < len(seg)]
    start[firsts] = ~space[firsts]  # a string's first byte starts a word unless blank
    return np.diff(np.searchsorted(np.flatnonzero(start), rel))


def sentence_filter(text: pa.Array, n_links: np.ndarray, n_qid: np.ndarray, single_len: np.ndarray,
                    cfg: CSConfig, dropped: dict[str, int] | None = None) -> np.ndarray:
    """Boolean keep-mask of the EntityCS sentence filters (the residue regex only runs on
    sentences that pass the cheap ones). ``dropped`` counts the dropped sentences by the
    first filter each fails: ``no_qid``, ``min_chars``, ``max_links``, ``max_link_share``,
    ``max_words``, ``markup``."""
    length = rng.pc_len(text)
    covered = (n_links == 1) & (single_len > cfg.max_link_share * length)
    tests = [("no_qid", n_qid >= 1), ("min_chars", length > cfg.min_chars),
             ("max_links", n_links <= cfg.max_links), ("max_link_share", ~covered),
             ("max_words", word_counts(text) <= cfg.max_words)]
    keep = np.ones(len(length), dtype=bool)
    for reason, ok in tests:
        _count(dropped, reason, keep & ~ok)
        keep &= ok
    rows = np.flatnonzero(keep)
    if len(rows):
        sub = text.take(pa.array(rows, pa.int64()))
        residue = pc.match_substring_regex(sub, RESIDUE).to_numpy(zero_copy_only=False).astype(bool)
        _count(dropped, "markup", residue)
        keep[rows] = ~residue
    return keep


def _count(dropped: dict[str, int] | None, reason: str, mask: np.ndarray) -> None:
    n = int(mask.sum())
    if dropped is not None and n:
        dropped[reason] = dropped.get(reason, 0) + n


def code_switch(batch: pa.RecordBatch | pa.Table, index: LabelIndex, cfg: CSConfig,
                dropped: dict[str, int] | None = None, counts: dict[str, int] | None = None) -> pa.RecordBatch:
    """``wiki_sentences`` rows -> ``entitycs`` rows (vectorised); ``dropped`` counts the
    sentences the filters drop, by reason (see :func:`sentence_filter`); ``counts`` gets the
    sentences read, those with a link to a known QID (one with a label in a target
    language) and those the filters kept."""
    if isinstance(batch, pa.Table):
        batch = batch.combine_chunks().to_batches()[0] if batch.num_rows else contract("wiki_sentences").empty()
    out_contract = contract("entitycs")
    n = batch.num_rows
    if counts is not None:
        counts.update({"sentences": n, "with known QIDs": 0, "kept by the filters": 0})
    if n == 0:
        return out_contract.empty()
    text = batch.column("text")
    links = batch.column("links")
    lo = np.asarray(links.offsets, dtype=np.int64)
    lo = lo - lo[0]
    n_links = np.diff(lo)
    flat = links.flatten()
    f_start = flat.field("start").to_numpy(zero_copy_only=False).astype(np.int64)
    f_end = flat.field("end").to_numpy(zero_copy_only=False).astype(np.int64)
    f_qid = flat.field("qid")
    f_sent = np.repeat(np.arange(n, dtype=np.int64), n_links)
    f_ord = np.arange(len(f_start), dtype=np.int64) - lo[f_sent]
    qnum = qid_numbers(f_qid)
    # a link overlapping the previous one of its sentence (or malformed) is not an entity
    prev_end = np.zeros(len(f_start), dtype=np.int64)
    if len(f_start) > 1:
        prev_end[1:] = f_end[:-1]
    prev_end[f_ord == 0] = 0
    bad = (f_start < prev_end) | (f_end <= f_start) | (f_start < 0) | (f_end > rng.pc_len(text)[f_sent])
    qnum[bad] = -1
    has_qid = qnum >= 0
    n_qid = np.bincount(f_sent, weights=has_qid, minlength=n).astype(np.int64)
    single = np.zeros(n, dtype=np.int64)
    one = n_links[f_sent] == 1
    single[f_sent[one]] = (f_end - f_start)[one]
    keep = sentence_filter(text, n_links, n_qid, single, cfg, dropped)
    item = index.items(qnum)
    if counts is not None:
        counts["with known QIDs"] = int(np.count_nonzero(np.bincount(f_sent, weights=item >= 0, minlength=n)))
        counts["kept by the filters"] = int(np.count_nonzero(keep))

    # ---- candidate languages (bit masks) per kept sentence
    L = len(index.targets)
    ent = keep[f_sent] & has_qid
    emask = np.zeros((len(f_start), index.words), dtype=np.uint64)
    found = item >= 0
    emask[found] = index.mask[item[found]]
    ent_idx = np.flatnonzero(ent)
    sent_of_ent = f_sent[ent_idx]
    group_start = np.flatnonzero(np.r_[True, sent_of_ent[1:] != sent_of_ent[:-1]]) if len(ent_idx) else np.zeros(0, np.int64)
    reduce = np.bitwise_or if cfg.keep_unlabeled else np.bitwise_and
    cand_bits = reduce.reduceat(emask[ent_idx], group_start, axis=0) if len(ent_idx) else np.zeros((0, index.words), np.uint64)
    kept = sent_of_ent[group_start] if len(ent_idx) else np.zeros(0, np.int64)
    bit = np.arange(L, dtype=np.uint64)
    cand = ((cand_bits[:, (bit // np.uint64(64)).astype(np.int64)] >> (bit % np.uint64(64))) & np.uint64(1)).astype(bool)

    # ---- sample up to k languages: the k smallest pair keys among the candidates
    ids = batch.column("id")
    row_seed = rng.mix64_np(rng.id_hash_np(ids)[kept] ^ np.uint64(cfg.base_seed))
    lang_keys = np.array([rng.lang_key(t) for t in index.targets], dtype=np.uint64)
    pair = rng.mix64_np(row_seed[:, None] ^ lang_keys[None, :])
    maxkey = np.iinfo(np.uint64).max
    pair = np.where(cand, pair, np.uint64(maxkey))
    k = min(cfg.k, L)
    if k < L:  # the k smallest keys per row (keys are distinct 64-bit hashes), then in order
        part = np.argpartition(pair, k - 1, axis=1)[:, :k]
        order = np.take_along_axis(part, np.argsort(np.take_along_axis(pair, part, axis=1), axis=1, kind="stable"), axis=1)
    else:
        order = np.argsort(pair, axis=1, kind="stable")
    chosen_key = np.take_along_axis(pair, order, axis=1)
    chosen_ok = np.take_along_axis(cand, order, axis=1)
    o_sent_k, o_col = np.nonzero(chosen_ok)
    o_sent = kept[o_sent_k]                      # sentence row of each output
    o_lang = order[o_sent_k, o_col]              # target language index of each output
    o_key = chosen_key[o_sent_k, o_col]          # pair key of each output
    n_out = len(o_sent)
    if n_out == 0:
        return out_contract.empty()

    # ---- per (output, link): switch decisions
    per = n_links[o_sent]
    e_out = np.repeat(np.arange(n_out, dtype=np.int64), per)
    e_link = _ranges(lo[o_sent], per)             # flat link index
    e_ord = f_ord[e_link]
    e_item = np.where(has_qid[e_link], item[e_link], -1)
    e_row = index.rows(e_item, o_lang[e_out])
    e_key = o_key[e_out]
    switch = (e_row >= 0) & (rng.uniform_np(rng.draw_np(e_key, e_ord, rng.SWITCH)) < cfg.switch_prob)
    sw = np.flatnonzero(switch)
    s_out, s_link, s_row, s_key, s_ord = e_out[sw], e_link[sw], e_row[sw], e_key[sw], e_ord[sw]
    n_alias = index.alias_count[s_row] if len(sw) else np.zeros(0, np.int64)
    use_alias = (n_alias > 0) & (rng.uniform_np(rng.draw_np(s_key, s_ord, rng.ALIAS)) < cfg.alias_prob)
    pick = (rng.draw_np(s_key, s_ord, rng.PICK) % np.maximum(n_alias, 1).astype(np.uint64)).astype(np.int64)
    alias_row = index.alias_start[s_row] + pick
    label_rows = pa.array(s_row, pa.int64())
    alias_rows = pa.array(np.where(use_alias, alias_row, 0), pa.int64())
    surface = index.label.take(label_rows)
    if use_alias.any():
        surface = pc.if_else(pa.array(use_alias), index.alias.take(alias_rows), surface)
    surface = surface.cast(pa.string())
    surf_cp = rng.pc_len(surface)

    # ---- source pieces: each sentence cut at its (valid) link boundaries, zero-copy
    pieces, piece_first, link_piece = source_pieces(text, f_start, f_end, ~bad, lo)
    s_sent = o_sent[s_out]
    n_sw = np.bincount(s_out, minlength=n_out)
    first_sw = _segment_starts(n_sw)
    m = len(sw)
    n_pieces = np.diff(piece_first)[o_sent]     # pieces of each output's sentence
    out_first = _segment_starts(n_pieces)
    local = link_piece[s_link] - piece_first[s_sent]       # piece index of a switched link
    pos = out_first[s_out] + local
    idx = np.repeat(piece_first[o_sent] - out_first[:-1], n_pieces) + np.arange(out_first[-1], dtype=np.int64)
    n_src = len(pieces)
    idx[pos] = n_src + np.arange(m, dtype=np.int64)        # switched link -> its surface
    mk_open = n_src + m + 2 * o_lang[s_out]
    marked_idx = np.insert(idx, np.r_[pos, pos + 1], np.r_[mk_open, mk_open + 1])
    markers = [x for t in index.targets for x in cfg.markers_for(t)]
    values = pa.concat_arrays([pieces, surface.cast(pa.large_string()), pa.array(markers, pa.large_string())])
    out_text = concat_pieces(out_first, values.take(pa.array(idx)))
    marked_text = concat_pieces(out_first + 2 * first_sw, values.take(pa.array(marked_idx)))
    src_surface = pieces.take(pa.array(link_piece[s_link])).cast(pa.string())

    # ---- entity spans in the switched text (code points)
    delta = surf_cp - (f_end[s_link] - f_start[s_link])
    csum = np.cumsum(delta) - delta
    shift = csum - np.repeat(csum[first_sw[:-1]] if len(sw) else np.zeros(0, np.int64), n_sw) if len(sw) else csum
    new_start = f_start[s_link] + shift
    new_end = new_start + surf_cp
    qid_arr = f_qid.take(pa.array(s_link, pa.int64())).cast(pa.string())
    structs = pa.StructArray.from_arrays(
        [pa.array(new_start.astype(np.int32)), pa.array(new_end.astype(np.int32)), qid_arr, surface, src_surface],
        fields=list(out_contract.field("entities").type.value_type))
    entities = pa.ListArray.from_arrays(pa.array(first_sw.astype(np.int32)), structs,
                                        type=out_contract.field("entities").type)

    src_ids = ids.take(pa.array(o_sent, pa.int64())).cast(pa.string())
    src_hash = rng.id_hash_np(ids)[o_sent]
    row_ids = rng.hex16_np(rng.mix64_np(src_hash ^ lang_keys[o_lang] ^ np.uint64(cfg.params_key)))
    targets = pa.array(list(index.targets), pa.string())
    out = pa.RecordBatch.from_arrays([
        row_ids, src_ids,
        pa.array([cfg.src_lang], pa.string()).take(pa.array(np.zeros(n_out, dtype=np.int64))),
        targets.take(pa.array(o_lang, pa.int64())),
        out_text, text.take(pa.array(o_sent, pa.int64())).cast(pa.string()), marked_text, entities,
    ], names=["id", "src_id", "src_lang", "tgt_lang", "text", "src_text", "marked_text", "entities"])
    if len(sw) < n_out or (n_sw == 0).any():
        out = out.filter(pa.array(n_sw > 0))
    return out_contract.validate(out)
