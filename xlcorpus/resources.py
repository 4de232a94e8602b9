"""Files that ship with xlcorpus: table contracts, pipeline files and the demo sample.

In a source checkout they are the repository's ``schemas/``, ``pipelines/`` and
``data/sample/``; the wheel carries the same folders under ``xlcorpus/_data/`` with the same
relative layout (``pipelines/*.yaml`` name their inputs as ``../data/sample/...``), so that
both work from one lookup.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from .errors import XlcorpusError

SHIPPED = ("schemas", "pipelines", "data/sample")


def shipped_dir(name: str) -> Path:
    """The folder ``name`` (one of :data:`SHIPPED`): inside the installed wheel, else in the checkout."""
    if name not in SHIPPED:
        raise ValueError(f"unknown shipped folder {name!r} (known: {', '.join(SHIPPED)})")
    packaged = resources.files("xlcorpus").joinpath("_data", *name.split("/"))
    if packaged.is_dir():
        return Path(str(packaged))
    source = Path(__file__).resolve().parent.parent / name
    if source.is_dir():
        return source
    raise XlcorpusError(f"xlcorpus is installed without its {name}/ folder (looked in {packaged} and {source})")
