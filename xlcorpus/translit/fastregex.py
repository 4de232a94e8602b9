"""A faster ``regex`` for uroman: the same functions with compiled patterns kept in a dict.

uroman calls ``regex.match(pattern_string, text)`` tens of thousands of times per sentence;
about half of its time goes to the ``regex`` module's pattern-cache lookup (flag enums,
locale checks). :func:`install` points the ``regex`` name *inside the uroman module* to a
:class:`CachedRegex`, which compiles each ``(pattern, flags)`` once with ``regex.compile``
and calls the compiled pattern (only with the validated uroman version, see
:mod:`.uroman_compat`): the same engine, the same patterns, the same results
(``tests/test_romanize.py`` and ``benchmarks/romanize_bench.py`` check the output),
faster. A pattern that starts with a literal character (:data:`_FIRST`) is not run at all
on a string that does not start with it. It affects every ``Uroman`` in the process;
:func:`uninstall` restores it.
"""

from __future__ import annotations

from typing import Any

import regex


# Patterns uroman matches hundreds of thousands of times per corpus that can only match a
# string starting with this literal (so most calls need no regular expression at all).
_FIRST = {r"\+(m|ng|n|h|r)": "+"}


class CachedRegex:
    """Stand-in for the ``regex`` module: ``match``/``search``/``sub``/``split``/``findall``
    with per-pattern compilation cached; every other attribute is the module's own."""

    def __init__(self) -> None:
        self._compiled: dict[tuple[Any, int], Any] = {}

    def _get(self, pattern: Any, flags: int) -> Any:
        key = (pattern, flags)
        c = self._compiled.get(key)
        if c is None:
            c = self._compiled[key] = regex.compile(pattern, flags)
        return c

    def match(self, pattern, string, flags=0):
        first = _FIRST.get(pattern)
        if first is not None and not string.startswith(first):
            return None  # cannot match: the pattern starts with a literal character
        return self._get(pattern, flags).match(string)

    def search(self, pattern, string, flags=0):
        return self._get(pattern, flags).search(string)

    def sub(self, pattern, repl, string, count=0, flags=0):
        return self._get(pattern, flags).sub(repl, string, count)

    def split(self, pattern, string, maxsplit=0, flags=0):
        return self._get(pattern, flags).split(string, maxsplit)

    def findall(self, pattern, string, flags=0):
        return self._get(pattern, flags).findall(string)

    def __getattr__(self, name: str) -> Any:
        return getattr(regex, name)


def install() -> bool:
    """Use :class:`CachedRegex` inside uroman (idempotent); only with the validated uroman
    version (:mod:`.uroman_compat`), whose module-level ``regex`` name it replaces. Returns
    whether it is installed."""
    from .uroman_compat import validated

    if not validated():
        return False
    import uroman.uroman as module

    if not isinstance(getattr(module, "regex", None), CachedRegex):
        module.regex = CachedRegex()
    return True


def uninstall() -> None:
    """Give uroman the plain ``regex`` module back."""
    import uroman.uroman as module

    module.regex = regex


def installed() -> bool:
    import uroman.uroman as module

    return isinstance(module.regex, CachedRegex)
