"""Pareto fronts on hand-made points, where the answer is known by looking at them."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from benchmark.report.pareto import FRONTS, mark_fronts, pareto_front, pareto_front_by

COST_ACCURACY = {"cost": "min", "accuracy": "max"}


def _front(rows: list[tuple], objectives=COST_ACCURACY, columns=("cost", "accuracy")) -> list:
    frame = pd.DataFrame(rows, columns=list(columns))
    return pareto_front(frame, objectives).tolist()


def test_a_point_beaten_on_both_objectives_is_dominated():
    assert _front([(1, 0.9), (2, 0.8), (3, 0.95)]) == [True, False, True]


def test_a_point_only_tied_on_one_objective_and_worse_on_the_other_is_dominated():
    assert _front([(1, 0.9), (1, 0.8), (2, 0.9)]) == [True, False, False]


def test_identical_points_on_the_front_are_all_on_it():
    assert _front([(1, 0.9), (1, 0.9), (2, 0.95), (3, 0.5)]) == [True, True, True, False]


def test_identical_dominated_points_are_all_off_the_front():
    assert _front([(2, 0.5), (2, 0.5), (1, 0.9)]) == [False, False, True]


def test_a_single_point_is_its_own_front():
    assert _front([(5, 0.1)]) == [True]


def test_one_point_better_on_everything_is_the_whole_front():
    assert _front([(3, 0.7), (1, 0.99), (2, 0.8), (4, 0.6)]) == [False, True, False, False]


def test_rows_with_a_missing_objective_are_never_on_the_front():
    rows = [(math.nan, 0.99), (1, None), (2, 0.8), (None, None)]
    assert _front(rows) == [False, False, True, False]


def test_nullable_integer_columns_with_gaps_are_read_as_numbers():
    frame = pd.DataFrame(
        {"cost": pd.array([10, None, 5], dtype="Int64"), "accuracy": [0.9, 0.99, 0.8]}
    )
    assert pareto_front(frame, COST_ACCURACY).tolist() == [True, False, True]


def test_an_empty_frame_has_an_empty_front():
    front = pareto_front(pd.DataFrame({"cost": [], "accuracy": []}), COST_ACCURACY)
    assert front.dtype == bool and front.empty


def test_directions_decide_what_is_better():
    rows = [(1, 0.9), (2, 0.8)]
    assert _front(rows, {"cost": "min", "accuracy": "max"}) == [True, False]
    assert _front(rows, {"cost": "max", "accuracy": "min"}) == [False, True]
    # Both minimised: neither point is better on both, so both are on the front.
    assert _front(rows, {"cost": "min", "accuracy": "min"}) == [True, True]


def test_three_objectives_keep_points_that_win_on_any_one():
    columns = ("params", "time", "accuracy")
    objectives = {"params": "min", "time": "min", "accuracy": "max"}
    rows = [
        (100, 10.0, 0.90),  # the most accurate
        (10, 20.0, 0.80),  # the smallest
        (50, 1.0, 0.70),  # the fastest
        (100, 20.0, 0.80),  # beaten by the first on every objective
        (10, 20.0, 0.79),  # beaten by the second on accuracy only
    ]
    assert _front(rows, objectives, columns) == [True, True, True, False, False]


def test_the_front_keeps_the_frames_index():
    frame = pd.DataFrame({"cost": [2, 1], "accuracy": [0.5, 0.6]}, index=["b", "a"])
    front = pareto_front(frame, COST_ACCURACY)
    assert front.to_dict() == {"b": False, "a": True}


def test_an_unknown_direction_is_refused():
    with pytest.raises(ValueError, match="'min' or 'max'"):
        pareto_front(pd.DataFrame({"cost": [1]}), {"cost": "lowest"})


def test_fronts_by_group_never_compare_across_groups():
    frame = pd.DataFrame(
        {
            "cost": [1.0, 2.0, 10.0, 20.0],
            "accuracy": [0.9, 0.8, 0.7, 0.95],
            "device": ["gpu", "gpu", "cpu", "cpu"],
        }
    )
    assert pareto_front(frame, COST_ACCURACY).tolist() == [True, False, False, True]
    assert pareto_front_by(frame, COST_ACCURACY, "device").tolist() == [True, False, True, True]


def test_mark_fronts_splits_only_the_fronts_that_involve_time_by_device():
    frame = pd.DataFrame(
        {
            "params_total": [100, 10],
            "train_time_s": [1.0, 50.0],
            "accuracy": [0.9, 0.8],
            "device": ["gpu", "cpu"],
        }
    )
    marked = mark_fronts(frame, by="device")
    assert set(FRONTS) <= set(marked.columns)
    # Alone on its device, each point is on every front that involves time ...
    assert marked["front"].tolist() == [True, True]
    assert marked["front_time_acc"].tolist() == [True, True]
    # ... while parameters and accuracy do not depend on the device: one front.
    assert marked["front_params_acc"].tolist() == [True, True]
    dominated = frame.assign(accuracy=[0.9, 0.95], params_total=[100, 10])
    assert mark_fronts(dominated, by="device")["front_params_acc"].tolist() == [False, True]


def test_mark_fronts_can_take_accuracy_from_another_column():
    frame = pd.DataFrame(
        {"params_total": [1, 2], "train_time_s": [1.0, 2.0], "test_accuracy": [0.5, 0.9]}
    )
    marked = mark_fronts(frame, accuracy="test_accuracy")
    assert marked["front_params_acc"].tolist() == [True, True]
    assert marked["front_params_time"].tolist() == [True, False]


@settings(max_examples=100, deadline=None)
@given(
    st.integers(1, 3).flatmap(
        lambda k: st.lists(
            st.tuples(*[st.sampled_from([0.0, 1.0, 2.0, 3.0, math.nan])] * k), max_size=25
        )
    )
)
def test_the_front_is_exactly_the_points_no_other_point_dominates(rows):
    columns = [f"x{i}" for i in range(len(rows[0]))] if rows else ["x0"]
    frame = pd.DataFrame(rows, columns=columns, dtype=float)
    front = pareto_front(frame, dict.fromkeys(columns, "min")).tolist()
    points = frame.to_numpy()
    for index, point in enumerate(points):
        dominated = any(
            (other <= point).all() and (other < point).any()
            for other in points
            if not np.isnan(other).any()
        )
        assert front[index] == (not np.isnan(point).any() and not dominated)
