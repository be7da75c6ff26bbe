"""Tune's side of ``resources.execution: pooled``: each trial handed to a warm Train lane.

The Tune trial (a light process, no CPU of its own) submits its config and its checkpoint
folder to the sweep's ``TrialBroker`` and hands each report the lane sends back to Tune as
its own, so that schedulers and records see what a one-trial Ray Train job would give them.
The lane writes the trial's checkpoints into that folder itself; a trial Tune starts again
(``bench resume``) is resumed by its lane from the newest one there. ``LaneReleaser``
tells the broker when Tune is done with a trial (finished, stopped by its cell's scheduler
or the time budget, or errored), so that a lane never trains a trial nobody waits for.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ray.tune import Callback


def run_pooled_trial(values: dict[str, Any], broker: Any, trial_id: str, checkpoints: Path) -> None:
    """Run one trial on the pool: submit it, then relay its lane's reports until the last."""
    import ray
    import ray.tune

    ray.get(broker.submit.remote(trial_id, values, str(checkpoints)))
    seen = 0
    while True:
        reports = ray.get(broker.events.remote(trial_id, seen))
        if reports is None:  # Tune stopped the trial
            return
        for metrics in reports:
            ray.tune.report(metrics)
            if metrics.get("is_final"):
                return
        seen += len(reports)


class LaneReleaser(Callback):
    """A Tune callback (driver side): a trial Tune has ended is dropped from the pool."""

    def __init__(self, broker: Any) -> None:
        self._broker = broker

    def on_trial_complete(self, iteration, trials, trial, **info) -> None:
        self._broker.cancel.remote(trial.trial_id)

    def on_trial_error(self, iteration, trials, trial, **info) -> None:
        self._broker.cancel.remote(trial.trial_id)
