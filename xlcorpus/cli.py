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
from typing import TYPE_CHECKING

import click

from .errors import XlcorpusError
from .cli_types import INPUT_FILE

if TYPE_CHECKING:
    import pyarrow as pa

DEFAULT_STORE = "store"
# Modules that add commands to the ``main`` group (imported lazily, at start-up).
# A module that is not there yet is skipped; an import error inside one is raised.
COMMAND_MODULES: list[str] = [
    "xlcorpus.codeswitch.cli",  # entitycs, mask
    "xlcorpus.align.cli",  # align, eval align, show, igt
    "xlcorpus.translit.cli",  # romanize, etymology
    "xlcorpus.project.cli",  # project, eval spans
    "xlcorpus.export.cli",  # export hf
    "xlcorpus.stats.cli",  # stats, head, report
    "xlcorpus.pipeline_schema",  # schema pipeline
]


def store_option(f):
    """``--store`` and ``--storage-option KEY=VALUE`` (repeatable; read by :func:`open_store`)."""
    f = click.option("--storage-option", "storage_options", multiple=True, metavar="KEY=VALUE", expose_value=False,
                     callback=_storage_options,
                     help="Option of a remote store (deltalake's keys, e.g. AWS_SECRET_ACCESS_KEY; repeatable). "
                          "The environment (AWS_*, GOOGLE_*, AZURE_*) is read too; values are never printed.")(f)
    return click.option("--store", "store", type=click.Path(file_okay=False), envvar="XLCORPUS_STORE",
                        default=DEFAULT_STORE, show_default=True,
                        help="Store directory or URI (env XLCORPUS_STORE).")(f)


def _storage_options(ctx: click.Context, _param: click.Parameter, items: tuple[str, ...]) -> None:
    from .redact import remember

    options = {}
    for n, item in enumerate(items, 1):
        key, sep, value = item.partition("=")
        if not sep or not key.strip():  # never echo the item: it may hold a secret
            raise click.BadParameter(f"option {n} is not KEY=VALUE", param_hint="--storage-option")
        options[key.strip()] = value
    remember(options)
    ctx.meta["xlcorpus.storage_options"] = options


class Ctx:
    def __init__(self, verbose: int, quiet: bool):
        self.verbose = verbose
        self.quiet = quiet

    def echo(self, msg: str = "") -> None:
        if not self.quiet:
            click.echo(msg)


def _print_version(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    """``--version``: the library version and which uroman path romanization takes."""
    if not value or ctx.resilient_parsing:
        return
    from . import __version__
    from .translit.uroman_compat import describe

    click.echo(f"xlcorpus, version {__version__}\n{describe()}")
    ctx.exit()


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--version", is_flag=True, expose_value=False, is_eager=True, callback=_print_version,
              help="Show the version (and the uroman path) and exit.")
@click.option("-v", "--verbose", count=True, help="More logging (-vv for debug).")
@click.option("-q", "--quiet", is_flag=True, help="Only errors and requested output.")
@click.pass_context
def main(ctx: click.Context, verbose: int, quiet: bool) -> None:
    """Build cross-lingual corpora into versioned Delta Lake tables and query them."""
    from .redact import install

    level = logging.WARNING - 10 * verbose if not quiet else logging.ERROR
    logging.basicConfig(level=max(level, logging.DEBUG), format="%(levelname)s %(name)s: %(message)s")
    install()
    ctx.obj = Ctx(verbose, quiet)


def open_store(path: str, must_exist: bool = True, create: bool = True):
    """The store at ``path``, with the command's ``--storage-option`` values."""
    from .store import Store

    if must_exist and "://" not in path and not Path(path).is_dir():
        raise click.ClickException(f"store {path!r} does not exist (run a pipeline first, or pass --store)")
    ctx = click.get_current_context(silent=True)
    options = ctx.meta.get("xlcorpus.storage_options") if ctx is not None else None
    return Store(path, options or None, create=create)


# -------------------------------------------------------------------- run
@main.command()
@click.argument("pipeline_file", type=click.Path(exists=True, dir_okay=False))
@store_option
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE", help="Override a parameter (repeatable).")
@click.option("--workers", type=click.IntRange(min=1), default=1, show_default=True, help="Worker processes.")
@click.option("--engine", type=click.Choice(["local", "ray"]), default="local", show_default=True)
@click.option("--fail-fast", is_flag=True, help="Stop at the first bad record instead of rejecting it.")
@click.option("--max-reject-share", type=click.FloatRange(0, 1), default=None,
              help="Largest share of a step's input that stage errors may reject before the step "
                   "fails [default: each step's own, 0.1].")
