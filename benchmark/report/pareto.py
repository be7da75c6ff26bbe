"""Pareto fronts: which results no other result beats on every objective at once.

A study asks "how much accuracy for how many parameters and how much training time?"; no
single ranking answers that, the set of non-dominated results does. A row is *dominated*
when another row is at least as good on every objective and strictly better on one.
Identical rows do not dominate each other, so duplicates of a front point are all on the
front. A row with a missing (NaN) objective is never on the front: a failed trial has no
accuracy to trade. Pure functions over pandas frames: the CLI, the report and a notebook
all mark fronts the same way.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from typing import Literal

import numpy as np
import pandas as pd

Direction = Literal["min", "max"]

ACCURACY = "accuracy"

# The three objectives of a study, and the fronts the report marks: the three-objective
# front and each two-objective front (column name → objectives).
THREE_OBJECTIVES: dict[str, Direction] = {
    "params_total": "min",
    "train_time_s": "min",
    ACCURACY: "max",
}
# Objectives measured in time: only comparable between results of the same device.
TIME_OBJECTIVES = frozenset({"train_time_s", "time_to_target_s", "eval_time_s", "wall_time_s"})
FRONTS: dict[str, dict[str, Direction]] = {
    "front": THREE_OBJECTIVES,
    "front_params_acc": {"params_total": "min", ACCURACY: "max"},
    "front_time_acc": {"train_time_s": "min", ACCURACY: "max"},
    "front_params_time": {"params_total": "min", "train_time_s": "min"},
}


def pareto_front(frame: pd.DataFrame, objectives: Mapping[str, Direction]) -> pd.Series:
    """A boolean Series (``frame``'s index): True for the non-dominated rows.

    ``objectives`` maps a column to ``"min"`` or ``"max"``; any number of them (2 or 3 in
    practice).
    """
    if not objectives:
        raise ValueError("a Pareto front needs at least one objective")
    costs = np.column_stack(
        [_costs(frame[column], direction) for column, direction in objectives.items()]
    )
    valid = ~np.isnan(costs).any(axis=1)
    result = np.zeros(len(frame), dtype=bool)
    result[np.flatnonzero(valid)[_non_dominated(costs[valid])]] = True
    return pd.Series(result, index=frame.index, name="pareto_front", dtype=bool)


def _non_dominated(costs: np.ndarray) -> np.ndarray:
    """Positions of the rows of ``costs`` (smaller is better) that no other row dominates.

    Each surviving point in turn culls every point it dominates, so the work grows with
    points × front size rather than points²: 10 000 trials take milliseconds.
    """
    remaining = np.arange(len(costs))
    index = 0
    while index < len(remaining):
        point = costs[remaining[index]]
        candidates = costs[remaining]
        # Kept: a point better somewhere, or identical (duplicates of a front point stay).
        keep = (candidates < point).any(axis=1) | (candidates == point).all(axis=1)
        index = int(keep[:index].sum()) + 1
        remaining = remaining[keep]
    return remaining


def pareto_front_by(
    frame: pd.DataFrame, objectives: Mapping[str, Direction], by: Hashable | None
) -> pd.Series:
    """Like ``pareto_front``, computed separately within each value of column ``by``.

    Used with ``by="device"``: training times measured on different hardware are not
    comparable, so each device gets its own front. A missing ``by`` value is a group too.
    """
    if by is None or len(frame) == 0:
        return pareto_front(frame, objectives)
    parts = [
        pareto_front(group, objectives) for _, group in frame.groupby(by, dropna=False, sort=False)
    ]
    return pd.concat(parts).reindex(frame.index).astype(bool).rename("pareto_front")


def mark_fronts(
    frame: pd.DataFrame, accuracy: str = ACCURACY, by: Hashable | None = None
) -> pd.DataFrame:
    """A copy of ``frame`` with one boolean column per front of ``FRONTS``.

    ``front`` is the three-objective front (params_total ↓, train_time_s ↓, accuracy ↑);
    ``front_params_acc``, ``front_time_acc`` and ``front_params_time`` the two-objective
    ones. ``accuracy`` names the column that plays accuracy (``test_accuracy`` on raw
    trials). ``by`` (``"device"``) splits the fronts that involve a time into one front
    per group (see ``pareto_front_by``); parameters and accuracy do not depend on the
    hardware, so the params–accuracy front stays one.
    """
    marked = frame.copy()
    for column, objectives in FRONTS.items():
        renamed = {(accuracy if name == ACCURACY else name): d for name, d in objectives.items()}
        timed = any(name in TIME_OBJECTIVES for name in objectives)
        marked[column] = pareto_front_by(frame, renamed, by if timed else None)
    return marked


def _costs(values: pd.Series, direction: Direction) -> np.ndarray:
    """The column as floats where smaller is better (``max`` objectives negated)."""
    if direction not in ("min", "max"):
        raise ValueError(f"objective direction must be 'min' or 'max', not {direction!r}")
    numbers = pd.to_numeric(values).to_numpy(dtype=float, na_value=np.nan)
    return -numbers if direction == "max" else numbers
