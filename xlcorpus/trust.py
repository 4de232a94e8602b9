"""Where code may be loaded from: the user's cache folder, checked before every load.

Cached code (the pickled ``Uroman``) runs as the
user when it is loaded, so it is only loaded from a path that nobody else can change:
:func:`trusted` accepts a file when the file and its folder are owned by this user (the
effective uid) and writable by neither group nor others, no part is a symbolic link, and
every folder above it is owned by this user or root and is not writable by others (unless
it is sticky, like ``/tmp``). The cache folder is ``$XLCORPUS_CACHE_DIR``, else
``$XDG_CACHE_HOME/xlcorpus``, else ``~/.cache/xlcorpus``.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

ENV_DIR = "XLCORPUS_CACHE_DIR"


def cache_dir() -> Path:
    """The user's xlcorpus cache folder (not created)."""
    if os.environ.get(ENV_DIR):
        return Path(os.environ[ENV_DIR])
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "xlcorpus"


def _private(st: os.stat_result) -> bool:
    return st.st_uid == os.geteuid() and not st.st_mode & (stat.S_IWGRP | stat.S_IWOTH) \
        and not stat.S_ISLNK(st.st_mode)


def _safe_ancestor(st: os.stat_result) -> bool:
    if stat.S_ISLNK(st.st_mode):
        return True  # a link above the cache folder: its target is checked below
    if st.st_uid not in (0, os.geteuid()):
        return False
    return not st.st_mode & (stat.S_IWGRP | stat.S_IWOTH) or bool(st.st_mode & stat.S_ISVTX)


def _reason(private: list[Path]) -> str | None:
    try:
        for q in private:
            if not _private(q.lstat()):
                return f"{q} is a link, not owned by this user, or writable by group or others"
        for q in private[-1].resolve().parents:
            if not _safe_ancestor(q.lstat()):
                return f"{q} is writable by another user"
    except OSError as exc:
        return f"{exc.filename or private[0]}: {exc.strerror or exc}"
    return None


def untrusted_reason(path: str | os.PathLike[str]) -> str | None:
    """Why code must not be loaded from the file ``path`` (None: it may)."""
    p = Path(os.path.abspath(path))
    return _reason([p, p.parent])


def trusted(path: str | os.PathLike[str]) -> bool:
    """Whether code may be loaded from the file ``path`` (see the module doc)."""
    return untrusted_reason(path) is None


def private_folder(path: str | os.PathLike[str]) -> str | None:
    """Create the folder ``path`` (mode 0700) if missing; None if only this user can write
    it (see :func:`trusted`), else why not."""
    p = Path(os.path.abspath(path))
    try:
        p.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as exc:
        return f"{p}: {exc.strerror or exc}"
    return _reason([p])
