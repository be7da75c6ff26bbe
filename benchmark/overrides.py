"""``--set key.path=value`` overrides, shared by every command that takes them.

Values are parsed as YAML scalars or flow collections (``lr=1e-3``, ``model.hidden_sizes=[256,
128]``, ``amp=bf16``), with ``yaml.safe_load`` so nothing in a value is ever executed.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from typing import Any

import yaml

from benchmark.errors import BenchError
from benchmark.yaml_values import load_yaml


class OverrideError(BenchError):
    """A ``--set`` argument that cannot be parsed or applied."""


def parse_override(text: str) -> tuple[list[str], Any]:
    """Split ``a.b.c=value`` into its key path and its parsed value."""
    key, separator, raw_value = text.partition("=")
    path = key.strip().split(".")
    if not separator or not all(part.strip() for part in path):
        raise OverrideError(f"--set {text!r}: expected key.path=value, e.g. --set lr=0.01")
    try:
        value = load_yaml(raw_value) if raw_value.strip() else ""
    except yaml.YAMLError as error:
        problem = getattr(error, "problem", None) or "invalid YAML"
        raise OverrideError(f"--set {text!r}: value is not valid YAML ({problem})") from None
    return [part.strip() for part in path], value


def apply_overrides(values: dict[str, Any], overrides: Iterable[str]) -> dict[str, Any]:
    """A copy of ``values`` with each ``key.path=value`` set, creating nested dicts."""
    result = copy.deepcopy(values)
    for text in overrides:
        path, value = parse_override(text)
        node = result
        for depth, part in enumerate(path[:-1]):
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                prefix = ".".join(path[: depth + 1])
                raise OverrideError(f"--set {text!r}: {prefix} is a value, not a section")
            node = child
        node[path[-1]] = value
    return result
