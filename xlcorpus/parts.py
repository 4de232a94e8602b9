"""Parquet part files of a Delta table, written before the commit that adds them.

A run writes its output rows into part files under a staging folder (by the process that
made them: a worker, or the engine's main process), one file per partition value and
writer, partition columns left out as the Delta protocol asks. The commit then *adds* the
files to the table (:meth:`xlcorpus.store.Store.add_files`): a rename and a log entry, no
second read or write of the data.

Layout under the staging folder: ``TABLE/col=value/.../<prefix>-<n>.parquet`` (values
percent-encoded); :func:`read_parts` reads them back with the partition columns. A writer given
a ``filesystem`` (a bucket of a remote store) writes there instead of the local disk.
"""

from __future__ import annotations

import json
import math
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from .schema import TableContract

COMPRESSION = "zstd"


@dataclass(frozen=True)
class PartFile:
    """A finished part file: where, which partition, how many rows."""

    path: str
    partition: dict[str, str] = field(default_factory=dict)
    rows: int = 0
    stats: str = ""  # Delta ``stats`` JSON
    size: int = 0  # bytes


def partition_dir(partition: dict[str, str]) -> str:
    """``col=value/...`` (percent-encoded values), '' for an unpartitioned table."""
    return "/".join(f"{k}={quote(v, safe='')}" for k, v in partition.items())


class PartWriter:
    """Writes validated batches of one table into part files under ``root/TABLE/``.

    Rows are split by partition value; each partition gets one open file (a new one after
    ``max_rows`` rows). :meth:`close` finishes the files and returns them. ``folder`` replaces
    ``root/TABLE``; with ``filesystem`` the files go there (paths are that filesystem's).
    """

    def __init__(self, root: Path | str, contract: TableContract, prefix: str | None = None,
                 max_rows: int = 8_000_000, filesystem: pafs.FileSystem | None = None,
                 folder: str | None = None):
        self.root = folder if folder is not None else str(Path(root) / contract.name)
        self.fs = filesystem
        self.contract = contract
        self.prefix = prefix or uuid.uuid4().hex[:12]
        self.max_rows = max_rows
        self.keys = list(contract.partition_by)
        for k in self.keys:
            if not pa.types.is_string(contract.arrow_schema.field(k).type):
                raise TypeError(f"table {contract.name!r}: partition column {k!r} must be a string")
        self.file_schema = pa.schema([f for f in contract.arrow_schema if f.name not in self.keys])
        # dictionary pages for flat string columns only: on integer lists (offsets,
        # alignments) they cost time and make the file larger
        self._dictionary = [f.name for f in self.file_schema if pa.types.is_string(f.type)]
        self._open: dict[tuple[str, ...], tuple[pq.ParquetWriter, Any, str, _Stats]] = {}
        self._done: list[PartFile] = []
        self._n = 0

    def add(self, batch: pa.RecordBatch) -> None:
        """Append ``batch`` (already valid against the contract)."""
        if not batch.num_rows:
            return
        if not self.keys:
            self._write((), batch)
            return
        from .store import check_partition_value

        cols = [batch.column(k) for k in self.keys]
        for k, col in zip(self.keys, cols):
            for value in pc.unique(col).to_pylist():
                check_partition_value(self.contract.name, k, value)
        # one code per partition (values hold no NUL: control characters are rejected above)
        codes = pc.dictionary_encode(cols[0] if len(cols) == 1 else pc.binary_join_element_wise(*cols, "\x00"))
        values = [tuple(v.split("\x00")) for v in codes.dictionary.to_pylist()]
        index = codes.indices.to_numpy(zero_copy_only=False)
        if len(values) == 1:
            self._write(values[0], batch.drop_columns(self.keys))
            return
        rest = batch.drop_columns(self.keys)
        order = np.argsort(index, kind="stable")
        bounds = np.searchsorted(index[order], np.arange(len(values) + 1))
        for i, key in enumerate(values):
            take = order[bounds[i]:bounds[i + 1]]
            if len(take):
                self._write(key, rest.take(pa.array(take)))

    def _write(self, key: tuple[str, ...], batch: pa.RecordBatch) -> None:
        entry = self._open.get(key)
        if entry is None:
            part = dict(zip(self.keys, key))
            folder = "/".join(p for p in (self.root, partition_dir(part)) if p)
            path = f"{folder}/{self.prefix}-{self._n:05d}.parquet"
            self._n += 1
            if self.fs is None:
                Path(folder).mkdir(parents=True, exist_ok=True)
                sink = pa.OSFile(path, "wb")
            else:
                self.fs.create_dir(folder, recursive=True)
                sink = self.fs.open_output_stream(path)
            entry = (pq.ParquetWriter(sink, self.file_schema, compression=COMPRESSION,
                                      use_dictionary=self._dictionary), sink, path, _Stats())
        writer, _, path, stats = entry
        writer.write_batch(batch)
        stats.add(batch)
        self._open[key] = entry
        if stats.rows >= self.max_rows:
            self._finish(key)

    def _finish(self, key: tuple[str, ...]) -> None:
        writer, sink, path, stats = self._open.pop(key)
        writer.close()
        size = sink.tell()
        sink.close()
        self._done.append(PartFile(path, dict(zip(self.keys, key)), stats.rows, stats.json(), size))

    def close(self) -> list[PartFile]:
        """Finish every open file; return all files written (in order)."""
        for key in list(self._open):
            self._finish(key)
        done, self._done = self._done, []
        return done

    def abort(self) -> None:
        """Close open files without keeping them (their folder is removed by the caller)."""
        for writer, sink, _, _ in self._open.values():
            writer.close()
            sink.close()
        self._open.clear()


