"""Running a sweep in a measured process and reading back where each trial's time went.

The sweep benchmarks (trial fixed cost, sweep vs plain Optuna, slots busy, early stopping)
run ``bench submit``'s own function in a child process (``harness.run_side``) and work
from what the sweep recorded: each trial's start and end as Tune saw them, and the loop's
own ``wall_time_s``, ``train_time_s`` and ``eval_time_s``. Nothing here is estimated: a
trial's fixed cost is its share of the sweep's wall time that was neither training nor
evaluation.
"""

from __future__ import annotations

import datetime as dt
import itertools
import statistics
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import harness

RECORD_FIGURES = ("train_time_s", "eval_time_s", "wall_time_s", "best_val_accuracy")


def run_sweep(sweep_yaml: str, folder: Path) -> dict[str, Any]:
    """Run ``sweep_yaml`` with ``bench submit``'s function here; the wall time and records.

    The clock starts before the platform is imported: ``bench submit`` pays those imports
    (torch, MLflow, matplotlib: seconds), as the baselines pay theirs inside their walls.
    """
    started_at = timestamp()
    started = time.perf_counter()
    from rich.console import Console

    from benchmark.sweep.run import start_sweep

    (folder / "sweep.yaml").write_text(sweep_yaml)
    outcome = start_sweep(
        folder / "sweep.yaml",
        results_dir=folder / "results",
        address=harness.ray_address(),
        console=Console(quiet=True),
        quiet=True,
    )
    wall_s = time.perf_counter() - started
    records = [
        {
            "trial_id": record["trial_id"],
            "status": record["status"],
            "epochs_completed": record["epochs_completed"],
            "started_at": record["started_at"],
            "finished_at": record["finished_at"],
            **{key: record["metrics"].get(key) for key in RECORD_FIGURES},
        }
        for record in outcome.records
    ]
    return {"wall_s": wall_s, "started_at": started_at, "records": records}


def run_plain_trial(config: dict[str, Any], device: str) -> dict[str, Any]:
    """One trial of the platform's loop called directly (the baselines' trial), recorded
    with its start and end the way a sweep records its trials."""
    from benchmark.train.loop import run_locally

    started = timestamp()
    final = run_locally(config, device=device).reports[-1]
    return {
        "status": final["status"],
        "started_at": started,
        "finished_at": timestamp(),
        **{key: final.get(key) for key in RECORD_FIGURES},
    }


@dataclass(frozen=True)
class TrialTimes:
    """One trial on the sweep's clock (seconds since its first trial started)."""

    start: float
    end: float
    loop_wall_s: float
    train_s: float
    eval_s: float

    @property
    def work_s(self) -> float:
        """Training plus evaluation: what the trial is for."""
        return self.train_s + self.eval_s


def trial_times(records: list[dict[str, Any]]) -> list[TrialTimes]:
    """The finished trials' times, in the order they started."""
    finished = [r for r in records if r.get("train_time_s") is not None]
    finished.sort(key=lambda r: r["started_at"])
    origin = _seconds(finished[0]["started_at"]) if finished else 0.0
    return [
        TrialTimes(
            start=_seconds(r["started_at"]) - origin,
            end=_seconds(r["finished_at"]) - origin,
            loop_wall_s=r["wall_time_s"],
            train_s=r["train_time_s"],
            eval_s=r["eval_time_s"],
        )
        for r in finished
    ]


def steady_fixed_cost_s(times: list[TrialTimes]) -> float:
    """Fixed cost per trial after the first, for trials run one after another.

    Between two consecutive trials' ends the sweep did one trial: the part of that interval
    that was not training or evaluation is that trial's fixed cost (Tune's scheduling, the
    trial's start and tear-down, data loading and model building, checkpoints, records).
    """
    ends = sorted(times, key=lambda t: t.end)
    costs = [b.end - a.end - b.work_s for a, b in itertools.pairwise(ends)]
    return sum(costs) / len(costs)


def timeline(times: list[TrialTimes]) -> dict[str, float]:
    """Where the seconds of a sequential trial go on average, after the first trial."""
    later = times[1:]
    gaps = [b.start - a.end for a, b in itertools.pairwise(times)]
    return {
        "between trials (Tune)": _mean(gaps),
        "trial start and end around the loop": _mean(
            [t.end - t.start - t.loop_wall_s for t in later]
        ),
        "in the loop, not training or evaluating": _mean([t.loop_wall_s - t.work_s for t in later]),
        "training and evaluation": _mean([t.work_s for t in later]),
    }


def phases(figures: dict[str, Any]) -> str:
    """Where one side's wall time went, for trials run one after another: until its first
    trial started (imports, Ray, MLflow, Tune) and until that trial's loop began (a
    lane's or a Train job's worker group), each later trial (the median, and the training
    in it), and after the last trial ended."""
    records = [r for r in figures["records"] if r.get("train_time_s") is not None]
    records.sort(key=lambda r: r["started_at"])
    origin = _seconds(figures["started_at"])
    first_start = _seconds(records[0]["started_at"]) - origin
    first_loop = _seconds(records[0]["finished_at"]) - records[0]["wall_time_s"] - origin
    after = figures["wall_s"] - (_seconds(records[-1]["finished_at"]) - origin)
    later = trial_times(records)[1:]
    each = statistics.median(t.end - t.start for t in later) if later else float("nan")
    training = statistics.median(t.train_s for t in later) if later else float("nan")
    return (
        f"first trial started at {first_start:.1f} s and its loop at {first_loop:.1f} s, "
        f"then {each:.2f} s per trial "
        f"(median; {training:.2f} s training), {after:.1f} s after the last"
    )


def busy_fraction(times: list[TrialTimes], slots: int) -> float:
    """Share of the slots' time spent training or evaluating, from first start to last end."""
    span = max(t.end for t in times) - min(t.start for t in times)
    return sum(t.work_s for t in times) / (slots * span)


def steady_busy_fraction(times: list[TrialTimes], slots: int) -> float:
    """``busy_fraction`` in steady state: from the first moment every slot was at work to
    the last one (after it, fewer trials than slots were left).

    That leaves out the start, while the slots' workers come up one by one (benchmark 3
    measures it), and the tail, where some slots have no trial left. A trial's work is
    taken to be the last ``work_s`` seconds before its end: its loop trains, evaluates,
    then reports. NaN when no moment had every slot at work.
    """
    work = [(t.end - t.work_s, t.end) for t in times]
    # Sweep the work intervals' edges in time order (an end before a start at one instant).
    edges = sorted([(start, 1) for start, _ in work] + [(end, -1) for _, end in work])
    at_work, begin, finish = 0, None, None
    for instant, change in edges:
        if change < 0 and at_work == slots:
            finish = instant
        at_work += change
        if at_work == slots and begin is None:
            begin = instant
    if begin is None or finish is None or finish <= begin:
        return float("nan")
    busy = sum(max(0.0, min(end, finish) - max(start, begin)) for start, end in work)
    return busy / (slots * (finish - begin))


def timestamp() -> str:
    return dt.datetime.now(dt.UTC).isoformat()


def _seconds(timestamp: str) -> float:
    return dt.datetime.fromisoformat(timestamp).timestamp()


def _mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else float("nan")
