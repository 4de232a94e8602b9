"""Publishing tables: Hugging Face Hub dataset folders (``xlcorpus export hf``)."""

from .hf import Export, ExportError, export_hf, push_hf

__all__ = ["Export", "ExportError", "export_hf", "push_hf"]
