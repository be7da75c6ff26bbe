"""A trial that goes wrong is recorded as such, with its reason, and the sweep goes on.

One sweep on real Ray whose cells each go wrong differently: a model too deep for its
images (it raises when built), a model too big for the trial's memory cap (each worker
may allocate ``resources.memory_per_worker_gb``), a learning rate that makes the loss
NaN, beside a healthy cell. The sweep runs twice: on warm Train lanes (the default), where a
lane must go on to the next trial after each fault, and inline (in Tune's trial process).
``tests/train/test_job.py`` covers a Ray Train job of its own.
"""

from __future__ import annotations

import math

import pytest

from benchmark.results.parquet import read_table

SWEEP = """
name: faults
architectures:
  - mlp
  # 8×8 images cannot go through four 2×2 poolings: the model raises when it is built.
  - {architecture: standard_cnn, label: too_deep_cnn, fixed: {model: {depth: 4}}}
  # 65 M weights (260 MB): Adam's state and the gradients do not fit in 0.5 GB.
  - {architecture: mlp, label: huge_mlp, fixed: {model: {hidden_sizes: [8000, 8000]}}}
  - {architecture: mlp, label: diverging_mlp, fixed: {optimizer: sgd, lr: 1.0e+6}}
datasets: [digits]
search: {algorithm: random, trials_per_cell: 1, max_concurrent: 2}
space:
  batch_size: {type: choice, values: [64]}
fixed: {epochs: 3, measure_inference: false}
resources: {memory_per_worker_gb: 0.5}
"""


@pytest.fixture(scope="module", params=["pooled", "inline"])
def sweep(request, run_sweep):
    return run_sweep(SWEEP, "faults", overrides=(f"resources.execution={request.param}",))


def _record(sweep, label: str) -> dict:
    [record] = [r for r in sweep.records if r["cell"] == f"{label}/digits"]
    return record


def test_every_trial_is_recorded_once_and_the_sweep_finishes(sweep):
    assert sweep.directory.state()["state"] == "finished"
    trials = read_table(sweep.directory.path, "trials").to_pandas()
    assert sorted(trials["cell"]) == sorted(
        f"{label}/digits" for label in ("mlp", "too_deep_cnn", "huge_mlp", "diverging_mlp")
    )
    healthy = _record(sweep, "mlp")
    assert healthy["status"] == "completed" and healthy["epochs_completed"] == 3


def test_a_bad_hyperparameter_combination_fails_with_its_message(sweep):
    record = _record(sweep, "too_deep_cnn")
    assert record["status"] == "failed"
    assert record["error"].startswith("ModelConfigError: "), record["error"]
    assert "too small for 4 2×2 poolings" in record["error"]


def test_a_trial_past_its_memory_cap_fails_as_out_of_memory(sweep):
    record = _record(sweep, "huge_mlp")
    assert record["status"] == "failed"
    assert record["error"].startswith("out_of_memory: "), record["error"]
    assert "can't allocate memory" in record["error"]
    healthy = _record(sweep, "mlp")
    assert healthy["metrics"]["peak_memory_mb"] > 0  # the capped healthy trial ran in full


def test_a_diverging_trial_is_diverged_not_a_crash(sweep):
    record = _record(sweep, "diverging_mlp")
    assert record["status"] == "diverged"
    assert record["epochs_completed"] < 3
    assert not math.isfinite(record["history"][-1]["train_loss"])
    assert "loss" in record["error"], record["error"]
