"""The ``xlcorpus`` command line.

Exit codes: 0 success, 1 a user-facing error (bad input, bad pipeline file, conflict),
2 bad usage (click), 130 interrupted (Ctrl-C; nothing half-written).
Task commands (align, project, romanize, ...) register themselves in ``COMMAND_MODULES``.
"""

from __future__ import annotations

import importlib
import json
import logging
import os
import sys
from pathlib import Path

import click
import pyarrow as pa

from . import __version__
from .errors import XlcorpusError

DEFAULT_STORE = "store"
# Modules that add commands to the ``main`` group (imported lazily, at start-up).
# A module that is not there yet is skipped; an import error inside one is raised.
COMMAND_MODULES: list[str] = [
    "xlcorpus.codeswitch.cli",   # entitycs, mask (issue 3)
    "xlcorpus.align.cli",        # align, eval align, show, igt (issue 4)
    "xlcorpus.translit.cli",     # romanize, etymology (issue 5)
    "xlcorpus.project.cli",      # project, eval spans (issue 6)
    "xlcorpus.export.cli",       # export hf (issue 7)
]


def store_option(f):
    return click.option("--store", "store", type=click.Path(file_okay=False), envvar="XLCORPUS_STORE",
                        default=DEFAULT_STORE, show_default=True,
                        help="Store directory or URI (env XLCORPUS_STORE).")(f)


class Ctx:
    def __init__(self, verbose: int, quiet: bool):
        self.verbose = verbose
        self.quiet = quiet

    def echo(self, msg: str = "") -> None:
        if not self.quiet:
            click.echo(msg)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="xlcorpus")
@click.option("-v", "--verbose", count=True, help="More logging (-vv for debug).")
@click.option("-q", "--quiet", is_flag=True, help="Only errors and requested output.")
@click.pass_context
def main(ctx: click.Context, verbose: int, quiet: bool) -> None:
    """Build cross-lingual corpora into versioned Delta Lake tables and query them."""
    level = logging.WARNING - 10 * verbose if not quiet else logging.ERROR
    logging.basicConfig(level=max(level, logging.DEBUG), format="%(levelname)s %(name)s: %(message)s")
    ctx.obj = Ctx(verbose, quiet)


def open_store(path: str, must_exist: bool = True):
    from .store import Store

    if must_exist and "://" not in path and not Path(path).is_dir():
        raise click.ClickException(f"store {path!r} does not exist (run a pipeline first, or pass --store)")
    return Store(path)


# -------------------------------------------------------------------- run
@main.command()
@click.argument("pipeline_file", type=click.Path(exists=True, dir_okay=False))
@store_option
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE", help="Override a parameter (repeatable).")
@click.option("--workers", type=click.IntRange(min=1), default=1, show_default=True, help="Worker processes.")
@click.option("--engine", type=click.Choice(["local", "ray"]), default="local", show_default=True)
@click.option("--fail-fast", is_flag=True, help="Stop at the first bad record instead of rejecting it.")
@click.option("--force", is_flag=True, help="Run even if the outputs are up to date.")
@click.pass_obj
def run(obj: Ctx, pipeline_file: str, store: str, overrides: tuple[str, ...], workers: int,
        engine: str, fail_fast: bool, force: bool) -> None:
    """Run a pipeline file (YAML) into a store."""
    from . import pipeline as pl

    spec = pl.load(pipeline_file, list(overrides))
    report = pl.run(spec.pipeline, open_store(store, must_exist=False),
                    make_engine(engine, workers, fail_fast, not obj.quiet), force=force)
    print_report(obj.echo, report)


def make_engine(name: str, workers: int, fail_fast: bool, progress: bool):
    if name == "ray":
        from .engine import ray_engine  # noqa: F401 - raises a clear error if ray is missing

        return ray_engine.RayEngine(workers=workers, fail_fast=fail_fast, progress=progress)
    from .engine.local import LocalEngine

    return LocalEngine(workers=workers, fail_fast=fail_fast, progress=progress)


