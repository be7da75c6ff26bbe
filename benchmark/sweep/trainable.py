"""The body of one Tune trial: build its config, have it trained, report the end.

Each Tune trial is a light driver (it asks Tune for no CPU of its own). With
``resources.execution: pooled`` (the default) it hands its config to one of the sweep's
warm Train lanes and relays the lane's reports (``benchmark.sweep.pooled``). With ``train``
the work runs in a Ray Train job of its own, whose workers' reports reach Tune through
``TuneReportCallback``; the Train run is named after the Tune trial, so a trial restarted by
``bench resume`` continues from its own last checkpoint. With ``inline`` the training loop
runs in the trial's own process (``run_inline_trial``). Either way a trial that had already
finished (its record is on disk, but the sweep was killed before Tune saved that) is not
run again: its recorded result is handed back to Tune instead; and a trial that fails for
good is reported as a final ``failed`` result with its reason, so that the sweep records
it and goes on.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from benchmark.sweep.cells import Cell, trial_config
from benchmark.sweep.pooled import run_pooled_trial
from benchmark.sweep.store import SweepDirectory
from benchmark.train.resources import WorkerResources


def run_sweep_trial(
    config: dict[str, Any],
    cells: dict[str, Cell],
    resources: WorkerResources,
    directory: SweepDirectory,
    max_failures: int,
    execution: str = "pooled",
    broker: Any = None,
) -> None:
    """Tune's function trainable for every trial of a sweep (see ``search.CellSearcher``)."""
    import ray.tune
    from ray.tune.integration.ray_train import TuneReportCallback

    trial_id = ray.tune.get_context().get_trial_id()
    record = directory.read_record(trial_id)
    if record is not None:
        ray.tune.report({**record["metrics"], **recorded_result(record)})
        return
    cell = cells[config["cell"]]
    values = trial_config(cell, config["params"], config["seed"])
    if execution == "inline":
        run_inline_trial(values, directory.checkpoint_dir(trial_id))
        return
    if execution == "pooled":
        run_pooled_trial(values, broker, trial_id, directory.checkpoint_dir(trial_id))
        return
    from benchmark.train.job import run_training_job  # torch: only where this process trains

    outcome = run_training_job(
        values,
        resources,
        storage_path=directory.train_dir,
        name=trial_id,
        max_failures=max_failures,
        callbacks=[TuneReportCallback()],
    )
    if not outcome.metrics.get("is_final"):
        ray.tune.report(
            {
                "is_final": True,
                "status": outcome.status,
                "error": outcome.error,
                "job_wall_time_s": outcome.job_wall_time_s,
            }
        )


def run_inline_trial(values: dict[str, Any], checkpoints: Path) -> None:
    """The training loop in this trial's own process (``resources.execution: inline``).

    A trial that raises is reported as a final ``failed`` result with its reason, as a
    failed Ray Train job is, so that the sweep records it and goes on.
    """
    import ray.tune

    from benchmark.train.job import STATUS_FAILED, describe_failure
    from benchmark.train.loop import run_trial
    from benchmark.train.runtime import TuneTrialRuntime

    started = time.perf_counter()
    try:
        run_trial(values, TuneTrialRuntime(checkpoints))
    except Exception as error:  # any failure of the trial is its result, not the sweep's
        ray.tune.report(
            {
                "is_final": True,
                "status": STATUS_FAILED,
                "error": describe_failure(error),
                "job_wall_time_s": time.perf_counter() - started,
            }
        )


RECORDED = "recorded"


def recorded_result(record: dict[str, Any]) -> dict[str, Any]:
    """The final result of a trial that was already recorded (flagged so it is not re-written)."""
    return {"is_final": True, "status": record["status"], "error": record["error"], RECORDED: True}
