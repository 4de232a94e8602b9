"""Interlinear text views: each source token over the target tokens aligned to it
(``bitext_aligned``), or each word over its morphemes and glosses (``igt``).

Columns are padded to the display width of their widest cell (wide CJK characters count
two, combining marks zero) and wrapped at ``width`` characters.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence

UNALIGNED = "·"


def display_width(text: str) -> int:
    w = 0
    for ch in text:
        if unicodedata.combining(ch) or unicodedata.category(ch) in ("Mn", "Me", "Cf"):
            continue
        w += 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1
    return w


def _pad(text: str, width: int) -> str:
    return text + " " * (width - display_width(text))


def columns(cols: Sequence[Sequence[str]], width: int = 100, gap: int = 2) -> str:
    """Render columns (each a list of cells, one per tier) side by side, wrapped at ``width``."""
    if not cols:
        return ""
    tiers = max(len(c) for c in cols)
    blocks, current, used = [], [], 0
    for col in cols:
        w = max(display_width(c) for c in col) if col else 0
        if current and used + w > width:
            blocks.append(current)
            current, used = [], 0
        current.append((col, w))
        used += w + gap
    blocks.append(current)
    lines = []
    for block in blocks:
        for tier in range(tiers):
            cells = [_pad(col[tier] if tier < len(col) else "", w) for col, w in block]
            lines.append((" " * gap).join(cells).rstrip())
        lines.append("")
    return "\n".join(lines).rstrip("\n")


def bitext_view(src_tokens: Sequence[str], tgt_tokens: Sequence[str],
                links: Sequence[tuple[int, int]], width: int = 100) -> str:
    """Source tokens over their aligned target tokens; unaligned target tokens listed last."""
    by_src: dict[int, list[int]] = {}
    for s, t in links:
        by_src.setdefault(s, []).append(t)
    cols = [[tok, " ".join(tgt_tokens[t] for t in sorted(by_src.get(i, []))) or UNALIGNED]
            for i, tok in enumerate(src_tokens)]
    text = columns(cols, width)
    linked = {t for _, t in links}
    rest = [tok for j, tok in enumerate(tgt_tokens) if j not in linked]
    if rest:
        text += "\n(unaligned target: " + " ".join(rest) + ")"
    return text


def igt_view(words: Sequence[str], morphemes: Sequence[Sequence[str]] | None,
             glosses: Sequence[Sequence[str]], translation: str | None, width: int = 100) -> str:
    """Words over their morphemes (if any) and glosses, then the free translation."""
    cols = []
    for i, w in enumerate(words):
        col = [w]
        if morphemes:
            col.append("-".join(morphemes[i]) if i < len(morphemes) else "")
        col.append("-".join(glosses[i]) if i < len(glosses) else "")
        cols.append(col)
    text = columns(cols, width)
    if translation:
        text += f"\n‘{translation}’"
    return text


def render_row(table: str, row: dict, width: int = 100) -> str:
    """One stored row of ``bitext_aligned`` or ``igt`` as interlinear text with a header."""
    if table == "bitext_aligned":
        head = (f"[{row['id']}] {row['src_lang']}→{row['tgt_lang']}  {row['method']}"
                + (f" ({row['symmetrize']})" if row.get("symmetrize") else ""))
        links = [(x["s"], x["t"]) for x in row["alignment"]]
        return head + "\n" + bitext_view(row["src_tokens"], row["tgt_tokens"], links, width)
    if table == "igt":
        head = f"[{row['id']}] {row.get('lang') or ''}  {row['source']}:{row['line']}"
        return head + "\n" + igt_view(row["words"], row.get("morphemes"), row["glosses"],
                                      row.get("translation"), width)
    raise ValueError(f"no interlinear view for table {table!r} (known: bitext_aligned, igt)")
