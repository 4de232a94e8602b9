"""Scoring candidate target spans.

**CPU default, no model of text** (:class:`FeatureScorer`). Every (source token s, target
token t) pair gets an *affinity* in [0, 1], the largest of

- the alignment link weight (share of eflomal runs and directions proposing the link),
  mixed with the lexical probability: ``LINK_SHARE * weight + (1 - LINK_SHARE) * sqrt(lex)``;
- the lexical translation probability ``lex = sqrt(p(t|s) p(s|t))`` from
  :class:`~xlcorpus.align.lexical.LexicalTable` (link counts over the whole aligned corpus);
- the string similarity of the lowercased, accent-free (romanized, for non-Latin scripts)
  forms (:func:`string_similarity`: 1 for equal forms, the similarity ratio above 0.7 for
  names, numbers and cognates, else 0).

Each candidate C for a source span S gets the features :data:`FEATURES`: ``core``, the
harmonic mean of *precision* (weighted mean over the tokens of C of their best affinity with
S) and *recall* (weighted mean over S of the best affinity with C), stop words and
punctuation weighing ``FUNCTION_WEIGHT``; ``case`` (+1 when C starts with an upper-case letter
or digit like S, -1 when only S does; 0 when either sentence has no case information, e.g. a
lower-cased or caseless-script side); ``leak`` (share of C's tokens whose best link goes to a
source token outside S); ``distortion`` (difference of relative positions); ``chunk`` (C cuts
a run of capitalised tokens, 0-2; 0 without case information); ``edges`` (share of C's edge
tokens whose best affinity with S is below ``EDGE_MIN``); ``length`` (|log| of the token-count
ratio).

A :class:`ScoringModel` (JSON under ``xlcorpus/project/models/``, loaded by name) turns the
features into one score: a linear sum (``hand``: the former hand-set constants; ``core``: the
parameter-free core alone), or a model learned on one direction of gold projections
(:mod:`xlcorpus.project.fit`): ``softmax-*`` (the default, ``softmax-en-es``) gives each
candidate the probability that it is the right projection of its source span, among the
span's candidates and "no projection"; ``logistic-*`` the probability of one candidate seen
alone. The affinity constants below (``LINK_SHARE``, ``MIN_SIMILARITY``, ``FUNCTION_WEIGHT``,
``EDGE_MIN``) are kept from the hand-set scorer; figures and their protocol:
``benchmarks/projection_bench.py``.

**NMT translation probability** (:class:`NMTScorer`, T-Projection): with a local seq2seq
translation model, ``1/2 [P(src|cand)/P(src|src) + P(cand|src)/P(cand|cand)]`` where
``P(y|x)`` is the length-normalised probability ``exp(mean log p(y_i | y_<i, x))`` under
teacher forcing, batched on the device.
"""

from __future__ import annotations

import functools
import json
import math
import operator
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from difflib import SequenceMatcher
from itertools import accumulate
from pathlib import Path

from ..align.lexical import LexicalTable
from .candidates import capitalised_name, is_punct, load_seq2seq
from .options import DEFAULT_MODEL

Link = tuple[int, int]
MODELS = Path(__file__).with_name("models")

FEATURES = ("core", "case", "leak", "distortion", "chunk", "edges", "length")
FUNCTION_WEIGHT = 0.25     # weight of stop words / punctuation in precision and recall
MIN_SIMILARITY = 0.7
LINK_SHARE = 0.6
EDGE_MIN = 0.25
ANCHOR_PROB = 0.2       # lexical probability that makes a target token a candidate anchor


# ------------------------------------------------------------------ string similarity
@functools.lru_cache(maxsize=200_000)
def normalise(token: str) -> str:
    """Lowercase, accents removed; non-Latin scripts romanized with uroman."""
    text = token.lower()
    if any(ord(c) > 0x24F and unicodedata.category(c)[0] == "L" for c in text):
        text = _uroman(text)
    return "".join(c for c in unicodedata.normalize("NFD", text) if not unicodedata.combining(c))


def _uroman(text: str) -> str:
    try:
        return _uroman_instance().romanize_string(text).lower()
    except Exception:  # noqa: BLE001 - romanization is best effort
        return text


