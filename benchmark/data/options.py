"""Checks of dataset option values, shared by the builders.

Options arrive from YAML or ``--set`` (``dataset_options.image_size=128``), so a value may
have the wrong type; each check raises a one-line ``DatasetError`` naming the dataset, the
option and what it accepts, and returns the value in the type the builder wants.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from benchmark.errors import DatasetError

ON_CORRUPT_CHOICES = ("error", "skip")


def positive_int(dataset: str, option: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise DatasetError(f"{dataset}: option {option} must be an integer >= 1; got {value!r}")
    return value


def fraction(dataset: str, option: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value < 1:
        raise DatasetError(f"{dataset}: option {option} must be a number between 0 and 1; "
                           f"got {value!r}")  # fmt: skip
    return float(value)


def integer(dataset: str, option: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise DatasetError(f"{dataset}: option {option} must be an integer; got {value!r}")
    return value


def boolean(dataset: str, option: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise DatasetError(f"{dataset}: option {option} must be true or false; got {value!r}")
    return value


def choice(dataset: str, option: str, value: Any, choices: Sequence[str]) -> str:
    if value not in choices:
        raise DatasetError(
            f"{dataset}: option {option} must be one of {', '.join(choices)}; got {value!r}"
        )
    return value


def names(dataset: str, option: str, value: Any) -> list[str] | None:
    """A list of names (``classes: [camera, brain]``), or None for all of them."""
    if value is None:
        return None
    if isinstance(value, str) or not isinstance(value, Sequence) or not value:
        raise DatasetError(f"{dataset}: option {option} must be a non-empty list of names; "
                           f"got {value!r}")  # fmt: skip
    if not all(isinstance(item, str) for item in value):
        raise DatasetError(f"{dataset}: option {option} must list names (strings); got {value!r}")
    if len(set(value)) != len(value):
        raise DatasetError(f"{dataset}: option {option} lists a name twice: {list(value)}")
    return list(value)
