"""Regenerate the schema table of data/README.md from schemas/*.yaml (``python -m xlcorpus.schema_doc``)."""

from __future__ import annotations

import sys
from pathlib import Path

from .schema import markdown_table

START, END = "<!-- schema-table:start -->", "<!-- schema-table:end -->"


def render(readme_text: str) -> str:
    head, _, rest = readme_text.partition(START)
    _, _, tail = rest.partition(END)
    return f"{head}{START}\n{markdown_table()}\n{END}{tail}"


def main(path: str = "data/README.md") -> int:
    p = Path(path)
    new = render(p.read_text(encoding="utf-8"))
    if "--check" in sys.argv:
        return 0 if new == p.read_text(encoding="utf-8") else 1
    p.write_text(new, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