@functools.lru_cache(maxsize=1)
def _uroman_instance():
    from ..translit.uroman_cache import load_uroman

    return load_uroman()


@functools.lru_cache(maxsize=500_000)
def string_similarity(a: str, b: str) -> float:
    """1.0 for equal normalised forms; the SequenceMatcher ratio if both have 4+ characters
    and the ratio is at least ``MIN_SIMILARITY``; else 0."""
    x, y = normalise(a), normalise(b)
    if x == y:
        return 1.0
    if len(x) < 4 or len(y) < 4 or not x[0].isalnum() or x[0] != y[0]:
        return 0.0
    r = SequenceMatcher(None, x, y).ratio()
    return r if r >= MIN_SIMILARITY else 0.0


def starts_upper(token: str) -> bool:
    return bool(token) and (token[0].isupper() or token[0].isdigit())


def has_case(tokens: Sequence[str]) -> bool:
    """Does the sentence carry case information (an upper-case letter after its first token)?"""
    return any(c.isupper() for tok in tokens[1:] for c in tok[:1])


def token_weight(token: str, stop: frozenset[str]) -> float:
    """Weight of a token in precision and recall: ``FUNCTION_WEIGHT`` for stop words and punctuation."""
    return FUNCTION_WEIGHT if is_punct(token) or token.lower() in stop else 1.0


# ------------------------------------------------------------------ scoring models
@dataclass(frozen=True)
class ScoringModel:
    """Feature weights as data: ``z = bias + sum(w * x)`` per candidate; the score is ``z``
    (``link == "identity"``), the logistic function of ``z`` (``"logistic"``) or, over the
    candidates of one source span plus "no projection", ``exp(z) / (1 + sum exp(z'))``
    (``"softmax"``); the last two are probabilities. ``min_score`` is the default threshold
    of a projected span."""

    name: str
    weights: dict[str, float]
    bias: float = 0.0
    link: str = "identity"
    min_score: float = 0.0
    meta: dict = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        unknown = set(self.weights) - set(FEATURES)
        if unknown or self.link not in ("identity", "logistic", "softmax"):
            raise ValueError(f"scoring model {self.name!r}: unknown features {sorted(unknown)} or link {self.link!r}")

    @functools.cached_property
    def vector(self) -> list[float]:
        return [self.weights.get(f, 0.0) for f in FEATURES]

    def score(self, rows: Sequence[Sequence[float]]) -> list[float]:
        """Scores of the candidates of one source span (one feature row each)."""
        w, b = self.vector, self.bias
        raw = [b + sum(x * y for x, y in zip(w, row)) for row in rows]
        if self.link == "identity":
            return raw
        exp = [math.exp(min(max(z, -30.0), 30.0)) for z in raw]
        if self.link == "logistic":
            return [e / (1.0 + e) for e in exp]
        total = 1.0 + sum(exp)
        return [e / total for e in exp]

    @classmethod
    def load(cls, name_or_path: str) -> "ScoringModel":
        """A model by name (``xlcorpus/project/models/NAME.json``) or from a JSON file path."""
        path = Path(name_or_path)
        if not (path.suffix == ".json" and path.is_file()):
            path = MODELS / f"{name_or_path}.json"
        if not path.is_file():
            known = sorted(p.stem for p in MODELS.glob("*.json"))
            raise ValueError(f"unknown scoring model {name_or_path!r}: not a JSON file nor one of {known}")
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            return cls(data.get("name", path.stem), {k: float(v) for k, v in data["weights"].items()},
                       float(data.get("bias", 0.0)), data.get("link", "identity"), float(data.get("min_score", 0.0)),
                       data.get("meta", {}))
        except (ValueError, KeyError, TypeError, AttributeError) as e:
            raise ValueError(f"scoring model {path}: not a valid model ({type(e).__name__}: {e})") from None

    def save(self, path: str | Path) -> None:
        data = {"name": self.name, "link": self.link, "bias": self.bias, "weights": self.weights,
                "min_score": self.min_score, "meta": self.meta}
        Path(path).write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


