"""Checks for hyperparameter values, shared by every builder.

A sweep hands builders whatever YAML or Optuna produced, so each builder checks its values
with these helpers before building anything. A bad value raises ``ModelConfigError`` naming
the key, what is allowed and what was given; ``create_model`` prefixes the architecture's
name, so the user sees ``standard_cnn: hyperparameter 'depth' must be ...`` on one line.
"""

from __future__ import annotations

from collections.abc import Sequence
from numbers import Integral, Real

from benchmark.errors import ModelConfigError


def _reject(key: str, expected: str, value: object) -> ModelConfigError:
    return ModelConfigError(f"hyperparameter '{key}' must be {expected}; got {value!r}")


def is_integer(value: object) -> bool:
    """True for ints and numpy integers (a grid read by pandas), not for bools: True is no width."""
    return isinstance(value, Integral) and not isinstance(value, bool)


def integer(key: str, value: object, *, minimum: int = 1) -> int:
    """``value`` as an int no smaller than ``minimum``."""
    if not is_integer(value) or value < minimum:
        raise _reject(key, f"an integer >= {minimum}", value)
    return int(value)


def odd_integer(key: str, value: object) -> int:
    """A positive odd int: kernel sizes, so that 'same' padding (k // 2) is symmetric."""
    if not is_integer(value) or value < 1 or value % 2 == 0:
        raise _reject(key, "an odd integer >= 1 (same padding needs an odd kernel)", value)
    return int(value)


def probability(key: str, value: object) -> float:
    """A dropout rate in [0, 1): 1 would zero every activation."""
    if isinstance(value, bool) or not isinstance(value, Real) or not 0 <= value < 1:
        raise _reject(key, "a number in [0, 1)", value)
    return float(value)


def choice(key: str, value: object, allowed: Sequence[str]) -> str:
    """One of the named options ``allowed``."""
    if value not in allowed:
        raise _reject(key, f"one of {', '.join(allowed)}", value)
    return str(value)


def integers(key: str, value: object, *, minimum: int = 1) -> tuple[int, ...]:
    """A list of ints (layer sizes), each at least ``minimum``; empty is allowed."""
    if isinstance(value, str | bytes) or not isinstance(value, Sequence):
        raise _reject(key, f"a list of integers >= {minimum}", value)
    return tuple(integer(key, item, minimum=minimum) for item in value)
