"""A ``Uroman`` built once per machine: a pickled copy in the user's cache folder.

Building ``Uroman()`` parses uroman's rule files (seconds); every worker process of a
romanize run needs one. :func:`load_uroman` keeps a pickled copy under
``$XLCORPUS_CACHE_DIR`` (default ``$XDG_CACHE_HOME/xlcorpus`` or ``~/.cache/xlcorpus``),
which loads several times faster (timings: README).

The copy is keyed on the uroman version, the Python version and the names, sizes and
modification times of uroman's data files, so an upgrade or an edited rule file builds a
new one. It is only ever read from a folder and a file that this user owns and that nobody
else can write, nor any folder above it (pickle runs code when loaded: the copy must be as
trusted as the installed package; see :mod:`xlcorpus.trust`); anything else, or a file that does not load, is ignored and rebuilt.
``XLCORPUS_UROMAN_CACHE=0`` turns the cache off.
"""

from __future__ import annotations

import gc
import hashlib
import os
import pickle
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

from ..trust import ENV_DIR, cache_dir, private_folder, trusted  # noqa: F401 - ENV_DIR re-exported

ENV_SWITCH = "XLCORPUS_UROMAN_CACHE"


def cache_path() -> Path:
    """The copy's file name for this uroman installation and Python."""
    import uroman

    data = Path(uroman.__file__).parent / "data"
    h = hashlib.sha256()
    for p in sorted(data.rglob("*")) if data.is_dir() else []:
        if p.is_file():
            st = p.stat()
            h.update(f"{p.relative_to(data)}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    version = metadata.version("uroman")
    py = f"{sys.implementation.name}{sys.version_info.major}{sys.version_info.minor}"
    return cache_dir() / f"uroman-{version}-{py}-{h.hexdigest()[:16]}.pickle"


def load_uroman(use_cache: bool | None = None) -> Any:
    """A ``Uroman`` object: from the cached copy if there is a trusted one, else built
    (and the copy written for the next process)."""
    from uroman import Uroman

    if use_cache is None:
        use_cache = os.environ.get(ENV_SWITCH, "1") not in ("0", "false", "no")
    if not use_cache:
        return Uroman()
    path = cache_path()
    if path.is_file() and trusted(path):
        was_enabled = gc.isenabled()
        gc.disable()  # faster to load ~1M small objects
        try:
            with open(path, "rb") as fh:
                u = pickle.load(fh)
            if isinstance(u, Uroman):
                _set_factory(u, _none)
                return u
        except Exception:  # noqa: BLE001 - a stale or damaged copy: build a new one
            pass
        finally:
            if was_enabled:
                gc.enable()
    u = Uroman()
    _save(u, path)
    return u


def _set_factory(u: Any, factory: Any) -> Any:
    """Set ``u.dict_num.default_factory`` (a ``defaultdict`` in the validated uroman, whose
    lambda cannot be pickled); return the old one. An object without it is left alone."""
    num = getattr(u, "dict_num", None)
    old = getattr(num, "default_factory", None)
    if num is not None and hasattr(num, "default_factory"):
        num.default_factory = factory
    return old


def _save(u: Any, path: Path) -> None:
    """Write the copy atomically (0600, in a 0700 folder); failures only cost speed."""
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    factory = _set_factory(u, None)
    try:
        if private_folder(path.parent) is not None:
            return  # never write code where another user could change it
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as fh:
            pickle.dump(u, fh, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(tmp, path)
    except (OSError, pickle.PicklingError, TypeError, AttributeError):  # not picklable: no copy
        tmp.unlink(missing_ok=True)
    finally:
        _set_factory(u, factory)


def _none() -> None:
    """``Uroman.dict_num``'s default value (uroman uses ``lambda: None``)."""
    return None
