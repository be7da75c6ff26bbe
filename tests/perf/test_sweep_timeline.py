"""The sweep benchmarks' accounting of a sweep's time, on hand-made trial timelines."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "perf"))

from sweep_timeline import TrialTimes, busy_fraction, steady_busy_fraction


def _trial(start: float, end: float, work_s: float) -> TrialTimes:
    return TrialTimes(start=start, end=end, loop_wall_s=end - start, train_s=work_s, eval_s=0.0)


def test_steady_state_leaves_out_the_slots_start_and_the_tail():
    # Two slots: the second starts working 10 s late (its workers came up slowly), then
    # both run trials back to back with 1 s between them; the last trial runs alone.
    trials = [
        _trial(0, 4, 3), _trial(4, 8, 3), _trial(8, 12, 3), _trial(12, 16, 3),  # slot 1
        _trial(0, 14, 3), _trial(14, 18, 3), _trial(18, 30, 11),  # slot 2: late, long last
    ]  # fmt: skip
    # Steady from the second slot's first work (11 s) to slot 1's last end (16 s): slot 1
    # works 11-12 and 13-16, slot 2 11-14 and 15-16: 8 of 10 slot-seconds.
    assert steady_busy_fraction(trials, 2) == pytest.approx(8 / 10)
    # Over the whole run the late start and the lone tail count as idle.
    assert busy_fraction(trials, 2) == pytest.approx(29 / 60)


def test_one_slot_working_back_to_back_is_fully_busy_in_steady_state():
    trials = [_trial(0, 5, 2), _trial(5, 7, 2), _trial(7, 9, 2)]
    assert steady_busy_fraction(trials, 1) == pytest.approx(6 / 6)
    assert busy_fraction(trials, 1) == pytest.approx(6 / 9)


def test_no_steady_state_without_a_moment_every_slot_worked():
    assert math.isnan(steady_busy_fraction([_trial(0, 2, 1), _trial(3, 5, 1)], 2))
    assert math.isnan(steady_busy_fraction([_trial(0, 2, 1)], 2))
