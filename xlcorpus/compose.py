"""Composable pipeline files: ``steps:`` linked by table names, user stages and tables.

::

    schemas: ./schemas            # optional: extra table contracts (schemas/*.yaml format)
    steps:
      - kind: bitext-import       # a pipeline kind; its own keys under params
        params: {src: corpus.en, tgt: corpus.fr, src_lang: en, tgt_lang: fr}
      - kind: filter              # other keys (input, output, filters) are parameters too
        input: bitext
        output: bitext_clean
        filters:
          - {name: length_ratio, max: 3.0}
          - {stage: "mypkg.filters:NoUrls", params: {}}
      - stage: "mystages:Upper"   # a user stage: one table in, one table out
        input: bitext_clean
        output: bitext_upper
        params: {column: src}

A kind or stage is a registered name (entry points ``xlcorpus.kinds`` /
``xlcorpus.stages``) or ``module:Class`` (on ``sys.path`` or a ``.py`` file next to the
pipeline file). A stage step's output contract is a user contract of that name (the
``schemas`` folder), else the one the stage declares (``output_contract(name, input)``),
else the input table's fields under the new name. Steps run in order; a step reads the
tables earlier steps committed.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, ClassVar

from .engine.core import Step
from .errors import PipelineError
from .filters.base import WholeBatches
from .params import Help
from .pipeline import Pipeline, build_object, pipeline_class
from .plugins import STAGES_GROUP, resolve, user_code
from .schema import contract, derive, load_schemas_dir, register, user_contracts

STEP_KEYS = {"kind", "stage", "name", "params"}


@dataclass
class StageStep(Pipeline):
    """One user stage over a table: ``input`` rows -> ``stage`` -> ``output`` rows."""

    kind: ClassVar[str] = "stage"
    stage: Annotated[str, Help("the stage class: a registered name or 'module:Class'")]
    input: Annotated[str, Help("table the stage reads")]
    output: Annotated[str, Help("table the stage writes")]
    stage_params: Annotated[dict[str, Any], Help("the stage's own parameters ('params' in a pipeline file)")] = \
        field(default_factory=dict)
    mode: Annotated[str, Help("write mode of the output: overwrite or merge (insert new ids)")] = "overwrite"
    batch_size: Annotated[int, Help("rows per work unit")] = 10_000
    base: Annotated[str | None, Help("folder of user stage modules")] = field(default=None, metadata={"hidden": True})

    def __post_init__(self) -> None:
        if self.mode not in ("overwrite", "merge"):
            raise PipelineError(f"stage step: mode must be overwrite or merge, found {self.mode!r}")
        folder = Path(self.base) if self.base else None
        cls = resolve(self.stage, STAGES_GROUP, {}, folder)
        if not (isinstance(cls, type) and callable(getattr(cls, "__call__", None))):
            raise PipelineError(f"stage {self.stage!r} is not a class")
        if dataclasses.is_dataclass(cls):
            self._stage = build_object(cls, self.stage_params, f"stage {self.stage!r}", folder or Path.cwd(),
                                       prefix="params.")
        else:
            try:
                self._stage = cls(**self.stage_params)
            except TypeError as exc:
                raise PipelineError(f"stage {self.stage!r}: {exc}") from None

    def params(self) -> dict[str, Any]:
        return {k: v for k, v in super().params().items() if k != "base"}

    def inputs(self) -> dict[str, str]:
        return {**super().inputs(), **user_code([self._stage])}

    def steps(self, store: Any) -> Iterator[Step]:
        source = store.contract(self.input) if store is not None else contract(self.input)
        if self.output not in user_contracts() and self.output not in _builtin():
            declared = getattr(self._stage, "output_contract", None)
            register(declared(self.output, source) if callable(declared) else
                     derive(self.output, source, description=f"`{self.input}` rows through {self.stage}.",
                            source=f"stage {self.stage}"))
        name = getattr(self._stage, "name", None) or type(self._stage).__name__
        yield Step(str(name), WholeBatches(store, self.input, batch_size=self.batch_size), [self._stage],
                   [self.output], mode=self.mode, inputs=[self.input])


def _builtin() -> set[str]:
    from .schema import contracts

    return set(contracts())


@dataclass
class Composed(Pipeline):
    """A pipeline file's ``steps:``: each a pipeline kind or a stage, run in order."""

    kind: ClassVar[str] = "steps"
    parts: list[Pipeline]
    names: list[str]
    schemas: list[str] = field(default_factory=list)

    def steps(self, store: Any) -> Iterator[Step]:
        for folder in self.schemas:
            load_schemas_dir(folder)
        for name, part in zip(self.names, self.parts):
            for step in part.steps(store):
                yield dataclasses.replace(step, name=f"{name}.{step.name}")

    def params(self) -> dict[str, Any]:
        return {"steps": [{"name": n, "kind": p.kind, "params": p.params()} for n, p in zip(self.names, self.parts)],
                "schemas": list(self.schemas)}

    def inputs(self) -> dict[str, str]:
        out = {}
        for name, part in zip(self.names, self.parts):
            out.update({f"{name}.{k}": v for k, v in part.inputs().items()})
        for folder in self.schemas:
            out.update({f"schemas.{p.name}": str(p) for p in sorted(Path(folder).glob("*.yaml"))})
        return out


