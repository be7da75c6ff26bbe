"""Benchmark 4, slots busy: the share of the trial slots' time spent training or evaluating,
while a sweep runs several trials at once.

The trials are those of ``perf/sweep_vs_optuna.py``; the platform runs them with every slot
in use (on CPU one slot per core, ``cpus_per_worker: 1``; on a GPU four trials at 0.25 GPU
each). A slot is busy while a trial trains or evaluates on it (the loop's own
``train_time_s`` and ``eval_time_s``); everything else (Tune's scheduling, a trial's start
and tear-down, its data loading) leaves it idle. The baseline is the single-process Optuna
loop, whose one slot is busy the same way. Throughput (trials per minute, start-up
excluded) says whether running trials side by side pays on this machine.
"""

from __future__ import annotations

import os
import sys

import harness
import sweep_timeline
from sweep_vs_optuna import SIZES, parser, run_sides, side_main, sides_for

TARGET_BUSY = 0.9


def _slots(device: str) -> int:
    return 4 if device == "cuda" else os.cpu_count() or 1


def _throughput(times: list[sweep_timeline.TrialTimes]) -> float:
    """Trials per minute between the first trial's end and the last one's."""
    ends = sorted(t.end for t in times)
    return 60 * (len(ends) - 1) / (ends[-1] - ends[0])


def main() -> None:
    arguments = parser(__doc__.splitlines()[0]).parse_args()
    if arguments.side is not None:
        side_main(arguments)
        return
    slots = _slots(arguments.device)
    trials = SIZES[(arguments.size, arguments.device)]
    executions = harness.executions(arguments)
    figures = run_sides(arguments, slots=slots, sides=sides_for(trials, executions))
    rows, notes = [], []
    for execution in executions:
        count = trials.counts(execution)
        plain = sweep_timeline.trial_times(figures["optuna", count]["records"])
        times = sweep_timeline.trial_times(figures[execution, count]["records"])
        rows.append(
            harness.Row(
                f"slots busy, {count} trials, bench ({execution}, {slots} slots) vs Optuna (1)",
                "share",
                sweep_timeline.busy_fraction(times, slots),
                sweep_timeline.busy_fraction(plain, 1),
                harness.Target(TARGET_BUSY, at_least=True, on_ratio=False),
            )
        )
        rows.append(
            harness.Row(
                f"trials per minute, {count} trials, bench ({execution}) vs Optuna",
                "trials/min",
                _throughput(times),
                _throughput(plain),
            )
        )
    notes.append(
        "busy: training + evaluation over slots × (last end − first start); "
        "throughput: after the first trial, so start-up is left out"
    )
    if arguments.device == "cpu":
        notes.append(
            f"{slots} slots of 1 core each share this CPU's memory bandwidth; one trial per "
            "slot is not one trial per device"
        )
    harness.report(
        "Benchmark 4: slots busy during a sweep",
        rows,
        device=arguments.device,
        size=arguments.size,
        workload={
            "model": "simple_cnn",
            "images": f"{trials.images.train_images:,} CIFAR-shaped",
            "trials": trials.count,
            "trials_as_train_jobs": trials.train_count,
            "epochs": trials.epochs,
            "slots": slots,
        },
        notes=notes,
        json_path=arguments.json,
    )


if __name__ == "__main__":
    sys.exit(main())