# ------------------------------------------------------------------ feature scorer
@dataclass
class PairContext:
    """One sentence pair with its link weights, ready for scoring."""

    src: Sequence[str]
    tgt: Sequence[str]
    weights: dict[Link, float]
    src_stop: frozenset[str] = frozenset()
    tgt_stop: frozenset[str] = frozenset()
    rows: dict[int, tuple[list[float], list[float]]] = field(default_factory=dict, repr=False)

    @functools.cached_property
    def best_src_of_tgt(self) -> dict[int, int]:
        """For each linked target token, the source token of its strongest link."""
        best: dict[int, tuple[float, int]] = {}
        for (i, j), w in self.weights.items():
            if j not in best or w > best[j][0]:
                best[j] = (w, i)
        return {j: i for j, (_, i) in best.items()}

    @functools.cached_property
    def links_of_src(self) -> dict[int, list[tuple[int, float]]]:
        out: dict[int, list[tuple[int, float]]] = {}
        for (i, j), w in self.weights.items():
            out.setdefault(i, []).append((j, w))
        return out

    @functools.cached_property
    def src_weights(self) -> list[float]:
        return [token_weight(tok, self.src_stop) for tok in self.src]

    @functools.cached_property
    def tgt_weights(self) -> list[float]:
        return [token_weight(tok, self.tgt_stop) for tok in self.tgt]

    @functools.cached_property
    def cased(self) -> bool:
        return has_case(self.src) and has_case(self.tgt)


class FeatureScorer:
    """The CPU default scorer: :meth:`features` of candidates, scored by a :class:`ScoringModel`."""

    name = "features"

    def __init__(self, table: LexicalTable | None = None, model: ScoringModel | str = DEFAULT_MODEL):
        self.table = table
        self.model = model if isinstance(model, ScoringModel) else ScoringModel.load(model)

    def affinities(self, ctx: PairContext, s: int) -> tuple[list[float], list[float]]:
        """Affinity of source token ``s`` with every target token, and whether each target token
        is lexically close to it (similar form or ``p >= ANCHOR_PROB``); cached on ``ctx``."""
        got = ctx.rows.get(s)
        if got is None:
            a = ctx.src[s]
            lex = self.table.row(a, ctx.tgt) if self.table else [0.0] * len(ctx.tgt)
            sim = [string_similarity(a, b) for b in ctx.tgt]
            link = [0.0] * len(ctx.tgt)
            for t, w in ctx.links_of_src.get(s, ()):
                link[t] = w
            aff = [max(LINK_SHARE * w + (1 - LINK_SHARE) * math.sqrt(p), p, x) for w, p, x in zip(link, lex, sim)]
            got = ctx.rows[s] = (aff, [x > 0 or p >= ANCHOR_PROB for p, x in zip(lex, sim)])
        return got

    def features(self, ctx: PairContext, span: tuple[int, int],
                 candidates: Sequence[tuple[int, int]]) -> list[list[float]]:
        """One row of :data:`FEATURES` per target range in ``candidates`` for source range ``span``."""
        i0, i1 = span
        n_src, n_tgt = len(ctx.src), len(ctx.tgt)
        aff = [self.affinities(ctx, s)[0] for s in range(i0, i1)]
        wsrc, wtgt = ctx.src_weights[i0:i1], ctx.tgt_weights
        best_t = list(map(max, zip(*aff)))
        best_src = ctx.best_src_of_tgt
        leaks = list(accumulate((j in best_src and not i0 <= best_src[j] < i1 for j in range(n_tgt)), initial=0))
        explained = list(accumulate(map(operator.mul, wtgt, best_t), initial=0.0))
        weight = list(accumulate(wtgt, initial=0.0))
        src_weight = sum(wsrc)
        cased = ctx.cased
        src_upper = cased and starts_upper(ctx.src[i0])
        src_pos = (i0 + i1) / 2 / max(1, n_src)
        out = []
        for a, b in candidates:
            prec = (explained[b] - explained[a]) / (weight[b] - weight[a])
            rec = sum(w * max(row[a:b]) for w, row in zip(wsrc, aff)) / src_weight
            core = 2 * prec * rec / (prec + rec) if prec + rec else 0.0
            case = (1.0 if starts_upper(ctx.tgt[a]) else -1.0) if src_upper else 0.0
            chunk = cased * ((a > 1 and capitalised_name(ctx.tgt, a - 1) and starts_upper(ctx.tgt[a]))
                             + (b < n_tgt and capitalised_name(ctx.tgt, b) and starts_upper(ctx.tgt[b - 1])))
            edges = {a, b - 1}
            out.append([core, case, (leaks[b] - leaks[a]) / (b - a), abs((a + b) / 2 / max(1, n_tgt) - src_pos),
                        float(chunk), sum(best_t[t] < EDGE_MIN for t in edges) / len(edges),
                        abs(math.log((b - a) / (i1 - i0)))])
        return out

    def score(self, ctx: PairContext, span: tuple[int, int], candidates: Sequence[tuple[int, int]]) -> list[float]:
        """Scores of target ranges ``candidates`` for the source range ``span``."""
        return self.model.score(self.features(ctx, span, candidates))


