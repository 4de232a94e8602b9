"""One self-contained HTML report of a store: statistics as tables and matplotlib plots.

Plots are inline SVG (no script, no network needed to view the file): language mix bars,
length histograms, the entity x language heat map (``entitycs``), alignment matrices of
sample pairs (``bitext_aligned``), projection score histograms (``projected``), reject
reasons; and every table's versions with their lineage.
"""

from __future__ import annotations

import html
import io
import logging
import os
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from .. import __version__
from ..errors import XlcorpusError
from ..store import Store
from .compute import Section, TableStats, table_stats

log = logging.getLogger(__name__)

CSS = """
body{font-family:system-ui,sans-serif;margin:2rem auto;max-width:1100px;color:#222}
h1{margin-bottom:.2rem} h2{border-bottom:1px solid #ccc;margin-top:2.5rem}
table{border-collapse:collapse;margin:.5rem 0;font-size:.85rem}
td,th{border:1px solid #ddd;padding:.2rem .5rem;text-align:left} th{background:#f4f4f4}
.plots{display:flex;flex-wrap:wrap;gap:1rem} figure{margin:0} figcaption{font-size:.8rem;color:#555}
nav{display:flex;flex-wrap:wrap;gap:.8rem}
"""


def _pyplot():
    try:
        import matplotlib
    except ModuleNotFoundError:
        raise XlcorpusError("xlcorpus report needs matplotlib: pip install 'xlcorpus[report]'") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams.update({"svg.fonttype": "none", "font.size": 9, "figure.dpi": 72,
                         "axes.spines.top": False, "axes.spines.right": False})
    return plt


def write_report(store: Store, output: str | os.PathLike[str], tables: list[str] | None = None) -> Path:
    """Compute the statistics of ``tables`` (default: every table but rejects) and write the report."""
    names = tables or [t for t in store.tables() if not t.endswith("_rejects")]
    all_stats = []
    for t in names:
        log.info("report: %s", t)
        all_stats.append(table_stats(store, t))
    page = render_html(store, all_stats)
    path = Path(output)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    tmp.write_text(page, encoding="utf-8")
    os.replace(tmp, path)
    return path


def render_html(store: Store, all_stats: list[TableStats]) -> str:
    plt = _pyplot()
    when = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    out = ["<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
           f"<title>xlcorpus report: {_e(store.root)}</title><style>{CSS}</style></head><body>",
           f"<h1>Corpus report</h1><p>store <code>{_e(store.root)}</code>, {when}, xlcorpus {__version__}</p>",
           "<nav>" + "".join(f"<a href='#{s.table}'>{s.table}</a>" for s in all_stats) + "</nav>",
           _html_table([{"table": s.table, "version": s.version, "rows": s.rows} for s in all_stats])]
    for s in all_stats:
        out.append(f"<h2 id='{s.table}'>{s.table} <small>v{s.version}, {s.rows:,} rows</small></h2>")
        out.append("<div class='plots'>")
        for caption, fig in _figures(plt, store, s):
            out.append(f"<figure>{_svg(plt, fig)}<figcaption>{_e(caption)}</figcaption></figure>")
        out.append("</div>")
        for sec in s.sections:
            out.append(f"<h3>{_e(sec.title)}</h3>{_html_table(sec.rows)}")
    out.append("</body></html>")
    return "\n".join(out)


def _figures(plt: Any, store: Store, s: TableStats) -> Iterator[tuple[str, Any]]:
    """(caption, figure) for every plot of one table."""
    langs = s.section("languages")
    if langs and langs.rows:
        keys = [k for k in langs.rows[0] if k.endswith("lang")]
        labels = ["-".join(str(r[k]) for k in keys) for r in langs.rows[:30]]
        yield "rows per " + ("language pair" if len(keys) == 2 else "language"), _barh(
            plt, labels, [r["rows"] for r in langs.rows[:30]], "rows")
    for name, bins in s.histograms.items():
        if bins:
            yield name, _histogram(plt, bins, name)
    cov = s.section("top_entities")
    if cov and cov.rows:
        yield "most switched entities x target language (switches)", _heatmap(plt, cov)
    if s.table == "bitext_aligned" and s.rows:
        for i, row in enumerate(_sample_pairs(store, s.table)):
            yield f"alignment of sample pair {i + 1} ({row['src_lang']}-{row['tgt_lang']})", _alignment(plt, row)
    rej = s.section("rejects")
    if rej and rej.rows:
        yield "reject reasons", _barh(plt, [f"{r['stage']}: {r['reason']}"[:60] for r in rej.rows[:15]],
                                      [r["rows"] for r in rej.rows[:15]], "rows")


