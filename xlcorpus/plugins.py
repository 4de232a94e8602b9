"""Finding step kinds and stage classes: entry points, ``module:Class`` and ``.py`` files.

Installed packages register classes under two entry-point groups::

    [project.entry-points."xlcorpus.kinds"]     # pipeline kinds (``kind:`` in a pipeline file)
    my-kind = "mypkg.pipeline:MyKind"
    [project.entry-points."xlcorpus.stages"]    # stages and filters (``stage:`` / ``name:``)
    no_urls = "mypkg.filters:NoUrls"

xlcorpus's own kinds and filters are registered the same way (``pyproject.toml``); a source
checkout that is not installed falls back on the same names listed in the code. A
reference ``module:Class`` names any class on ``sys.path``, or in a ``module.py`` (or a
package folder) next to the pipeline file: that folder is put on ``sys.path``, so worker
processes import the same module by name.
"""

from __future__ import annotations

import importlib
import re
import sys
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

from .errors import PipelineError

KINDS_GROUP = "xlcorpus.kinds"
STAGES_GROUP = "xlcorpus.stages"
_REF = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$")
# modules imported from a pipeline file's folder: workers that do not share this sys.path
# (Ray's) receive their code by value (see :func:`local_modules`)
_LOCAL: set[str] = set()


def registered(group: str, builtin: dict[str, str]) -> dict[str, str]:
    """``name -> "module:Class"`` of ``group``: the built-in names, then installed entry points."""
    out = dict(builtin)
    for ep in entry_points(group=group):
        out[ep.name] = ep.value
    return out


def resolve(ref: str, group: str, builtin: dict[str, str], base: Path | None = None) -> Any:
    """The class named by ``ref``: a registered name of ``group`` or ``module:Class``.

    ``base`` is the pipeline file's folder: a module found there is importable (and put on
    ``sys.path``). Errors name what was looked for and where.
    """
    if not isinstance(ref, str) or not ref:
        raise PipelineError(f"expected a registered name or 'module:Class', found {ref!r}")
    names = registered(group, builtin)
    target = names.get(ref, ref)
    if not _REF.match(target):
        raise PipelineError(f"unknown name {ref!r} (registered in {group}: {sorted(names)}; "
                            "or give 'module:Class')")
    module, _, attr = target.partition(":")
    if base is not None:
        use_folder(base, module)
    try:
        obj: Any = importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name and module.startswith(exc.name):
            where = f" or in {base}" if base is not None else ""
            raise PipelineError(f"{ref!r}: no module {module!r} on sys.path{where}") from None
        raise
    if base is not None and str(Path(getattr(obj, "__file__", "") or "").resolve()).startswith(str(base.resolve())):
        _LOCAL.add(module)
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise PipelineError(f"{ref!r}: module {module!r} has no {attr!r}")
        obj = getattr(obj, part)
    return obj


def local_modules() -> list[Any]:
    """The modules imported from pipeline folders (not importable by name elsewhere)."""
    return [sys.modules[m] for m in sorted(_LOCAL) if m in sys.modules]


def use_folder(base: Path, module: str) -> None:
    """Put ``base`` on ``sys.path`` when it holds ``module`` (a ``.py`` file or a package)."""
    first = module.split(".")[0]
    rel = Path(*module.split("."))
    if any(p.exists() for p in (base / f"{rel}.py", base / rel, base / first)):
        folder = str(base.resolve())
        if folder not in sys.path:
            sys.path.append(folder)
            importlib.invalidate_caches()


def user_code(objs: list[Any]) -> dict[str, str]:
    """``{"code.Class": file}`` for objects whose class comes from outside xlcorpus, so that a
    run fingerprints the user code it depends on (an edited filter reruns its step)."""
    import inspect

    out = {}
    for obj in objs:
        cls = obj if isinstance(obj, type) else type(obj)
        if cls.__module__.split(".")[0] == "xlcorpus":
            continue
        try:
            path = inspect.getsourcefile(cls)
        except TypeError:
            path = None
        if path:
            out[f"code.{cls.__qualname__}"] = path
    return out
