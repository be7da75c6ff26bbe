"""The body of one Tune trial: build its config, run it as a Ray Train job, report the end.

Each Tune trial is a light driver (it asks Tune for no CPU of its own); the work runs in the
``TorchTrainer`` it launches, whose workers' reports reach Tune through
``TuneReportCallback``. The Train run is named after the Tune trial, so a trial restarted
by ``bench resume`` continues from its own last checkpoint. A job that fails for good is
reported once more from here, as a final ``failed`` result with its reason, so that the
sweep records it and goes on.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from benchmark.sweep.cells import Cell, trial_config
from benchmark.train.job import WorkerResources, run_training_job


def run_sweep_trial(
    config: dict[str, Any],
    cells: dict[str, Cell],
    resources: WorkerResources,
    train_storage: str,
    max_failures: int,
) -> None:
    """Tune's function trainable for every trial of a sweep (see ``search.CellSearcher``)."""
    import ray.tune
    from ray.tune.integration.ray_train import TuneReportCallback

    cell = cells[config["cell"]]
    values = trial_config(cell, config["params"], config["seed"])
    trial_id = ray.tune.get_context().get_trial_id()
    outcome = run_training_job(
        values,
        resources,
        storage_path=Path(train_storage),
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