# ------------------------------------------------------------------ NMT scorer
class NMTScorer:
    """T-Projection's translation-probability score with a local seq2seq model.

    ``model_path``: a local folder (MarianMT, M2M100, NLLB, T5...). ``src_lang``/``tgt_lang``
    are set on the tokenizer when it has language codes (M2M100/NLLB: e.g. ``en``/``es`` or
    ``eng_Latn``/``spa_Latn``). Loaded on first use, on ``device`` (``cuda`` when available).
    """

    name = "nmt"

    def __init__(self, model_path: str, src_lang: str | None = None, tgt_lang: str | None = None,
                 device: str | None = None, batch_size: int = 64):
        self.model_path, self.src_lang, self.tgt_lang = model_path, src_lang, tgt_lang
        self.device, self.batch_size = device, batch_size
        self._model = self._tok = None

    def load(self) -> None:
        if self._model is None:
            self._tok, self._model, self.device = load_seq2seq(self.model_path, self.device)

    def _set_langs(self, in_lang: str | None, out_lang: str | None) -> None:
        for attr, value in (("src_lang", in_lang), ("tgt_lang", out_lang)):
            if value is not None and hasattr(self._tok, attr):
                setattr(self._tok, attr, value)

    def log_probs(self, inputs: Sequence[str], outputs: Sequence[str], in_lang: str | None = None,
                  out_lang: str | None = None) -> list[float]:
        """Mean per-token log-probability of each output given its input (teacher forcing)."""
        import torch

        self.load()
        self._set_langs(in_lang, out_lang)
        result: list[float] = []
        for k in range(0, len(inputs), self.batch_size):
            enc = self._tok(list(inputs[k:k + self.batch_size]), text_target=list(outputs[k:k + self.batch_size]),
                            return_tensors="pt", padding=True, truncation=True).to(self.device)
            labels = enc.pop("labels")
            pad = self._tok.pad_token_id
            labels = labels.masked_fill(labels == pad, -100) if pad is not None else labels
            with torch.inference_mode():
                logits = self._model(**enc, labels=labels).logits.float()
            logp = torch.log_softmax(logits, dim=-1)
            mask = labels != -100
            picked = logp.gather(-1, labels.clamp(min=0).unsqueeze(-1)).squeeze(-1) * mask
            result.extend((picked.sum(-1) / mask.sum(-1).clamp(min=1)).tolist())
        return result

    def score_pairs(self, sources: Sequence[str], candidates: Sequence[str]) -> list[float]:
        """``1/2 [P(src|cand)/P(src|src) + P(cand|src)/P(cand|cand)]`` for aligned lists."""
        s, c = self.src_lang, self.tgt_lang
        src_given_cand = self.log_probs(candidates, sources, c, s)
        src_given_src = self.log_probs(sources, sources, s, s)
        cand_given_src = self.log_probs(sources, candidates, s, c)
        cand_given_cand = self.log_probs(candidates, candidates, c, c)
        return [0.5 * (math.exp(a - b) + math.exp(x - y))
                for a, b, x, y in zip(src_given_cand, src_given_src, cand_given_src, cand_given_cand)]