class _Stats:
    """Running Delta statistics of one file: rows, and min/max/null count of every
    top-level integer, floating-point and string column.

    deltalake's reader skips a file whose stats describe some columns but not a filtered
    one, so a file with a column that cannot be described (NaN, infinity) gets its row
    count only.
    """

    def __init__(self) -> None:
        self.rows = 0
        self.mins: dict[str, Any] = {}
        self.maxs: dict[str, Any] = {}
        self.nulls: dict[str, int] = {}
        self.complete = True

    def add(self, batch: pa.RecordBatch) -> None:
        self.rows += batch.num_rows
        for name, col in zip(batch.schema.names, batch.columns):
            t = col.type
            if not (pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_string(t)
                    or pa.types.is_large_string(t)):
                continue
            self.nulls[name] = self.nulls.get(name, 0) + col.null_count
            mm = pc.min_max(col).as_py()
            lo, hi = mm["min"], mm["max"]
            if lo is None:
                self.complete &= col.null_count == len(col)
                continue
            if isinstance(lo, float) and not (math.isfinite(lo) and math.isfinite(hi)):
                self.complete = False
                continue
            self.mins[name] = lo if name not in self.mins else min(self.mins[name], lo)
            self.maxs[name] = hi if name not in self.maxs else max(self.maxs[name], hi)

    def json(self) -> str:
        if not self.complete:
            return json.dumps({"numRecords": self.rows})
        return json.dumps({"numRecords": self.rows, "minValues": self.mins, "maxValues": self.maxs,
                           "nullCount": self.nulls}, ensure_ascii=False)


def read_parts(contract: TableContract, files: list[PartFile],
               filesystem: pafs.FileSystem | None = None) -> pa.RecordBatchReader:
    """The rows of ``files`` (partition columns restored), in file order, as one stream.

    Files on a ``filesystem`` (a remote store's, served by deltalake) are read in a thread of
    their own, so that a deltalake operation consuming the stream (a merge) can do so."""
    import pyarrow.dataset as pads

    schema = contract.arrow_schema

    def batches():
        for f in files:
            ds = pads.dataset(f.path, format="parquet", filesystem=filesystem)
            for b in ds.to_batches(batch_size=64 * 1024):
                cols = {n: b.column(n) for n in b.schema.names}
                for k, v in f.partition.items():
                    cols[k] = pa.array([v] * b.num_rows, schema.field(k).type)
                yield pa.RecordBatch.from_arrays([cols[n] for n in schema.names], schema=schema)

    return pa.RecordBatchReader.from_batches(schema, batches() if filesystem is None else _in_thread(batches))


def _in_thread(produce: Any, depth: int = 2) -> Any:
    """The items of ``produce()``, made in another thread (at most ``depth`` ahead)."""
    import queue
    import threading

    items: queue.Queue = queue.Queue(maxsize=depth)
    end = object()

    def run() -> None:
        try:
            for item in produce():
                items.put(item)
            items.put(end)
        except BaseException as exc:  # noqa: BLE001 - raised in the consumer
            items.put(exc)

    threading.Thread(target=run, daemon=True, name="xlcorpus-read-parts").start()
    while (item := items.get()) is not end:
        if isinstance(item, BaseException):
            raise item
        yield item


