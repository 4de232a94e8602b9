"""The demo: run every pipeline in ``pipelines/`` on the bundled sample, then query the store.

A pipeline that needs an optional package or trained model that is not installed (a core
install has neither the spaCy model of ``translate_train.yaml`` nor ``py3langid``) is skipped
with one line saying what to install; the others run.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from . import pipeline as pl
from .engine.local import LocalEngine
from .errors import MissingDependency, PipelineError
from .resources import shipped_dir
from .store import Store


def default_pipelines_dir() -> Path:
    """The pipeline files that ship with xlcorpus (the checkout's or the wheel's ``pipelines/``)."""
    return shipped_dir("pipelines")


def summary_query(store: Store) -> str:
    """One DuckDB query counting the rows of every table of the store."""
    parts = [f"SELECT '{t}' AS table_name, count(*) AS rows FROM {t}" for t in store.tables()]
    return " UNION ALL ".join(parts) + " ORDER BY table_name"


def run_demo(store_dir: str, pipelines_dir: str | None, workers: int = 1,
             echo: Callable[[str], None] = print, progress: bool = True) -> Store:
    from .cli import print_report, render_table

    folder = Path(pipelines_dir) if pipelines_dir else default_pipelines_dir()
    store = Store(store_dir)
    files = sorted(folder.glob("*.yaml"))
    if not files:
        raise PipelineError(f"{folder}: no pipeline files")
    for path in files:
        echo(f"== {path.name}")
        try:
            spec = pl.load(path)
            report = pl.run(spec.pipeline, store, LocalEngine(workers=workers, progress=progress))
        except MissingDependency as exc:
            echo(f"skipped: {exc}")
            continue
        print_report(echo, report)
    query = summary_query(store)
    first = query.split(" UNION ALL ")[0]
    echo(f"\nstore: {store.root}\nDuckDB> {first} UNION ALL ... ({len(store.tables())} tables) ORDER BY table_name")
    echo(render_table(store.sql(query)))
    return store
