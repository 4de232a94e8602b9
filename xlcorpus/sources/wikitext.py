"""Wikitext -> clean plain text with link spans, and sentence splitting.

:func:`clean_wikitext` removes comments, references, templates, tables, files/images,
categories, interlanguage links, magic words, headings, lists and HTML tags; keeps the
visible text of ``[[target|text]]``, ``[[target]]``, ``[[target]]trail`` and external
links; and returns paragraphs of plain text with the code-point span and normalised target
title of every article link (``benchmarks/wikitext_compare.py`` compares it with a cleaner
built on ``mwparserfromhell``'s parse tree: this one leaves less markup and keeps more
links on the shared enwiki excerpt).
:func:`split_sentences` cuts a paragraph into sentences with the language's rules (pysbd,
or spaCy's sentencizer), never inside a link.
"""

from __future__ import annotations

import functools
import html
import re
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import unquote


# Namespaces (and interwiki prefixes) whose links are not article links.
NAMESPACES = frozenset("""
media special talk user wikipedia wp project file image category template help portal book
draft module mediawiki timedtext gadget topic education program wiktionary wikt commons
meta m mw species wikispecies wikisource s wikiquote q wikinews n wikibooks b wikiversity v
wikivoyage voy wikidata d simple user talk wikipedia talk file talk template talk
category talk help talk portal talk special media
""".split()) | {"user talk", "wikipedia talk", "file talk", "template talk", "category talk",
                "help talk", "portal talk", "draft talk", "module talk", "book talk",
                "mediawiki talk", "timedtext talk", "image talk"}
# MediaWiki's names of the file, category and template namespaces in other Wikipedias
# (German, French, Spanish, Italian, Dutch, Portuguese, Russian), as the canonical name.
LOCAL_NAMESPACES = {
    **dict.fromkeys(("datei", "bild", "fichier", "archivo", "imagen", "immagine", "bestand", "afbeelding",
                     "ficheiro", "arquivo", "imagem", "файл", "изображение"), "file"),
    **dict.fromkeys(("kategorie", "catégorie", "categoría", "categoria", "categorie", "категория"), "category"),
    **dict.fromkeys(("vorlage", "modèle", "plantilla", "sjabloon", "predefinição", "шаблон"), "template"),
}
_LANG_PREFIX = re.compile(r"^[a-z]{2,3}(?:-[a-z0-9]{2,8})*$")

_COMMENT = re.compile(r"<!--.*?(?:-->|\Z)", re.S)
_REF_SELF = re.compile(r"<ref\b[^>]*/\s*>", re.I)
_REF = re.compile(r"<ref\b[^>]*>.*?(?:</ref\s*>|\Z)", re.I | re.S)
_DROP_TAGS = ("gallery|math|chem|ce|timeline|score|syntaxhighlight|source|pre|imagemap|references|"
              "graph|mapframe|maplink|templatedata|hiero|table|inputbox|categorytree|noinclude")
_DROP_BLOCK = re.compile(rf"<({_DROP_TAGS})\b[^>]*?(?:/\s*>|>.*?(?:</\1\s*>|\Z))", re.I | re.S)
_TEMPLATE = re.compile(r"\{\{[^{}]*\}\}")
_TABLE = re.compile(r"\{\|(?:(?!\{\|)[\s\S])*?\|\}")
_LINK = re.compile(r"\[\[([^\[\]]*)\]\]([a-z]*)")
_EXT_LINK = re.compile(r"\[(?:https?:|ftp:)?//[^\s\]]*\s*([^\]]*)\]", re.I)
_QUOTES = re.compile(r"'{2,5}")
_BR = re.compile(r"<br\s*/?\s*>", re.I)
_TAG = re.compile(r"</?[A-Za-z][A-Za-z0-9]*\b[^<>]*>")
_MAGIC = re.compile(r"__[A-Z]+__")
_HEADING = re.compile(r"^=+.*=+\s*$")
_SPACES = re.compile(r"[ \t\u00a0\u2009\u200a\u202f]+")
_EMPTY_PARENS = re.compile(r"\s*\(\s*[,;:]?\s*\)")
_SPACE_PUNCT = re.compile(r" +([,.])")  # not before ; : ! ? (French typography keeps a space)

OPEN, CLOSE = "\ue000", "\ue001"
_IDX0 = 0xF0000  # a link's index is one supplementary private-use character after OPEN
_SENTINEL = re.compile(f"[{OPEN}{CLOSE}]|[\U000f0000-\U000ffffd]")


@dataclass(frozen=True)
class Link:
    """A link in clean text: ``text[start:end]`` is the anchor text; ``title`` the target."""

    start: int
    end: int
    title: str | None


