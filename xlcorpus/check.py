"""``xlcorpus check``: verify every table of a store (local or remote) and say what is wrong.

For each table: every commit file of ``_delta_log`` is JSON lines (a cut or damaged commit
is named with its line), the table loads, and every data file its latest version refers to
is present with the size the log gives. The releases (the ``_releases`` table, or an older
store's ``_releases.json``) must be readable and name existing versions. Nothing is changed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from urllib.parse import unquote

import pyarrow.fs as pafs

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
    fs = store.filesystem()
    problems: list[str] = []
    logs = fs.get_file_info(pafs.FileSelector(f"{table}/_delta_log", allow_not_found=True))
    for commit in sorted(i.path for i in logs if i.is_file and i.path.endswith(".json")):
        where = store.location(commit)
        try:
            with fs.open_input_stream(commit) as fh:
                lines = bytes(fh.read()).splitlines()
        except OSError as exc:
            problems.append(f"{where}: cannot be read: {exc.strerror or exc}")
            continue
        for n, line in enumerate(lines, 1):
            try:
                json.loads(line)
            except (UnicodeDecodeError, json.JSONDecodeError):
                problems.append(f"{where}:{n}: not a JSON action (a cut or damaged commit)")
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
    found = fs.get_file_info([f"{table}/{unquote(rel)}" for rel in paths])
    for info, size in zip(found, sizes):
        where = store.location(info.path)
        if not info.is_file:
            problems.append(f"{where}: data file of table {table!r} v{dt.version()} is missing")
        elif info.size != size:
            problems.append(f"{where}: {info.size} bytes, but the log of table {table!r} says {size}")
    return TableCheck(table, dt.version(), len(paths), problems)


def check_store(store: Store) -> tuple[list[TableCheck], list[str]]:
    """Checks of every table, and the problems of the store itself (releases)."""
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
