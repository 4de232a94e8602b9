"""``xlcorpus stats``, ``xlcorpus head`` and ``xlcorpus report``."""

from __future__ import annotations

import click

from ..cli import main, open_store, store_option, write_result


@main.command()
@click.argument("table")
@store_option
@click.option("--format", "fmt", type=click.Choice(["text", "json", "markdown"]), default="text", show_default=True)
@click.option("--version", "version", type=click.IntRange(min=0), help="Table version (default: latest).")
def stats(table: str, store: str, fmt: str, version: int | None) -> None:
    """Statistics of TABLE: rows, languages, lengths, rejects and table-specific figures."""
    from .compute import render, table_stats

    click.echo(render(table_stats(open_store(store), table, version), fmt), nl=False)


@main.command()
@click.argument("table")
@store_option
@click.option("-n", "rows", type=click.IntRange(min=0), default=10, show_default=True, help="Rows to show.")
@click.option("--where", help="SQL condition on the table's columns, e.g. \"tgt_lang = 'fr'\".")
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "json"]), default="table", show_default=True,
              help="Output format (json = JSON lines).")
def head(table: str, store: str, rows: int, where: str | None, fmt: str) -> None:
    """The first N rows of TABLE (optionally only those matching --where)."""
    from ..store import check_table_name

    check_table_name(table)
    query = f"SELECT * FROM {table}" + (f" WHERE {where}" if where else "") + f" LIMIT {rows}"
    write_result(open_store(store).sql(query), fmt, None, rows)


@main.command()
@store_option
@click.option("--output", default="report.html", show_default=True, type=click.Path(dir_okay=False),
              help="HTML file to write.")
@click.option("--table", "tables", multiple=True, help="Tables to include (default: all but rejects).")
@click.pass_obj
def report(obj, store: str, output: str, tables: tuple[str, ...]) -> None:
    """Write one self-contained HTML report (statistics and plots) of the store's tables."""
    from .report import write_report

    path = write_report(open_store(store), output, list(tables) or None)
    obj.echo(f"report: {path}")