def normalize_title(target: str) -> str | None:
    """Canonical page title of a link target: entities and %-escapes decoded, underscores to
    spaces, ``#anchor`` removed, first letter upper-cased; None for a same-page anchor."""
    t = html.unescape(target)
    if "%" in t:
        t = unquote(t)
    t = _SPACES.sub(" ", t.replace("_", " ")).strip()
    t = t.lstrip(":").strip()
    t = t.partition("#")[0].strip()
    if not t:
        return None
    return t[0].upper() + t[1:]


def _namespace(target: str) -> str | None:
    prefix, sep, _ = target.lstrip(":").partition(":")
    if not sep:
        return None
    p = prefix.strip().lower().replace("_", " ")
    if p in NAMESPACES or _LANG_PREFIX.match(p):
        return p
    return LOCAL_NAMESPACES.get(p)


def _pipe_trick(target: str) -> str:
    t = target.lstrip(":").partition(":")[2] if _namespace(target) else target.lstrip(":")
    return re.sub(r"\s*\([^()]*\)\s*$", "", t.partition(",")[0]).strip()


def link_markup(target: str, label: str | None, trail: str, titles: list[str | None]) -> str:
    """The text of one ``[[target|label]]trail`` (``label`` None without a pipe): an
    article link's anchor wrapped in sentinels (its normalised title appended to
    ``titles``), a visible ``[[:...]]`` link's text, or nothing (files, categories,
    interlanguage links...)."""
    ns = _namespace(target)
    if ns is not None:
        if target.lstrip().startswith(":") and ns not in ("file", "image", "media"):
            return (label if label is not None else target.lstrip(":")) + trail  # visible link, no entity
        return ""
    if label is not None:
        label = label.rpartition("|")[2] if "|" in label else label
        if not label.strip():
            label = _pipe_trick(target)
    else:
        label = target.lstrip(":")
    label += trail
    if not label.strip():
        return ""
    title = normalize_title(target)
    if title is None or len(titles) >= 0xFFFD:
        return label
    titles.append(title)
    return f"{OPEN}{chr(_IDX0 + len(titles) - 1)}{label}{CLOSE}"


def _replace_links(text: str, titles: list[str | None]) -> str:
    """Replace ``[[...]]`` innermost first: article links by sentinel-wrapped anchor text
    (their normalised title appended to ``titles``), other namespaces removed."""

    def sub(m: re.Match) -> str:
        target, pipe, label = m.group(1).partition("|")
        return link_markup(target, label if pipe else None, m.group(2), titles)

    while True:
        new = _LINK.sub(sub, text)
        if new == text:
            return new
        text = new


def _remove_nested(pattern: re.Pattern, text: str) -> str:
    while True:
        new = pattern.sub("", text)
        if new == text:
            return new
        text = new


def _markup_to_lines(wikitext: str, titles: list[str | None]) -> list[str]:
    text = _COMMENT.sub("", wikitext)
    text = _REF_SELF.sub("", text)
    text = _REF.sub("", text)
    text = _DROP_BLOCK.sub("", text)
    text = re.sub(r"</?nowiki\s*/?>", "", text, flags=re.I)
    text = _remove_nested(_TEMPLATE, text)
    text = _remove_nested(_TABLE, text)
    text = _replace_links(text, titles)
    text = _EXT_LINK.sub(lambda m: m.group(1), text)
    text = _QUOTES.sub("", text)
    text = _BR.sub(" ", text)
    text = _TAG.sub("", text)
    text = _MAGIC.sub("", text)
    text = html.unescape(text)
    return text.split("\n")


def _paragraphs(lines: list[str]) -> list[str]:
    paras, current = [], []
    for line in lines:
        s = line.strip()
        drop = not s or _HEADING.match(s) or s[0] in "*#:;|!{}" or s.startswith("----")
        if drop:
            if current:
                paras.append(" ".join(current))
                current = []
            continue
        current.append(s)
    if current:
        paras.append(" ".join(current))
    out = []
    for p in paras:
        p = _SPACES.sub(" ", p)
        p = _EMPTY_PARENS.sub("", p)
        p = _SPACE_PUNCT.sub(r"\1", p)
        out.append(p.strip())
    return [p for p in out if p]


def extract_links(marked: str, titles: list[str | None]) -> tuple[str, list[Link]]:
    """Remove sentinels from ``marked``; return the plain text and its link spans
    (outermost link kept when links nest; empty anchors dropped)."""
    out: list[str] = []
    links: list[Link] = []
    stack: list[tuple[int, int]] = []  # (title index, start)
    pos = 0
    i = 0
    n = len(marked)
    while i < n:
        j = _find_sentinel(marked, i)
        if j > i:
            out.append(marked[i:j])
            pos += j - i
        if j >= n:
            break
        ch = marked[j]
        if ch == OPEN and j + 1 < n:
            stack.append((ord(marked[j + 1]) - _IDX0, pos))
            i = j + 2
            continue
        if ch == CLOSE and stack:
            idx, start = stack.pop()
            if not stack:
                text = "".join(out)
                s, e = start, pos
                while s < e and text[s].isspace():
                    s += 1
                while e > s and text[e - 1].isspace():
                    e -= 1
                if e > s and 0 <= idx < len(titles):
                    links.append(Link(s, e, titles[idx]))
        i = j + 1
    return "".join(out), links


