"""What a corpus contains: table statistics (DuckDB), a row preview and an HTML report."""

from .compute import Section, TableStats, table_stats

__all__ = ["Section", "TableStats", "table_stats"]
