"""Entity-oriented masking (EntityCS, section 3.2): ``entitycs`` rows -> MLM training examples.

The code-switched ``text`` (never the marked text: markers do not reach the tokenizer) is
tokenised with a Hugging Face *fast* tokenizer loaded from a local path; a sub-word belongs
to entity e when its character span overlaps ``[start, end)`` of e. Strategies:

==========  ===================================================================================
MLM         15% of the sub-words are predicted: 80% -> [MASK], 10% -> random token, 10% kept.
WEP         Whole Entity Prediction: each entity is predicted (probability ``entity_prob``,
            default 1); all its sub-words -> [MASK] with probability 0.8, else all kept
            (still predicted). No random replacement.
PEP_MRS     Partial Entity Prediction: every sub-word of a predicted entity is predicted;
            each -> [MASK] 80%, random 10%, kept 10%.
PEP_MS      as PEP_MRS, the other 20% kept (no random replacement).
PEP_M       as PEP_MRS, the other 20% kept and *not* predicted (only masked sub-words count).
X+MLM       strategy X with ``entity_prob`` 0.5, plus MLM (15%, 80/10/10) on the non-entity
            sub-words.
==========  ===================================================================================

LEM (Linguistic Entity Masking, Fernando et al. 2025; :class:`LEMMasking`, strategies
``LEM-MLM`` on monolingual text and ``LEM-TLM`` on concatenated bitext): only nouns, proper
nouns, verbs and named entities found by a tagger are masked, one sub-word per such span
(the rest of the span stays as context), up to a budget (15% of the sub-words by default).

``labels`` is the original id where a prediction is made, -100 elsewhere; special tokens
are never selected. Every draw comes from ``numpy.random.default_rng(seed_for(seed, row id,
strategy))``: the same row gives the same example in any batch or worker.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pyarrow as pa

from ..engine.core import Stage
from ..errors import InputError
from ..ids import seed_for, stable_id
from ..schema import contract
from ..tagging import Doc as TagDoc
from ..tagging import Tagged, Tagger
from .strategies import BASE_STRATEGIES, STRATEGIES
IGNORE = -100
MLM_PROB = 0.15


def load_tokenizer(path: str | os.PathLike[str]):
    """A fast tokenizer from a local folder (``save_pretrained`` output); clear error otherwise."""
    from transformers import AutoTokenizer

    p = Path(path)
    if not p.is_dir():
        raise InputError(f"tokenizer {p}: no such folder (give a local save_pretrained directory)")
    tok = AutoTokenizer.from_pretrained(str(p), local_files_only=True)
    if not getattr(tok, "is_fast", False):
        raise InputError(f"tokenizer {p}: a fast tokenizer (tokenizer.json) is needed for character offsets")
    if tok.mask_token_id is None:
        raise InputError(f"tokenizer {p}: it has no mask token")
    return tok


def entity_of_tokens(offsets: list[tuple[int, int]], special: np.ndarray,
                     entities: list[dict]) -> np.ndarray:
    """Index of the entity each token overlaps (-1: none, or a special token)."""
    ent = np.full(len(offsets), -1, dtype=np.int64)
    for i, (s, e) in enumerate(offsets):
        if special[i] or e <= s:
            continue
        for j, en in enumerate(entities):
            if s < en["end"] and e > en["start"]:
                ent[i] = j
                break
    return ent


def mask_tokens(ids: np.ndarray, ent: np.ndarray, special: np.ndarray, strategy: str,
                rs: np.random.Generator, mask_id: int, random_ids: np.ndarray,
                entity_prob: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Apply ``strategy`` to one example; returns ``(input_ids, labels)``."""
    if strategy not in STRATEGIES:
        raise ValueError(f"unknown masking strategy {strategy!r} (known: {', '.join(STRATEGIES)})")
    base, plus_mlm = strategy.removesuffix("+MLM"), strategy.endswith("+MLM")
    out = ids.copy()
    labels = np.full(len(ids), IGNORE, dtype=np.int64)
    n = len(ids)
    u_select, u_how, u_rand = rs.random(n), rs.random(n), rs.integers(0, len(random_ids), n)
    if base == "MLM":
        _mlm(out, labels, ids, ~special, u_select, u_how, u_rand, mask_id, random_ids)
        return out, labels
    p_ent = entity_prob if entity_prob is not None else (0.5 if plus_mlm else 1.0)
    n_ent = int(ent.max()) + 1 if len(ent) else 0
    ent_select, ent_mask = rs.random(max(n_ent, 1)), rs.random(max(n_ent, 1))
    in_ent = ent >= 0
    chosen = in_ent & (ent_select[np.maximum(ent, 0)] < p_ent)
    if base == "WEP":
        whole = chosen & (ent_mask[np.maximum(ent, 0)] < 0.8)
        out[whole] = mask_id
        labels[chosen] = ids[chosen]
    else:
        masked = chosen & (u_how < 0.8)
        out[masked] = mask_id
        if base == "PEP_MRS":
            rnd = chosen & (u_how >= 0.8) & (u_how < 0.9)
            out[rnd] = random_ids[u_rand[rnd]]
            labels[chosen] = ids[chosen]
        elif base == "PEP_MS":
            labels[chosen] = ids[chosen]
        else:  # PEP_M: only the masked sub-words are predicted
            labels[masked] = ids[masked]
    if plus_mlm:
        _mlm(out, labels, ids, ~special & ~in_ent, u_select, u_how, u_rand, mask_id, random_ids)
    return out, labels