def _find_sentinel(text: str, start: int) -> int:
    m = _SENTINEL.search(text, start)
    return m.start() if m else len(text)


def clean_wikitext(wikitext: str) -> list[tuple[str, list[Link]]]:
    """Paragraphs of clean text, each with its article links (code-point spans)."""
    titles: list[str | None] = []
    return [extract_links(p, titles) for p in _paragraphs(_markup_to_lines(wikitext, titles))]


# ------------------------------------------------------------- sentences
@functools.lru_cache(maxsize=64)
def sentence_splitter(lang: str) -> Callable[[str], list[tuple[int, int]]]:
    """A function giving the code-point sentence spans of a text in ``lang`` (BCP-47):
    ``pysbd``'s rules for the languages it has (en de fr es it nl ru ar zh ja hi el ... 23),
    otherwise spaCy's rule-based ``sentencizer`` after the language's tokenizer (``xx``
    when spaCy has no rules for the language)."""
    code = lang.split("-")[0].split("_")[0].lower()
    import pysbd

    if code in pysbd.languages.LANGUAGE_CODES:
        segmenter = pysbd.Segmenter(language=code, clean=False)
        return functools.partial(_pysbd_spans, segmenter)
    import spacy

    try:
        nlp = spacy.blank(code)
    except ImportError:  # spaCy has no rules for this language (its error E048)
        nlp = spacy.blank("xx")
    nlp.add_pipe("sentencizer")
    return lambda text: [(s.start_char, s.end_char) for s in nlp(text).sents]


def _pysbd_spans(segmenter, text: str) -> list[tuple[int, int]]:
    """pysbd's segments located in ``text`` in order (it returns them unchanged with
    ``clean=False``; a segment not found ends the split: the rest is one sentence)."""
    spans, pos = [], 0
    for seg in segmenter.segment(text):
        seg = seg.strip()
        if not seg:
            continue
        at = text.find(seg, pos)
        if at < 0:
            break
        spans.append((at, at + len(seg)))
        pos = at + len(seg)
    if pos < len(text) and text[pos:].strip():
        spans.append((pos, len(text)))
    return spans


def split_sentences(text: str, links: list[Link] | None = None, lang: str = "en") -> list[tuple[int, int]]:
    """Code-point ``(start, end)`` spans of the sentences of ``text`` in ``lang``
    (:func:`sentence_splitter`), never cutting inside a link; whitespace around sentences
    excluded."""
    inside = [(lk.start, lk.end) for lk in links or ()]
    out: list[tuple[int, int]] = []
    for s, e in sentence_splitter(lang)(text):
        if out and (any(a < s < b or a < out[-1][1] < b for a, b in inside)):
            out[-1] = (out[-1][0], e)  # the boundary falls inside a link: no cut
        else:
            out.append((s, e))
    spans = []
    for s, e in out:
        while s < e and text[s].isspace():
            s += 1
        while e > s and text[e - 1].isspace():
            e -= 1
        if e > s:
            spans.append((s, e))
    return spans


def sentences_with_links(text: str, links: list[Link], lang: str = "en") -> list[tuple[str, list[Link]]]:
    """Split a paragraph; each sentence with the links inside it (offsets re-based)."""
    out = []
    for s, e in split_sentences(text, links, lang):
        inner = [Link(lk.start - s, lk.end - s, lk.title) for lk in links if lk.start >= s and lk.end <= e]
        out.append((text[s:e], inner))
    return out


# ------------------------------------------------------- WikiExtractor output
_A_HREF = re.compile(r'<a\s+href="([^"]*)"\s*>(.*?)</a>', re.S | re.I)


def clean_extractor_text(text: str, title: str | None = None) -> list[tuple[str, list[Link]]]:
    """Paragraphs (with links) of a WikiExtractor ``text`` field: ``<a href="Target">anchor</a>``
    links, HTML-escaped text, one paragraph per line, the first line repeating the title."""
    titles: list[str | None] = []

    def sub(m: re.Match) -> str:
        target = normalize_title(unquote(html.unescape(m.group(1))))
        label = m.group(2)
        if target is None or not label.strip():
            return label
        titles.append(target)
        return f"{OPEN}{chr(_IDX0 + len(titles) - 1)}{label}{CLOSE}"

    marked = html.unescape(_TAG.sub("", _A_HREF.sub(sub, text)))
    lines = [_SPACES.sub(" ", line).strip() for line in marked.split("\n")]
    lines = [line for line in lines if line]
    if lines and title is not None and _SENTINEL.sub("", lines[0]).rstrip(".") == title:
        lines = lines[1:]
    return [extract_links(line, titles) for line in lines]
