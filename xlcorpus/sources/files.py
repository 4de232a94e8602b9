"""Opening inputs: plain, gzip, bz2 (parallel with indexed_bzip2), xz; line iteration.

Lines are split on ``\\n`` only (never on Unicode line separators such as U+2028, which
are part of the text); a ``\\r`` before the ``\\n`` is removed.
"""

from __future__ import annotations

import gzip
import io
import lzma
import os
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO


def open_binary(path: str | os.PathLike[str], threads: int | None = None) -> BinaryIO:
    """Open ``path`` for binary reading, decompressing by extension (.gz, .bz2, .xz)."""
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix == ".gz":
        return gzip.open(p, "rb")  # type: ignore[return-value]
    if suffix == ".xz":
        return lzma.open(p, "rb")  # type: ignore[return-value]
    if suffix == ".bz2":
        try:
            import indexed_bzip2

            n = threads or min(os.cpu_count() or 1, 4)
            return io.BufferedReader(indexed_bzip2.open(str(p), parallelization=n), 1 << 20)  # type: ignore[arg-type]
        except ImportError:  # pragma: no cover - indexed_bzip2 is a core dependency
            import bz2

            return bz2.open(p, "rb")  # type: ignore[return-value]
    return open(p, "rb", buffering=1 << 20)


def iter_lines(path: str | os.PathLike[str]) -> Iterator[tuple[int, bytes]]:
    """Yield ``(line_number, raw_line)`` (1-based, line end removed) from a possibly
    compressed file."""
    with open_binary(path) as fh:
        for n, line in enumerate(fh, 1):
            if line.endswith(b"\n"):
                line = line[:-1]
                if line.endswith(b"\r"):
                    line = line[:-1]
            yield n, line


def display_name(path: str | os.PathLike[str]) -> str:
    """The name recorded as a record's source: the file name, stable across machines."""
    return Path(path).name