def print_report(echo, report) -> None:
    """One line per step: rows per table and version, rejects, duplicates, speed."""
    for s in report.steps:
        if s.skipped:
            echo(f"{report.pipeline}/{s.step}: up to date (same inputs and parameters), skipped")
            continue
        rows = ", ".join(f"{t}: {n:,} rows (v{s.versions.get(t)})" for t, n in s.rows.items())
        extra = f", {s.duplicates:,} duplicates dropped" if s.duplicates else ""
        echo(f"{report.pipeline}/{s.step}: {rows}; {s.rejects:,} rejected{extra}; "
             f"{s.input_rows:,} records in {s.seconds:.2f} s ({s.rows_per_s:,.0f}/s)")


# ----------------------------------------------------------------- tables
@main.command()
@store_option
@click.pass_obj
def tables(obj: Ctx, store: str) -> None:
    """List tables: name, rows, latest version (one per line)."""
    st = open_store(store)
    for name in st.tables():
        click.echo(f"{name}\t{st.count(name)}\tv{st.version(name)}")


@main.command()
@click.argument("table")
@store_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON lines with the full lineage.")
@click.pass_obj
def history(obj: Ctx, table: str, store: str, as_json: bool) -> None:
    """Show the versions of TABLE with their lineage."""
    st = open_store(store)
    for h in st.history(table):
        if as_json:
            click.echo(json.dumps(h, sort_keys=True, default=str))
        else:
            click.echo(f"v{h['version']}\t{h.get('operation')}\t{h.get('pipeline', '-')}\t"
                       f"rows={h.get('rows', '-')}\trun={h.get('run_id', '-')}\t"
                       f"lib={h.get('library_version', '-')}")


@main.command()
@click.argument("name", required=False)
@store_option
@click.option("--table", "tables_", multiple=True, help="Tables to include (default: all).")
@click.option("--move", is_flag=True, help="Move an existing release to the current versions.")
@click.option("--model", help="Tag text instead: a spaCy pipeline name or folder (with --input, --output).")
@click.option("--input", "input_", type=click.Path(exists=True, dir_okay=False),
              help="With --model: CoNLL (tags ignored) or JSON lines ({'text'} or {'tokens'}).")
@click.option("--output", type=click.Path(dir_okay=False),
              help="With --model: CoNLL with IOB2 tags, or JSON lines with character spans if it ends in .jsonl.")
@click.option("--label-map", type=click.Choice(["conll", "none"]), default="conll", show_default=True,
              help="With --model: OntoNotes types -> PER/ORG/LOC/MISC (numeric types dropped), or the model's labels.")
@click.option("--batch-size", type=click.IntRange(min=1), default=256, show_default=True,
              help="With --model: documents per nlp.pipe batch.")
@click.pass_obj
def tag(obj: Ctx, name: str | None, store: str, tables_: tuple[str, ...], move: bool, model: str | None,
        input_: str | None, output: str | None, label_map: str, batch_size: int) -> None:
    """Name the current table versions as release NAME; or, with --model, tag --input
    (NER and POS) into --output."""
    if model:
        if name or not input_ or not output:
            raise click.UsageError("tag --model needs --input and --output (and no release NAME)")
        from .tagging import tag_file

        tag_file(model, input_, output, label_map, batch_size, echo=obj.echo if obj else None)
        return
    if not name:
        raise click.UsageError("give a release NAME, or --model with --input and --output")
    st = open_store(store)
    versions = st.tag(name, list(tables_) or None, overwrite=move)
    for t, v in versions.items():
        click.echo(f"{name}\t{t}\tv{v}")


# -------------------------------------------------------------------- sql
@main.command()
@click.argument("query")
@store_option
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "json", "parquet"]), default="table",
              show_default=True, help="Output format (json = JSON lines).")
@click.option("--output", type=click.Path(dir_okay=False), help="Write to FILE instead of stdout.")
@click.option("--at", "at", multiple=True, metavar="TABLE=VERSION", help="Query TABLE at an older version.")
@click.option("--release", help="Query every table at the versions of a named release.")
@click.option("--max-rows", type=int, default=100, show_default=True, help="Rows shown in table format.")
@click.option("--allow-external", is_flag=True, help="Let the query read/write files (off: read-only).")
def sql(query: str, store: str, fmt: str, output: str | None, at: tuple[str, ...],
        release: str | None, max_rows: int, allow_external: bool) -> None:
    """Run a DuckDB QUERY over the store (one view per table; TABLE__vN for version N)."""
    st = open_store(store)
    versions = {}
    for item in at:
        t, _, v = item.partition("=")
        if not v.isdigit():
            raise click.BadParameter(f"expected TABLE=VERSION, got {item!r}", param_hint="--at")
        versions[t] = int(v)
    result = st.sql(query, at=versions, release=release, allow_external=allow_external)
    write_result(result, fmt, output, max_rows)


