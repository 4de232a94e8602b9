"""Live progress of a running step on stderr (rich), and sub-tasks of whole-corpus work.

A step's line shows what is known of its size: the bytes of its input files (read so far,
as :mod:`xlcorpus.sources.inputs` opens them, against their sizes), the rows of the table it
reads, or the number of dump parts the workers read; with a total come a bar, the
percentage and the ETA, and always rows in, rows out and rows/s. Work that needs the whole
input before rows flow (eflomal runs, CRF training, an index build) shows as a sub-task
line under the step (:func:`task`), with its own total when one is known.

Nothing is drawn when stderr is not a terminal or progress is off; sub-tasks are then
logged (INFO) as they start and end. Nothing ever goes to stdout.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

_current: StepProgress | None = None
_opened: list[tuple[str, Any]] = []  # (path, raw file) of every input opened while a step runs
_lock = threading.Lock()


def track_input(path: Any, raw: Any) -> None:
    """Called by the input opener: count the bytes read from ``raw`` (the file itself)."""
    if _current is not None and isinstance(path, (str, os.PathLike)):
        with _lock:
            _opened.append((os.path.abspath(os.fspath(path)), raw))


def forget_inputs() -> None:
    """Stop counting the inputs opened so far (a scan before the reading pass)."""
    with _lock:
        _opened.clear()


def bytes_read(paths: set[str]) -> int:
    """Bytes read so far from the files ``paths`` (a closed file counts as read to its end)."""
    done = 0
    with _lock:
        for path, raw in _opened:
            if path not in paths:
                continue
            try:
                if raw.closed:
                    done += os.path.getsize(path)
                else:  # indexed_bzip2 counts compressed bits
                    done += raw.tell_compressed() // 8 if hasattr(raw, "tell_compressed") else raw.tell()
            except (OSError, ValueError, AttributeError):
                continue
    return done


def input_files(args: Iterable[Any]) -> list[str]:
    """The existing local files among ``args`` (recursing into lists, tuples and dicts)."""
    found: list[str] = []
    for a in args:
        if isinstance(a, (list, tuple, set)):
            found += input_files(a)
        elif isinstance(a, dict):
            found += input_files(a.values())
        elif isinstance(a, (str, Path)) and "://" not in str(a) and "\n" not in str(a) and len(str(a)) < 4096:
            try:
                if os.path.isfile(a):
                    found.append(os.path.abspath(a))
            except (OSError, ValueError):
                continue
    return list(dict.fromkeys(found))


def source_total(reader: Any) -> tuple[int | None, str, set[str]]:
    """(total, unit, files) of a step's source: bytes of its input files, or rows of its table."""
    from .engine.core import Call, TableSource

    if isinstance(reader, TableSource):
        try:
            store = reader.store.open() if hasattr(reader.store, "open") else reader.store
            if store.exists(reader.table):
                return store.read(reader.table).count_rows(filter=reader.filter), "rows", set()
        except Exception:  # noqa: BLE001 - a total is a nicety; reading reports real errors
            log.debug("no row count for %s", reader.describe(), exc_info=True)
        return None, "rows", set()
    if isinstance(reader, Call) and getattr(reader, "size", None):
        count, args, unit = reader.size
        return count(*args), unit, set()
    if isinstance(reader, Call):
        files = input_files([*reader.args, *reader.kwargs.values()])
        if files:
            return sum(os.path.getsize(f) for f in files), "bytes", set(files)
    return None, "rows", set()


class StepProgress:
    """One step's progress line (and its sub-task lines); silent unless ``enabled``."""

    def __init__(self, enabled: bool, label: str, reader: Any = None):
        self.enabled = enabled and sys.stderr.isatty()
        self.label = label
        self.reader = reader
        self.rows_in = self.rows_out = self.units = 0
        self.total: int | None = None
        self.unit = "rows"
        self.files: set[str] = set()
        self._p: Any = None
        self._task: Any = None

    def __enter__(self) -> StepProgress:
        global _current
        _current = self
        self._start = time.perf_counter()
        if self.reader is not None:
            self.total, self.unit, self.files = source_total(self.reader)
            if self.total is not None:
                log.info("%s: input %s %s", self.label, f"{self.total:,}", self.unit)
        if self.enabled:
            from rich.console import Console
            from rich.progress import (BarColumn, Progress, SpinnerColumn, TaskProgressColumn, TextColumn,
                                       TimeElapsedColumn, TimeRemainingColumn)

            self._p = Progress(SpinnerColumn(), TextColumn("[bold]{task.description}"), BarColumn(),
                               TaskProgressColumn(), TextColumn("{task.fields[done]}"),
                               TextColumn("{task.fields[info]}"), TimeElapsedColumn(),
                               TextColumn("ETA"), TimeRemainingColumn(),
                               transient=True, console=Console(stderr=True),
                               redirect_stdout=False, redirect_stderr=False)
            self._p.__enter__()
            self._task = self._p.add_task(self.label, total=self.total, done=self._done(), info="")
        return self

    def set_total(self, total: int, unit: str) -> None:
        """A total learnt once the step runs (the number of dump parts the workers read)."""
        self.total, self.unit = total, unit
        if self._p is not None:
            self._p.update(self._task, total=total, completed=0, done=self._done(0))

    def advance(self, n_in: int, n_out: int, units: int = 0) -> None:
        """After each work unit: rows it read and wrote (``units``: parts it completed)."""
        self.rows_in += n_in
        self.rows_out += n_out
        self.units += units
        if self._p is None:
            return
        completed = (bytes_read(self.files) if self.unit == "bytes" else
                     self.rows_in if self.unit == "rows" else self.units)
        rate = self.rows_in / max(time.perf_counter() - self._start, 1e-9)
        self._p.update(self._task, completed=completed, done=self._done(completed),
                       info=f"{self.rows_in:,} rows in, {self.rows_out:,} out, {rate:,.0f} rows/s")

    def _done(self, completed: int = 0) -> str:
        if self.total is None:
            return ""
        if self.unit == "bytes":
            return f"{completed / 2**20:,.1f}/{self.total / 2**20:,.1f} MB"
        return f"{completed:,}/{self.total:,} {self.unit}"

    def add_task(self, description: str, total: float | None) -> Callable[..., None]:
        if self._p is None:
            return lambda n=1, **_: None
        tid = self._p.add_task(f"  {description}", total=total, done="", info="")

        def advance(n: float = 1, **fields: Any) -> None:
            self._p.update(tid, advance=n, **fields)

        advance.done = lambda: self._p.remove_task(tid)  # type: ignore[attr-defined]
        return advance

    def __exit__(self, *exc: Any) -> bool:
        global _current
        _current = None
        forget_inputs()
        if self._p is not None:
            self._p.__exit__(*exc)
        return False


@contextmanager
def task(description: str, total: float | None = None) -> Iterator[Callable[..., None]]:
    """A sub-task of the running step (a no-op display outside one): yields ``advance(n=1)``.

    Its start and end (with seconds) are logged at INFO, so ``-v`` shows them when no
    progress is drawn.
    """
    log.info("%s ...", description)
    start = time.perf_counter()
    advance = _current.add_task(description, total) if _current is not None else (lambda n=1, **_: None)
    try:
        yield advance
    finally:
        getattr(advance, "done", lambda: None)()
        log.info("%s: done in %.1f s", description, time.perf_counter() - start)
