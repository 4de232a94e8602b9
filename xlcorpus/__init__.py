"""xlcorpus: cross-lingual corpora as versioned Arrow tables.

The public entry points:

- :class:`xlcorpus.store.Store`: a directory of versioned Delta Lake tables, with SQL.
- :mod:`xlcorpus.schema`: the table contracts shipped in ``schemas/``.
- :mod:`xlcorpus.pipeline`: declarative pipelines (``pipelines/*.yaml``) and their runner;
  ``xlcorpus.Pipeline.from_yaml(path).run(store)``.
"""

from typing import Any

__all__ = ["Pipeline", "Store", "__version__"]


def __getattr__(name: str) -> Any:
    """``xlcorpus.Pipeline`` and ``xlcorpus.Store``, imported when first used, and
    ``__version__``, read from the installed metadata on first use (a slow scan: not at start-up)."""
    if name == "Pipeline":
        from .pipeline import Pipeline

        return Pipeline
    if name == "Store":
        from .store import Store

        return Store
    if name != "__version__":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from importlib.metadata import PackageNotFoundError, version

    try:
        value = version("xlcorpus")
    except PackageNotFoundError:  # running from a source tree that is not installed
        value = "0.0.0+unknown"
    globals()["__version__"] = value
    return value