def write_result(result: pa.Table, fmt: str, output: str | None, max_rows: int = 100) -> None:
    """Print or save a query result in ``fmt``."""
    if fmt == "parquet":
        if not output:
            raise click.UsageError("--format parquet needs --output FILE")
        import pyarrow.parquet as pq

        pq.write_table(result, output)
        return
    if fmt == "table":
        text = render_table(result, max_rows)
    elif fmt == "csv":
        import io

        import pyarrow.csv as pacsv

        buf = io.BytesIO()
        pacsv.write_csv(_flatten_nested(result), buf)
        text = buf.getvalue().decode("utf-8")
    else:
        text = "".join(json.dumps(r, ensure_ascii=False, default=str) + "\n" for r in result.to_pylist())
    if output:
        Path(output).write_text(text, encoding="utf-8")
    else:
        click.echo(text, nl=not text.endswith("\n"))


def _flatten_nested(t: pa.Table) -> pa.Table:
    """CSV cannot hold lists/structs: encode nested columns as JSON text."""
    cols = []
    for col in t.columns:
        if pa.types.is_nested(col.type):
            col = pa.array([None if v is None else json.dumps(v, ensure_ascii=False, default=str)
                            for v in col.to_pylist()], pa.string())
        cols.append(col)
    return pa.Table.from_arrays(cols, names=t.column_names)


def render_table(result: pa.Table, max_rows: int = 100) -> str:
    from rich.console import Console
    from rich.table import Table

    table = Table(show_lines=False)
    for name in result.column_names:
        table.add_column(name)
    for row in result.slice(0, max_rows).to_pylist():
        table.add_row(*["NULL" if v is None else str(v) for v in row.values()])
    console = Console(width=max(100, min(200, 20 * len(result.column_names))), record=True,
                      file=open(os.devnull, "w"))
    console.print(table)
    more = f"({result.num_rows} rows, {max_rows} shown)\n" if result.num_rows > max_rows else f"({result.num_rows} rows)\n"
    return console.export_text() + more


# ------------------------------------------------------------------- demo
@main.command()
@click.option("--store", default="demo-store", show_default=True, type=click.Path(file_okay=False))
@click.option("--pipelines", "pipelines_dir", type=click.Path(file_okay=False, exists=True),
              help="Folder of pipeline files (default: the repository's pipelines/).")
@click.option("--workers", type=click.IntRange(min=1), default=1, show_default=True)
@click.pass_obj
def demo(obj: Ctx, store: str, pipelines_dir: str | None, workers: int) -> None:
    """Run every pipeline in pipelines/ on the bundled sample, then query the store."""
    from .demo import run_demo

    run_demo(store, pipelines_dir, workers, echo=obj.echo, progress=not obj.quiet)


@main.group("eval")
def eval_group() -> None:
    """Evaluate predictions against gold (alignments, spans)."""


def _load_command_modules() -> None:
    for name in COMMAND_MODULES:
        try:
            importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name is None or not name.startswith(exc.name):
                raise


def entry(argv: list[str] | None = None) -> int:
    """Run the CLI; map errors to exit codes instead of tracebacks."""
    _load_command_modules()
    try:
        main.main(args=argv, prog_name="xlcorpus", standalone_mode=False)
    except (KeyboardInterrupt, click.exceptions.Abort):  # click turns Ctrl-C into Abort
        click.echo("interrupted: the interrupted step committed nothing", err=True)
        return 130
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except XlcorpusError as exc:
        click.echo(f"error: {exc}", err=True)
        return 1
    except click.exceptions.Exit as exc:
        return exc.exit_code
    return 0


def main_entry() -> None:
    sys.exit(entry())
