"""The per-worker loop run in this process (no Ray): learning, metrics, stopping, resuming.

These use the ``digits`` dataset (scikit-learn's 1,797 real 8×8 images, shipped with the
package) so that each trial takes seconds on a laptop CPU.
"""

from __future__ import annotations

import math

import pytest
import torch

from benchmark.train.checkpoints import load_state, save_state
from benchmark.train.config import TrialConfig
from benchmark.train.loop import run_locally, run_trial
from benchmark.train.runtime import LocalRuntime

BASE = {
    "architecture": "simple_cnn",
    "dataset": "digits",
    "batch_size": 64,
    "epochs": 3,
    "lr": 2e-3,
    "seed": 7,
    "measure_inference": True,
    "checkpoint_interval_s": 0,  # every epoch's checkpoint, however short the trial
}


def final_report(runtime: LocalRuntime) -> dict:
    (final,) = [report for report in runtime.reports if report["is_final"]]
    return final


def epoch_reports(runtime: LocalRuntime) -> list[dict]:
    return [report for report in runtime.reports if not report["is_final"]]


@pytest.fixture(scope="module")
def three_epochs() -> LocalRuntime:
    return run_locally(BASE)


def test_a_small_cnn_learns_digits_well_above_chance(three_epochs):
    # Ten balanced classes: chance is 0.10. A small CNN reaches > 0.9 on digits within a
    # few epochs; 0.6 leaves room for seed and platform noise while still failing if the
    # labels, normalisation or optimiser step were broken (those stay near 0.1).
    final = final_report(three_epochs)
    assert final["status"] == "completed"
    assert final["best_val_accuracy"] > 0.6
    assert final["test_accuracy"] > 0.6


def test_every_epoch_is_reported_once_with_consistent_times(three_epochs):
    epochs = epoch_reports(three_epochs)
    assert [r["epoch"] for r in epochs] == [1, 2, 3]
    cumulative = 0.0
    for record in epochs:
        for key in ("train_loss", "train_accuracy", "val_loss", "val_accuracy", "lr"):
            assert isinstance(record[key], float) and math.isfinite(record[key]), key
        assert record["epoch_time_s"] > 0
        cumulative += record["epoch_time_s"]
        assert record["cum_train_time_s"] == pytest.approx(cumulative)
        assert record["samples_per_s"] == pytest.approx(
            record["train_samples"] / record["epoch_time_s"]
        )
    final = final_report(three_epochs)
    assert final["train_time_s"] == pytest.approx(cumulative)
    assert final["history"] == epochs_without_flag(epochs)


def epochs_without_flag(reports: list[dict]) -> list[dict]:
    return [{k: v for k, v in r.items() if k != "is_final"} for r in reports]


def test_final_report_holds_every_figure_the_studies_ask_for(three_epochs):
    final = final_report(three_epochs)
    report = final["class_report"]
    test_samples = final["test_samples"]
    num_classes = len(final["class_names"])
    assert num_classes == 10
    assert sum(report["support"]) == test_samples
    assert sum(map(sum, report["confusion_matrix"])) == test_samples
    assert len(report["confusion_matrix"]) == num_classes
    correct = sum(report["confusion_matrix"][i][i] for i in range(num_classes))
    assert correct / test_samples == pytest.approx(final["test_accuracy"])
    for key in ("precision", "recall", "f1"):
        assert len(report[key]) == num_classes
        assert all(0.0 <= value <= 1.0 for value in report[key])
    assert 0 < final["params_trainable"] <= final["params_total"]
    assert final["macs_per_image"] > 0
    assert final["inference_latency_ms"] > 0
    assert final["inference_throughput"] > 0
    assert final["peak_memory_mb"] > 0
    assert final["device"].startswith("cpu")
    assert final["num_workers"] == 1
    assert final["eval_time_s"] > 0
    assert final["wall_time_s"] > final["train_time_s"] + final["eval_time_s"]
    selected = final["history"][-1]
    assert final["train_val_gap"] == pytest.approx(
        selected["train_accuracy"] - selected["val_accuracy"]
    )
    assert final["overfitting"] == (final["train_val_gap"] > 0.1)


def test_time_to_target_is_the_cumulative_time_of_the_first_epoch_reaching_it():
    runtime = run_locally({**BASE, "epochs": 2, "targets": [0.05, 1.0]})
    final = final_report(runtime)
    first_epoch = final["history"][0]
    assert final["time_to_target_s"]["0.05"] == first_epoch["cum_train_time_s"]
    assert final["time_to_target_s"]["1"] is None


def test_early_stopping_stops_and_restores_the_best_epoch():
    # An improvement threshold nothing can meet: epoch 1 stays best, patience 2 stops at 3.
    config = {
        **BASE,
        "epochs": 6,
        "early_stopping": {"metric": "val_accuracy", "patience": 2, "min_delta": 1.0},
    }
    runtime = run_locally(config)
    final = final_report(runtime)
    assert final["epochs_completed"] == 3
    assert final["best_epoch"] == 1
    assert "early stopping at epoch 3" in final["stop_reason"]
    best_weights = runtime.states[1]["model"]
    final_weights = runtime.states["final"]["model"]
    assert all(torch.equal(best_weights[k], final_weights[k]) for k in best_weights)


