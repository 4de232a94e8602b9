"""A store: a directory (or object-store URI) of versioned Delta Lake tables.

Layout::

    STORE/
      bitext/                 one Delta table per output (Parquet partitions + _delta_log/)
      bitext_rejects/         records a run could not use, same store
      _releases/              named releases: a small Delta table (name, versions, tagged_at)
      _contracts/TABLE.yaml   the contract of each user table (built-in ones ship with xlcorpus)
      _staging/RUN/           a running pipeline's part files (local stores; removed after commit)
      TABLE/_staging/RUN/     the same in a remote store: the commit adds them where they are

Every write is one Delta commit: it is all visible or not at all (a writer killed mid-write
leaves orphan Parquet files that no version references, and the previous version intact).
Each commit carries lineage in its ``commitInfo``: ``xlcorpus.pipeline``, ``.params``,
``.inputs``, ``.version``, ``.rows``, ``.run_id``, ``.fingerprint``.

Write modes:

``append``     add the rows.
``overwrite``  replace the table's content (a new version; older ones stay readable).
``merge``      insert only rows whose ``id`` is not in the table yet (idempotent reruns;
               a concurrent commit to the same table makes it fail with ConflictError).
``error``      create the table; fail if it exists.

Remote stores (``s3://``, ``gs://``, ``az://``...) take their credentials from the
environment or from ``storage_options`` (deltalake's keys: ``AWS_ACCESS_KEY_ID``,
``AWS_ENDPOINT_URL``...), which are never written anywhere. On ``s3://`` every commit relies
on conditional writes (``If-None-Match``); before its first commit to a bucket a process
checks that the endpoint honours them and refuses to write if it does not (see
:mod:`xlcorpus.conditional`).
"""

from __future__ import annotations

import json
import logging
import os
import random
import re
import time
import unicodedata
import uuid
from collections.abc import Iterable, Iterator, Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, NamedTuple

import pyarrow as pa
import pyarrow.compute as pc

from . import __version__
from .errors import ConflictError, QueryError, StoreError
from .parts import PartFile, partition_dir, read_parts
from .schema import TABLE_NAME, TableContract, contract, contracts, from_yaml_text, register, to_yaml

log = logging.getLogger(__name__)

if TYPE_CHECKING:  # pyarrow.dataset imports pandas: keep it out of worker start-up
    import pyarrow.dataset as pads
    import pyarrow.fs as pafs

Mode = Literal["append", "overwrite", "merge", "error"]
Txn = tuple[str, int]  # a Delta app transaction: (app_id, version)
MODES = ("append", "overwrite", "merge", "error")
Data = pa.RecordBatch | pa.Table | pa.RecordBatchReader | Iterable[pa.RecordBatch]
META_PREFIX = "xlcorpus."
_VERSIONED_VIEW = re.compile(r"\b([a-z][a-z0-9_]*)__v(\d+)\b")


def check_table_name(name: str) -> str:
    """Reject empty names, path tricks (``../x``, ``a/b``) and control characters."""
    if not isinstance(name, str) or not TABLE_NAME.match(name):
        raise StoreError(
            f"invalid table name {name!r}: use 1-63 characters, lowercase letters, digits "
            "and '_', starting with a letter (no path separators, dots or control characters)"
        )
    return name


MAX_PARTITION_NAME = 200  # bytes of "column=value"; file systems allow 255 per name


def check_partition_value(table: str, column: str, value: Any) -> None:
    """Partition values become directory names: reject what would escape or confuse them."""
    if value is None:
        raise StoreError(f"table {table!r}: partition column {column!r} has a null value")
    text = str(value)
    bad = (
        not text
        or text in {".", ".."}
        or "/" in text
        or "\\" in text
        or any(unicodedata.category(ch) in {"Cc", "Cf", "Zl", "Zp"} for ch in text)
        or len(f"{column}={text}".encode()) > MAX_PARTITION_NAME
    )
    if bad:
        shown = text if len(text) <= 40 else f"{text[:40]}... ({len(text)} characters)"
        raise StoreError(
            f"table {table!r}: invalid partition value {shown!r} in column {column!r} "
            f"(empty, '.', '..', path separators, control characters and folder names over "
            f"{MAX_PARTITION_NAME} bytes are not allowed)"
        )


