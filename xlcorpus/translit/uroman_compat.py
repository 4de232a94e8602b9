"""Which uroman path runs: the fast path (validated uroman version) or plain public uroman.

The fast path of :mod:`.romanize` leans on uroman's internals: :mod:`.fastregex` replaces
the ``regex`` name inside ``uroman.uroman``, ``ObservedLattice`` re-runs the steps of
``Uroman.romanize_string_core`` on a ``Lattice`` subclass, and the character table and the
cuts read uroman's rule tables. Each was checked, sentence for sentence, against plain
``Uroman().romanize_string`` with :data:`VALIDATED_UROMAN` only (``tests/test_romanize.py``
runs that identity check on every install). With any other uroman version, or with
``XLCORPUS_UROMAN_FAST=0``, every sentence is one plain public ``romanize_string`` call:
identical by definition, slower. ``xlcorpus --version`` and ``-v`` logging say which path runs.
"""

from __future__ import annotations

import os
from functools import lru_cache
from importlib import metadata

VALIDATED_UROMAN = "1.3.1.1"
ENV_FAST = "XLCORPUS_UROMAN_FAST"


def installed_version() -> str | None:
    """The installed uroman version (``None`` if uroman is not installed)."""
    try:
        return metadata.version("uroman")
    except metadata.PackageNotFoundError:
        return None


@lru_cache(maxsize=1)
def validated() -> bool:
    """Whether the installed uroman is the version the fast path was checked on."""
    return installed_version() == VALIDATED_UROMAN


def fast_path() -> bool:
    """Whether romanization uses the fast path (validated uroman and not switched off)."""
    return validated() and os.environ.get(ENV_FAST, "1") not in ("0", "false", "no")


def describe(fast: bool | None = None) -> str:
    """One line for ``--version`` and logs: the uroman version and the path that runs
    (``fast``: the path a romanizer chose; default :func:`fast_path`)."""
    version = installed_version()
    if version is None:
        return "uroman: not installed"
    if fast is None:
        fast = fast_path()
    if fast:
        return f"uroman {version}: fast path (validated version)"
    why = (f"not the validated {VALIDATED_UROMAN}" if not validated()
           else f"{ENV_FAST}=0" if not fast_path() else "fast=False")
    return f"uroman {version}: plain uroman, one romanize_string call per sentence ({why})"
