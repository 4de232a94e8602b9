"""Click parameter types shared by the commands."""

from __future__ import annotations

import click


class InputFile(click.ParamType):
    """An input file: a local path that must exist and be a file, or a URI (``s3://...``,
    ``gs://...``, any fsspec scheme) passed on as it is: the input layer opens it, and a
    missing or unreadable object is an error naming it there."""

    name = "file"

    def __init__(self) -> None:
        self._local = click.Path(exists=True, dir_okay=False)

    def convert(self, value, param, ctx):
        if isinstance(value, str) and "://" in value:  # as sources.inputs.is_uri, without its imports
            return value
        return self._local.convert(value, param, ctx)


INPUT_FILE = InputFile()
