"""``${NAME}`` in a sweep file's strings: machine-specific values kept out of the file.

A study file can say ``path: ${BENCH_IMAGES}`` and each user exports their own folder. Only
the braced form is expanded (a ``$`` elsewhere stays as written), ``${NAME:-default}``
gives a default, and an unset variable without one is an error naming the key, so a
sweep never starts with an empty path. The resolved sweep that a run stores holds the
expanded values, so a resumed or remote run does not need the variable.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import Any

from benchmark.errors import BenchError

_VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


class UnsetVariableError(BenchError):
    """``${NAME}`` with ``NAME`` unset and no default; ``key`` says where it is."""

    def __init__(self, key: str, name: str) -> None:
        self.key = key
        self.name = name
        super().__init__(f"${{{name}}} is not set; export {name}=... or replace it with --set")


def expand_variables(values: Any, environ: Mapping[str, str] | None = None, key: str = "") -> Any:
    """A copy of ``values`` with every ``${NAME}`` in its strings replaced from ``environ``."""
    environ = os.environ if environ is None else environ
    if isinstance(values, dict):
        return {
            name: expand_variables(value, environ, f"{key}.{name}" if key else str(name))
            for name, value in values.items()
        }
    if isinstance(values, list):
        return [
            expand_variables(value, environ, f"{key}[{index}]")
            for index, value in enumerate(values)
        ]
    if not isinstance(values, str):
        return values

    def replace(match: re.Match) -> str:
        name, default = match.group(1), match.group(2)
        if name in environ:
            return environ[name]
        if default is not None:
            return default
        raise UnsetVariableError(key, name)

    return _VARIABLE.sub(replace, values)
