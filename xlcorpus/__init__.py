"""xlcorpus: cross-lingual corpora as versioned Arrow tables.

The public entry points:

- :class:`xlcorpus.store.Store`: a directory of versioned Delta Lake tables, with SQL.
- :mod:`xlcorpus.schema`: the table contracts shipped in ``schemas/``.
- :mod:`xlcorpus.pipeline`: declarative pipelines (``pipelines/*.yaml``) and their runner;
  ``xlcorpus.Pipeline.from_yaml(path).run(store)``.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("xlcorpus")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+unknown"

__all__ = ["Pipeline", "Store", "__version__"]


def __getattr__(name: str):
    """``xlcorpus.Pipeline`` and ``xlcorpus.Store``, imported when first used."""
    if name == "Pipeline":
        from .pipeline import Pipeline

        return Pipeline
    if name == "Store":
        from .store import Store

        return Store
    raise AttributeError(f"module 'xlcorpus' has no attribute {name!r}")
