"""Optimisers and learning-rate schedules: the rate each optimiser step uses, epoch by epoch.

Each schedule is stepped as the loop steps it (``after_batch`` once per optimiser step) on a
one-layer model, with 4 steps per epoch and a base rate of 1, so a rate read before a step
is the schedule's multiplier at that step.
"""

from __future__ import annotations

import math

import pytest
import torch

from benchmark.models import create_model
from benchmark.train.config import TrialConfig
from benchmark.train.optim import LearningRateSchedule, build_optimizer

STEPS_PER_EPOCH = 4


def config(**values) -> TrialConfig:
    return TrialConfig.from_dict({"architecture": "mlp", "dataset": "digits", "lr": 1.0, **values})


def rates(trial: TrialConfig) -> list[float]:
    """The learning rate of every optimiser step of the trial, in order."""
    optimizer = build_optimizer(torch.nn.Linear(2, 2), trial)
    schedule = LearningRateSchedule(optimizer, trial, steps_per_epoch=STEPS_PER_EPOCH)
    seen = []
    for _ in range(trial.epochs * STEPS_PER_EPOCH):
        seen.append(schedule.current_lr)
        optimizer.step()
        schedule.after_batch()
    return seen


def test_no_schedule_keeps_the_base_rate():
    assert rates(config(epochs=2)) == [1.0] * 8


def test_cosine_follows_half_a_cosine_from_the_base_rate_towards_zero():
    total = 3 * STEPS_PER_EPOCH
    expected = [0.5 * (1 + math.cos(math.pi * step / total)) for step in range(total)]
    assert rates(config(lr_schedule="cosine", epochs=3)) == pytest.approx(expected)


def test_step_multiplies_by_gamma_every_step_size_epochs():
    seen = rates(config(lr_schedule="step", epochs=5, step_size_epochs=2, gamma=0.5))
    per_epoch = seen[::STEPS_PER_EPOCH]
    assert per_epoch == pytest.approx([1.0, 1.0, 0.5, 0.5, 0.25])


def test_warm_up_rises_linearly_over_its_epochs_then_the_decay_takes_over():
    assert rates(config(epochs=2, warmup_epochs=1)) == pytest.approx(
        [0.25, 0.5, 0.75, 1.0, 1.0, 1.0, 1.0, 1.0]
    )
    warm_cosine = rates(config(lr_schedule="cosine", epochs=3, warmup_epochs=1))
    plain_cosine = rates(config(lr_schedule="cosine", epochs=3))
    # Warm-up multiplies the decay: equal to the plain cosine once it is over.
    assert warm_cosine[0] == pytest.approx(0.25 * plain_cosine[0])
    assert warm_cosine[STEPS_PER_EPOCH:] == pytest.approx(plain_cosine[STEPS_PER_EPOCH:])


def test_one_cycle_rises_to_the_base_rate_at_the_warm_up_end_then_anneals():
    seen = rates(config(lr_schedule="onecycle", epochs=4, warmup_epochs=1))
    peak = seen.index(max(seen))
    assert peak == STEPS_PER_EPOCH - 1  # the last step of the one warm-up epoch (of four)
    assert max(seen) == pytest.approx(1.0)
    assert seen[0] < 0.1 and seen[-1] < 1e-3
    assert seen[: peak + 1] == sorted(seen[: peak + 1])
    assert seen[peak:] == sorted(seen[peak:], reverse=True)


@pytest.mark.parametrize(
    ("values", "kind", "settings"),
    [
        ({"optimizer": "adam", "weight_decay": 1e-4}, torch.optim.Adam, {"weight_decay": 1e-4}),
        ({"optimizer": "adamw", "weight_decay": 0.05}, torch.optim.AdamW, {"weight_decay": 0.05}),
        (
            {"optimizer": "sgd", "momentum": 0.8, "nesterov": True, "weight_decay": 5e-4},
            torch.optim.SGD,
            {"momentum": 0.8, "nesterov": True, "weight_decay": 5e-4},
        ),
    ],
)
def test_each_optimiser_is_built_with_its_settings(values, kind, settings):
    optimizer = build_optimizer(torch.nn.Linear(2, 2), config(**values))
    assert type(optimizer) is kind
    assert {key: optimizer.defaults[key] for key in settings} == settings
    assert optimizer.defaults["fused"] is True  # one kernel per step, not one per tensor


def test_the_optimiser_holds_only_the_trainable_parameters_of_a_frozen_model():
    model = create_model("simple_cnn", 10, 1, 8, freeze="backbone")
    optimizer = build_optimizer(model, config())
    held = {id(p) for group in optimizer.param_groups for p in group["params"]}
    assert held == {id(p) for p in model.head.parameters()}