def drop_repeated_keys(files: list[PartFile], key: str = "id",
                       filesystem: pafs.FileSystem | None = None) -> tuple[list[PartFile], int]:
    """Keep the first row of every ``key`` value across ``files`` (in file order, then row
    order) and rewrite the files that hold later repeats; return the files and the number of
    rows dropped. Workers that read byte ranges of one input each drop repeats within their
    range; this finds the repeats between ranges. Only the ``key`` column is read (by DuckDB,
    which spills to disk, for local files; by Arrow on ``filesystem``), and no file is
    rewritten when nothing repeats."""
    if len(files) < 2:
        return files, 0
    paths = [f.path for f in files]
    rows = _repeats(paths, key) if filesystem is None else _repeats_arrow(paths, key, filesystem)
    if not rows:
        return files, 0
    order = {p: i for i, p in enumerate(paths)}
    first: dict[Any, tuple[int, int]] = {}
    for k, f, r in rows:
        at = (order[f], r)
        if k not in first or at < first[k]:
            first[k] = at
    drop: dict[int, list[int]] = {}
    for k, f, r in rows:
        if (order[f], r) != first[k]:
            drop.setdefault(order[f], []).append(r)
    out = list(files)
    for i, rows_out in drop.items():
        out[i] = _without_rows(files[i], rows_out, filesystem)
    return out, sum(map(len, drop.values()))


def _repeats(paths: list[str], key: str) -> list[tuple[Any, str, int]]:
    """``(key, file, row number)`` of every row whose key occurs more than once (local files)."""
    import duckdb

    con = duckdb.connect()
    try:
        con.execute("SET preserve_insertion_order = false")
        return con.execute(
            f"WITH t AS (SELECT {key} AS k, filename AS f, file_row_number AS r "
            f"FROM read_parquet($paths, filename = true, file_row_number = true)), "
            f"rep AS (SELECT k FROM t GROUP BY k HAVING count(*) > 1) "
            f"SELECT t.k, t.f, t.r FROM t JOIN rep USING (k)", {"paths": paths}).fetchall()
    finally:
        con.close()


def _repeats_arrow(paths: list[str], key: str, fs: pafs.FileSystem) -> list[tuple[Any, str, int]]:
    """Like :func:`_repeats` for files on ``fs`` (the key columns are held in memory)."""
    parts = []
    for p in paths:
        col = pq.read_table(p, columns=[key], filesystem=fs).column(key).combine_chunks()
        parts.append(pa.table({"k": col, "f": pa.array([p] * len(col), pa.string()),
                               "r": pa.array(np.arange(len(col), dtype=np.int64))}))
    t = pa.concat_tables(parts)
    counts = t.group_by("k").aggregate([("k", "count")])
    rep = counts.filter(pc.greater(counts["k_count"], 1))["k"]
    t = t.filter(pc.is_in(t["k"], value_set=rep))
    return list(zip(t["k"].to_pylist(), t["f"].to_pylist(), t["r"].to_pylist()))


def _without_rows(part: PartFile, rows: list[int], fs: pafs.FileSystem | None = None) -> PartFile:
    """``part`` rewritten (same path, via a temporary file where the filesystem can rename)
    without the given row numbers."""
    table = pq.read_table(part.path, filesystem=fs)
    keep = np.ones(table.num_rows, dtype=bool)
    keep[np.asarray(rows, dtype=np.int64)] = False
    table = table.filter(pa.array(keep))
    if fs is None:
        tmp = f"{part.path}.tmp"
        pq.write_table(table, tmp, compression=COMPRESSION)
        Path(tmp).replace(part.path)
        size = Path(part.path).stat().st_size
    else:  # an object store: one PUT replaces the object whole
        pq.write_table(table, part.path, compression=COMPRESSION, filesystem=fs)
        size = fs.get_file_info(part.path).size
    stats = _Stats()
    for b in table.to_batches():
        stats.add(b)
    stats.rows = table.num_rows
    return PartFile(part.path, part.partition, table.num_rows, stats.json(), size)
