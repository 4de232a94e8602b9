"""xlcorpus: cross-lingual corpora as versioned Arrow tables.

The public entry points:

- :class:`xlcorpus.store.Store`: a directory of versioned Delta Lake tables, with SQL.
- :mod:`xlcorpus.schema`: the table contracts shipped in ``schemas/``.
- :mod:`xlcorpus.pipeline`: declarative pipelines (``pipelines/*.yaml``) and their runner.
"""

from typing import Any

__all__ = ["__version__"]


def __getattr__(name: str) -> Any:
    """``__version__``, read from the installed metadata on first use (a slow scan: not at start-up)."""
    if name != "__version__":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from importlib.metadata import PackageNotFoundError, version

    try:
        value = version("xlcorpus")
    except PackageNotFoundError:  # running from a source tree that is not installed
        value = "0.0.0+unknown"
    globals()["__version__"] = value
    return value
