"""xlcorpus: cross-lingual corpora as versioned Arrow tables.

The public entry points:

- :class:`xlcorpus.store.Store`: a directory of versioned Delta Lake tables, with SQL.
- :mod:`xlcorpus.schema`: the table contracts shipped in ``schemas/``.
- :mod:`xlcorpus.pipeline`: declarative pipelines (``pipelines/*.yaml``) and their runner.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("xlcorpus")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]