@click.option("--force", is_flag=True, help="Run even if the outputs are up to date.")
@click.option("--dry-run", is_flag=True,
              help="Print the resolved parameters, inputs with fingerprints and steps (and whether each "
                   "would be skipped), then stop: nothing is read or written.")
@click.option("--json", "as_json", is_flag=True, help="With --dry-run: print the plan as JSON.")
@click.pass_obj
def run(obj: Ctx, pipeline_file: str, store: str, overrides: tuple[str, ...], workers: int,
        engine: str, fail_fast: bool, max_reject_share: float | None, force: bool, dry_run: bool,
        as_json: bool) -> None:
    """Run a pipeline file (YAML) into a store.

    Parameters are validated before any step runs. Each step prints its summary line when it
    ends (what it committed), a step whose tables carry this run's transaction is skipped.
    """
    from . import pipeline as pl

    spec = pl.load(pipeline_file, list(overrides))
    if dry_run:
        plan = pl.dry_run(spec.pipeline, open_store(store, must_exist=False, create=False))
        click.echo(json.dumps(plan, indent=2, default=str) if as_json else format_plan(plan))
        return
    st = open_store(store, must_exist=False)
    eng = make_engine(engine, workers, fail_fast, not obj.quiet, max_reject_share)
    pl.run(spec.pipeline, st, eng, force=force,
           on_step=lambda sr: print_step(obj.echo, spec.pipeline.kind, sr))


def format_plan(plan: dict) -> str:
    """The dry-run plan as text."""
    lines = [f"pipeline {plan['pipeline']} (run {plan['run_id']})", "parameters:"]
    lines += [f"  {k} = {json.dumps(v, default=str)}" for k, v in plan["params"].items()]
    lines.append("inputs:")
    lines += [f"  {k}: {v['path']} ({v['fingerprint'][:16]})" for k, v in plan["inputs"].items()] or ["  (none)"]
    lines.append("steps:")
    for s in plan["steps"]:
        state = "skip (up to date)" if s["would_skip"] else (
            f"run (already committed: {', '.join(s['done_tables'])})" if s["done_tables"] else "run")
        reads = f" reads {', '.join(s['inputs'])};" if s["inputs"] else ""
        lines.append(f"  {s['step']}: {s['source']} -> {' -> '.join(s['stages']) or '(no stage)'} -> "
                     f"{', '.join(s['outputs'])} [{s['mode']}];{reads} rejects to {s['rejects']}: {state}")
    return "\n".join(lines)


