"""Table statistics computed by DuckDB over one table version (and its rejects).

Every figure is one aggregate query over the Delta table's Parquet files, so it scales to
millions of rows: rows, languages or language pairs with counts, text and token length
distributions, reject reasons, and figures specific to a table (entity coverage and
switched entities per sentence for ``entitycs``; links per token, unaligned share and
fertility for ``bitext_aligned``; origin mix and actions for ``transliterated``; projection
scores and unprojected spans for ``projected``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa

from ..errors import QueryError
from ..store import Store, check_table_name

log = logging.getLogger(__name__)

LANG_COLUMNS = ("src_lang", "tgt_lang", "lang")
TEXT_COLUMNS = ("src", "tgt", "text", "src_text", "tgt_text", "output", "translation")
TOKEN_COLUMNS = ("src_tokens", "tgt_tokens", "tokens", "words")
HIST_BINS = 20


@dataclass
class Section:
    """A titled table of figures (one dict per row), shown as a table or a plot."""

    name: str
    title: str
    rows: list[dict[str, Any]]


@dataclass
class TableStats:
    """Everything ``xlcorpus stats`` shows for one table version."""

    table: str
    version: int
    rows: int
    sections: list[Section] = field(default_factory=list)
    histograms: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    seconds: float = 0.0

    def section(self, name: str) -> Section | None:
        return next((s for s in self.sections if s.name == name), None)

    def json(self) -> dict[str, Any]:
        return asdict(self)


def connect(store: Store, table: str, version: int | None = None):
    """A DuckDB connection with ``table`` (at ``version``) and its rejects table as views.

    A local table is read by DuckDB's own Parquet reader from the version's files (partition
    values from the hive folder names); a remote one through its Arrow dataset. Only the
    fixed statistics queries run on it.
    """
    import duckdb

    check_table_name(table)
    con = duckdb.connect(":memory:")
    con.execute("SET enable_progress_bar = false")
    _register(con, store, table, version, table)
    rejects = f"{table}_rejects"
    if not table.endswith("_rejects") and store.exists(rejects):
        _register(con, store, rejects, None, "rejects")
    return con


def _register(con: Any, store: Store, table: str, version: int | None, view: str) -> None:
    dataset = store.read(table, version)
    files = store._delta(table, version).file_uris() if store.is_local else []
    if not files or not all(Path(f).is_file() for f in files):
        con.register(view, dataset)
        return
    schema = dataset.schema
    parts = [n for n in schema.names if f"/{n}=" in files[0]]
    types = ", ".join(f"'{p}': {'VARCHAR' if pa.types.is_string(schema.field(p).type) else 'BIGINT'}" for p in parts)
    listed = "[" + ", ".join("'" + f.replace("'", "''") + "'" for f in files) + "]"
    hive = f"hive_partitioning = true, hive_types = {{{types}}}" if parts else "hive_partitioning = false"
    cols = ", ".join(f'"{n}"' for n in schema.names)
    con.execute(f"CREATE VIEW {view} AS SELECT {cols} FROM read_parquet({listed}, {hive})")


def table_stats(store: Store, table: str, version: int | None = None) -> TableStats:
    """Compute the statistics of ``table`` (latest version unless ``version``)."""
    import time

    import duckdb

    start = time.perf_counter()
    v = store.version(table) if version is None else version
    log.info("stats: reading %s v%d from %s", table, v, store.root)
    con = connect(store, table, v)
    columns = set(con.sql(f"SELECT * FROM {table} LIMIT 0").columns)
    q = _Query(con, table)
    try:
        stats = TableStats(table, v, q.scalar(f"SELECT count(*) FROM {table}"))
        _languages(q, stats, columns)
        _lengths(q, stats, columns)
        _rejects(q, stats)
        SPECIFIC.get(table, lambda *_: None)(q, stats)
        stats.sections.append(Section("versions", "versions and lineage (newest first)", lineage(store, table)))
    except duckdb.Error as exc:
        raise QueryError(f"stats of {table!r} failed: {exc}") from exc
    except (OSError, pa.ArrowException) as exc:
        raise QueryError(f"stats of {table!r}: cannot read the table: {str(exc).splitlines()[0]} "
                         "(`xlcorpus check` lists what is wrong)") from None
    finally:
        con.close()
    stats.seconds = time.perf_counter() - start
    log.info("stats: %s v%d, %d rows in %.2f s", table, v, stats.rows, stats.seconds)
    return stats


class _Query:
    def __init__(self, con: Any, table: str):
        self.con = con
        self.table = table

    def rows(self, sql: str) -> list[dict[str, Any]]:
        log.debug("stats SQL: %s", sql)
        rel = self.con.sql(sql)
        names = rel.columns
        return [dict(zip(names, _plain(r))) for r in rel.fetchall()]

    def scalar(self, sql: str) -> Any:
        return self.con.sql(sql).fetchall()[0][0]

    def has(self, view: str) -> bool:
        return bool(self.scalar(f"SELECT count(*) FROM duckdb_views() WHERE view_name = '{view}'"))


def _plain(row: tuple) -> list[Any]:
    return [round(v, 4) if isinstance(v, float) else v for v in row]


def _languages(q: _Query, stats: TableStats, columns: set[str]) -> None:
    langs = [c for c in LANG_COLUMNS if c in columns]
    if not langs:
        return
    cols = ", ".join(langs)
    rows = q.rows(f"SELECT {cols}, count(*) AS rows FROM {q.table} GROUP BY ALL ORDER BY rows DESC, {cols}")
    for r in rows:
        r["share"] = round(r["rows"] / stats.rows, 4) if stats.rows else 0.0
    title = "language pairs" if len(langs) == 2 else "languages"
    stats.sections.append(Section("languages", title, rows))


def _lengths(q: _Query, stats: TableStats, columns: set[str]) -> None:
    """Length summaries and histograms, from one exact length -> count map per column (one scan)."""
    measures = [(c, f"length({c})", "characters") for c in TEXT_COLUMNS if c in columns]
    measures += [(c, f"len({c})", "tokens") for c in TOKEN_COLUMNS if c in columns]
    if not measures or not stats.rows:
        return
    got = q.rows("SELECT " + ", ".join(f"histogram({expr}) AS h{i}" for i, (_, expr, _) in enumerate(measures))
                 + f" FROM {q.table}")[0]
    rows = []
    for i, (name, _, unit) in enumerate(measures):
        counts = sorted((k, v) for k, v in (got[f"h{i}"] or {}).items() if k is not None)
        if not counts:
            continue
        total = sum(v for _, v in counts)
        p50, p90, p99 = (_quantile(counts, total, x) for x in (0.5, 0.9, 0.99))
        rows.append({"column": name, "unit": unit, "min": counts[0][0],
                     "mean": round(sum(k * v for k, v in counts) / total, 1),
                     "p50": p50, "p90": p90, "p99": p99, "max": counts[-1][0]})
        stats.histograms[f"length: {name} ({unit})"] = _bins(counts, p99)
    stats.sections.append(Section("lengths", "lengths", rows))


def _quantile(counts: list[tuple[int, int]], total: int, q: float) -> int:
    """The value at 0-based position floor(q * (total - 1)) in sorted order (DuckDB's quantile_disc)."""
    pos, seen = int(q * (total - 1)), 0
    for value, n in counts:
        seen += n
        if seen > pos:
            return value
    return counts[-1][0]


def _bins(counts: list[tuple[int, int]], p99: int) -> list[dict[str, Any]]:
    """Counts in ``HIST_BINS`` equal bins up to the 99th percentile, the rest in the last bin."""
    width = max(1, -(-max(p99, 1) // HIST_BINS))
    top = counts[-1][0]
    bins: dict[int, int] = {}
    for value, n in counts:
        b = min(value // width, HIST_BINS)
        bins[b] = bins.get(b, 0) + n
    return [{"start": b * width, "end": top if b == HIST_BINS else (b + 1) * width, "count": n}
            for b, n in sorted(bins.items())]


def _rejects(q: _Query, stats: TableStats) -> None:
    if not q.has("rejects"):
        return
    rows = q.rows("SELECT stage, reason, count(*) AS rows FROM rejects GROUP BY ALL ORDER BY rows DESC, stage, "
                  "reason LIMIT 50")
    stats.sections.append(Section("rejects", f"rejects ({sum(r['rows'] for r in rows):,} row(s) in "
                                  f"{stats.table}_rejects)", rows))


def lineage(store: Store, table: str, last: int = 10) -> list[dict[str, Any]]:
    """The newest ``last`` commits of ``table``: what wrote them, rows in and out, drops by reason."""
    rows = []
    for h in sorted(store.history(table), key=lambda h: -h["version"])[:last]:
        stages = h.get("stages") if isinstance(h.get("stages"), dict) else {}
        dropped: dict[str, int] = {}
        for st in stages.values():
            for reason, n in (st.get("dropped") or {}).items():
                dropped[reason] = dropped.get(reason, 0) + n
        rows.append({"version": h["version"], "operation": h.get("operation"),
                     "step": f"{h.get('pipeline', '-')}/{h.get('step', '-')}", "input_rows": h.get("input_rows"),
                     "rows": h.get("rows"), "rejects": h.get("rejects"),
                     "dropped": ", ".join(f"{k} {v:,}" for k, v in sorted(dropped.items())) or None})
    return rows


# --------------------------------------------------------- table-specific
def _entitycs(q: _Query, stats: TableStats) -> None:
    t = q.table
    rows = q.rows(f"SELECT tgt_lang, count(*) AS sentences, sum(len(entities)) AS entities, "
                  f"round(avg(len(entities)), 2) AS entities_per_sentence, "
                  f"(SELECT count(DISTINCT e.qid) FROM (SELECT unnest(entities) AS e FROM {t} x "
                  f"WHERE x.tgt_lang = o.tgt_lang)) AS distinct_qids "
                  f"FROM {t} o GROUP BY tgt_lang ORDER BY tgt_lang")
    total = q.scalar(f"SELECT count(DISTINCT e.qid) FROM (SELECT unnest(entities) AS e FROM {t})") or 0
    for r in rows:
        r["qid_coverage"] = round(r["distinct_qids"] / total, 4) if total else 0.0
    stats.sections.append(Section("entity_coverage", f"entity coverage per language ({total:,} distinct QIDs "
                                  "switched in all)", rows))
    stats.sections.append(Section("entities_per_sentence", "switched entities per sentence", q.rows(
        f"SELECT len(entities) AS entities, count(*) AS sentences FROM {t} GROUP BY ALL ORDER BY entities")))
    stats.sections.append(Section("top_entities", "most switched entities x languages", q.rows(
        f"WITH e AS (SELECT tgt_lang, unnest(entities) AS e FROM {t}), "
        f"top AS (SELECT e.qid AS qid, any_value(e.src_surface) AS surface, count(*) AS n FROM e "
        f"GROUP BY ALL ORDER BY n DESC, qid LIMIT 15) "
        f"SELECT top.qid, top.surface, e.tgt_lang, count(*) AS switches FROM e JOIN top ON e.e.qid = top.qid "
        f"GROUP BY ALL ORDER BY top.qid, e.tgt_lang")))


def _bitext_aligned(q: _Query, stats: TableStats) -> None:
    t = q.table
    stats.sections.append(Section("alignment", "alignment (per language pair and method)", q.rows(
        f"WITH a AS (SELECT src_lang, tgt_lang, method, len(src_tokens) AS ns, len(tgt_tokens) AS nt, "
        f"len(alignment) AS links, len(list_distinct([x.s FOR x IN alignment])) AS src_aligned, "
        f"len(list_distinct([x.t FOR x IN alignment])) AS tgt_aligned FROM {t}) "
        f"SELECT src_lang, tgt_lang, method, count(*) AS pairs, sum(links) AS links, "
        f"round(sum(links) / greatest(sum(ns + nt) / 2, 1), 3) AS links_per_token, "
        f"round(1 - sum(src_aligned) / greatest(sum(ns), 1), 3) AS src_unaligned, "
        f"round(1 - sum(tgt_aligned) / greatest(sum(nt), 1), 3) AS tgt_unaligned, "
        f"round(sum(links) / greatest(sum(src_aligned), 1), 3) AS src_fertility, "
        f"round(sum(links) / greatest(sum(tgt_aligned), 1), 3) AS tgt_fertility "
        f"FROM a GROUP BY ALL ORDER BY src_lang, tgt_lang, method")))
    stats.histograms["link score"] = _score_histogram(q, f"SELECT unnest(scores) AS v FROM {t}")


def _transliterated(q: _Query, stats: TableStats) -> None:
    t = q.table
    tokens = f"(SELECT preset, unnest(tokens) AS k FROM {t})"
    stats.sections.append(Section("presets", "sentences per preset", q.rows(
        f"SELECT preset, count(*) AS sentences, sum(len(tokens)) AS tokens FROM {t} GROUP BY ALL ORDER BY preset")))
    stats.sections.append(Section("origins", "origin mix (tokens per predicted origin, first preset)", q.rows(
        f"SELECT k.origin AS origin, count(*) AS tokens, round(avg(k.confidence), 3) AS mean_confidence, "
        f"round(count(*) / sum(count(*)) OVER (), 4) AS share FROM {tokens} "
        f"WHERE preset = (SELECT min(preset) FROM {t}) GROUP BY ALL ORDER BY tokens DESC, origin")))
    stats.sections.append(Section("actions", "actions per preset", q.rows(
        f"SELECT preset, k.action AS action, count(*) AS tokens FROM {tokens} GROUP BY ALL "
        f"ORDER BY preset, tokens DESC, action")))


def _projected(q: _Query, stats: TableStats) -> None:
    t = q.table
    stats.sections.append(Section("projection", "projection (per language pair and method)", q.rows(
        f"SELECT src_lang, tgt_lang, method, count(*) AS sentences, sum(len(src_spans)) AS source_spans, "
        f"sum(len(projected_spans)) AS projected_spans, "
        f"sum(len(src_spans)) - sum(len(projected_spans)) AS unprojected_spans, "
        f"round(avg(confidence), 3) AS mean_confidence FROM {t} GROUP BY ALL ORDER BY src_lang, tgt_lang, method")))
    stats.sections.append(Section("unprojected", "unprojected source spans per label", q.rows(
        f"WITH s AS (SELECT id, unnest(src_spans) AS sp, generate_subscripts(src_spans, 1) - 1 AS i FROM {t}), "
        f"p AS (SELECT id, unnest(projected_spans).source AS i FROM {t}) "
        f"SELECT sp.label AS label, count(*) AS source_spans, count(*) FILTER (WHERE p.i IS NULL) AS unprojected "
        f"FROM s LEFT JOIN p ON s.id = p.id AND s.i = p.i GROUP BY ALL ORDER BY label")))
    stats.histograms["projected span score"] = _score_histogram(
        q, f"SELECT unnest(projected_spans).score AS v FROM {t}")
    stats.histograms["sentence confidence"] = _score_histogram(q, f"SELECT confidence AS v FROM {t}")


def _score_histogram(q: _Query, values_sql: str, bins: int = 10) -> list[dict[str, Any]]:
    """Counts of values in [0, 1] in ``bins`` equal bins."""
    rows = q.rows(f"SELECT least(floor(v * {bins}), {bins - 1})::INT AS b, count(*) AS n FROM ({values_sql}) "
                  "WHERE v IS NOT NULL GROUP BY b ORDER BY b")
    return [{"start": r["b"] / bins, "end": (r["b"] + 1) / bins, "count": r["n"]} for r in rows]


SPECIFIC: dict[str, Callable[[_Query, TableStats], None]] = {
    "entitycs": _entitycs,
    "bitext_aligned": _bitext_aligned,
    "transliterated": _transliterated,
    "projected": _projected,
}


# -------------------------------------------------------------- rendering
def render(stats: TableStats, fmt: str) -> str:
    """``text`` (aligned columns), ``markdown`` (tables) or ``json``."""
    if fmt == "json":
        import json

        return json.dumps(stats.json(), indent=2, ensure_ascii=False, default=str)
    md = fmt == "markdown"
    out = [f"## {stats.table} (v{stats.version}): {stats.rows:,} rows" if md
           else f"{stats.table} v{stats.version}: {stats.rows:,} rows"]
    for s in stats.sections:
        out += ["", f"### {s.title}" if md else f"{s.title}:"]
        out += markdown_table(s.rows) if md else _text_table(s.rows)
    return "\n".join(out) + "\n"


def _cell(v: Any) -> str:
    if v is None:
        return "NULL"
    if isinstance(v, float):
        return f"{v:g}"
    if isinstance(v, int):
        return f"{v:,}"
    return str(v)


def markdown_table(rows: list[dict[str, Any]]) -> list[str]:
    if not rows:
        return ["(none)"]
    head = list(rows[0])
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(_cell(r[k]).replace("|", "\\|") for k in head) + " |" for r in rows]
    return lines


def _text_table(rows: list[dict[str, Any]]) -> list[str]:
    if not rows:
        return ["  (none)"]
    head = list(rows[0])
    cells = [[_cell(r[k]) for k in head] for r in rows]
    widths = [max(len(h), *(len(c[i]) for c in cells)) for i, h in enumerate(head)]
    fmt = "  " + "  ".join(f"{{:{w}}}" for w in widths)
    return [fmt.format(*head).rstrip()] + [fmt.format(*c).rstrip() for c in cells]