def _barh(plt: Any, labels: list[str], values: list[int], xlabel: str) -> Any:
    fig, ax = plt.subplots(figsize=(5, 0.3 * len(labels) + 0.8))
    ax.barh(range(len(labels)), values, color="#4c78a8")
    ax.set_yticks(range(len(labels)), labels)
    ax.invert_yaxis()
    ax.set_xlabel(xlabel)
    return fig


def _histogram(plt: Any, bins: list[dict[str, Any]], name: str) -> Any:
    fig, ax = plt.subplots(figsize=(4.5, 2.6))
    ax.bar([b["start"] for b in bins], [b["count"] for b in bins],
           width=[max(b["end"] - b["start"], 1e-9) for b in bins], align="edge", color="#f58518",
           edgecolor="white")
    ax.set_xlabel(name.split(": ", 1)[-1])
    ax.set_ylabel("count")
    return fig


def _heatmap(plt: Any, sec: Section) -> Any:
    entities = list(dict.fromkeys(f"{r['surface']} ({r['qid']})" for r in sec.rows))
    langs = sorted({r["tgt_lang"] for r in sec.rows})
    grid = [[0] * len(langs) for _ in entities]
    for r in sec.rows:
        grid[entities.index(f"{r['surface']} ({r['qid']})")][langs.index(r["tgt_lang"])] = r["switches"]
    fig, ax = plt.subplots(figsize=(3.5 + 0.5 * len(langs), 0.3 * len(entities) + 1))
    im = ax.imshow(grid, cmap="Blues", aspect="auto")
    ax.set_xticks(range(len(langs)), langs)
    ax.set_yticks(range(len(entities)), entities)
    fig.colorbar(im, ax=ax)
    return fig


def _sample_pairs(store: Store, table: str, n: int = 3) -> list[dict[str, Any]]:
    cols = "src_lang, tgt_lang, src_tokens, tgt_tokens, alignment, scores"
    return store.sql(f"SELECT {cols} FROM {table} WHERE len(src_tokens) <= 25 AND len(tgt_tokens) <= 25 "
                     f"ORDER BY id LIMIT {n}").to_pylist()


def _alignment(plt: Any, row: dict[str, Any]) -> Any:
    src, tgt = row["src_tokens"], row["tgt_tokens"]
    grid = [[0.0] * len(src) for _ in tgt]
    for link, score in zip(row["alignment"], row["scores"]):
        grid[link["t"]][link["s"]] = score
    fig, ax = plt.subplots(figsize=(0.3 * len(src) + 1.5, 0.3 * len(tgt) + 1.2))
    ax.imshow(grid, cmap="Greens", vmin=0, vmax=1, aspect="equal")
    ax.set_xticks(range(len(src)), src, rotation=60, ha="right")
    ax.set_yticks(range(len(tgt)), tgt)
    return fig


def _svg(plt: Any, fig: Any) -> str:
    buf = io.StringIO()
    fig.tight_layout()
    fig.savefig(buf, format="svg")
    plt.close(fig)
    text = buf.getvalue()
    return text[text.index("<svg"):]


def _html_table(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return "<p>(none)</p>"
    head = "".join(f"<th>{_e(k)}</th>" for k in rows[0])
    body = "".join("<tr>" + "".join(f"<td>{_e(_fmt(v))}</td>" for v in r.values()) + "</tr>" for r in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _fmt(v: Any) -> str:
    if v is None:
        return ""
    return f"{v:,}" if isinstance(v, int) else str(v)


def _e(v: Any) -> str:
    return html.escape(str(v))
