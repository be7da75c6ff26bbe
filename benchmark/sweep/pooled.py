"""Tune's side of ``resources.execution: pooled``: each trial handed to a warm Train lane.

The Tune trial (a light process, no CPU of its own) submits its config to the sweep's
``TrialBroker`` and hands each report the lane sends back to Tune as its own, checkpoints
included, so that schedulers, records and ``bench resume`` see what a one-trial Ray Train
job would give them. ``LaneReleaser`` tells the broker when Tune is done with a trial
(finished, stopped by its cell's scheduler or the time budget, or errored), so that a lane
never trains a trial nobody waits for.
"""

from __future__ import annotations

from typing import Any

from ray.tune import Callback

from benchmark.train.runtime import report_with_state, state_bytes_of


def run_pooled_trial(values: dict[str, Any], broker: Any, trial_id: str) -> None:
    """Run one trial on the pool: submit it, then relay its lane's reports until the last."""
    import ray
    import ray.tune

    state = state_bytes_of(ray.tune.get_checkpoint())  # a resumed trial goes on from here
    ray.get(broker.submit.remote(trial_id, values, state))
    seen = 0
    while True:
        events = ray.get(broker.events.remote(trial_id, seen))
        if events is None:  # Tune stopped the trial
            return
        for event in events:
            report_with_state(ray.tune, event["metrics"], event["state"])
            if event["metrics"].get("is_final"):
                return
        seen += len(events)


class LaneReleaser(Callback):
    """A Tune callback (driver side): a trial Tune has ended is dropped from the pool."""

    def __init__(self, broker: Any) -> None:
        self._broker = broker

    def on_trial_complete(self, iteration, trials, trial, **info) -> None:
        self._broker.cancel.remote(trial.trial_id)

    def on_trial_error(self, iteration, trials, trial, **info) -> None:
        self._broker.cancel.remote(trial.trial_id)
