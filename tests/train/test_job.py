"""A trial as a real Ray Train job on the embedded Ray: DDP on two CPU workers, restarts."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from benchmark.cli import cli
from benchmark.train.job import WorkerResources, run_training_job

pytestmark = pytest.mark.usefixtures("local_ray")


def test_bench_train_runs_two_ddp_workers_that_see_each_sample_once(tmp_path):
    result = CliRunner().invoke(
        cli,
        [
            "train", "--arch", "simple_cnn", "--dataset", "digits", "--workers", "2",
            "--set", "epochs=2", "--set", "batch_size=64", "--set", "seed=3",
            "--storage", str(tmp_path / "storage"), "--json",
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    metrics = json.loads(result.stdout)
    assert metrics["status"] == "completed"
    assert metrics["num_workers"] == 2
    assert metrics["ranks_in_sync"] is True
    train_size = metrics["history"][0]["train_samples"]
    # digits: 1,797 images, a seeded test split, then 10 % of the rest for validation.
    assert [r["train_samples"] for r in metrics["history"]] == [train_size, train_size]
    assert metrics["test_samples"] == sum(metrics["class_report"]["support"])
    assert metrics["checkpoint_path"]


def test_a_worker_killed_mid_trial_is_restarted_from_its_checkpoint(tmp_path):
    config = {
        "architecture": "simple_cnn", "dataset": "digits", "epochs": 3, "batch_size": 64,
        "crash_at_epoch": 2, "measure_inference": False,
    }  # fmt: skip
    outcome = run_training_job(
        config, WorkerResources(workers=1), tmp_path, name="crash", max_failures=1
    )
    assert outcome.status == "completed", outcome.error
    assert [r["epoch"] for r in outcome.epochs] == [1, 2, 3]
    assert outcome.metrics["resumed_from_epoch"] == 1


def test_a_trial_that_keeps_failing_is_reported_as_failed_with_its_reason(tmp_path):
    config = {"architecture": "simple_cnn", "dataset": "digits", "epochs": 2,
              "model": {"kernel_size": 99}}  # fmt: skip
    outcome = run_training_job(
        config, WorkerResources(workers=1), tmp_path, name="bad", max_failures=0
    )
    assert outcome.status == "failed"
    assert "kernel_size" in outcome.error
