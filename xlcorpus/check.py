"""``xlcorpus check``: verify every table of a local store and say what is wrong.

For each table: every commit file of ``_delta_log`` is JSON lines (a cut or damaged commit
is named with its line), the table loads, and every data file its latest version refers to
is present with the size the log gives. ``_releases.json`` must be readable and name
existing versions. Nothing is changed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote

from .errors import StoreError
from .store import Store


@dataclass
class TableCheck:
    table: str
    version: int | None
    files: int
    problems: list[str]


def check_table(store: Store, table: str) -> TableCheck:
    """The problems of one table (empty when it is sound)."""
    root = Path(store.uri(table))
    problems: list[str] = []
    for commit in sorted((root / "_delta_log").glob("*.json")):
        try:
            lines = commit.read_bytes().splitlines()
        except OSError as exc:
            problems.append(f"{commit}: cannot be read: {exc.strerror}")
            continue
        for n, line in enumerate(lines, 1):
            try:
                json.loads(line)
            except (UnicodeDecodeError, json.JSONDecodeError):
                problems.append(f"{commit}:{n}: not a JSON action (a cut or damaged commit)")
                break
    if problems:
        return TableCheck(table, None, 0, problems)
    try:
        dt = store._delta(table)
        actions = dt.get_add_actions(flatten=True)
        paths = actions.column("path").to_pylist()
        sizes = actions.column("size_bytes").to_pylist()
    except StoreError as exc:
        return TableCheck(table, None, 0, [str(exc)])
    for rel, size in zip(paths, sizes):
        f = root / unquote(rel)
        if not f.is_file():
            problems.append(f"{f}: data file of table {table!r} v{dt.version()} is missing")
        elif f.stat().st_size != size:
            problems.append(f"{f}: {f.stat().st_size} bytes, but the log of table {table!r} says {size}")
    return TableCheck(table, dt.version(), len(paths), problems)


def check_store(store: Store) -> tuple[list[TableCheck], list[str]]:
    """Checks of every table, and the problems of the store itself (releases)."""
    if not store.is_local:
        raise StoreError("check supports local stores only in this version")
    results = [check_table(store, t) for t in store.tables()]
    problems: list[str] = []
    try:
        releases = store.releases()
    except StoreError as exc:
        return results, [str(exc)]
    latest = {r.table: r.version for r in results}
    for name, versions in releases.items():
        for table, version in versions.items():
            if table not in latest:
                problems.append(f"release {name!r} names table {table!r}, which the store does not have")
            elif latest[table] is not None and not (isinstance(version, int) and 0 <= version <= latest[table]):
                problems.append(f"release {name!r} names version {version!r} of table {table!r} "
                                f"(it has 0..{latest[table]})")
    return results, problems
