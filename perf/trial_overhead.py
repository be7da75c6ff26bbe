"""Benchmark 2, trial fixed cost: a trial's wall time through `bench` minus its training and
evaluation, for trials run one after another.

Three measured processes, the same trials (S1's standard CNN on the packaged digits, the
same seeds and epochs):

* platform, ``execution: train`` (the default): ``bench submit``'s function, each trial a
  Ray Train job;
* platform, ``execution: pooled``: the same sweep, each trial run by a warm Ray Train job
  (a lane) that runs trial after trial;
* platform, ``execution: inline``: the same sweep, each trial's loop in its Tune process;
* baseline: a plain loop calling the platform's training function (``run_locally``) once
  per trial in one process, the dataset decoded once (``keep_datasets``, as a lane keeps
  it), what a script of one's own costs beyond its training.

The fixed cost per trial is measured after the first trial (which pays for Ray's and the
imports' start): between two consecutive trials' ends, everything that was not training or
evaluation. The timeline splits it into Tune's gap between trials, the trial's start and
tear-down around the loop, and the loop's own set-up (data, model, checkpoints). ``--size
tiny`` runs the inline side only (the Train sides' start alone takes tens of seconds here).
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path
from typing import Any

import harness
import sweep_timeline

TARGET_FIXED_S = 5.0
TARGET_RATIO_60S = 1.10
SIXTY_S = 60.0


def _config(size: str) -> dict[str, Any]:
    return {"trials": 2 if size == "tiny" else 5, "epochs": 1 if size == "tiny" else 2}


def _sweep(execution: str, device: str, size: str) -> str:
    settings = _config(size)
    gpus = 1 if device == "cuda" else 0
    return f"""
name: overhead-{execution}
architectures: [standard_cnn]
datasets: [digits]
search: {{algorithm: random, trials_per_cell: {settings["trials"]}, max_concurrent: 1, seed: 0}}
space:
  lr: {{type: loguniform, low: 1.0e-3, high: 1.0e-2}}
fixed: {{epochs: {settings["epochs"]}, batch_size: 64, measure_inference: false}}
resources: {{execution: {execution}, gpus_per_worker: {gpus}}}
"""


def _sweep_side(execution: str, device: str, size: str, result: Path) -> None:
    with harness.sweep_folder(f"overhead-{execution}") as folder:
        figures = sweep_timeline.run_sweep(_sweep(execution, device, size), folder)
    harness.write_json(result, figures)


def _plain_side(device: str, size: str, result: Path) -> None:
    """One process, one call of the training function per trial: a user's own script."""
    settings = _config(size)
    from benchmark.data import keep_datasets

    records = []
    with tempfile.TemporaryDirectory(prefix="perf-overhead-") as folder, keep_datasets():
        for trial in range(settings["trials"]):
            config = {
                "architecture": "standard_cnn", "dataset": "digits", "data_dir": folder,
                "epochs": settings["epochs"], "batch_size": 64, "lr": 3e-3, "seed": trial,
                "measure_inference": False, "checkpoint_every": 0,
            }  # fmt: skip
            records.append(sweep_timeline.run_plain_trial(config, device))
    harness.write_json(result, {"records": records})


def main() -> None:
    arguments = harness.make_parser(__doc__.splitlines()[0]).parse_args()
    if arguments.side == "plain":
        _plain_side(arguments.device, arguments.size, arguments.result)
        return
    if arguments.side is not None:
        _sweep_side(arguments.side, arguments.device, arguments.size, arguments.result)
        return
    common = ["--device", arguments.device, "--size", arguments.size]
    plain, _ = harness.run_side(__file__, "plain", common)
    plain_times = sweep_timeline.trial_times(plain["records"])
    plain_fixed = sweep_timeline.steady_fixed_cost_s(plain_times)
    sides = harness.executions(arguments)
    rows, notes = [], []
    for execution in sides:
        figures, _ = harness.run_side(__file__, execution, common)
        times = sweep_timeline.trial_times(figures["records"])
        fixed = sweep_timeline.steady_fixed_cost_s(times)
        rows.append(
            harness.Row(
                f"fixed cost per trial after the first, execution {execution}",
                "s",
                fixed,
                plain_fixed,
                harness.Target(TARGET_FIXED_S, at_least=False, on_ratio=False, unit="s"),
            )
        )
        rows.append(
            harness.Row(
                f"wall / (train + eval) of a {SIXTY_S:g} s trial, execution {execution}",
                "×",
                (SIXTY_S + fixed) / SIXTY_S,
                (SIXTY_S + plain_fixed) / SIXTY_S,
                harness.Target(TARGET_RATIO_60S, at_least=False, on_ratio=False),
            )
        )
        parts = sweep_timeline.timeline(times)
        notes.append(
            f"execution {execution}, mean per trial after the first: "
            + "; ".join(f"{name} {seconds:.2f} s" for name, seconds in parts.items())
        )
    notes.append(
        f"baseline: {len(plain_times)} trials of the same loop in one process; "
        "its fixed cost is the loop's own set-up (data, model), which every side pays"
    )
    notes.append(
        f"the {SIXTY_S:g} s rows add each measured fixed cost to {SIXTY_S:g} s of training "
        "and evaluation"
    )
    settings = _config(arguments.size)
    harness.report(
        "Benchmark 2: trial fixed cost",
        rows,
        device=arguments.device,
        size=arguments.size,
        workload={
            "model": "standard_cnn",
            "dataset": "digits (1,797 8×8 images)",
            "trials": f"{settings['trials']} one after another",
            "epochs": settings["epochs"],
            "batch": 64,
        },
        notes=notes,
        json_path=arguments.json,
    )


if __name__ == "__main__":
    sys.exit(main())
