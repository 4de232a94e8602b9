"""Word tokenization with ``[start, end)`` code-point offsets into the original text.

Backends, chosen per language by :func:`get_tokenizer`:

- spaCy's blank tokenizer for the language (rule-based, no model);
- ``xx`` (spaCy's multi-language rules) for languages spaCy has no rules for (``mt``,
  ``sw``, ...);
- ``ja``: spaCy with SudachiPy, ``zh``: spaCy with jieba, when those are installed
  (otherwise ``xx``-style rules for ``ja`` and spaCy's per-character segmenter for ``zh``);
- ``whitespace``: already tokenized input (``pretokenized=True``): tokens are the
  whitespace-separated pieces, kept exactly;
- ``words`` (``scheme="words"``): language-independent rules, a word (letters, marks,
  digits, apostrophes), a number (``3.5``, ``1,000``) or one other symbol (used for the
  aligners' extra bitext and for JSON lines spans without tokens);
- ``maltese`` (``scheme="maltese"``): an article or preposition with its hyphen (``il-`` in
  ``il-Maġistrat``) is its own token as in the Maltese etymology annotations, ``ta'`` keeps
  its apostrophe, each other punctuation mark is a token.

Whitespace never becomes a token. :func:`tokenize` is the one entry point; tokenizers are
built once per process and cached.
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Literal

import regex

Scheme = Literal["spacy", "whitespace", "words", "maltese"]
_NON_SPACE = re.compile(r"\S+")
RULES = {
    "whitespace": _NON_SPACE,
    "words": regex.compile(r"\p{L}[\p{L}\p{M}\p{N}'’]*|\p{N}+(?:[.,]\p{N}+)*|\S", regex.V1),
    "maltese": re.compile(r"[^\W\d_]+-(?=[^\W\d_])|\w+(?:'(?!\w))?|[^\w\s]"),
}


@dataclass(frozen=True)
class Tokenized:
    """Tokens of one text with their offsets: ``text[starts[i]:ends[i]] == tokens[i]``."""

    tokens: list[str]
    starts: list[int]
    ends: list[int]

    def __len__(self) -> int:
        return len(self.tokens)

    @property
    def spans(self) -> list[tuple[int, int]]:
        """``[(start, end)]`` of the tokens."""
        return list(zip(self.starts, self.ends))


def _rule_tokenize(pattern, text: str) -> Tokenized:
    found = [(m.group(), m.start(), m.end()) for m in pattern.finditer(text)]
    return Tokenized([s[0] for s in found], [s[1] for s in found], [s[2] for s in found])


def whitespace_tokenize(text: str) -> Tokenized:
    """Already tokenized text: split on whitespace, keep offsets."""
    return _rule_tokenize(_NON_SPACE, text)


def _base_lang(lang: str) -> str:
    return re.split(r"[-_]", lang.strip())[0].lower() or "xx"


class SpacyTokenizer:
    """A spaCy blank pipeline used only for its tokenizer (``backend`` names what was used)."""

    def __init__(self, lang: str):
        self.lang = _base_lang(lang)
        self.nlp, self.backend = _load_spacy(self.lang)

    def __call__(self, text: str) -> Tokenized:
        return _from_doc(self.nlp.make_doc(text))

    def pipe(self, texts: Iterable[str], batch_size: int = 1000) -> Iterator[Tokenized]:
        for doc in self.nlp.tokenizer.pipe(texts, batch_size=batch_size):
            yield _from_doc(doc)


def _from_doc(doc) -> Tokenized:
    toks, starts, ends = [], [], []
    for t in doc:
        if t.is_space or not t.text.strip():
            continue
        toks.append(t.text)
        starts.append(t.idx)
        ends.append(t.idx + len(t.text))
    return Tokenized(toks, starts, ends)


def _load_spacy(lang: str):
    import spacy

    if lang == "zh":
        try:
            import jieba

            jieba.setLogLevel(logging.WARNING)
            return spacy.blank("zh", config={"nlp": {"tokenizer": {"segmenter": "jieba"}}}), "spacy-zh-jieba"
        except ImportError:
            return spacy.blank("zh"), "spacy-zh-char"
    if lang == "ja":
        try:
            import sudachipy  # noqa: F401

            return spacy.blank("ja"), "spacy-ja-sudachi"
        except ImportError:
            return spacy.blank("xx"), "spacy-xx"
    try:
        return spacy.blank(lang), f"spacy-{lang}"
    except (ImportError, KeyError, ValueError):
        return spacy.blank("xx"), "spacy-xx"


class RuleTokenizer:
    """Tokens matched by one of the :data:`RULES` (``backend`` is its name)."""

    def __init__(self, lang: str = "xx", backend: str = "whitespace"):
        self.lang, self.backend, self._rule = _base_lang(lang), backend, RULES[backend]

    def __call__(self, text: str) -> Tokenized:
        return _rule_tokenize(self._rule, text)

    def pipe(self, texts: Iterable[str], batch_size: int = 1000) -> Iterator[Tokenized]:
        return map(self, texts)


@functools.lru_cache(maxsize=64)
def get_tokenizer(lang: str, pretokenized: bool = False, scheme: Scheme = "spacy") -> SpacyTokenizer | RuleTokenizer:
    """The (cached) tokenizer for ``lang``: spaCy's rules (``scheme="spacy"``) or one of the
    :data:`RULES`; ``pretokenized`` keeps whitespace tokens as they are."""
    if pretokenized:
        scheme = "whitespace"
    return SpacyTokenizer(lang) if scheme == "spacy" else RuleTokenizer(lang, scheme)


def tokenize(text: str, lang: str = "xx", pretokenized: bool = False, scheme: Scheme = "spacy") -> Tokenized:
    """Tokenize one text (see :func:`get_tokenizer`)."""
    return get_tokenizer(lang, pretokenized, scheme)(text)


def words(text: str) -> list[str]:
    """The ``words`` tokens of ``text`` (for readers of token lists)."""
    return tokenize(text, scheme="words").tokens
