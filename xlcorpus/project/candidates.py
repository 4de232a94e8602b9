"""Candidate target spans for a source span.

Three generators:

- :func:`alignment_candidates`: for each link set (forward, reverse, symmetrized...), the
  min-max range of the target tokens linked to the source span, and each maximal block of
  consecutive linked target tokens (a discontinuous projection gives several blocks);
- :func:`ngram_candidates`: every target n-gram of at most ``max_len`` tokens that contains
  an *anchor* (a target token linked to, or similar to, a source token), pruned at the edges:
  a candidate may not start or end with punctuation or a lowercase stop word unless the
  source span starts (ends) with the same token or the caller keeps that position (the
  projector keeps target tokens whose strongest link is a content word of the source span,
  so that e.g. "estados" of "estados miembros" survives in lower-cased text);
- :class:`Seq2SeqCandidateGenerator`: an mT5-style model fine-tuned as in T-Projection. Its
  input is the target sentence followed by the label tag, ``"{target sentence} <{label}>"``;
  it outputs ``<{label}>span</{label}>`` items; each span found in the target tokens (every
  occurrence) becomes a candidate. Beam search returns ``num_return`` sequences.
"""

from __future__ import annotations

import bisect
import functools
import unicodedata
from collections.abc import Collection, Iterable, Sequence

import regex

from .spans import Span

Link = tuple[int, int]
_TAG_RE = regex.compile(r"<([^<>/]+)>(.*?)</\1>")


@functools.lru_cache(maxsize=32)
def stopwords(lang: str) -> frozenset[str]:
    """spaCy's stop words of ``lang`` (ISO 639-1 or -3 code, lower-cased), empty if spaCy has
    no language class for it (``spacy.util.get_lang_class(code).Defaults.stop_words``)."""
    code = lang.split("-")[0].split("_")[0].lower()
    if len(code) == 3:
        import langcodes

        try:
            code = langcodes.Language.get(code).language or code
        except (ValueError, LookupError):
            return frozenset()
    if not code.isalpha():
        return frozenset()
    import spacy.util

    try:
        lang_class = spacy.util.get_lang_class(code)
    except ImportError:  # spaCy has no rules for this language (its error E048)
        return frozenset()
    return frozenset(w.lower() for w in lang_class.Defaults.stop_words)


@functools.lru_cache(maxsize=200_000)
def is_punct(token: str) -> bool:
    """True for tokens made only of punctuation or symbols."""
    return all(unicodedata.category(c)[0] in "PS" for c in token)


SENTENCE_PUNCT = frozenset({".", "!", "?", ":", "¿", "¡", '"', "«", "'", "(", "-"})


def capitalised_name(tokens: Sequence[str], i: int) -> bool:
    """A capitalised token that does not start the sentence nor follow opening punctuation."""
    return i > 0 and tokens[i][:1].isupper() and tokens[i - 1] not in SENTENCE_PUNCT


def edge_ok(tokens: Sequence[str], position: int, stop: frozenset[str], source_edge: str) -> bool:
    """May a candidate start/end with ``tokens[position]``? Not punctuation, not a stop word
    (unless capitalised mid-sentence), unless the source span has the same token at that edge."""
    token = tokens[position]
    if token.lower() == source_edge.lower():
        return True
    if is_punct(token):
        return False
    return not (token.lower() in stop and (token.islower() or not capitalised_name(tokens, position)))


def blocks(positions: Iterable[int]) -> list[tuple[int, int]]:
    """Maximal runs of consecutive positions as half-open ranges."""
    out: list[tuple[int, int]] = []
    for p in sorted(set(positions)):
        if out and p == out[-1][1]:
            out[-1] = (out[-1][0], p + 1)
        else:
            out.append((p, p + 1))
    return out


def alignment_candidates(span: Span, link_sets: Iterable[Sequence[Link]]) -> set[tuple[int, int]]:
    """Min-max ranges and consecutive blocks of target tokens linked to ``span``."""
    out: set[tuple[int, int]] = set()
    for links in link_sets:
        targets = [t for s, t in links if span.start <= s < span.end]
        if targets:
            out.add((min(targets), max(targets) + 1))
            out.update(blocks(targets))
    return out


def trim(rng: tuple[int, int], tgt_tokens: Sequence[str], stop: frozenset[str], src_first: str,
         src_last: str, keep: Collection[int] = ()) -> tuple[int, int] | None:
    """Drop edge tokens that may not start/end a candidate (see :func:`edge_ok`; positions in
    ``keep`` always may)."""
    a, b = rng
    while a < b and a not in keep and not edge_ok(tgt_tokens, a, stop, src_first):
        a += 1
    while b > a and b - 1 not in keep and not edge_ok(tgt_tokens, b - 1, stop, src_last):
        b -= 1
    return (a, b) if a < b else None


