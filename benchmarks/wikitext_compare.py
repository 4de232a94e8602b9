"""Wikitext cleaning: the regex cleaner vs the mwparserfromhell one, on the shared enwiki excerpt.

    .venv/bin/python benchmarks/wikitext_compare.py [--rounds 3]

On the article pages of ``../shared/data/wikipedia/enwiki-…-shortened.bz2`` (and the five
table-heavy pages of ``enwiki-table-markup.xml.bz2``), for :func:`clean_wikitext` (regular
expressions, the library's) and :func:`clean_wikitext_mwp` (here: ``mwparserfromhell``'s
parse tree, same link and paragraph rules):

- paragraphs, sentences (same splitter for both), characters, links kept;
- **link offsets exact**: each link's ``text[start:end]`` equals the anchor text of a source
  link to the same title (anchor: label or target, plus the trail, markup stripped, from
  ``mwparserfromhell``'s list of the page's links) and has no markup left;
- **markup left**: paragraphs with template, table, reference, link or tag residue
  (``{{ }} {| |} [[ ]] <ref`` tags, table attributes, ``File:``...);
- where the two differ: paragraphs only one has, examples;
- speed: both cleaners in alternating rounds (``benchmarks/_common.py``), pages/s.

Writes ``benchmarks/results/wikitext_compare.json``.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from xlcorpus.sources.wikipedia import iter_xml_pages  # noqa: E402
from xlcorpus.sources.wikitext import (_DROP_TAGS, _namespace, _paragraphs, _pipe_trick,  # noqa: E402
                                       clean_wikitext, extract_links, link_markup, normalize_title,
                                       sentences_with_links)
from _common import interleave, print_load, ratio  # noqa: E402
from _results import write_results  # noqa: E402

SHARED = ROOT.parent / "shared" / "data" / "wikipedia"
DUMPS = [SHARED / "enwiki-latest-pages-articles1.xml-p000000010p000030302-shortened.bz2",
         SHARED / "enwiki-table-markup.xml.bz2"]
RESIDUE = re.compile(r"\{\{|\}\}|\{\||\|\}|\[\[|\]\]|</?(?:ref|table|tr|td|th|div|span|gallery|math|small|sup|sub)\b"
                     r"|(?:File|Image|Category|Template):|(?:style|colspan|rowspan|bgcolor|cellpadding|class|align)"
                     r"\s*=|^\s*\|[-+}]|\|\s*[A-Za-z_ ]+\s*=|&[a-z]+;", re.I | re.M)
_MWP_DROP_TAGS = frozenset(_DROP_TAGS.split("|")) | {"ref", "table"}
_TRAIL = re.compile(r"[a-z]+")


def clean_wikitext_mwp(wikitext: str) -> list[tuple[str, list[Link]]]:
    """:func:`clean_wikitext` with ``mwparserfromhell``'s parse tree instead of regular
    expressions for the markup (templates, tags, tables, links, entities); the same link
    rules, paragraphs and link spans (the library's private helpers)."""
    import mwparserfromhell

    titles: list[str | None] = []
    marked = _render(mwparserfromhell.parse(wikitext, skip_style_tags=False).nodes, titles)
    return [extract_links(p, titles) for p in _paragraphs(marked.split("\n"))]


def _render(nodes: list, titles: list[str | None]) -> str:
    """Visible text of parse-tree nodes, article links wrapped in sentinels."""
    from mwparserfromhell import nodes as n

    out: list[str] = []
    trail = ""
    for i, node in enumerate(nodes):
        if isinstance(node, n.Text):
            value = str(node.value)
            if trail:  # a link's trail ([[Spree]]s) went into its anchor
                value = value[len(trail):]
                trail = ""
            out.append(value)
        elif isinstance(node, n.Wikilink):
            nxt = nodes[i + 1] if i + 1 < len(nodes) else None
            m = _TRAIL.match(str(nxt.value)) if isinstance(nxt, n.Text) else None
            trail = m.group() if m else ""
            out.append(_render_link(node, trail, titles))
        elif isinstance(node, n.ExternalLink):
            out.append(_render(node.title.nodes, titles) if node.title is not None
                       else "" if node.brackets else str(node.url))
        elif isinstance(node, n.HTMLEntity):
            out.append(node.normalize())
        elif isinstance(node, n.Tag):
            tag = str(node.tag).strip().lower()
            if tag in _MWP_DROP_TAGS:
                continue
            if tag == "br":
                out.append(" ")
            elif node.wiki_markup and tag in ("li", "dt", "dd", "hr"):
                out.append(str(node.wiki_markup))  # a list line: dropped with its line later
            elif node.contents is not None:
                out.append(_render(node.contents.nodes, titles))
        elif isinstance(node, n.Heading):
            out.append("\n")
        # templates, arguments, comments, parser functions: nothing visible
    return "".join(out)


def _render_link(node, trail: str, titles: list[str | None]) -> str:
    label = _render(node.text.nodes, titles) if node.text is not None else None
    return link_markup(str(node.title), label, trail, titles)


CLEANERS = {"regex": clean_wikitext, "mwparserfromhell": clean_wikitext_mwp}


def source_anchors(wikitext: str) -> Counter:
    """``(title, anchor)`` of every article link of the page, from mwparserfromhell's tree
    (anchor: label, or target, plus the letters right after the link; markup stripped)."""
    import mwparserfromhell
    from mwparserfromhell.nodes import Text, Wikilink

    out: Counter = Counter()

    def walk(nodes) -> None:
        for i, node in enumerate(nodes):
            if isinstance(node, Wikilink) and _namespace(str(node.title)) is None:
                target = str(node.title)
                label = node.text.strip_code() if node.text is not None else None
                if label is not None and not label.strip():
                    label = _pipe_trick(target)
                anchor = label if label is not None else target.lstrip(":")
                nxt = nodes[i + 1] if i + 1 < len(nodes) else None
                m = re.match(r"[a-z]+", str(nxt.value)) if isinstance(nxt, Text) else None
                out[(normalize_title(target), (anchor + (m.group() if m else "")).strip())] += 1
            for child in _children(node):
                walk(child.nodes)

    walk(mwparserfromhell.parse(wikitext).nodes)
    return out


def _children(node) -> list:
    """The wikicode objects inside a node (link text, template parameters, tag contents...)."""
    out = []
    for attr in ("text", "title", "contents", "name", "value", "url"):
        v = getattr(node, attr, None)
        if v is not None and hasattr(v, "nodes"):
            out.append(v)
    for param in getattr(node, "params", ()) or ():
        out.append(param.value)
    return out


def evaluate(pages: list[dict], cleaner) -> tuple[dict, dict]:
    stats = Counter()
    examples: dict[str, list] = {"inexact_link": [], "residue": []}
    paragraphs = {}
    for page in pages:
        anchors = source_anchors(page["text"])
        paras = cleaner(page["text"])
        paragraphs[page["title"]] = [p for p, _ in paras]
        for text, links in paras:
            stats["paragraphs"] += 1
            stats["chars"] += len(text)
            stats["sentences"] += len(sentences_with_links(text, links))
            if RESIDUE.search(text):
                stats["paragraphs_with_markup"] += 1
                if len(examples["residue"]) < 8:
                    m = RESIDUE.search(text)
                    examples["residue"].append({"page": page["title"], "context": text[max(0, m.start() - 60):m.end() + 60]})
            for lk in links:
                stats["links"] += 1
                surface = text[lk.start:lk.end]
                if anchors.get((lk.title, surface.strip()), 0) > 0 and surface == surface.strip() \
                        and not RESIDUE.search(surface):
                    stats["links_exact"] += 1
                elif len(examples["inexact_link"]) < 8:
                    examples["inexact_link"].append({"page": page["title"], "title": lk.title, "surface": surface})
    stats["links_exact_share"] = round(stats["links_exact"] / max(stats["links"], 1), 4)
    stats["markup_share"] = round(stats["paragraphs_with_markup"] / max(stats["paragraphs"], 1), 4)
    return {"stats": dict(stats), "examples": examples}, paragraphs


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    if not DUMPS[0].is_file():
        print(f"skipped: {DUMPS[0]} is absent")
        return 0
    load_before = print_load("before")
    pages = [p for d in DUMPS if d.is_file() for p in iter_xml_pages(d)
             if isinstance(p, dict) and p["ns"] == 0 and p["redirect"] is None and p["text"]]
    print(f"{len(pages)} article pages")
    results, paras = {}, {}
    for name, cleaner in CLEANERS.items():
        results[name], paras[name] = evaluate(pages, cleaner)
        print(name, results[name]["stats"])
    only: dict[str, list] = {"regex": [], "mwparserfromhell": []}
    same = total = 0
    for title in paras["regex"]:
        a, b = set(paras["regex"][title]), set(paras["mwparserfromhell"][title])
        same += len(a & b)
        total += len(a | b)
        for name, mine, other in (("regex", a, b), ("mwparserfromhell", b, a)):
            for p in sorted(mine - other)[:1]:
                if len(only[name]) < 6:
                    only[name].append({"page": title, "paragraph": p[:300]})
    timings = interleave({name: (lambda c=c: [c(p["text"]) for p in pages]) for name, c in CLEANERS.items()},
                         rounds=args.rounds)
    res = {"pages": len(pages), "rounds": args.rounds, "load_before": load_before, "load_after": print_load("after"),
           **{name: {**results[name], "timing": timings[name].as_dict(len(pages), "pages")} for name in CLEANERS},
           "identical_paragraph_share": round(same / max(total, 1), 4),
           "only_in": only, "speed_regex_over_mwp": ratio(timings["mwparserfromhell"], timings["regex"])}
    print(f"identical paragraphs: {res['identical_paragraph_share']:.1%}; regex is "
          f"{res['speed_regex_over_mwp']['wall']}x the speed of mwparserfromhell")
    print(f"wrote {write_results('wikitext_compare', res)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
