"""Scoring candidate target spans.

**CPU default, no model** (:class:`FeatureScorer`). Every (source token s, target token t)
pair gets an *affinity* in [0, 1], the largest of

- the alignment link weight (share of eflomal runs and directions proposing the link);
- the lexical translation probability ``sqrt(p(t|s) p(s|t))`` from :class:`LexicalTable`
  (link counts over the whole aligned corpus, extra bitext included);
- the string similarity of the lowercased, accent-free (romanized, for non-Latin scripts)
  forms (:func:`string_similarity`: 1 for equal forms, the similarity ratio above 0.7 for
  names, numbers and cognates, else 0).

A candidate C for source span S scores the harmonic mean of *precision* (weighted mean over
the tokens of C of their best affinity with S) and *recall* (weighted mean over S of the
best affinity with C), where stop words and punctuation weigh ``FUNCTION_WEIGHT``; plus
``CASE_BONUS`` when C starts with an upper-case letter or digit like S, minus
``CASE_PENALTY`` when S does and C does not; minus ``LEAK_PENALTY`` times the share of C's
tokens whose best alignment link goes to a source token outside S; minus
``DISTORTION_PENALTY`` times the difference of relative positions. The weights are set by
hand (documented constants below), not learnt.

**NMT translation probability** (:class:`NMTScorer`, T-Projection): with a local seq2seq
translation model, ``1/2 [P(src|cand)/P(src|src) + P(cand|src)/P(cand|cand)]`` where
``P(y|x)`` is the length-normalised probability ``exp(mean log p(y_i | y_<i, x))`` under
teacher forcing, batched on the device.
"""

from __future__ import annotations

import functools
import math
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from difflib import SequenceMatcher

from .candidates import capitalised_name, is_punct, load_seq2seq

Link = tuple[int, int]

FUNCTION_WEIGHT = 0.25     # weight of stop words / punctuation in precision and recall
CASE_BONUS = 0.05
CASE_PENALTY = 0.05
LEAK_PENALTY = 0.3
DISTORTION_PENALTY = 0.05
MIN_SIMILARITY = 0.7
LINK_SHARE = 0.6           # affinity of a link: LINK_SHARE * weight + (1 - LINK_SHARE) * sqrt(lexical)
EDGE_PENALTY = 0.15        # per edge token (first, last) whose best affinity with S is below EDGE_MIN
EDGE_MIN = 0.25
CHUNK_PENALTY = 0.3        # candidate edge is capitalised and so is the token just outside it


# ------------------------------------------------------------------ lexical table
@dataclass
class LexicalTable:
    """Lexical translation probabilities from link counts: ``p(t|s)`` and ``p(s|t)``."""

    pair: dict[tuple[str, str], float]
    src_total: dict[str, float]
    tgt_total: dict[str, float]

    @classmethod
    def from_links(cls, src: Sequence[Sequence[str]], tgt: Sequence[Sequence[str]],
                   *link_sets: Sequence[Sequence[Link]]) -> "LexicalTable":
        """Count each link of each link set (e.g. forward and reverse) over lowercased tokens."""
        pair: Counter = Counter()
        for links in link_sets:
            for s, t, ls in zip(src, tgt, links):
                for i, j in ls:
                    pair[(s[i].lower(), t[j].lower())] += 1
        src_total: dict[str, float] = defaultdict(float)
        tgt_total: dict[str, float] = defaultdict(float)
        for (a, b), c in pair.items():
            src_total[a] += c
            tgt_total[b] += c
        return cls(dict(pair), dict(src_total), dict(tgt_total))

    def prob(self, s: str, t: str) -> float:
        """``sqrt(p(t|s) p(s|t))`` of lowercased tokens (0 if never linked)."""
        c = self.pair.get((s.lower(), t.lower()))
        if not c:
            return 0.0
        return math.sqrt(c / self.src_total[s.lower()] * c / self.tgt_total[t.lower()])


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


# ------------------------------------------------------------------ feature scorer
@dataclass
class PairContext:
    """One sentence pair with its link weights, ready for scoring."""

    src: Sequence[str]
    tgt: Sequence[str]
    weights: dict[Link, float]
    src_stop: frozenset[str] = frozenset()
    tgt_stop: frozenset[str] = frozenset()

    @functools.cached_property
    def best_src_of_tgt(self) -> dict[int, int]:
        """For each linked target token, the source token of its strongest link."""
        best: dict[int, tuple[float, int]] = {}
        for (i, j), w in self.weights.items():
            if j not in best or w > best[j][0]:
                best[j] = (w, i)
        return {j: i for j, (_, i) in best.items()}


class FeatureScorer:
    """The CPU default scorer (see the module docstring for the formula)."""

    name = "features"

    def __init__(self, table: LexicalTable | None = None):
        self.table = table

    def affinity(self, ctx: PairContext, s: int, t: int) -> float:
        a, b = ctx.src[s], ctx.tgt[t]
        lex = self.table.prob(a, b) if self.table else 0.0
        link = ctx.weights.get((s, t), 0.0)
        return max(LINK_SHARE * link + (1 - LINK_SHARE) * math.sqrt(lex), lex, string_similarity(a, b))

    def _weight(self, token: str, stop: frozenset[str]) -> float:
        return FUNCTION_WEIGHT if is_punct(token) or token.lower() in stop else 1.0

    def score(self, ctx: PairContext, span: tuple[int, int], candidates: Sequence[tuple[int, int]]) -> list[float]:
        """Scores of target ranges ``candidates`` for the source range ``span``."""
        i0, i1 = span
        n_src, n_tgt = len(ctx.src), len(ctx.tgt)
        aff = [[self.affinity(ctx, s, t) for t in range(n_tgt)] for s in range(i0, i1)]
        wsrc = [self._weight(ctx.src[s], ctx.src_stop) for s in range(i0, i1)]
        wtgt = [self._weight(tok, ctx.tgt_stop) for tok in ctx.tgt]
        best_t = [max((aff[k][t] for k in range(i1 - i0)), default=0.0) for t in range(n_tgt)]
        leaks = [j in ctx.best_src_of_tgt and not i0 <= ctx.best_src_of_tgt[j] < i1 for j in range(n_tgt)]
        src_upper = starts_upper(ctx.src[i0])
        src_pos = (i0 + i1) / 2 / max(1, n_src)
        out = []
        for a, b in candidates:
            prec = sum(wtgt[t] * best_t[t] for t in range(a, b)) / sum(wtgt[a:b])
            rec = sum(w * max(aff[k][a:b]) for k, w in enumerate(wsrc)) / sum(wsrc)
            core = 2 * prec * rec / (prec + rec) if prec + rec else 0.0
            leak = sum(leaks[a:b]) / (b - a)
            case = 0.0
            if starts_upper(ctx.tgt[a]) and src_upper:
                case = CASE_BONUS
            elif src_upper:
                case = -CASE_PENALTY
            chunk = (a > 1 and capitalised_name(ctx.tgt, a - 1) and starts_upper(ctx.tgt[a])) + \
                (b < n_tgt and capitalised_name(ctx.tgt, b) and starts_upper(ctx.tgt[b - 1]))
            edges = {a, b - 1}
            unexplained = sum(best_t[t] < EDGE_MIN for t in edges) / len(edges) * 2
            dist = abs((a + b) / 2 / max(1, n_tgt) - src_pos)
            out.append(core + case - LEAK_PENALTY * leak - DISTORTION_PENALTY * dist - CHUNK_PENALTY * chunk
                       - EDGE_PENALTY * unexplained)
        return out


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
