"""Benchmark 4, slots busy: the share of the trial slots' time spent training or evaluating,
while a sweep runs several trials at once.

The trials are those of ``perf/sweep_vs_optuna.py``; the platform runs them with every slot
in use (on CPU one slot per core, ``cpus_per_worker: 1``; on a GPU four trials at 0.25 GPU
each). A slot is busy while a trial trains or evaluates on it (the loop's own
``train_time_s`` and ``eval_time_s``); everything else (Tune's scheduling, a trial's start
and tear-down, its data loading) leaves it idle. The baseline is the single-process Optuna
loop, whose one slot is busy the same way. The target is for the steady state, while
every slot has a trial (the slots' start is benchmark 3's subject); the whole run's share,
start and tail included, is printed beside it. Throughput (trials per minute, start-up
excluded) says whether running trials side by side pays on this machine.

``--packing 1,2,4,8`` runs the platform's sides once per number of trials at once on the
device (on a GPU each gets that share of it) and names the level with the most trials per
minute, against the Optuna loop; ``bench packing`` makes the same measurement for a user's
own sweep file. With ``--devices N`` (GPUs) each level runs that number at once on each.
"""

from __future__ import annotations

import os
import sys

import harness
import sweep_timeline
from sweep_vs_optuna import SIZES, parse_arguments, run_levels, side_main, sides_for

TARGET_BUSY = 0.9


def _slots(device: str) -> int:
    return 4 if device == "cuda" else os.cpu_count() or 1


def _throughput(times: list[sweep_timeline.TrialTimes]) -> float:
    """Trials per minute between the first trial's end and the last one's, as ``bench
    packing`` counts them."""
    from benchmark.sweep.packing import trials_per_minute  # not in the sides' processes

    return trials_per_minute([t.end for t in times])


def main() -> None:
    arguments = parse_arguments(
        __doc__.splitlines()[0], default_levels_help="4 on a GPU, one per core on a CPU"
    )
    if arguments.side is not None:
        side_main(arguments)
        return
    levels = arguments.packing or [_slots(arguments.device)]
    trials = SIZES[(arguments.size, arguments.device)]
    executions = harness.executions(arguments)
    figures = run_levels(arguments, levels, sides_for(trials, executions))
    rows, notes = [], []
    for execution in executions:
        count = trials.counts(execution)
        plain = sweep_timeline.trial_times(figures[levels[0]]["optuna", count]["records"])
        throughput = {}
        for level in levels:
            slots = level * arguments.devices  # the level's number on each device
            times = sweep_timeline.trial_times(figures[level][execution, count]["records"])
            throughput[level] = _throughput(times)
            rows.append(
                harness.Row(
                    f"slots busy in steady state, {count} trials, bench ({execution}, "
                    f"{slots} slots) vs Optuna (1)",
                    "share",
                    sweep_timeline.steady_busy_fraction(times, slots),
                    sweep_timeline.steady_busy_fraction(plain, 1),
                    harness.Target(TARGET_BUSY, at_least=True, on_ratio=False),
                )
            )
            rows.append(
                harness.Row(
                    f"slots busy, whole run, {count} trials, bench ({execution}, {slots} "
                    "slots) vs Optuna (1)",
                    "share",
                    sweep_timeline.busy_fraction(times, slots),
                    sweep_timeline.busy_fraction(plain, 1),
                )
            )
            rows.append(
                harness.Row(
                    f"trials per minute, {count} trials, bench ({execution}, {slots} slots) "
                    "vs Optuna",
                    "trials/min",
                    throughput[level],
                    _throughput(plain),
                )
            )
        if len(levels) > 1:
            best = max(throughput, key=throughput.get)
            notes.append(
                f"{execution}: most trials per minute with {best} at once"
                + (f" on each of {arguments.devices} GPUs" if arguments.devices > 1 else "")
                + f" ({throughput[best]:.1f}; "
                + ", ".join(f"{level}: {value:.1f}" for level, value in throughput.items())
                + ")"
            )
    notes.append(
        "busy in steady state: training + evaluation over slots × the time every slot "
        "had a trial (from the last slot's first work to the moment fewer trials than "
        "slots were left); whole run: over slots × (last end − first start), the slots' "
        "start counted idle; throughput: after the first trial, so start-up is left out"
    )
    if arguments.device == "cpu":
        notes.append(
            "slots of a CPU's cores share its memory bandwidth; one trial per slot is not "
            "one trial per device"
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
            "slots": ",".join(str(level * arguments.devices) for level in levels),
            "devices": arguments.devices,
        },
        notes=notes,
        json_path=arguments.json,
    )


if __name__ == "__main__":
    sys.exit(main())