def _check_mode(mode: str) -> None:
    if mode not in MODES:
        raise StoreError(f"unknown write mode {mode!r} ({', '.join(MODES)})")


def _lost_race(table: str, exc: Exception) -> ConflictError:
    return ConflictError(f"table {table!r}: another writer committed first ({exc}); "
                         "nothing of this write is visible, retry it")


class Commit(NamedTuple):
    """A commit: the table's new version, the rows it inserted, and whether the part files
    it was given became the table's files where they lay (a remote store's staging prefix)."""

    version: int
    rows: int
    adopted: bool = False


class StoreRef(NamedTuple):
    """Where a store is (root and storage options): picklable, reopened with :meth:`open`."""

    root: str
    storage_options: dict[str, str] | None = None

    def open(self) -> Store:
        return Store(self.root, self.storage_options)


class Store:
    """Versioned tables under one root. ``Store("out/")`` or ``Store("s3://bucket/x")``."""

    def __init__(self, root: str | os.PathLike[str], storage_options: dict[str, str] | None = None,
                 create: bool = True):
        text = str(root)
        self.is_local = "://" not in text
        self.root = str(Path(text).resolve()) if self.is_local else text.rstrip("/")
        self.storage_options = storage_options
        if self.is_local and create:
            Path(self.root).mkdir(parents=True, exist_ok=True)

    # ----------------------------------------------------------------- tables
    def uri(self, table: str) -> str:
        return f"{self.root}/{check_table_name(table)}"

    def exists(self, table: str) -> bool:
        from deltalake import DeltaTable

        return DeltaTable.is_deltatable(self.uri(table), storage_options=self.storage_options)

    def tables(self) -> list[str]:
        """Names of the tables in the store, sorted."""
        if self.is_local:
            return sorted(p.parent.name for p in Path(self.root).glob("*/_delta_log")
                          if TABLE_NAME.match(p.parent.name))
        import pyarrow.fs as pafs

        infos = self.filesystem().get_file_info(pafs.FileSelector("", allow_not_found=True))
        return sorted(i.base_name for i in infos if i.type == pafs.FileType.Directory
                      and TABLE_NAME.match(i.base_name) and self.exists(i.base_name))

    def filesystem(self) -> pafs.FileSystem:
        """The store's files, with paths relative to its root (``bitext/_delta_log/...``);
        a remote store's through deltalake's own object store, with the same options."""
        if getattr(self, "_fs", None) is None:
            import pyarrow.fs as pafs

            if self.is_local or self.root.startswith("file://"):
                self._fs = pafs.SubTreeFileSystem(self.root.removeprefix("file://"), pafs.LocalFileSystem())
            else:
                from deltalake.fs import DeltaStorageHandler

                self._fs = pafs.PyFileSystem(DeltaStorageHandler(self.root, self.storage_options))
        return self._fs

    def location(self, path: str) -> str:
        """A path of :meth:`filesystem` as the user knows it (a local path or a URI)."""
        return f"{self.root}/{path}"

    def check_writable(self) -> None:
        """Refuse to commit to an ``s3://`` endpoint that ignores conditional writes."""
        from .conditional import conditional_writes_hold

        if self.root.startswith(("s3://", "s3a://")) and \
                conditional_writes_hold(self.root, self.storage_options) is False:
            raise StoreError(
                f"store {self.root}: the S3 endpoint ignores conditional writes (If-None-Match), so two "
                "writers could overwrite each other's commits; refusing to write. Use an endpoint that "
                "honours them (AWS S3 does), or, if this process is the only writer, set "
                "AWS_S3_ALLOW_UNSAFE_RENAME=true (README: Object storage)")

    def _delta(self, table: str, version: int | None = None):
        from deltalake import DeltaTable
        from deltalake.exceptions import TableNotFoundError

        try:
            dt = DeltaTable(self.uri(table), storage_options=self.storage_options)
        except TableNotFoundError as exc:
            raise StoreError(f"no table {table!r} in store {self.root}") from exc
        except Exception as exc:  # noqa: BLE001 - a damaged log: name the table, not a Rust trace
            raise broken_table(self, table, exc) from None
        if version is not None:
            if not 0 <= version <= dt.version():
                raise StoreError(f"table {table!r} has versions 0..{dt.version()}, not {version}")
            dt.load_as_version(version)
        return dt

    def version(self, table: str) -> int:
        """Latest version number of ``table``."""
        return self._delta(table).version()

    def count(self, table: str, version: int | None = None, release: str | None = None) -> int:
        return self.read(table, version, release).count_rows()

    # ------------------------------------------------------------------ write
    def write(
        self,
        table: str,
        data: Data,
        mode: Mode = "append",
        metadata: Mapping[str, Any] | None = None,
        contract_: TableContract | None = None,
        txn: Txn | None = None,
    ) -> int:
        """Validate ``data`` against the table's contract and commit it; return the new version.

        ``data`` is a batch, a table, a RecordBatchReader or any iterable of batches; it is
        streamed (never materialised). ``metadata`` (pipeline, params, inputs, ...) is stored
        in the commit with the library version; values that are not strings are JSON-encoded.
        ``txn`` (``(app_id, version)``) is recorded in the same commit as a Delta app
        transaction (see :meth:`transaction_version`).
        """
        return self.commit(table, data, mode, metadata, contract_, txn).version

    def commit(self, table: str, data: Data, mode: Mode = "append", metadata: Mapping[str, Any] | None = None,
               contract_: TableContract | None = None, txn: Txn | None = None) -> Commit:
        """Like :meth:`write`; returns the version and the rows actually inserted."""
        from deltalake import write_deltalake
        from deltalake.exceptions import CommitFailedError, DeltaError

        c = contract_ or self.contract(table)
        self.check_writable()
        self._keep_contract(c)
        counter: dict[str, Any] = {"rows": 0}
        reader = pa.RecordBatchReader.from_batches(c.arrow_schema, self._checked(c, data, counter))
        exists = self.exists(table)
        props = self._props(metadata, txn, creating=mode in {"error", "merge"} and not exists)
        uri = self.uri(table)
        partition_by = list(c.partition_by) or None
        inserted = None
        try:
            if mode == "merge" and exists:
                dt = self._delta(table)
                metrics = (dt.merge(reader, predicate="t.id = s.id", source_alias="s", target_alias="t",
                                    commit_properties=props)
                           .when_not_matched_insert_all().execute())
                inserted = int(metrics.get("num_target_rows_inserted", 0))
                if txn is not None and self.transaction_version(table, txn[0]) != txn[1]:
                    # nothing changed, so Delta made no commit: record the transaction anyway
                    self._empty_commit(table, c, props)
            else:
                _check_mode(mode)
                write_mode = {"merge": "error"}.get(mode, mode)
                write_deltalake(uri, reader, mode=write_mode, partition_by=partition_by,
                                commit_properties=props, storage_options=self.storage_options)
        except Exception as exc:
            if "error" in counter:  # our validation (or the caller's iterator) failed mid-stream
                raise counter["error"] from exc
            if isinstance(exc, CommitFailedError):
                raise _lost_race(table, exc) from exc
            if isinstance(exc, DeltaError) and mode in {"error", "merge"} and self.exists(table):
                raise ConflictError(f"table {table!r} was created by another writer: {exc}") from exc
            raise
        return Commit(self.version(table), counter["rows"] if inserted is None else inserted)

    def contract(self, table: str) -> TableContract:
        """The contract of ``table``: built-in, registered in this process, or the copy this
        store kept when the user table was first written (``_contracts/TABLE.yaml``)."""
        from .errors import SchemaError

        try:
            return contract(check_table_name(table))
        except SchemaError:
            base = table[: -len("_rejects")] if table.endswith("_rejects") else table
            text = self._read_text(f"_contracts/{base}.yaml")
            if text is None:
                raise
            register(from_yaml_text(text, f"{self.root}/_contracts/{base}.yaml"))
            return contract(table)

    def _keep_contract(self, c: TableContract) -> None:
        """Save a user table's contract in the store (once), so that later readers know it."""
        if c.name in contracts() or c.name.endswith("_rejects"):
            return
        path = f"_contracts/{c.name}.yaml"
        text = to_yaml(c)
        if self._read_text(path) != text:
            self._write_text(path, text)

    def _text_fs(self):
        import pyarrow.fs as pafs

        if self.is_local:
            return pafs.LocalFileSystem(), self.root
        return pafs.FileSystem.from_uri(self.root)

    def _read_text(self, rel: str) -> str | None:
        fs, base = self._text_fs()
        try:
            with fs.open_input_stream(f"{base}/{rel}") as fh:
                return fh.read().decode("utf-8")
        except (FileNotFoundError, OSError):
            return None

    def _write_text(self, rel: str, text: str) -> None:
        fs, base = self._text_fs()
        fs.create_dir(f"{base}/{rel.rsplit('/', 1)[0]}", recursive=True)
        tmp = f"{base}/{rel}.tmp{os.getpid()}-{uuid.uuid4().hex[:6]}"
        with fs.open_output_stream(tmp) as fh:
            fh.write(text.encode("utf-8"))
        fs.move(tmp, f"{base}/{rel}")

    def _empty_commit(self, table: str, c: TableContract, props: Any) -> None:
        from deltalake import Schema

        self._delta(table).create_write_transaction([], mode="append", schema=Schema.from_arrow(c.arrow_schema),
                                                    partition_by=list(c.partition_by) or None,
                                                    commit_properties=props)

    def _props(self, metadata: Mapping[str, Any] | None, txn: Txn | None, creating: bool = False):
        """Commit properties. A commit that creates a table is never retried: deltalake would
        otherwise turn a second writer's creation into a blind append on top of the first
        (two identical runs into a fresh store would each add their rows)."""
        from deltalake import CommitProperties, Transaction

        apps = [Transaction(app_id=txn[0], version=txn[1])] if txn is not None else None
        return CommitProperties(custom_metadata=self._commit_metadata(metadata), app_transactions=apps,
                                max_commit_retries=0 if creating else None)

    def transaction_version(self, table: str, app_id: str) -> int | None:
        """The version of app transaction ``app_id`` recorded in ``table`` (None: never)."""
        if not self.exists(table):
            return None
        return self._delta(table).transaction_version(app_id)

    def ref(self) -> StoreRef:
        """A small picklable handle that reopens this store (in a worker)."""
        return StoreRef(self.root, self.storage_options)

    def add_files(self, table: str, files: list[PartFile], mode: Mode = "append",
                  metadata: Mapping[str, Any] | None = None, txn: Txn | None = None) -> int:
        """Commit part files (see :meth:`commit_files`); return the new version."""
        return self.commit_files(table, files, mode, metadata, txn).version

    def commit_files(self, table: str, files: list[PartFile], mode: Mode = "append",
                     metadata: Mapping[str, Any] | None = None, txn: Txn | None = None) -> Commit:
        """Commit part files written by :class:`~xlcorpus.parts.PartWriter` (rows already
        validated); return the new version.

        The files are added to the table in one commit, without reading them again
        (``append``, ``overwrite``, ``error``, and ``merge`` into a table that does not exist
        yet): in a local store they are first moved into the table; in a remote store, files
        written under the table's staging prefix (``TABLE/_staging/``, see
        :class:`~xlcorpus.staging.Staging`) are added where they are (``Commit.adopted``).
        ``merge`` into an existing table, and files elsewhere, are read back and go through
        :meth:`commit`. If the commit fails, the moved files are removed and the table is as
        it was. A merge that finds the table created meanwhile by another writer (two
        identical runs into a fresh store) is retried once as a merge into it.
        """
        from deltalake.transaction import AddAction

        c = self.contract(table)
        self._keep_contract(c)
        exists = self.exists(table)
        staged = f"{table}/_staging/"
        remote = not self.is_local and all(f.path.startswith(staged) for f in files)
        fs = self.filesystem() if remote else None
        if (not self.is_local and not remote) or (mode == "merge" and exists):
            return self.commit(table, read_parts(c, files, fs), mode=mode, metadata=metadata, txn=txn)
        _check_mode(mode)
        if mode in {"error", "merge"} and exists:
            raise ConflictError(f"table {table!r} already exists (mode {mode!r})")
        self.check_writable()
        root = Path(self.uri(table))
        moved: list[Path] = []
        actions = []
        try:
            for f in files:
                if remote:
                    rel, size, mtime = f.path[len(table) + 1:], f.size, time.time()
                else:
                    rel = "/".join(p for p in (partition_dir(f.partition), f"part-{uuid.uuid4().hex}.parquet") if p)
                    dest = root / rel
                    dest.parent.mkdir(parents=True, exist_ok=True)
                    os.replace(f.path, dest)
                    moved.append(dest)
                    st = dest.stat()
                    size, mtime = st.st_size, st.st_mtime
                actions.append(AddAction(rel, size, dict(f.partition), int(mtime * 1000), True,
                                         f.stats or json.dumps({"numRecords": f.rows})))
            self._add(table, c, actions, mode, exists,
                      self._props(metadata, txn, creating=mode in {"error", "merge"} and not exists))
        except Exception as exc:
            if mode == "merge" and not exists and self.exists(table):  # created meanwhile: merge
                for path, f in zip(moved, files):  # put the files back for the merge
                    os.replace(path, f.path)
                return self.commit(table, read_parts(c, files, fs), mode="merge", metadata=metadata, txn=txn)
            for path in moved:
                path.unlink(missing_ok=True)
            from deltalake.exceptions import CommitFailedError

            if isinstance(exc, CommitFailedError):
                raise _lost_race(table, exc) from exc
            raise
        return Commit(self.version(table), sum(f.rows for f in files), remote)

    def _add(self, table: str, c: TableContract, actions: list, mode: str, exists: bool, props: Any) -> None:
        """One commit adding ``actions`` (files already in the table) to ``table``."""
        from deltalake import Schema
        from deltalake.transaction import create_table_with_add_actions

        schema = Schema.from_arrow(c.arrow_schema)
        partition_by = list(c.partition_by) or None
        if exists:
            self._delta(table).create_write_transaction(actions, mode=mode, schema=schema,
                                                        partition_by=partition_by, commit_properties=props)
        else:
            create_table_with_add_actions(self.uri(table), schema, actions, mode="error", partition_by=partition_by,
                                          storage_options=self.storage_options, commit_properties=props)

    @staticmethod
    def _commit_metadata(metadata: Mapping[str, Any] | None) -> dict[str, str]:
        out = {f"{META_PREFIX}library_version": __version__}
        for key, value in (metadata or {}).items():
            out[f"{META_PREFIX}{key}"] = value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)
        return out

    @staticmethod
    def _checked(c: TableContract, data: Data, counter: dict[str, Any]) -> Iterator[pa.RecordBatch]:
        try:
            yield from Store._validated(c, data, counter)
        except BaseException as exc:
            counter["error"] = exc
            raise

    @staticmethod
    def _validated(c: TableContract, data: Data, counter: dict[str, Any]) -> Iterator[pa.RecordBatch]:
        if isinstance(data, pa.RecordBatch):
            data = [data]
        elif isinstance(data, pa.Table):
            data = data.to_batches()
        for batch in data:
            if isinstance(batch, pa.Table):  # tolerate tables inside an iterable
                yield from Store._validated(c, batch, counter)
                continue
            batch = c.validate(batch)
            for col in c.partition_by:
                for value in pc.unique(batch.column(col)).to_pylist():
                    check_partition_value(c.name, col, value)
            counter["rows"] += batch.num_rows
            yield batch

    # ------------------------------------------------------------------- read
    def _resolve(self, table: str, version: int | None, release: str | None) -> int | None:
        if release is not None:
            if version is not None:
                raise StoreError("give either a version or a release, not both")
            versions = self.releases().get(release)
            if versions is None:
                raise StoreError(f"no release {release!r} in store {self.root} (known: {sorted(self.releases())})")
            if table not in versions:
                raise StoreError(f"release {release!r} does not include table {table!r}")
            return versions[table]
        return version

    def read(self, table: str, version: int | None = None, release: str | None = None) -> pads.Dataset:
        """The table (latest, a version or a release's version) as an Arrow dataset."""
        dt = self._delta(table, self._resolve(table, version, release))
        return dt.to_pyarrow_dataset()

    def to_arrow(self, table: str, version: int | None = None, release: str | None = None,
                 columns: list[str] | None = None) -> pa.Table:
        return self.read(table, version, release).to_table(columns=columns)

    def scan(self, table: str, version: int | None = None, release: str | None = None):
        """The table as a Polars LazyFrame (``polars.scan_delta``)."""
        import polars as pl

        v = self._resolve(table, version, release)
        self._delta(table, v)  # clear errors for a bad table or version
        return pl.scan_delta(self.uri(table), version=v, storage_options=self.storage_options)

    def history(self, table: str) -> list[dict[str, Any]]:
        """Commits of ``table``, newest first, with their lineage decoded."""
        rows = []
        for entry in self._delta(table).history():
            info: dict[str, Any] = {
                "version": entry.get("version"),
                "timestamp": entry.get("timestamp"),
                "operation": entry.get("operation"),
            }
            metrics = entry.get("operationMetrics") or {}
            added = metrics.get("num_added_rows", metrics.get("num_target_rows_inserted"))
            for key, value in entry.items():
                if key.startswith(META_PREFIX):
                    name = key[len(META_PREFIX):]
                    info[name] = value if name in _PLAIN_META else _maybe_json(value)
            info.setdefault("rows", added)
            rows.append(info)
        return rows

    def last_fingerprint(self, table: str) -> str | None:
        """Run fingerprint stored with the latest commit of ``table`` (None if absent)."""
        if not self.exists(table):
            return None
        hist = self._delta(table).history(limit=1)
        return hist[0].get(META_PREFIX + "fingerprint") if hist else None

    # --------------------------------------------------------------- releases
    def releases(self) -> dict[str, dict[str, int]]:
        """Named releases: ``{name: {table: version}}``.

        They are rows of the store's ``_releases`` Delta table (a store made before it
        existed keeps its ``_releases.json``, read as is; a tag of the same name wins).
        """
        out = self._legacy_releases()
        uri = f"{self.root}/{RELEASES}"
        from deltalake import DeltaTable

        if not DeltaTable.is_deltatable(uri, storage_options=self.storage_options):
            return out
        try:
            dt = DeltaTable(uri, storage_options=self.storage_options)  # (threads: an abort at exit on S3)
            rows = dt.to_pyarrow_dataset().to_table(use_threads=False).to_pylist()
            for r in sorted(rows, key=lambda r: r["name"]):
                versions = json.loads(r["versions"])
                if not isinstance(versions, dict) or not all(isinstance(v, int) for v in versions.values()):
                    raise ValueError(f"release {r['name']!r}: versions are not {{table: version}}")
                out[r["name"]] = versions
        except Exception as exc:  # noqa: BLE001 - name the releases table, not a Rust trace
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise StoreError(f"{uri}: damaged releases table ({first}); `xlcorpus check` lists what is wrong") from None
        return out

    def _legacy_releases(self) -> dict[str, dict[str, int]]:
        path = Path(self.root) / "_releases.json"
        if not self.is_local or not path.exists():
            return {}
        try:
            releases = json.loads(path.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise StoreError(f"{path}: damaged releases file ({exc}); fix or remove it") from None
        if not isinstance(releases, dict) or not all(isinstance(v, dict) for v in releases.values()):
            raise StoreError(f"{path}: damaged releases file (expected {{name: {{table: version}}}})")
        return releases

    def tag(self, name: str, tables: Iterable[str] | None = None, overwrite: bool = False) -> dict[str, int]:
        """Name the current versions of ``tables`` (default: all) as release ``name``.

        The release is one row of the ``_releases`` Delta table, added by a merge on the name:
        two taggers at once both land (the loser of the commit race reads the table again and
        retries), and a name taken meanwhile is an error unless ``overwrite``.
        """
        if not re.match(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$", name or ""):
            raise StoreError(f"invalid release name {name!r}: letters, digits, '.', '_', '-' (max 64)")
        self.check_writable()
        versions = {t: self.version(t) for t in (tables if tables is not None else self.tables())}
        for attempt in range(TAG_ATTEMPTS):
            if name in self.releases() and not overwrite:
                raise StoreError(f"release {name!r} exists (pass overwrite=True to move it)")
            if self._put_release(name, versions, overwrite):
                return versions
            time.sleep(random.uniform(0.01, 0.05) * (attempt + 1))  # another tagger won: read again
        raise ConflictError(f"release {name!r}: {TAG_ATTEMPTS} attempts lost the race to other taggers; retry")

    def _put_release(self, name: str, versions: dict[str, int], overwrite: bool) -> bool:
        """Add (or with ``overwrite`` replace) one release row; False when another writer
        committed first or took the name meanwhile.

        Every tag creates the (tiny) table or rewrites it from the version it read, committed
        as exactly that version with no retry (``max_commit_retries=0``): a tag committed meanwhile
        makes this commit fail, whatever names the two add (deltalake's retry would let two
        taggers both add the same name), and the caller reads the table again."""
        from deltalake import CommitProperties, DeltaTable, write_deltalake
        from deltalake.exceptions import CommitFailedError, DeltaError

        row = pa.table({"name": [name], "versions": [json.dumps(versions, sort_keys=True)],
                        "tagged_at": [datetime.now(timezone.utc).isoformat(timespec="seconds")]},
                       schema=RELEASES_SCHEMA)
        uri = f"{self.root}/{RELEASES}"
        try:
            if not DeltaTable.is_deltatable(uri, storage_options=self.storage_options):
                write_deltalake(uri, row, mode="error", storage_options=self.storage_options,
                                commit_properties=CommitProperties(max_commit_retries=0))
                return True
            dt = DeltaTable(uri, storage_options=self.storage_options)
            current = dt.to_pyarrow_dataset().to_table(use_threads=False).cast(RELEASES_SCHEMA)
            if name in current.column("name").to_pylist() and not overwrite:
                return False
            rest = current.filter(pc.not_equal(current["name"], name))
            write_deltalake(dt, pa.concat_tables([rest, row]), mode="overwrite",
                            commit_properties=CommitProperties(max_commit_retries=0))
        except (CommitFailedError, DeltaError):
            return False
        return True

    # -------------------------------------------------------------------- SQL
    def connect(self, at: Mapping[str, int] | None = None, release: str | None = None,
                query: str | None = None, allow_external: bool = False):
        """A DuckDB connection with one view per table.

        Views show the latest version, or the version in ``at`` ({table: version}) or in the
        named ``release``. Any ``<table>__v<N>`` named in ``query`` is also registered as
        that table at version N. External file access is disabled unless ``allow_external``.
        """
        import duckdb

        tables = self.tables()
        pinned: dict[str, int] = {}
        if release is not None:
            releases = self.releases()
            if release not in releases:
                raise StoreError(f"no release {release!r} (known: {sorted(releases)})")
            pinned = dict(releases[release])
        unknown = set(at or {}) - set(tables)
        if unknown:
            raise StoreError(f"--at names unknown table(s): {sorted(unknown)}")
        pinned.update(at or {})
        con = duckdb.connect(":memory:")
        for table in tables:
            if release is not None and table not in pinned:
                continue  # a table the release does not include
            try:
                con.register(table, self.read(table, pinned.get(table)))
            except StoreError as exc:  # a damaged table: the others stay usable
                if re.search(rf"\b{table}\b", query or "") or table in pinned:
                    raise
                log.warning("%s; left out of this query", exc)
        for table, version in set(_VERSIONED_VIEW.findall(query or "")):
            if table in tables:
                con.register(f"{table}__v{version}", self.read(table, int(version)))
        if not allow_external:
            con.execute("SET enable_external_access = false")
            con.execute("SET lock_configuration = true")
        return con

    def sql(self, query: str, at: Mapping[str, int] | None = None, release: str | None = None,
            allow_external: bool = False) -> pa.Table:
        """Run a DuckDB query over the store's tables; return an Arrow table."""
        import duckdb

        con = self.connect(at, release, query, allow_external)
        try:
            rel = con.sql(query)
            return rel.to_arrow_table() if rel is not None else pa.table({})
        except duckdb.Error as exc:
            raise QueryError(f"query failed: {exc}") from exc
        except (OSError, pa.ArrowException) as exc:  # a part file missing or damaged
            raise QueryError(f"query failed reading the store: {str(exc).splitlines()[0]} "
                             "(`xlcorpus check` lists what is wrong)") from None
        finally:
            con.close()


_PLAIN_META = {"library_version", "pipeline", "run_id", "fingerprint"}
RELEASES = "_releases"
RELEASES_SCHEMA = pa.schema([pa.field("name", pa.string(), False), pa.field("versions", pa.string(), False),
                             pa.field("tagged_at", pa.string(), False)])
TAG_ATTEMPTS = 20


def broken_table(store: Store, table: str, exc: Exception) -> StoreError:
    """A StoreError naming a table whose log cannot be read (first line of the cause)."""
    first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    return StoreError(f"table {table!r} in store {store.root} cannot be read: {first} "
                      "(`xlcorpus check` lists what is wrong)")


def _maybe_json(value: Any) -> Any:
    try:
        return json.loads(value)
    except (TypeError, json.JSONDecodeError):
        return value
