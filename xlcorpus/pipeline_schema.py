"""The JSON Schema of pipeline files, derived from the parameter dataclasses of every kind and
filter (``xlcorpus schema pipeline > pipeline.schema.json``; editors with a YAML language
server use it through ``# yaml-language-server: $schema=pipeline.schema.json``).

Parameters of ``pipeline: KIND`` files are not ``required`` in the schema: ``--set`` may
give them on the command line.
"""

from __future__ import annotations

import json
from typing import Any

import click

from .cli import main
from .params import class_schema


def _kind_classes() -> dict[str, type]:
    from .pipeline import kinds, pipeline_class

    return {k: pipeline_class(k) for k in sorted(kinds())}


def filter_schemas() -> list[dict[str, Any]]:
    """One schema per built-in filter (``{name: X, ...}``) and the user-class form."""
    from .filters.base import FILTERS
    from .plugins import STAGES_GROUP, resolve

    out = []
    for name in sorted(FILTERS):
        s = class_schema(resolve(name, STAGES_GROUP, FILTERS))
        s["properties"] = {"name": {"const": name}, **s["properties"]}
        s["required"] = ["name"]
        out.append(s)
    out.append({"type": "object", "required": ["stage"], "additionalProperties": False,
                "description": "A user filter class: a registered name or 'module:Class'.",
                "properties": {"stage": {"type": "string"}, "params": {"type": "object"},
                               "label": {"type": "string"}}})
    return out


def pipeline_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of a pipeline file."""
    classes = _kind_classes()
    defs = {f"kind-{k}": class_schema(c, required=False) for k, c in classes.items()}
    kind_file = {
        "type": "object", "required": ["pipeline"], "additionalProperties": False,
        "properties": {"pipeline": {"enum": sorted(classes)}, "description": {"type": "string"},
                       "params": {"type": "object"}},
        "allOf": [{"if": {"properties": {"pipeline": {"const": k}}},
                   "then": {"properties": {"params": {"$ref": f"#/$defs/kind-{k}"}}}} for k in classes],
    }
    step = {
        "type": "object",
        "properties": {"kind": {"enum": sorted(k for k in classes if k != "stage")},
                       "stage": {"type": "string", "description": "a stage class: registered name or 'module:Class'"},
                       "name": {"type": "string"}, "params": {"type": "object"},
                       "input": {"type": "string"}, "output": {"type": "string"}},
        "oneOf": [{"required": ["kind"]}, {"required": ["stage"]}],
        "allOf": [{"if": {"required": ["kind"], "properties": {"kind": {"const": k}}},
                   "then": {"properties": {
                       "params": {**defs[f"kind-{k}"], "required": []},
                       **{n: p for n, p in defs[f"kind-{k}"]["properties"].items()}}}}
                  for k in classes if k != "stage"],
    }
    steps_file = {
        "type": "object", "required": ["steps"], "additionalProperties": False,
        "properties": {"description": {"type": "string"},
                       "schemas": {"type": "string", "description": "folder of extra table contracts"},
                       "steps": {"type": "array", "minItems": 1, "items": step}},
    }
    return {"$schema": "https://json-schema.org/draft/2020-12/schema",
            "title": "xlcorpus pipeline file", "oneOf": [kind_file, steps_file], "$defs": defs}


@main.group("schema")
def schema_group() -> None:
    """JSON Schemas of xlcorpus files."""


@schema_group.command("pipeline")
def schema_pipeline() -> None:
    """Print the JSON Schema of pipeline files (derived from the parameter declarations)."""
    click.echo(json.dumps(pipeline_schema(), indent=2, sort_keys=False, default=str))
