"""Early stopping that compares a trial only with trials of its own cell.

Tune's ASHA and median-stopping rules rank every trial they see against each other; across
cells that would stop a slow-to-start architecture because another one learns faster on a
different dataset. ``CellScheduler`` keeps one rule per cell and routes each trial's events
to its cell's rule. Rungs count epochs (the ``epoch`` every report carries). Trials it stops
are remembered with the reason, so that they are recorded as ``early_stopped``.
"""

from __future__ import annotations

from typing import Any

from ray.tune.schedulers import ASHAScheduler, FIFOScheduler, MedianStoppingRule, TrialScheduler

from benchmark.sweep.cells import SweepPlan
from benchmark.train.config import TrialConfig

TIME_ATTRIBUTE = "epoch"
DEFAULT_EPOCHS = TrialConfig.model_fields["epochs"].default


class CellScheduler(FIFOScheduler):
    """FIFO placement, with each cell's own ASHA or median rule deciding early stops."""

    def __init__(self, plan: SweepPlan) -> None:
        super().__init__()
        settings = plan.spec.scheduler
        self._kind = settings.type
        self._rules = {cell.key: _rule(plan, cell.base_config) for cell in plan.cells}
        self._epochs = {
            cell.key: cell.base_config.get("epochs", DEFAULT_EPOCHS) for cell in plan.cells
        }
        self.stopped: dict[str, str] = {}

    def set_search_properties(self, metric, mode, **spec) -> bool:
        return True

    def _rule(self, trial) -> TrialScheduler | None:
        return self._rules.get(trial.config.get("cell"))

    def on_trial_add(self, tune_controller, trial) -> None:
        rule = self._rule(trial)
        if rule is not None:
            rule.on_trial_add(tune_controller, trial)

    def on_trial_result(self, tune_controller, trial, result: dict[str, Any]) -> str:
        rule = self._rule(trial)
        if rule is None or result.get("is_final"):
            return TrialScheduler.CONTINUE
        decision = rule.on_trial_result(tune_controller, trial, result)
        if decision == TrialScheduler.PAUSE:
            # The median rule pauses a trial it cannot judge yet (too few trials of its cell)
            # whenever any trial of the sweep is pending; trials here are only ever stopped.
            decision = TrialScheduler.CONTINUE
        last_epoch = trial.config.get("params", {}).get(
            "epochs", self._epochs[trial.config["cell"]]
        )
        if decision == TrialScheduler.STOP and result.get(TIME_ATTRIBUTE, 0) >= last_epoch:
            # A trial that has trained all its epochs goes on to its final evaluation: ASHA's
            # top rung may sit at the last epoch, where stopping saves nothing.
            decision = TrialScheduler.CONTINUE
        if decision == TrialScheduler.STOP:
            self.stopped[trial.trial_id] = (
                f"{self._kind} stopped it at epoch {result.get(TIME_ATTRIBUTE)}: "
                f"{rule.metric} {result.get(rule.metric)} trailed its cell"
            )
        return decision

    def on_trial_complete(self, tune_controller, trial, result: dict[str, Any]) -> None:
        rule = self._rule(trial)
        # The final report carries no per-epoch metric; the rule has seen every epoch already.
        if rule is not None and rule.metric in result:
            rule.on_trial_complete(tune_controller, trial, result)

    def on_trial_error(self, tune_controller, trial) -> None:
        rule = self._rule(trial)
        if rule is not None:
            rule.on_trial_error(tune_controller, trial)

    def on_trial_remove(self, tune_controller, trial) -> None:
        rule = self._rule(trial)
        if rule is not None:
            rule.on_trial_remove(tune_controller, trial)

    def debug_string(self) -> str:
        return f"CellScheduler({self._kind}, {len(self._rules)} cells)"


def _rule(plan: SweepPlan, base_config: dict[str, Any]) -> TrialScheduler | None:
    settings = plan.spec.scheduler
    if settings.type == "none":
        return None
    if settings.type == "asha":
        return ASHAScheduler(
            time_attr=TIME_ATTRIBUTE,
            metric=settings.metric,
            mode=settings.direction,
            max_t=settings.max_epochs or base_config.get("epochs", DEFAULT_EPOCHS),
            grace_period=settings.grace_period,
            reduction_factor=settings.reduction_factor,
            # A trial that reaches the last epoch must go on to its final evaluation.
            stop_last_trials=False,
        )
    return MedianStoppingRule(
        time_attr=TIME_ATTRIBUTE,
        metric=settings.metric,
        mode=settings.direction,
        grace_period=settings.grace_period,
        min_samples_required=settings.min_samples_required,
    )