@functools.lru_cache(maxsize=1024)
def _edge_flags(tokens: tuple[str, ...], stop: frozenset[str]) -> tuple[bool, ...]:
    """:func:`edge_ok` of every position, whatever the source edge."""
    return tuple(edge_ok(tokens, i, stop, "") for i in range(len(tokens)))


def ngram_candidates(tgt_tokens: Sequence[str], anchors: Iterable[int], max_len: int,
                     stop: frozenset[str] = frozenset(), src_first: str = "",
                     src_last: str = "", keep: Collection[int] = ()) -> set[tuple[int, int]]:
    """Target n-grams (at most ``max_len`` tokens) containing an anchor, with edge pruning
    (positions in ``keep`` may always start or end one)."""
    n = len(tgt_tokens)
    anchors = sorted(set(a for a in anchors if 0 <= a < n))
    ok = _edge_flags(tuple(tgt_tokens), stop)
    first, last = src_first.lower(), src_last.lower()
    starts = [i for i in range(n) if ok[i] or i in keep or tgt_tokens[i].lower() == first]
    ends = {i for i in range(n) if ok[i] or i in keep or tgt_tokens[i].lower() == last}
    out = set()
    for a in starts:
        k = bisect.bisect_left(anchors, a)
        if k < len(anchors):  # the n-gram must reach the first anchor at or after a
            out.update((a, b) for b in range(anchors[k] + 1, min(n, a + max_len) + 1) if b - 1 in ends)
    return out


def find_token_spans(tokens: Sequence[str], phrase: Sequence[str]) -> list[tuple[int, int]]:
    """Every occurrence of ``phrase`` (a token list) in ``tokens``, case-sensitive."""
    m = len(phrase)
    if not m:
        return []
    return [(i, i + m) for i in range(len(tokens) - m + 1) if list(tokens[i:i + m]) == list(phrase)]


def load_seq2seq(path: str, device: str | None = None):
    """Tokenizer, model (eval mode, on the device) and device of a local seq2seq model folder;
    the device defaults to ``cuda`` when available."""
    import torch
    from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    return (AutoTokenizer.from_pretrained(path),
            AutoModelForSeq2SeqLM.from_pretrained(path).to(device).eval(), device)


class Seq2SeqCandidateGenerator:
    """Candidate spans from a local seq2seq model (mT5-style, T-Projection's format).

    ``model_path`` is a local folder with a ``transformers`` seq2seq model and tokenizer;
    the model is loaded on first use (on ``device``: ``cuda`` when available unless given).
    """

    def __init__(self, model_path: str, device: str | None = None, num_beams: int = 8,
                 num_return: int = 8, max_new_tokens: int = 32, batch_size: int = 16):
        self.model_path, self.device = model_path, device
        self.num_beams, self.num_return = num_beams, min(num_return, num_beams)
        self.max_new_tokens, self.batch_size = max_new_tokens, batch_size
        self._model = self._tok = None

    @staticmethod
    def format_input(tgt_tokens: Sequence[str], label: str) -> str:
        return f"{' '.join(tgt_tokens)} <{label}>"

    @staticmethod
    def parse_output(text: str, label: str) -> list[str]:
        """Span texts of the ``<label>...</label>`` items of a generated sequence."""
        return [m.group(2).strip() for m in _TAG_RE.finditer(text) if m.group(1) == label and m.group(2).strip()]

    def load(self) -> None:
        if self._model is None:
            self._tok, self._model, self.device = load_seq2seq(self.model_path, self.device)

    def generate(self, requests: Sequence[tuple[Sequence[str], str]]) -> list[set[tuple[int, int]]]:
        """For each ``(target tokens, label)``: the token ranges of the generated spans."""
        import torch

        self.load()
        out: list[set[tuple[int, int]]] = []
        for k in range(0, len(requests), self.batch_size):
            chunk = requests[k:k + self.batch_size]
            enc = self._tok([self.format_input(t, lab) for t, lab in chunk], return_tensors="pt",
                            padding=True, truncation=True).to(self.device)
            with torch.inference_mode():
                gen = self._model.generate(**enc, num_beams=self.num_beams, do_sample=False,
                                           num_return_sequences=self.num_return,
                                           max_new_tokens=self.max_new_tokens)
            texts = self._tok.batch_decode(gen, skip_special_tokens=False)
            for r, (tokens, label) in enumerate(chunk):
                found: set[tuple[int, int]] = set()
                for text in texts[r * self.num_return:(r + 1) * self.num_return]:
                    text = text.replace(self._tok.pad_token or "<pad>", "").replace(self._tok.eos_token or "</s>", "")
                    for span_text in self.parse_output(text, label):
                        found.update(find_token_spans(tokens, span_text.split()))
                out.append(found)
        return out
