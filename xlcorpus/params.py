"""Parameter constraints declared on pipeline fields, checked before any step runs.

A pipeline kind declares each parameter once, as a dataclass field whose type may carry
constraints with ``typing.Annotated``::

    runs: Annotated[int, Ge(0), Help("eflomal runs; 0: automatic")] = 0
    src_lang: LangCode                      # a BCP-47 / Wikidata code, normalised
    codeswitch_ratio: Ratio = 0.0           # a number in [0, 1]
    wikidata: InputPath = SAMPLE / "x.json" # a file or folder that must exist

Bounds are ``annotated_types`` objects (``Ge``, ``Gt``, ``Le``, ``Lt``, ``Interval``), the
vocabulary pydantic also understands. :func:`check` applies them to a coerced value and
raises :class:`~xlcorpus.errors.PipelineError` naming the key; :func:`describe` lists a
kind's parameters (``xlcorpus params KIND``); :func:`click_options` makes command-line options
of the same fields, so a command and a pipeline kind share one declaration.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import annotated_types as at

from .errors import PipelineError

Ge, Gt, Le, Lt, Interval = at.Ge, at.Gt, at.Le, at.Lt, at.Interval


@dataclass(frozen=True)
class Help:
    """The one-line meaning of a parameter (shown by ``xlcorpus params``)."""

    text: str


@dataclass(frozen=True)
class Lang:
    """A language code: validated with ``langcodes`` and normalised to Wikidata's lower-case
    style (``EN`` -> ``en``, ``eng`` -> ``en``, ``zh-Hans`` -> ``zh-hans``, ``fr_FR`` ->
    ``fr-fr``); aliases such as ``tl`` are kept."""


@dataclass(frozen=True)
class Exists:
    """A path that must exist when the pipeline is built (an input file or folder; with
    ``folder``: a folder)."""

    folder: bool = False


LangCode = Annotated[str, Lang()]
Ratio = Annotated[float, Interval(ge=0.0, le=1.0)]
NonNegative = Annotated[float, Ge(0.0)]
PositiveInt = Annotated[int, Gt(0)]
InputPath = Annotated[Path, Exists()]


def normalise_lang(code: str, where: str) -> str:
    """``code`` as a normalised language tag, or a PipelineError naming ``where``."""
    import langcodes

    shown = code if len(code) <= 40 else code[:40] + "..."
    try:
        ok = langcodes.tag_is_valid(code)
    except (ValueError, langcodes.LanguageTagError):
        ok = False
    if not ok:
        raise PipelineError(f"{where}: {shown!r} is not a language code (use a BCP-47 / Wikidata code "
                            "such as 'en', 'de', 'zh-hans', 'be-tarask')")
    lower = code.replace("_", "-").lower()
    std = langcodes.standardize_tag(code).lower()
    # three-letter ISO 639 codes with a two-letter one become it (eng -> en); other aliases
    # (tl -> fil, iw -> he) are kept as given: Wikidata and the corpora use them
    if len(lower.split("-")[0]) == 3 and len(std.split("-")[0]) == 2:
        return std
    return lower


def constraints(hint: Any) -> tuple[Any, list[Any]]:
    """``(base type, [constraint objects])`` of an annotated type."""
    if typing.get_origin(hint) is Annotated:
        base, *meta = typing.get_args(hint)
        inner, more = constraints(base)
        return inner, [*more, *meta]
    return hint, []


def check(value: Any, meta: list[Any], where: str) -> Any:
    """Apply the constraints in ``meta`` to an already-coerced ``value`` (lists item-wise)."""
    if value is None:
        return None
    if isinstance(value, (list, tuple)):
        return [check(v, meta, f"{where}[{i}]") for i, v in enumerate(value)]
    for m in meta:
        if isinstance(m, Lang):
            value = normalise_lang(value, where)
        elif isinstance(m, Exists):
            if "://" not in str(value) and not Path(value).exists():
                raise PipelineError(f"{value}: does not exist ({where})")
            if m.folder and "://" not in str(value) and not Path(value).is_dir():
                raise PipelineError(f"{value}: is not a folder ({where})")
        elif isinstance(m, at.Interval):
            for bound in (at.Ge(m.ge) if m.ge is not None else None, at.Gt(m.gt) if m.gt is not None else None,
                          at.Le(m.le) if m.le is not None else None, at.Lt(m.lt) if m.lt is not None else None):
                if bound is not None:
                    value = check(value, [bound], where)
        else:
            _bound(value, m, where)
    return value


_BOUNDS = {at.Ge: (">=", "ge", lambda v, b: v >= b), at.Gt: (">", "gt", lambda v, b: v > b),
           at.Le: ("<=", "le", lambda v, b: v <= b), at.Lt: ("<", "lt", lambda v, b: v < b)}


def _bound(value: Any, m: Any, where: str) -> None:
    for kind, (op, attr, ok) in _BOUNDS.items():
        if isinstance(m, kind):
            bound = getattr(m, attr)
            if not ok(value, bound):
                raise PipelineError(f"{where}: must be {op} {bound}, found {value!r}")


def type_name(hint: Any) -> str:
    base, _ = constraints(hint)
    origin = typing.get_origin(base)
    if origin is typing.Literal:
        return " | ".join(repr(a) for a in typing.get_args(base))
    if origin in (typing.Union, types.UnionType):
        return " | ".join(type_name(a) for a in typing.get_args(base) if a is not type(None)) + " | null"
    if origin in (list, tuple):
        args = typing.get_args(base)
        return f"list[{type_name(args[0]) if args else 'any'}]"
    return getattr(base, "__name__", str(base))


def rule_text(meta: list[Any]) -> str:
    out = []
    for m in meta:
        if isinstance(m, Lang):
            out.append("language code")
        elif isinstance(m, Exists):
            out.append("folder must exist" if m.folder else "must exist")
        elif isinstance(m, at.Interval):
            parts = [f"{op} {getattr(m, a)}" for a, op in (("ge", ">="), ("gt", ">"), ("le", "<="), ("lt", "<"))
                     if getattr(m, a) is not None]
            out.append(" and ".join(parts))
        else:
            for kind, (op, attr, _) in _BOUNDS.items():
                if isinstance(m, kind):
                    out.append(f"{op} {getattr(m, attr)}")
    return ", ".join(out)


def describe(cls: type) -> list[dict[str, Any]]:
    """One entry per parameter of a pipeline class: name, type, default, rules, meaning."""
    hints = typing.get_type_hints(cls, include_extras=True)
    out = []
    for f in dataclasses.fields(cls):
        if f.metadata.get("hidden"):
            continue
        _, meta = rules(hints[f.name])
        if f.default is not dataclasses.MISSING:
            default: Any = f.default
        elif f.default_factory is not dataclasses.MISSING:
            default = f.default_factory()
        else:
            default = "(required)"
        if isinstance(default, Path):
            default = str(default)
        help_ = next((m.text for m in meta if isinstance(m, Help)), f.metadata.get("help", ""))
        out.append({"name": f.name, "type": type_name(hints[f.name]), "default": default,
                    "rules": rule_text(meta), "help": help_})
    return out


def json_schema(hint: Any) -> dict[str, Any]:
    """The JSON Schema of one annotated parameter type (bounds, enumerations, meaning)."""
    base, meta = constraints(hint)
    origin = typing.get_origin(base)
    args = typing.get_args(base)
    out: dict[str, Any]
    if origin in (typing.Union, types.UnionType):
        out = {"anyOf": [json_schema(a) if a is not type(None) else {"type": "null"} for a in args]}
    elif origin is typing.Literal:
        out = {"enum": list(args)}
    elif origin in (list, tuple):
        out = {"type": "array", "items": json_schema(args[0]) if args else {}}
    elif origin is dict or base is dict:
        out = {"type": "object"}
    else:
        out = dict(_JSON_TYPES.get(base, {}))
    for m in meta:
        if isinstance(m, Help):
            out["description"] = m.text
        elif isinstance(m, Lang):
            out["description"] = (out.get("description", "") + " (a BCP-47 / Wikidata language code)").strip()
        elif isinstance(m, at.Interval):
            for attr in ("ge", "gt", "le", "lt"):
                if getattr(m, attr) is not None:
                    out[_JSON_BOUNDS[attr]] = getattr(m, attr)
        else:
            for kind, (_, attr, _) in _BOUNDS.items():
                if isinstance(m, kind):
                    out[_JSON_BOUNDS[attr]] = getattr(m, attr)
    return out


_JSON_TYPES: dict[Any, dict[str, Any]] = {str: {"type": "string"}, int: {"type": "integer"},
                                          float: {"type": "number"}, bool: {"type": "boolean"},
                                          Path: {"type": "string", "format": "path"}, Any: {}}
_JSON_BOUNDS = {"ge": "minimum", "gt": "exclusiveMinimum", "le": "maximum", "lt": "exclusiveMaximum"}


def class_schema(cls: type, required: bool = True, skip: tuple[str, ...] = ()) -> dict[str, Any]:
    """The JSON Schema of a parameter dataclass: one property per field (with its default),
    no other keys; ``required`` lists the fields without a default."""
    hints = typing.get_type_hints(cls, include_extras=True)
    overrides = getattr(cls, "json_schema_fields", lambda: {})()
    props: dict[str, Any] = {}
    needed = []
    for f in dataclasses.fields(cls):
        if not f.init or f.name in skip or f.metadata.get("hidden"):
            continue
        prop = overrides.get(f.name) or json_schema(hints[f.name])
        if f.default is not dataclasses.MISSING and f.default is not None:
            prop["default"] = str(f.default) if isinstance(f.default, Path) else f.default
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            needed.append(f.name)
        props[f.name] = prop
    out: dict[str, Any] = {"type": "object", "properties": props, "additionalProperties": False}
    doc = (cls.__doc__ or "").strip().split("\n\n")[0]
    if doc:
        out["description"] = " ".join(doc.split())
    if required and needed:
        out["required"] = needed
    return out


def rules(hint: Any) -> tuple[Any, list[Any]]:
    """``(base type, constraints)`` of a parameter type, with ``None`` dropped from an optional
    type and the constraints of list items and union members included (checked item-wise)."""
    base, meta = constraints(hint)
    args = [a for a in typing.get_args(base) if a is not type(None)]
    if typing.get_origin(base) in (typing.Union, types.UnionType):
        if len(args) == 1:
            inner, more = rules(args[0])
            return inner, [*meta, *more]
        return base, [*meta, *(m for a in args for m in rules(a)[1])]
    if typing.get_origin(base) in (list, tuple) and args:
        return base, [*meta, *rules(args[0])[1]]
    return base, meta


def validate(obj: Any) -> None:
    """Check every field of the dataclass instance ``obj`` against its declared choices and
    constraints (not path existence), normalising in place; a PipelineError names the field."""
    hints = typing.get_type_hints(type(obj), include_extras=True)
    for f in dataclasses.fields(obj):
        if not f.init:
            continue
        base, meta = rules(hints[f.name])
        value = getattr(obj, f.name)
        if typing.get_origin(base) is typing.Literal and value not in typing.get_args(base):
            raise PipelineError(f"{f.name}: expected one of {list(typing.get_args(base))}, found {value!r}")
        meta = [m for m in meta if not isinstance(m, (Exists, Help))]
        if meta:
            setattr(obj, f.name, check(value, meta, f.name))


def part(obj: Any, cls: type) -> Any:
    """The ``cls`` part of ``obj``: a ``cls`` built from the same-named fields of ``obj``."""
    return cls(**{f.name: getattr(obj, f.name) for f in dataclasses.fields(cls) if f.init})


def click_options(cls: type, *names: str, aliases: dict[str, tuple[str, ...]] | None = None) -> Any:
    """A decorator adding one click option per field ``names`` of the parameter dataclass
    ``cls``, in that order: ``--field-name`` (plus ``aliases``), the type (a choice for a
    ``Literal``, ``--x/--no-x`` for a bool, a range for bounds, an existing file or folder for
    a path that must exist), the default, the help and the constraints (language codes are
    normalised; a bad value is a usage error naming the option)."""
    import click

    hints = typing.get_type_hints(cls, include_extras=True)
    fields = {f.name: f for f in dataclasses.fields(cls)}

    def option(name: str) -> Any:
        f, flag = fields[name], "--" + name.replace("_", "-")
        base, meta = rules(hints[name])
        if typing.get_origin(base) in (list, tuple, dict):
            raise TypeError(f"{cls.__name__}.{name}: no option is made of a list or mapping parameter")
        required = f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        default = None if required else f.default if f.default_factory is dataclasses.MISSING else f.default_factory()
        kw: dict[str, Any] = {"type": _click_type(base, meta), "required": required,
                              "default": str(default) if isinstance(default, Path) else default,
                              "show_default": default is not None,
                              "help": next((m.text for m in meta if isinstance(m, Help)), None)}
        decls = [f"{flag}/--no-{flag[2:]}" if base is bool else flag, *(aliases or {}).get(name, ()), name]
        checked = [m for m in meta if not isinstance(m, (Exists, Help))]
        if checked:
            kw["callback"] = lambda _ctx, _param, value: _click_check(value, checked, flag)
        return click.option(*decls, **kw)

    def decorate(fn: Any) -> Any:
        for name in reversed(names):
            fn = option(name)(fn)
        return fn

    return decorate


def _click_type(base: Any, meta: list[Any]) -> Any:
    import click

    if typing.get_origin(base) is typing.Literal:
        return click.Choice([str(a) for a in typing.get_args(base)])
    exists = next((m for m in meta if isinstance(m, Exists)), None)
    if exists is not None:
        from .cli_types import INPUT_FILE

        return click.Path(exists=True, file_okay=False) if exists.folder else INPUT_FILE
    if base in (int, float):
        b: dict[str, Any] = {}
        for m in meta:
            for attr in ("ge", "gt", "le", "lt"):
                if getattr(m, attr, None) is not None:
                    b[attr] = getattr(m, attr)
        if not b:
            return base
        if base is int:
            return click.IntRange(b.get("ge", b["gt"] + 1 if "gt" in b else None),
                                  b.get("le", b["lt"] - 1 if "lt" in b else None))
        return click.FloatRange(b.get("ge", b.get("gt")), b.get("le", b.get("lt")),
                                min_open="gt" in b, max_open="lt" in b)
    return None if base in (bool, str, Any) else base


def _click_check(value: Any, meta: list[Any], flag: str) -> Any:
    import click

    try:
        return check(value, meta, flag)
    except PipelineError as exc:
        raise click.BadParameter(str(exc).removeprefix(f"{flag}: ")) from None
