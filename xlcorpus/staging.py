"""Where one step run writes its part files before the commit, from any process or machine.

- a local store: ``STORE/_staging/RUN/TABLE/...``; the commit moves the files into the table;
- a remote store (``s3://``...): ``STORE/TABLE/_staging/RUN/...`` in the bucket, written by
  whichever worker made the rows (a Ray worker on another machine too); the commit adds them
  to the table where they are (Delta add actions with paths relative to the table), so the
  driver never downloads, copies or rewrites them.

``RUN`` is unique per process and run (``RUN-STEP-PID-RANDOM``). A failed or interrupted
run removes its staging folders; after a commit only the files it did not adopt go. A
:class:`Staging` is small and picklable: workers receive it and open the store's filesystem
themselves, with the store's options.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pyarrow.fs as pafs

from .parts import PartWriter
from .schema import contract
from .store import StoreRef

_FILESYSTEMS: dict[tuple, pafs.FileSystem] = {}


@dataclass(frozen=True)
class Staging:
    """The staging folders of one step run in ``store`` (see the module docstring)."""

    store: StoreRef
    run: str

    @property
    def is_local(self) -> bool:
        return "://" not in self.store.root

    def folder(self, table: str) -> str:
        """The folder of ``table``'s part files (a local path, or a path of :meth:`filesystem`)."""
        return f"{self.store.root}/_staging/{self.run}/{table}" if self.is_local else f"{table}/_staging/{self.run}"

    def filesystem(self) -> pafs.FileSystem | None:
        """None for a local store; else the store's filesystem (opened once per process)."""
        if self.is_local:
            return None
        key = (self.store.root, tuple(sorted((self.store.storage_options or {}).items())))
        if key not in _FILESYSTEMS:
            _FILESYSTEMS[key] = self.store.open().filesystem()
        return _FILESYSTEMS[key]

    def writer(self, table: str, prefix: str) -> PartWriter:
        return PartWriter("", contract(table), prefix=prefix, filesystem=self.filesystem(), folder=self.folder(table))

    def workdir(self) -> Path:
        """A local folder for what stages prepare in the driver (inside the run's local staging
        folder, or a temporary folder for a remote store)."""
        base = Path(self.store.root) if self.is_local else Path(tempfile.gettempdir()) / "xlcorpus"
        return base / "_staging" / self.run / "_prepared"

    def remove(self, tables: list[str], keep: set[str] = frozenset()) -> None:
        """Remove the run's staging folders, except those of the tables in ``keep`` (whose
        files a commit adopted)."""
        shutil.rmtree(self.workdir().parent, ignore_errors=True)
        _remove_if_empty(self.workdir().parent.parent)
        fs = self.filesystem()
        if fs is None:
            return
        for table in tables:
            if table not in keep:
                try:
                    fs.delete_dir(self.folder(table))
                except (FileNotFoundError, OSError):
                    pass  # nothing was written there


def _remove_if_empty(path: Path) -> None:
    try:
        path.rmdir()
    except OSError:
        pass
