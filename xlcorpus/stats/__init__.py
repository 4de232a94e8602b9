"""What a corpus contains: table statistics (DuckDB), a row preview and an HTML report."""

from typing import Any

__all__ = ["Section", "TableStats", "table_stats"]


def __getattr__(name: str) -> Any:  # imported on first use: the CLI starts without pyarrow
    if name in __all__:
        from . import compute

        return getattr(compute, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