@main.command()
@click.argument("kind", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def params(kind: str | None, as_json: bool) -> None:
    """List the parameters of pipeline KIND (type, default, rules, meaning); no KIND: the kinds.
    ``filter.NAME``: the parameters of filter NAME."""
    from . import pipeline as pl
    from .params import describe

    if kind is None:
        for k in sorted(pl.kinds()):
            click.echo(k)
        return
    rows = describe(pl.param_class(kind))
    if as_json:
        click.echo(json.dumps(rows, indent=2, default=str))
        return
    for r in rows:
        rules = f" [{r['rules']}]" if r["rules"] else ""
        help_ = f"  {r['help']}" if r["help"] else ""
        click.echo(f"{r['name']}: {r['type']} = {json.dumps(r['default'], default=str)}{rules}{help_}")


def make_engine(name: str, workers: int, fail_fast: bool, progress: bool, max_reject_share: float | None = None):
    if name == "ray":
        from .engine import ray_engine  # noqa: F401 - raises a clear error if ray is missing

        return ray_engine.RayEngine(workers=workers, fail_fast=fail_fast, progress=progress,
                                    max_reject_share=max_reject_share)
    from .engine.local import LocalEngine

    return LocalEngine(workers=workers, fail_fast=fail_fast, progress=progress, max_reject_share=max_reject_share)


def print_report(echo, report) -> None:
    """One line per step (see :func:`print_step`)."""
    for s in report.steps:
        print_step(echo, report.pipeline, s)


def print_step(echo, pipeline: str, s) -> None:
    """A step's summary: rows inserted per table and version, rejects, each stage's counts and
    drops, speed."""
    if s.skipped:
        echo(f"{pipeline}/{s.step}: up to date (same inputs and parameters), skipped")
        return
    rows = ", ".join(f"{t}: {n:,} rows inserted (v{s.versions.get(t)})" for t, n in s.rows.items()
                     if t not in s.completed)
    done = f"; already committed before: {', '.join(s.completed)}" if s.completed else ""
    extra = f", {s.duplicates:,} duplicates dropped" if s.duplicates else ""
    drops = "".join(f"; {text}" for text in (st.summary() for st in s.stats.values()) if text)
    echo(f"{pipeline}/{s.step}: {rows}{done}; {s.rejects:,} rejected{extra}{drops}; "
         f"{s.input_rows:,} records in {s.seconds:.2f} s ({s.rows_per_s:,.0f}/s)")


# ----------------------------------------------------------------- tables
@main.command()
@store_option
@click.pass_obj
def tables(obj: Ctx, store: str) -> None:
    """List tables: name, rows, latest version (one per line); a damaged table is named on
    stderr (exit 1) and the others are still listed."""
    import pyarrow as pa

    from .errors import StoreError

    st = open_store(store)
    broken = 0
    for name in st.tables():
        try:
            click.echo(f"{name}\t{st.count(name)}\tv{st.version(name)}")
        except StoreError as exc:
            click.echo(f"error: {exc}", err=True)
            broken += 1
        except (OSError, pa.ArrowException) as exc:  # a data file missing or damaged
            click.echo(f"error: table {name!r}: {str(exc).splitlines()[0]} (`xlcorpus check` lists what is "
                       "wrong)", err=True)
            broken += 1
    if broken:
        raise click.exceptions.Exit(1)


@main.command()
@store_option
@click.pass_obj
def check(obj: Ctx, store: str) -> None:
    """Verify every table (log readable, every data file present with its logged size) and
    the releases; name what is wrong (exit 1), else print one line per table."""
    from .check import check_store

    results, problems = check_store(open_store(store))
    for r in results:
        problems += r.problems
        if not r.problems:
            obj.echo(f"ok\t{r.table}\tv{r.version}\t{r.files} data file(s)")
    for p in problems:
        click.echo(f"error: {p}", err=True)
    if problems:
        raise click.exceptions.Exit(1)


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
            stages = h.get("stages") if isinstance(h.get("stages"), dict) else {}
            per = " ".join(f"{n}:{v.get('rows_in', 0)}>{v.get('rows_out', 0)}" +
                           "".join(f",{k}={c}" for k, c in (v.get("dropped") or {}).items())
                           for n, v in stages.items())
            click.echo(f"v{h['version']}\t{h.get('operation')}\t{h.get('pipeline', '-')}/{h.get('step', '-')}\t"
                       f"rows={h.get('rows', '-')}\trun={h.get('run_id', '-')}\t"
                       f"lib={h.get('library_version', '-')}" + (f"\tstages={per}" if per else ""))


@main.command()
@click.argument("name", required=False)
@store_option
@click.option("--table", "tables_", multiple=True, help="Tables to include (default: all).")
@click.option("--move", is_flag=True, help="Move an existing release to the current versions.")
@click.option("--model", help="Tag text instead: a spaCy pipeline name or folder (with --input, --output).")
@click.option("--input", "input_", type=INPUT_FILE,
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
    import pyarrow as pa

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
    """Run the CLI; map errors to exit codes and one-line messages instead of tracebacks."""
    try:
        _load_command_modules()
        rc = main.main(args=argv, prog_name="xlcorpus", standalone_mode=False)
    except click.exceptions.Abort as exc:  # click turns Ctrl-C (and a stray EOFError) into Abort
        if isinstance(exc.__context__, EOFError):
            return _fail(f"unexpected end of input: {exc.__context__}")
        click.echo("interrupted: the interrupted step committed nothing", err=True)
        return 130
    except KeyboardInterrupt:
        click.echo("interrupted: the interrupted step committed nothing", err=True)
        return 130
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except XlcorpusError as exc:
        return _fail(str(exc))
    except OSError as exc:  # a file the command itself opens or writes
        return _fail(describe_os_error(exc))
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except Exception as exc:  # noqa: BLE001 - a bug: one line, the traceback with -v
        logging.getLogger("xlcorpus").debug("unexpected error", exc_info=True)
        return _fail(f"unexpected {type(exc).__name__}: {exc} (a bug in xlcorpus; run with -vv for the traceback)")
    return rc if isinstance(rc, int) else 0


def _fail(message: str) -> int:
    from .redact import redact

    click.echo(f"error: {redact(message)}", err=True)
    return 1


def describe_os_error(exc: OSError) -> str:
    """``FILE: what is wrong`` for an OSError (permission, a folder, a read-only store...)."""
    from .sources.inputs import os_input_error

    return str(os_input_error(exc.filename, exc)) if exc.filename is not None else exc.strerror or str(exc)


def main_entry() -> None:
    rc = entry()
    if rc != 0:
        # Ctrl-C or an error: the step was rolled back and the workers stopped; leave now
        # rather than shut the interpreter down around library threads (Ray, readers, native
        # runtimes), which can abort the process at exit and turn a clear error into a crash.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(rc)
    sys.exit(rc)
