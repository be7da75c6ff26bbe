"""YAML reading for sweep files and ``--set`` values: safe, and ``1e-3`` is a number.

PyYAML follows YAML 1.1, where a float needs a dot (``1.0e-3``) and ``1e-3`` is read as the
string ``"1e-3"``; learning rates are written the second way everywhere. This loader is
``yaml.SafeLoader`` (nothing in a file is ever executed) with YAML 1.2's float rule.
"""

from __future__ import annotations

import re
from typing import Any

import yaml


class _SafeLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that also reads ``1e-3`` and ``5E4`` as floats."""


_SafeLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(
        r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?
        |[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)
        |\.[0-9_]+(?:[eE][-+]?[0-9]+)?
        |[-+]?\.(?:inf|Inf|INF)
        |\.(?:nan|NaN|NAN))$""",
        re.VERBOSE,
    ),
    list("-+0123456789."),
)


def load_yaml(text: str) -> Any:
    """Parse ``text`` safely; raises ``yaml.YAMLError`` on malformed input."""
    return yaml.load(text, Loader=_SafeLoader)


class _SafeDumper(yaml.SafeDumper):
    """``yaml.SafeDumper`` that quotes what ``load_yaml`` would not read back as written.

    It shares the loader's implicit types, so the string ``"1e-3"`` is written quoted
    rather than plain (which ``load_yaml`` reads as the float 0.001).
    """


_SafeDumper.yaml_implicit_resolvers = {
    first: list(resolvers) for first, resolvers in _SafeLoader.yaml_implicit_resolvers.items()
}


def dump_yaml(value: Any) -> str:
    """``value`` as YAML text (block style, keys in order) that ``load_yaml`` reads back."""
    return yaml.dump(value, Dumper=_SafeDumper, sort_keys=False)
