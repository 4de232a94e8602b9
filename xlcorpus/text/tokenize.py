"""Word tokenization with ``[start, end)`` code-point offsets into the original text.

Backends, chosen per language by :func:`get_tokenizer`:

- spaCy's blank tokenizer for the language (rule-based, no model);
- ``xx`` (spaCy's multi-language rules) for languages spaCy has no rules for (``mt``,
  ``sw``, ...);
- ``ja``: spaCy with SudachiPy, ``zh``: spaCy with jieba, when those are installed
  (otherwise ``xx``-style rules for ``ja`` and spaCy's per-character segmenter for ``zh``);
- ``whitespace``: already tokenized input (``pretokenized=True``): tokens are the
  whitespace-separated pieces, kept exactly.

Whitespace never becomes a token. Tokenizers are built once per process and cached.
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

_NON_SPACE = re.compile(r"\S+")


@dataclass(frozen=True)
class Tokenized:
    """Tokens of one text with their offsets: ``text[starts[i]:ends[i]] == tokens[i]``."""

    tokens: list[str]
    starts: list[int]
    ends: list[int]

    def __len__(self) -> int:
        return len(self.tokens)


def whitespace_tokenize(text: str) -> Tokenized:
    """Already tokenized text: split on whitespace, keep offsets."""
    spans = [(m.group(), m.start(), m.end()) for m in _NON_SPACE.finditer(text)]
    return Tokenized([s[0] for s in spans], [s[1] for s in spans], [s[2] for s in spans])


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


class WhitespaceTokenizer:
    backend = "whitespace"

    def __init__(self, lang: str = "xx"):
        self.lang = _base_lang(lang)

    def __call__(self, text: str) -> Tokenized:
        return whitespace_tokenize(text)

    def pipe(self, texts: Iterable[str], batch_size: int = 1000) -> Iterator[Tokenized]:
        return map(whitespace_tokenize, texts)


@functools.lru_cache(maxsize=64)
def get_tokenizer(lang: str, pretokenized: bool = False) -> SpacyTokenizer | WhitespaceTokenizer:
    """The (cached) tokenizer for ``lang``; ``pretokenized`` keeps whitespace tokens as they are."""
    return WhitespaceTokenizer(lang) if pretokenized else SpacyTokenizer(lang)


def tokenize(text: str, lang: str, pretokenized: bool = False) -> Tokenized:
    """Tokenize one text (see :func:`get_tokenizer`)."""
    return get_tokenizer(lang, pretokenized)(text)