def _mlm(out, labels, ids, eligible, u_select, u_how, u_rand, mask_id, random_ids) -> None:
    sel = eligible & (u_select < MLM_PROB)
    labels[sel] = ids[sel]
    out[sel & (u_how < 0.8)] = mask_id
    rnd = sel & (u_how >= 0.8) & (u_how < 0.9)
    out[rnd] = random_ids[u_rand[rnd]]


class EntityMasking(Stage):
    """Stage: ``entitycs`` rows -> ``entitycs_masked`` rows for one strategy."""

    name = "entity_masking"

    def __init__(self, tokenizer: str | os.PathLike[str], strategy: str = "WEP", seed: int = 0,
                 max_length: int = 512, entity_prob: float | None = None):
        if strategy not in STRATEGIES:
            raise InputError(f"unknown masking strategy {strategy!r} (known: {', '.join(STRATEGIES)})")
        self.tokenizer_path = str(tokenizer)
        self.strategy, self.seed, self.max_length, self.entity_prob = strategy, seed, max_length, entity_prob
        self._tok = None

    def setup(self) -> None:
        tok = load_tokenizer(self.tokenizer_path)
        self._tok = tok
        special = set(tok.all_special_ids)
        self._random_ids = np.array([i for i in range(len(tok)) if i not in special], dtype=np.int64)
        self._name = Path(self.tokenizer_path).name

    def __getstate__(self):
        state = dict(self.__dict__)
        state["_tok"] = None
        return state

    def example(self, row: dict) -> dict:
        """The masked example of one ``entitycs`` row."""
        if self._tok is None:
            self.setup()
        enc = self._tok(row["text"], return_offsets_mapping=True, return_special_tokens_mask=True,
                        truncation=True, max_length=self.max_length)
        ids = np.array(enc["input_ids"], dtype=np.int64)
        special = np.array(enc["special_tokens_mask"], dtype=bool)
        ent = entity_of_tokens(enc["offset_mapping"], special, row["entities"] or [])
        rs = np.random.default_rng(seed_for(self.seed, row["id"], self.strategy))
        out, labels = mask_tokens(ids, ent, special, self.strategy, rs, self._tok.mask_token_id,
                                  self._random_ids, self.entity_prob)
        return {"id": stable_id(row["id"], self.strategy, self.seed, self._name), "entitycs_id": row["id"],
                "tgt_lang": row["tgt_lang"], "strategy": self.strategy, "input_ids": out.tolist(),
                "labels": labels.tolist(), "entity_mask": (ent >= 0).astype(np.int8).tolist()}

    def __call__(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        rows = [self.example(r) for r in batch.select(["id", "tgt_lang", "text", "entities"]).to_pylist()]
        return contract("entitycs_masked").batch(rows)


# ------------------------------------------------------------------ Linguistic Entity Masking
LEM_STRATEGIES = ("LEM-MLM", "LEM-TLM")
LEM_POS = frozenset({"NOUN", "PROPN", "VERB"})


class LinguisticEntity(NamedTuple):
    """A maskable unit: a named entity (``type`` its label) or a NOUN/PROPN/VERB token outside
    every entity (``type`` its POS); ``[start, end)`` code points of the side's text."""

    side: int
    start: int
    end: int
    type: str


def linguistic_entities(tagged: Tagged, side: int = 0) -> list[LinguisticEntity]:
    """Entities first, then the nouns, proper nouns and verbs that no entity covers."""
    out = [LinguisticEntity(side, s.start, s.end, s.label) for s in tagged.char_spans()]
    covered = [(e.start, e.end) for e in out]
    for a, b, pos in zip(tagged.starts, tagged.ends, tagged.pos):
        if pos in LEM_POS and not any(a < e and b > s for s, e in covered):
            out.append(LinguisticEntity(side, a, b, pos))
    return sorted(out, key=lambda u: (u.side, u.start))


def lem_mask(ids: np.ndarray, offsets: list[tuple[int, int]], sides: list[int | None], special: np.ndarray,
             units: list[LinguisticEntity], budget: float, rs: np.random.Generator, mask_id: int,
             random_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray, list[dict]]:
    """Linguistic Entity Masking of one example.

    The units are visited in a random order; each gets one of the sub-words lying wholly
    inside it (chosen at random; units with none are skipped) until ``budget x non-special
    sub-words`` are chosen, that number rounded down or up at random in proportion (so the
    expected share is the budget and no example exceeds its ceiling). A chosen sub-word is predicted
    (``labels``) and replaced by [MASK] (80%), a random token (10%) or kept (10%).
    Returns ``(input_ids, labels, masked spans)``.
    """
    out = ids.copy()
    labels = np.full(len(ids), IGNORE, dtype=np.int64)
    limit = math.floor(budget * int((~special).sum()) + rs.random())
    inside: list[list[int]] = [[] for _ in units]
    for t, ((s, e), side) in enumerate(zip(offsets, sides)):
        if special[t] or e <= s or side is None:
            continue
        for k, u in enumerate(units):
            if u.side == side and u.start <= s and e <= u.end:
                inside[k].append(t)
                break
    masked = []
    for k in rs.permutation(len(units)).tolist():
        if len(masked) >= limit:
            break
        if not inside[k]:
            continue
        t = inside[k][int(rs.integers(len(inside[k])))]
        u = units[k]
        labels[t] = ids[t]
        how = rs.random()
        if how < 0.8:
            out[t] = mask_id
        elif how < 0.9:
            out[t] = random_ids[int(rs.integers(len(random_ids)))]
        masked.append({"token": t, "side": u.side, "start": u.start, "end": u.end, "type": u.type})
    return out, labels, sorted(masked, key=lambda m: m["token"])


class LEMMasking(Stage):
    """Stage: sentences -> ``lem_masked`` rows (Linguistic Entity Masking, Fernando et al.).

    ``LEM-MLM`` reads ``id, lang, text`` rows; ``LEM-TLM`` reads ``bitext`` rows (``id,
    src_lang, tgt_lang, src, tgt``), tags each side with the model of its language
    (``models``: language -> spaCy pipeline name or folder) and masks the concatenated pair
    (one budget for both sides). Every draw comes from ``seed_for(seed, row id, strategy)``.
    """

    name = "lem_masking"

    def __init__(self, tokenizer: str | os.PathLike[str], models: dict[str, str], strategy: str = "LEM-MLM",
                 budget: float = MLM_PROB, seed: int = 0, max_length: int = 512, batch_size: int = 256):
        if strategy not in LEM_STRATEGIES:
            raise InputError(f"unknown LEM strategy {strategy!r} (known: {', '.join(LEM_STRATEGIES)})")
        if not 0.0 < budget <= 1.0:
            raise InputError(f"LEM budget must be in (0, 1], found {budget}")
        self.tokenizer_path, self.models = str(tokenizer), dict(models)
        self.strategy, self.budget, self.seed, self.max_length = strategy, budget, seed, max_length
        self.batch_size = batch_size
        self._tok: Any = None
        self._taggers: dict[str, Tagger] = {}

    def setup(self) -> None:
        tok = load_tokenizer(self.tokenizer_path)
        special = set(tok.all_special_ids)
        self._random_ids = np.array([i for i in range(len(tok)) if i not in special], dtype=np.int64)
        self._name = Path(self.tokenizer_path).name
        self._taggers = {lang: Tagger(m, "conll", self.batch_size).load() for lang, m in self.models.items()}
        self._tok = tok

    def __getstate__(self):
        state = dict(self.__dict__)
        state["_tok"], state["_taggers"] = None, {}
        return state

    def _tag(self, langs: list[str], texts: list[str]) -> list[Tagged]:
        """Tag texts, each with its language's model (one ``nlp.pipe`` run per language)."""
        out: list[Tagged | None] = [None] * len(texts)
        for lang in dict.fromkeys(langs):
            if lang not in self._taggers:
                raise InputError(f"LEM: no tagging model for language {lang!r} (models: {sorted(self._taggers)})")
            idx = [i for i, x in enumerate(langs) if x == lang]
            for i, t in zip(idx, self._taggers[lang].tag(TagDoc(texts[i]) for i in idx)):
                out[i] = t
        return out  # type: ignore[return-value]

    def examples(self, rows: list[dict]) -> list[dict]:
        """The ``lem_masked`` rows of input rows (see the class docstring for their columns)."""
        if self._tok is None:
            self.setup()
        tlm = self.strategy == "LEM-TLM"
        if tlm:
            tagged = self._tag([r["src_lang"] for r in rows] + [r["tgt_lang"] for r in rows],
                               [r["src"] for r in rows] + [r["tgt"] for r in rows])
            sides = [(tagged[i], tagged[len(rows) + i]) for i in range(len(rows))]
        else:
            sides = [(t,) for t in self._tag([r["lang"] for r in rows], [r["text"] for r in rows])]
        return [self._example(r, s) for r, s in zip(rows, sides)]

    def _example(self, row: dict, tagged: tuple[Tagged, ...]) -> dict:
        enc = self._tok(*[t.text for t in tagged], return_offsets_mapping=True, return_special_tokens_mask=True,
                        truncation=True, max_length=self.max_length)
        ids = np.array(enc["input_ids"], dtype=np.int64)
        special = np.array(enc["special_tokens_mask"], dtype=bool)
        units = [u for side, t in enumerate(tagged) for u in linguistic_entities(t, side)]
        rs = np.random.default_rng(seed_for(self.seed, row["id"], self.strategy))
        out, labels, masked = lem_mask(ids, enc["offset_mapping"], enc.sequence_ids(), special, units,
                                       self.budget, rs, self._tok.mask_token_id, self._random_ids)
        tlm = len(tagged) == 2
        return {"id": stable_id(row["id"], self.strategy, self.seed, self.budget, self._name),
                "source_id": row["id"], "strategy": self.strategy,
                "src_lang": row["src_lang"] if tlm else row["lang"], "tgt_lang": row["tgt_lang"] if tlm else None,
                "input_ids": out.tolist(), "labels": labels.tolist(), "masked_spans": masked}

    def __call__(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        return contract("lem_masked").batch(self.examples(batch.to_pylist()))
