"""Publishing tables: Hugging Face Hub dataset folders (``xlcorpus export hf``)."""

from typing import Any

__all__ = ["Export", "ExportError", "export_hf", "push_hf"]


def __getattr__(name: str) -> Any:  # imported on first use: the CLI starts without pyarrow
    if name in __all__:
        from . import hf

        return getattr(hf, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
