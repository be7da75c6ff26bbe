"""The user mistakes the platform recognises, one exception type per mistake.

Each carries a message that names what was wrong (file, key or name) and how to fix it.
The command line turns any ``BenchError`` into a one-line message and exit code 2, so a
library function raises one of these instead of printing or exiting.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class BenchError(Exception):
    """A mistake the user can fix; its message is shown as is, on one line."""


class UnknownNameError(BenchError):
    """A name (architecture, dataset, preset ...) that is not registered."""

    def __init__(self, kind: str, name: str, known: Iterable[str], hint: str = "") -> None:
        self.kind = kind
        self.name = name
        self.known = sorted(known)
        matches = close_matches(name, self.known)
        message = f"unknown {kind} '{name}'"
        if matches:
            message += f"; did you mean: {', '.join(matches)}?"
        if hint:
            message += f" ({hint})"
        super().__init__(message)


class UnknownModelError(UnknownNameError):
    def __init__(self, name: str, known: Iterable[str]) -> None:
        super().__init__("architecture", name, known, hint="`bench models` lists them")


class UnknownDatasetError(UnknownNameError):
    def __init__(self, name: str, known: Iterable[str]) -> None:
        super().__init__("dataset", name, known, hint="`bench datasets` lists them")


class ModelConfigError(BenchError):
    """A model hyperparameter that the builder cannot honour (bad value or combination)."""


class WeightsError(BenchError):
    """Pretrained weights that cannot be had: missing offline, unreadable, or unsafe."""


class DatasetError(BenchError):
    """A dataset that is missing, corrupt, or configured impossibly."""


class SweepNotFoundError(BenchError):
    """A sweep id or path that names no sweep under the results directory."""


class CheckpointError(BenchError):
    """A checkpoint that is missing, unreadable, or lacks what prediction needs."""


class ImageInputError(BenchError):
    """An image file (or folder of them) given for prediction that cannot be read."""


def close_matches(name: str, candidates: Iterable[str], limit: int = 3) -> list[str]:
    """Up to ``limit`` candidates that look like ``name`` (case-insensitive)."""
    candidates = list(candidates)
    by_lower = {candidate.lower(): candidate for candidate in candidates}
    found = difflib.get_close_matches(name.lower(), list(by_lower), n=limit, cutoff=0.6)
    prefixed = [c for c in candidates if c.lower().startswith(name.lower()) and name]
    ordered = [by_lower[m] for m in found] + [c for c in prefixed if c.lower() not in found]
    return ordered[:limit]


class AugmentConfigError(BenchError):
    """An augmentation preset or switch that does not exist or has an impossible value."""
