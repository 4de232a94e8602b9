"""Wikitext -> clean plain text with link spans, and sentence splitting.

:func:`clean_wikitext` removes comments, references, templates, tables, files/images,
categories, interlanguage links, magic words, headings, lists and HTML tags; keeps the
visible text of ``[[target|text]]``, ``[[target]]``, ``[[target]]trail`` and external
links; and returns paragraphs of plain text with the code-point span and normalised target
title of every article link. :func:`split_sentences` cuts a paragraph into sentences,
never inside a link.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from urllib.parse import unquote

import regex

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
_SPACE_PUNCT = re.compile(r" +([,.;:!?])")

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
    return None


def _pipe_trick(target: str) -> str:
    t = target.lstrip(":").partition(":")[2] if _namespace(target) else target.lstrip(":")
    return re.sub(r"\s*\([^()]*\)\s*$", "", t.partition(",")[0]).strip()


def _replace_links(text: str, titles: list[str | None]) -> str:
    """Replace ``[[...]]`` innermost first: article links by sentinel-wrapped anchor text
    (their normalised title appended to ``titles``), other namespaces removed."""

    def sub(m: re.Match) -> str:
        inner, trail = m.group(1), m.group(2)
        target, pipe, label = inner.partition("|")
        ns = _namespace(target)
        if ns is not None:
            if target.lstrip().startswith(":") and ns not in ("file", "image", "media"):
                return (label if pipe else target.lstrip(":")) + trail  # visible link, no entity
            return ""  # file, image, category, interlanguage...
        if pipe:
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
ABBREVIATIONS = frozenset("""
mr mrs ms dr prof st jr sr vs etc e.g i.e inc ltd co corp no nos vol vols pp p fig figs gen col
lt sgt capt cmdr adm maj rev hon mt ft jan feb mar apr jun jul aug sep sept oct nov dec approx
ca c cf al est u.s u.k u.n a.d b.c d.c ph.d op ed eds rep sen gov pres dept univ bros
""".split())
_BOUNDARY = regex.compile(r"[.!?…]+[\"'”’)\]]*(\s+)(?=[\"'“‘(\[]?[\p{Lu}\p{Lt}\p{Lo}\d])")
_LAST_WORD = regex.compile(r"(\S+)$")


def split_sentences(text: str, links: list[Link] | None = None) -> list[tuple[int, int]]:
    """Code-point ``(start, end)`` spans of the sentences of ``text`` (whitespace between
    sentences excluded). A boundary is sentence-final punctuation, then space, then an
    upper-case letter, digit or opening quote; not after a known abbreviation or a single
    initial, and never inside a link."""
    inside = [(lk.start, lk.end) for lk in links or ()]
    spans = []
    start = 0
    for m in _BOUNDARY.finditer(text):
        cut = m.start(1)
        if any(s < cut < e for s, e in inside):
            continue
        head = text[start:m.start() + 1]
        word = _LAST_WORD.search(head)
        token = word.group(1).rstrip(".!?…").lstrip("(\"'“‘[").lower() if word else ""
        if text[m.start()] == "." and (token in ABBREVIATIONS or (len(token) == 1 and token.isalpha())):
            continue
        spans.append((start, cut))
        start = m.end(1)
    if start < len(text):
        spans.append((start, len(text)))
    return [(s, e) for s, e in spans if text[s:e].strip()]


def sentences_with_links(text: str, links: list[Link]) -> list[tuple[str, list[Link]]]:
    """Split a paragraph; each sentence with the links inside it (offsets re-based)."""
    out = []
    for s, e in split_sentences(text, links):
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
