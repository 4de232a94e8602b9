"""A plain per-row Python implementation of the EntityCS algorithm.

It is the specification the vectorised :func:`~.entitycs.code_switch` is tested against
(identical output) and the baseline of ``benchmarks/codeswitch_bench.py``. Same
parameters, same counter-based random draws (:mod:`.rng`).
"""

from __future__ import annotations

import re

import pyarrow as pa

from ..schema import contract
from . import rng
from .entitycs import RESIDUE, WORD, CSConfig

_RESIDUE = re.compile(RESIDUE)
_WORD = re.compile(WORD)
_QID = re.compile(r"^Q[0-9]{1,18}$")


def keep_sentence(text: str, links: list[dict], cfg: CSConfig) -> bool:
    n_qid = sum(1 for lk in links if lk["qid"] is not None and _QID.match(lk["qid"]))
    if n_qid < 1 or len(text) <= cfg.min_chars or len(_WORD.findall(text)) > cfg.max_words:
        return False
    if len(links) > cfg.max_links or _RESIDUE.search(text):
        return False
    if len(links) == 1 and links[0]["end"] - links[0]["start"] > cfg.max_link_share * len(text):
        return False
    return True


def switch_row(row: dict, labels: dict[tuple[str, str], tuple[str, list[str]]], cfg: CSConfig) -> list[dict]:
    """The ``entitycs`` rows of one ``wiki_sentences`` row; ``labels[(qid, lang)]`` is
    ``(label, aliases)``."""
    text, links = row["text"], row["links"] or []
    # links overlapping the previous one are not entities
    entities, prev_end = [], 0
    for i, lk in enumerate(links):
        ok = lk["qid"] is not None and _QID.match(lk["qid"]) and lk["start"] >= prev_end \
            and len(text) >= lk["end"] > lk["start"] >= 0
        entities.append(lk["qid"] if ok else None)
        prev_end = lk["end"]
    valid = [{**lk, "qid": q} for lk, q in zip(links, entities)]
    if not keep_sentence(text, valid, cfg):
        return []
    qids = [q for q in entities if q is not None]
    langs = [set(lang for lang in cfg.targets if (q, lang) in labels) for q in qids]
    cand = set.union(*langs) if cfg.keep_unlabeled else set.intersection(*langs)
    row_seed = rng.mix64(rng.id_hash(row["id"]) ^ cfg.base_seed)
    keyed = sorted((rng.mix64(row_seed ^ rng.lang_key(lang)), cfg.targets.index(lang), lang) for lang in cand)
    out = []
    for pair_key, _, lang in keyed[: cfg.k]:
        pieces, marked, ents, pos, shift = [], [], [], 0, 0
        m_open, m_close = cfg.markers_for(lang)
        for i, (lk, qid) in enumerate(zip(links, entities)):
            entry = labels.get((qid, lang)) if qid is not None else None
            if entry is None or rng.uniform(rng.draw(pair_key, i, rng.SWITCH)) >= cfg.switch_prob:
                continue
            label, aliases = entry
            surface = label
            if aliases and rng.uniform(rng.draw(pair_key, i, rng.ALIAS)) < cfg.alias_prob:
                surface = aliases[rng.draw(pair_key, i, rng.PICK) % len(aliases)]
            gap = text[pos:lk["start"]]
            pieces += [gap, surface]
            marked += [gap, m_open, surface, m_close]
            start = lk["start"] + shift
            ents.append({"start": start, "end": start + len(surface), "qid": qid, "surface": surface,
                         "src_surface": text[lk["start"]:lk["end"]]})
            shift += len(surface) - (lk["end"] - lk["start"])
            pos = lk["end"]
        if not ents:
            continue
        pieces.append(text[pos:])
        marked.append(text[pos:])
        rid = rng.hex16(rng.mix64(rng.id_hash(row["id"]) ^ rng.lang_key(lang) ^ cfg.params_key))
        out.append({"id": rid, "src_id": row["id"], "src_lang": cfg.src_lang, "tgt_lang": lang,
                    "text": "".join(pieces), "src_text": text, "marked_text": "".join(marked), "entities": ents})
    return out


def code_switch_rows(batch: pa.RecordBatch | pa.Table, labels: dict[tuple[str, str], tuple[str, list[str]]],
                     cfg: CSConfig) -> pa.RecordBatch:
    """Per-row equivalent of :func:`~.entitycs.code_switch`."""
    rows = []
    for row in batch.to_pylist():
        rows.extend(switch_row(row, labels, cfg))
    return contract("entitycs").batch(rows)


def label_dict(table: pa.Table, cfg: CSConfig) -> dict[tuple[str, str], tuple[str, list[str]]]:
    """``{(qid, lang): (label, aliases)}`` for the target languages (first row wins)."""
    targets = set(cfg.targets)
    out: dict[tuple[str, str], tuple[str, list[str]]] = {}
    for r in table.select(["qid", "lang", "label", "aliases"]).to_pylist():
        if r["lang"] in targets and r["label"] is not None and _QID.match(r["qid"] or ""):
            out.setdefault((r["qid"], r["lang"]), (r["label"], r["aliases"] or []))
    return out
