"""``CellScheduler`` driven directly with real (stub) Tune trials and plain epoch reports.

``Trial(..., stub=True)`` builds a trial without registering a trainable or touching a Ray
cluster; ASHA never looks at the Tune controller, so none is passed.
"""

from __future__ import annotations

from types import SimpleNamespace

from ray.tune.experiment import Trial
from ray.tune.schedulers import TrialScheduler

from benchmark.spec import parse_sweep
from benchmark.sweep.cells import plan_sweep
from benchmark.sweep.scheduling import CellScheduler

MLP, CNN = "mlp/digits", "simple_cnn/digits"
CONTINUE, STOP = TrialScheduler.CONTINUE, TrialScheduler.STOP

# Four epochs, grace period 1, halving: ASHA's rungs sit at epochs 1, 2 and 4.
SWEEP = """
name: scheduler
architectures: [mlp, simple_cnn]
datasets: [digits]
search: {algorithm: random, trials_per_cell: 4}
space:
  lr: {type: loguniform, low: 1.0e-4, high: 1.0e-1}
fixed: {epochs: 4}
scheduler: {type: asha, grace_period: 1, reduction_factor: 2}
"""


def make_scheduler(*overrides: str) -> CellScheduler:
    return CellScheduler(plan_sweep(parse_sweep(SWEEP, overrides=list(overrides))))


def add_trial(scheduler: CellScheduler, cell: str, **params) -> Trial:
    trial = Trial("__fake", config={"cell": cell, "phase": "search", "params": params}, stub=True)
    scheduler.on_trial_add(None, trial)
    return trial


def epoch_report(epoch: int, val_accuracy: float) -> dict:
    return {"epoch": epoch, "val_accuracy": val_accuracy, "val_loss": 1.0 - val_accuracy}


def report(scheduler: CellScheduler, trial: Trial, epoch: int, val_accuracy: float) -> str:
    return scheduler.on_trial_result(None, trial, epoch_report(epoch, val_accuracy))


def test_asha_compares_a_trial_only_with_the_trials_of_its_own_cell():
    scheduler = make_scheduler()
    for accuracy in (0.9, 0.95, 0.97):
        assert report(scheduler, add_trial(scheduler, MLP), 1, accuracy) == CONTINUE
    # Far behind every mlp trial, but the first of its cell: nothing to trail.
    weak = add_trial(scheduler, CNN)
    assert report(scheduler, weak, 1, 0.1) == CONTINUE
    assert report(scheduler, weak, 2, 0.15) == CONTINUE
    assert scheduler.stopped == {}


def test_a_weak_trial_after_a_strong_one_of_its_cell_is_stopped_at_the_rung():
    scheduler = make_scheduler()
    strong = add_trial(scheduler, MLP)
    assert report(scheduler, strong, 1, 0.9) == CONTINUE
    weak = add_trial(scheduler, MLP)
    assert report(scheduler, weak, 1, 0.1) == STOP

    assert list(scheduler.stopped) == [weak.trial_id]
    reason = scheduler.stopped[weak.trial_id]
    assert reason.startswith("asha stopped it at epoch 1")
    assert "val_accuracy 0.1" in reason


def test_between_rungs_a_weak_trial_goes_on():
    scheduler = make_scheduler()
    strong = add_trial(scheduler, MLP)
    for epoch in (1, 2, 3):
        report(scheduler, strong, epoch, 0.9)
    weak = add_trial(scheduler, MLP)
    assert report(scheduler, weak, 1, 0.95) == CONTINUE
    assert report(scheduler, weak, 2, 0.95) == CONTINUE
    assert report(scheduler, weak, 3, 0.1) == CONTINUE  # epoch 3 is no rung
    assert scheduler.stopped == {}


