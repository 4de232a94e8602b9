"""Declarative pipelines: YAML files naming a pipeline kind and its parameters.

A pipeline file::

    pipeline: bitext-import          # a registered kind (see KINDS)
    description: Import the bundled sample bitext
    params:
      src: ../data/sample/bitext/sample.en-fr.en    # paths are relative to this file
      src_lang: en

Each kind is a dataclass of typed parameters (subclass of :class:`Pipeline`) whose
``steps()`` yields :class:`~xlcorpus.engine.Step` objects. An unknown key, a missing
required parameter or a value of the wrong type is a :class:`PipelineError` naming the file
and the key. ``--set key=value`` overrides a parameter (paths relative to the current
directory; lists comma-separated).

Reruns: a step whose output tables' latest commits carry the same run fingerprint
(pipeline, parameters, input fingerprints, library version) is skipped; otherwise rows are
merged on ``id``, so a rerun never duplicates rows.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import types
import typing
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal

from . import __version__
from .engine.core import Step
from .engine.local import LocalEngine, StepReport
from .errors import PipelineError
from .ids import file_fingerprint, params_fingerprint
from .params import Exists, check, constraints, rules
from .plugins import KINDS_GROUP, registered, resolve
from .schema import read_yaml_mapping
from .store import Store

log = logging.getLogger(__name__)

# kind -> "module:Class"; modules are imported only when their kind is used.
# One line per kind; each issue's module adds its own line.
KINDS: dict[str, str] = {
    "bitext-import": "xlcorpus.sources.bitext:BitextImport",
    "entitycs": "xlcorpus.codeswitch.pipeline:EntityCSPipeline",
    "bitext-align": "xlcorpus.align.pipeline:BitextAlignPipeline",
    "igt-import": "xlcorpus.sources.igt:IGTImport",
    "romanize": "xlcorpus.translit.pipeline:RomanizePipeline",
    "maltese": "xlcorpus.translit.pipeline:MaltesePipeline",
    "tprojection": "xlcorpus.project.pipeline:TProjectionPipeline",
    "translate-train": "xlcorpus.project.translate_train:TranslateTrainPipeline",
    "filter": "xlcorpus.filters.base:FilterStep",
    "stage": "xlcorpus.compose:StageStep",
}
TOP_KEYS = {"pipeline", "description", "params", "steps", "schemas"}


class Pipeline:
    """Base of pipeline kinds: a dataclass of parameters plus ``steps()``."""

    kind: ClassVar[str] = ""

    def steps(self, store: Store) -> Iterator[Step]:
        """Yield the steps in order; a step may read tables that earlier steps committed."""
        raise NotImplementedError

    def inputs(self) -> dict[str, str]:
        """Input files to fingerprint: every ``Path`` parameter (or list of paths) that exists."""
        out = {}
        for f in dataclasses.fields(self):  # type: ignore[arg-type]
            value = getattr(self, f.name)
            values = value if isinstance(value, (list, tuple)) else [value]
            for i, v in enumerate(values):
                if isinstance(v, Path) and v.exists():
                    out[f"{f.name}[{i}]" if len(values) > 1 else f.name] = str(v)
        return out

    def params(self) -> dict[str, Any]:
        return {f.name: _jsonable(getattr(self, f.name)) for f in dataclasses.fields(self)}  # type: ignore[arg-type]

    @classmethod
    def from_yaml(cls, path: str | os.PathLike[str], overrides: list[str] | dict[str, str] | None = None) -> Pipeline:
        """The pipeline of a file (``pipeline: KIND`` or ``steps:``), validated."""
        return load(path, overrides).pipeline

    @staticmethod
    def compose(*parts: Pipeline, names: list[str] | None = None) -> Pipeline:
        """Steps built in code: pipeline kinds (``FilterStep``, ``StageStep``...) run in order."""
        from .compose import Composed

        names = names or [f"{p.kind}{i + 1}" for i, p in enumerate(parts)]
        return Composed(list(parts), names)

    def run(self, store: Store | str | os.PathLike[str], engine: Any = None, force: bool = False,
            on_step: Any = None) -> RunReport:
        """Run into ``store`` (a Store or a folder); see the module-level :func:`run`."""
        return run(self, store if isinstance(store, Store) else Store(store), engine, force, on_step)


def _jsonable(v: Any) -> Any:
    if isinstance(v, Path):
        return str(v)
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    return v


def kinds() -> dict[str, str]:
    """Every step kind: ``name -> "module:Class"`` (built in, then entry points ``xlcorpus.kinds``)."""
    return registered(KINDS_GROUP, KINDS)


def pipeline_class(kind: str, base: Path | None = None) -> type[Pipeline]:
    """The class of step kind ``kind``: a registered name or ``module:Class`` (looked for
    next to the pipeline file in ``base`` too)."""
    if kind not in kinds() and ":" not in str(kind):
        raise PipelineError(f"unknown pipeline kind {kind!r} (known: {sorted(kinds())})")
    cls = resolve(kind, KINDS_GROUP, KINDS, base)
    if not (isinstance(cls, type) and issubclass(cls, Pipeline) and dataclasses.is_dataclass(cls)):
        raise PipelineError(f"{kind!r} is not a step kind (a dataclass subclass of xlcorpus.Pipeline)")
    return cls


def param_class(name: str) -> type:
    """The parameter dataclass of a kind, or of a filter named ``filter.NAME``."""
    if name.startswith("filter."):
        from .filters.base import filter_class

        return filter_class(name[len("filter."):])
    return pipeline_class(name)


# ---------------------------------------------------------------- coercion
def _coerce(value: Any, hint: Any, where: str, base: Path, from_text: bool) -> Any:
    """Check/convert ``value`` to the annotated type ``hint`` and apply its constraints
    (:mod:`xlcorpus.params`); raise naming ``where``."""
    hint, meta = constraints(hint)
    value = _coerce_base(value, hint, where, base, from_text)
    return check(value, [m for m in meta if not isinstance(m, Exists)], where) if meta else value


def _coerce_base(value: Any, hint: Any, where: str, base: Path, from_text: bool) -> Any:
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        if from_text and value in ("", "none", "null") and type(None) in args:
            return None
        errors = []
        for a in args:
            if a is type(None):
                continue
            try:
                return _coerce(value, a, where, base, from_text)
            except PipelineError as exc:
                errors.append(str(exc))
        raise PipelineError(errors[0] if errors else f"{where}: invalid value {value!r}")
    if origin is Literal:
        if value not in args:
            raise PipelineError(f"{where}: expected one of {list(args)}, found {value!r}")
        return value
    if origin in (list, tuple):
        item = args[0] if args else Any
        if from_text and isinstance(value, str):
            value = [v.strip() for v in value.split(",") if v.strip()]
        if not isinstance(value, list):
            raise PipelineError(f"{where}: expected a list, found {type(value).__name__} {value!r}")
        return [_coerce(v, item, f"{where}[{i}]", base, from_text) for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            raise PipelineError(f"{where}: expected a mapping, found {type(value).__name__}")
        return value
    if hint is Any:
        return value
    if hint is Path:
        if not isinstance(value, (str, os.PathLike)):
            raise PipelineError(f"{where}: expected a path, found {type(value).__name__} {value!r}")
        if "://" in str(value):
            return str(value)  # an object-store URI: the input layer opens it (Path would mangle it)
        p = Path(os.path.expanduser(str(value)))
        return p if p.is_absolute() else (base / p).resolve()
    if hint is bool:
        if from_text and isinstance(value, str) and value.lower() in {"true", "false", "yes", "no", "1", "0"}:
            return value.lower() in {"true", "yes", "1"}
        if not isinstance(value, bool):
            raise PipelineError(f"{where}: expected true or false, found {value!r}")
        return value
    if hint in (int, float):
        return _number(value, hint, where, from_text)
    if hint is str:
        if not isinstance(value, str):
            raise PipelineError(f"{where}: expected a string, found {type(value).__name__} {value!r}")
        return value
    return value


def _number(value: Any, hint: type, where: str, from_text: bool) -> int | float:
    if from_text and isinstance(value, str):
        try:
            return hint(value)
        except ValueError:
            pass
    ok = (int,) if hint is int else (int, float)
    if isinstance(value, bool) or not isinstance(value, ok):
        kind = "an integer" if hint is int else "a number"
        raise PipelineError(f"{where}: expected {kind}, found {value!r}")
    return hint(value)


def build(kind: str, params: dict[str, Any], where: str, base: Path,
          overrides: dict[str, str] | None = None, cwd: Path | None = None) -> Pipeline:
    """Instantiate pipeline ``kind`` from file params and ``--set`` overrides."""
    return build_object(pipeline_class(kind), params, where, base, overrides, cwd, f"pipeline {kind!r}")


def build_object(cls: type, params: dict[str, Any] | None, where: str, base: Path,
                 overrides: dict[str, str] | None = None, cwd: Path | None = None,
                 what: str | None = None, prefix: str = "params.") -> Any:
    """Instantiate the parameter dataclass ``cls`` (a pipeline kind, a filter, a stage) from
    a mapping (YAML: ``where`` names the file and key, paths are relative to ``base``) and
    ``--set`` overrides (text, relative to ``cwd``), checking types and constraints."""
    what = what or cls.__name__
    hints = typing.get_type_hints(cls, include_extras=True)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    values: dict[str, Any] = {}
    for key, value in (params or {}).items():
        if key not in fields:
            raise PipelineError(f"{where}: unknown key '{prefix}{key}' for {what} "
                                f"(known: {sorted(fields)})")
        values[key] = _coerce(value, hints[key], f"{where}: {prefix}{key}", base, False)
    for key, text in (overrides or {}).items():
        if key not in fields:
            raise PipelineError(f"--set {key}=...: unknown key for {what} (known: {sorted(fields)})")
        values[key] = _coerce(text, hints[key], f"--set {key}", cwd or Path.cwd(), True)
    missing = [n for n, f in fields.items() if n not in values
               and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING]
    if missing:
        raise PipelineError(f"{where}: missing required parameter(s) {missing} for {what}")
    for name, f in fields.items():  # resolve relative Path defaults against the file's folder
        if name not in values and f.default is not dataclasses.MISSING:
            if isinstance(f.default, Path) or (isinstance(f.default, str) and constraints(hints[name])[0] is Path):
                values[name] = _coerce(str(f.default), hints[name], name, base, False)
    for name, f in fields.items():  # inputs that must exist, given or default
        value, exists = values.get(name, f.default), _exists(hints[name])
        if value is not dataclasses.MISSING and value is not None and exists is not None:
            src = f"--set {name}" if name in (overrides or {}) else f"{where}: {prefix}{name}"
            check(value, [exists], src)
    try:
        return cls(**values)
    except PipelineError as exc:
        raise PipelineError(f"{where}: {exc}") from exc


def _exists(hint: Any) -> Exists | None:
    """The ``Exists`` rule of an (optional, list of) annotated path, if it has one."""
    return next((m for m in rules(hint)[1] if isinstance(m, Exists)), None)


@dataclass
class PipelineSpec:
    path: Path
    kind: str
    description: str
    pipeline: Pipeline


def load(path: str | os.PathLike[str], overrides: list[str] | dict[str, str] | None = None) -> PipelineSpec:
    """Read and validate a pipeline file (``pipeline: KIND`` or ``steps:``, see
    :mod:`xlcorpus.compose`); apply ``key=value`` overrides (``STEP.key=value`` for steps)."""
    p = Path(path)
    if not p.is_file():
        raise PipelineError(f"{p}: no such pipeline file")
    doc = read_yaml_mapping(p, TOP_KEYS, PipelineError)
    if isinstance(overrides, list):
        overrides = parse_overrides(overrides)
    if "steps" in doc:
        from .compose import build_steps

        if "pipeline" in doc or "params" in doc:
            raise PipelineError(f"{p}: give either 'pipeline' (with 'params') or 'steps', not both")
        return PipelineSpec(p, "steps", str(doc.get("description", "")),
                            build_steps(doc, str(p), p.parent.resolve(), overrides))
    if "schemas" in doc:
        raise PipelineError(f"{p}: 'schemas' goes with 'steps' (a 'pipeline: KIND' file writes built-in tables)")
    kind = doc.get("pipeline")
    if not isinstance(kind, str):
        raise PipelineError(f"{p}: key 'pipeline' must name a pipeline kind (known: {sorted(kinds())}), "
                            "or give 'steps'")
    params = doc.get("params") or {}
    if not isinstance(params, dict):
        raise PipelineError(f"{p}: key 'params' must be a mapping")
    pipe = build(kind, params, str(p), p.parent.resolve(), overrides)
    return PipelineSpec(p, kind, str(doc.get("description", "")), pipe)


def parse_overrides(items: list[str]) -> dict[str, str]:
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise PipelineError(f"--set expects key=value, got {item!r}")
        out[key.strip()] = value
    return out


@dataclass
class RunReport:
    pipeline: str
    run_id: str
    steps: list[StepReport] = field(default_factory=list)


def fingerprint(pipe: Pipeline) -> tuple[str, dict[str, str]]:
    inputs = {name: file_fingerprint(path) for name, path in pipe.inputs().items()}
    fp = params_fingerprint({"kind": pipe.kind, "params": pipe.params(), "inputs": inputs,
                             "version": __version__})
    return fp, inputs


def app_id(run_fp: str, step: Step) -> str:
    """The Delta app transaction id of one step of one run fingerprint."""
    return f"xlcorpus-{params_fingerprint([run_fp, step.name])[:32]}"


@dataclass
class StepPlan:
    """What ``run`` would do with one step: its transaction id and which tables carry it."""

    step: Step
    app_id: str
    done: dict[str, int | None]

    @property
    def up_to_date(self) -> bool:
        return all(v is not None for v in self.done.values())

    def txn_version(self, force: bool) -> int:
        """1, or one more than any recorded version when forced to run again."""
        known = [v for v in self.done.values() if v is not None]
        return (max(known) + 1) if force and known else (max(known) if known else 1)


def plan_step(step: Step, store: Store | None, run_fp: str) -> StepPlan:
    aid = app_id(run_fp, step)
    return StepPlan(step, aid, {t: store.transaction_version(t, aid) if store is not None else None
                                for t in step.tables})


def run(pipe: Pipeline, store: Store, engine: Any = None, force: bool = False,
        on_step: Any = None) -> RunReport:
    """Run every step of ``pipe`` into ``store`` with ``engine`` (default: local, 1 worker).

    A step whose tables all carry its app transaction (same pipeline, parameters, input
    fingerprints and library version) is skipped, whatever else was written to those tables
    since; a step interrupted between two table commits is run again and only the tables that
    miss its transaction are committed. ``force`` runs (and commits) every step again.
    ``on_step(report)`` is called as each step ends.
    """
    engine = engine or LocalEngine()
    fp, inputs = fingerprint(pipe)
    run_id = fp[:16]
    report = RunReport(pipe.kind, run_id)
    for step in pipe.steps(store):
        p = plan_step(step, store, fp)
        if not force and p.up_to_date:
            log.info("%s/%s: skipped: every table it writes (%s) carries its transaction %s (same pipeline, "
                     "parameters, inputs and library version); --force runs it again", pipe.kind, step.name,
                     ", ".join(step.tables), p.app_id)
            sr = StepReport(step.name, skipped=True, versions={t: store.version(t) for t in step.tables})
        else:
            meta = {"pipeline": pipe.kind, "params": pipe.params(), "inputs": inputs,
                    "run_id": run_id, "fingerprint": params_fingerprint([fp, step.name]),
                    "engine": engine.name, "app_id": p.app_id}
            sr = engine.run_step(step, store, run_id, meta, txn=(p.app_id, p.txn_version(force)))
        report.steps.append(sr)
        if on_step:
            on_step(sr)
    return report


def dry_run(pipe: Pipeline, store: Store | None) -> dict[str, Any]:
    """What ``run`` would do, without reading an input or running a step: the resolved
    parameters, the inputs and their fingerprints, and per step its source, stages, tables
    and whether it would be skipped (as far as the store shows now)."""
    from .engine.core import describe_source

    fp, inputs = fingerprint(pipe)
    steps = []
    for step in pipe.steps(store):
        p = plan_step(step, store, fp)
        steps.append({"step": step.name, "source": describe_source(step.reader), "inputs": step.inputs,
                      "stages": [getattr(s, "name", getattr(s, "__name__", "stage")) for s in step.stages],
                      "outputs": step.outputs, "rejects": step.rejects, "mode": step.mode,
                      "app_id": p.app_id, "would_skip": p.up_to_date,
                      "done_tables": sorted(t for t, v in p.done.items() if v is not None)})
    return {"pipeline": pipe.kind, "run_id": fp[:16], "params": pipe.params(),
            "inputs": {k: {"path": pipe.inputs()[k], "fingerprint": v} for k, v in inputs.items()},
            "steps": steps}