def build_steps(doc: dict[str, Any], where: str, base: Path, overrides: dict[str, str] | None = None) -> Composed:
    """A :class:`Composed` pipeline from a file's ``steps:`` (and ``schemas:``).

    ``--set NAME.KEY=VALUE`` overrides parameter KEY of the step named NAME (default names:
    the kind, or the stage's class name; numbered when repeated).
    """
    schemas = []
    if doc.get("schemas") is not None:
        folder = Path(str(doc["schemas"]))
        folder = folder if folder.is_absolute() else (base / folder).resolve()
        if not folder.is_dir():
            raise PipelineError(f"{where}: schemas: no such folder {folder}")
        try:
            load_schemas_dir(folder)
        except Exception as exc:  # a SchemaError: name the pipeline file too
            raise PipelineError(f"{where}: schemas: {exc}") from None
        schemas.append(str(folder))
    raw = doc.get("steps")
    if not isinstance(raw, list) or not raw:
        raise PipelineError(f"{where}: 'steps' must be a non-empty list of steps")
    per_step: dict[str, dict[str, str]] = {}
    for key, value in (overrides or {}).items():
        step, dot, param = key.partition(".")
        if not dot:
            raise PipelineError(f"--set {key}=...: a steps file takes --set STEP.KEY=VALUE")
        per_step.setdefault(step, {})[param] = value
    parts, names = [], []
    for i, entry in enumerate(raw):
        at = f"{where}: steps[{i}]"
        part, name = _build_step(entry, at, base, names, per_step)
        parts.append(part)
        names.append(name)
    unknown = set(per_step) - set(names)
    if unknown:
        raise PipelineError(f"--set: no step named {sorted(unknown)} (steps: {names})")
    return Composed(parts, names, schemas)


def _build_step(entry: Any, at: str, base: Path, taken: list[str],
                per_step: dict[str, dict[str, str]]) -> tuple[Pipeline, str]:
    if not isinstance(entry, dict):
        raise PipelineError(f"{at}: a step is a mapping with 'kind' or 'stage'")
    if ("kind" in entry) == ("stage" in entry):
        raise PipelineError(f"{at}: give exactly one of 'kind' and 'stage'")
    params = entry.get("params") or {}
    if not isinstance(params, dict):
        raise PipelineError(f"{at}: 'params' must be a mapping")
    extra = {k: v for k, v in entry.items() if k not in STEP_KEYS}
    if "stage" in entry:
        kind, values = "stage", {"stage": entry["stage"], "stage_params": params, **extra}
        default_name = str(entry["stage"]).rpartition(":")[2] or "stage"
    else:
        kind = entry["kind"]
        if not isinstance(kind, str):
            raise PipelineError(f"{at}: 'kind' must name a step kind")
        clash = set(extra) & set(params)
        if clash:
            raise PipelineError(f"{at}: {sorted(clash)} given both at the step and under params")
        values = {**params, **extra}
        default_name = kind
    name = str(entry.get("name") or default_name)
    if name in taken:
        name = f"{name}{sum(1 for t in taken if t.startswith(name)) + 1}"
    try:
        cls = pipeline_class(kind, base)
    except PipelineError as exc:
        raise PipelineError(f"{at}: {exc}") from None
    if "base" in {f.name for f in dataclasses.fields(cls)}:
        values["base"] = str(base)
    part = build_object(cls, values, at, base, per_step.get(name), what=f"step kind {kind!r}", prefix="")
    return part, name