def test_reduce_on_plateau_lowers_the_learning_rate_after_a_stall():
    # A rate this small cannot change validation accuracy: every epoch after the first is a
    # stall, so with patience 0 the rate drops by the factor after epoch 2.
    config = {**BASE, "lr": 1e-9, "lr_schedule": "plateau", "plateau_patience": 0,
              "plateau_factor": 0.5, "epochs": 3}  # fmt: skip
    lrs = [r["lr"] for r in epoch_reports(run_locally(config))]
    assert lrs[0] == pytest.approx(1e-9)
    assert lrs[1] == pytest.approx(1e-9)
    assert lrs[2] == pytest.approx(0.5e-9)


def test_an_absurd_learning_rate_ends_as_diverged_without_raising():
    config = {**BASE, "optimizer": "sgd", "lr": 1e8, "momentum": 0.9, "epochs": 5}
    final = final_report(run_locally(config))
    assert final["status"] == "diverged"
    assert "non-finite training loss" in final["stop_reason"]
    assert final["epochs_completed"] < 5


def test_accuracy_stuck_at_chance_ends_as_diverged():
    # A margin of 0.95 above chance counts any accuracy as "at chance": the monitor must
    # end the trial after exactly chance_epochs epochs, as the S5 VGG16 collapse would.
    config = {**BASE, "epochs": 5, "divergence": {"chance_epochs": 2, "chance_margin": 0.95}}
    final = final_report(run_locally(config))
    assert final["status"] == "diverged"
    assert final["epochs_completed"] == 2
    assert "stuck at chance" in final["stop_reason"]
    assert final["test_accuracy"] >= 0.0  # the collapsed model is still evaluated


def test_checkpoints_come_at_the_interval_the_best_epoch_and_the_last_epoch():
    # A rate too small to change validation accuracy keeps epoch 1 the best one, so the
    # checkpoints are: 1 (best), 2 and 4 (every 2nd), 5 (last); epoch 3 has none.
    config = {**BASE, "lr": 1e-9, "epochs": 5, "checkpoint_every": 2,
              "measure_inference": False}  # fmt: skip
    runtime = run_locally(config)
    assert final_report(runtime)["best_epoch"] == 1
    assert set(runtime.states) == {1, 2, 4, 5, "final"}
    for epoch in (1, 2, 4, 5):
        state = runtime.states[epoch]
        assert state["epoch"] == epoch
        assert {"model", "optimizer", "schedule", "rng", "early_stopping"} <= set(state)


def test_a_trial_shorter_than_the_checkpoint_interval_keeps_only_its_final_checkpoint():
    # The default interval is 30 s; these three epochs of digits take a second or two.
    config = {key: value for key, value in BASE.items() if key != "checkpoint_interval_s"}
    runtime = run_locally({**config, "measure_inference": False})
    assert TrialConfig.from_dict(config).checkpoint_interval_s == 30.0
    assert final_report(runtime)["wall_time_s"] < 30.0
    assert set(runtime.states) == {"final"}
    assert [r["epoch"] for r in epoch_reports(runtime)] == [1, 2, 3]


def test_resuming_from_a_checkpoint_reproduces_the_next_epoch(tmp_path):
    config = {**BASE, "architecture": "improved_cnn", "epochs": 2, "augment": "standard"}
    uninterrupted = run_locally(config)
    # Through the checkpoint file, as Ray Train restores it: torch.save, then a load with
    # weights_only=True, which must accept every part of the state.
    save_state(tmp_path, uninterrupted.states[1])
    resumed = LocalRuntime(resume_from=load_state(tmp_path))
    run_trial(config, resumed)
    epoch_two = epoch_reports(uninterrupted)[1]
    (resumed_epoch_two,) = epoch_reports(resumed)
    assert resumed_epoch_two["epoch"] == 2
    assert resumed_epoch_two["train_loss"] == pytest.approx(epoch_two["train_loss"], rel=1e-6)
    assert resumed_epoch_two["val_accuracy"] == epoch_two["val_accuracy"]
    assert [r["epoch"] for r in final_report(resumed)["history"]] == [1, 2]


def test_on_cpu_mixed_precision_and_compile_are_ignored_with_a_log_line_and_channels_last_applies(
    caplog,
):
    config = {**BASE, "epochs": 1, "amp": "bf16", "channels_last": True, "compile": True}
    with caplog.at_level("INFO", logger="benchmark.train.speed"):
        runtime = run_locally(config)
    assert final_report(runtime)["status"] == "completed"
    assert sum("apply to CUDA only" in record.message for record in caplog.records) == 1
    kernels = [w for w in runtime.states["final"]["model"].values() if w.dim() == 4]
    assert kernels and all(w.is_contiguous(memory_format=torch.channels_last) for w in kernels)
    assert not all(w.is_contiguous() for w in kernels)  # the default layout would be these