def test_a_trial_at_its_last_epoch_is_never_stopped():
    scheduler = make_scheduler()
    strong = add_trial(scheduler, MLP)
    for epoch in (1, 2, 3, 4):
        assert report(scheduler, strong, epoch, 0.9) == CONTINUE
    late = add_trial(scheduler, MLP)
    for epoch in (1, 2, 3):
        assert report(scheduler, late, epoch, 0.95) == CONTINUE
    # The top rung is the last epoch: far below its cutoff, yet stopping would save nothing.
    assert report(scheduler, late, 4, 0.1) == CONTINUE
    assert scheduler.stopped == {}


def test_a_searched_epoch_count_sets_the_trials_last_epoch():
    scheduler = make_scheduler(
        "fixed={}", "space.epochs={type: int, low: 2, high: 4}", "scheduler.max_epochs=4"
    )
    strong = add_trial(scheduler, MLP, epochs=4)
    for epoch in (1, 2):
        report(scheduler, strong, epoch, 0.9)
    short = add_trial(scheduler, MLP, epochs=2)
    assert report(scheduler, short, 1, 0.95) == CONTINUE
    assert report(scheduler, short, 2, 0.1) == CONTINUE  # rung 2 is its last epoch
    long = add_trial(scheduler, MLP, epochs=4)
    assert report(scheduler, long, 1, 0.95) == CONTINUE
    assert report(scheduler, long, 2, 0.1) == STOP
    assert list(scheduler.stopped) == [long.trial_id]


def test_the_final_report_is_ignored():
    scheduler = make_scheduler()
    strong = add_trial(scheduler, MLP)
    report(scheduler, strong, 1, 0.9)
    weak = add_trial(scheduler, MLP)
    final = {
        "is_final": True,
        "status": "completed",
        "epoch": 1,
        "val_accuracy": 0.0,
        "best_val_accuracy": 0.0,
        "train_time_s": 1.2,
    }
    assert scheduler.on_trial_result(None, weak, final) == CONTINUE
    scheduler.on_trial_complete(None, weak, final)
    assert scheduler.stopped == {}


def test_without_a_scheduler_no_trial_is_ever_stopped():
    scheduler = make_scheduler("scheduler.type=none")
    strong = add_trial(scheduler, MLP)
    report(scheduler, strong, 1, 0.9)
    assert report(scheduler, add_trial(scheduler, MLP), 1, 0.1) == CONTINUE
    assert scheduler.stopped == {}


def test_the_median_rule_also_compares_a_trial_only_with_its_own_cell():
    # The median rule asks the controller for pending trials (to time-slice); none here.
    controller = SimpleNamespace(get_live_trials=lambda: [])
    scheduler = make_scheduler("scheduler.type=median", "scheduler.min_samples_required=1")
    strong = add_trial(scheduler, MLP)
    for epoch in (1, 2):
        assert scheduler.on_trial_result(controller, strong, epoch_report(epoch, 0.9)) == CONTINUE
    lone = add_trial(scheduler, CNN)
    for epoch in (1, 2):
        assert scheduler.on_trial_result(controller, lone, epoch_report(epoch, 0.1)) == CONTINUE
    weak = add_trial(scheduler, MLP)
    assert scheduler.on_trial_result(controller, weak, epoch_report(1, 0.1)) == STOP
    assert list(scheduler.stopped) == [weak.trial_id]
    assert scheduler.stopped[weak.trial_id].startswith("median stopped it at epoch 1")


def test_the_median_rule_never_pauses_a_trial_it_cannot_judge_yet():
    # Tune's median rule pauses such a trial whenever the controller has a pending one, to
    # give it a turn; a sweep's trials run to their end or are stopped, never time-sliced.
    scheduler = make_scheduler("scheduler.type=median", "scheduler.min_samples_required=2")
    pending = Trial("__fake", config={"cell": CNN, "phase": "search", "params": {}}, stub=True)
    assert pending.status == Trial.PENDING
    controller = SimpleNamespace(get_live_trials=lambda: [pending])
    first = add_trial(scheduler, MLP)
    for epoch in (1, 2, 3):
        assert scheduler.on_trial_result(controller, first, epoch_report(epoch, 0.5)) == CONTINUE
    assert scheduler.stopped == {}
