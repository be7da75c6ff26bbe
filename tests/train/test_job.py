"""A trial as a real Ray Train job on the embedded Ray: DDP on two CPU workers, restarts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from benchmark.cli import cli
from benchmark.train.job import run_training_job
from benchmark.train.resources import WorkerResources

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
    # digits: 1,797 images; 359 (20 %) carved for test, then 144 (10 % of the remaining
    # 1,438) for validation, leaving 1,294 to train on: 647 per rank, together each once.
    assert [r["train_samples"] for r in metrics["history"]] == [1294, 1294]
    assert metrics["test_samples"] == 359 == sum(metrics["class_report"]["support"])
    assert metrics["checkpoint_path"]


def report_log(path: Path):
    """A Ray Train callback that appends each report the controller receives to ``path``.

    It sees the stream Tune would see. The class is made inside a function so that Ray
    pickles it by value: the controller process cannot import this test module.
    """
    import ray.train

    class ReportLog(ray.train.UserCallback):
        def after_report(self, run_context, metrics, checkpoint):
            rank_zero = metrics[0]
            line = {"epoch": rank_zero["epoch"], "is_final": rank_zero["is_final"]}
            with path.open("a") as log:
                log.write(json.dumps(line) + "\n")

    return ReportLog()


def test_a_worker_killed_mid_trial_is_restarted_from_its_checkpoint(tmp_path):
    config = {
        "architecture": "simple_cnn", "dataset": "digits", "epochs": 3, "batch_size": 64,
        "crash_at_epoch": 2, "measure_inference": False, "checkpoint_interval_s": 0,
    }  # fmt: skip
    reports = tmp_path / "reports.jsonl"
    outcome = run_training_job(
        config, WorkerResources(workers=1), tmp_path / "storage", name="crash", max_failures=1,
        callbacks=[report_log(reports)],
    )  # fmt: skip
    assert outcome.status == "completed", outcome.error
    assert [r["epoch"] for r in outcome.epochs] == [1, 2, 3]
    assert outcome.metrics["resumed_from_epoch"] == 1
    # Every epoch reached Ray Train exactly once across both attempts, then one final report.
    seen = [json.loads(line) for line in reports.read_text().splitlines()]
    assert [r["epoch"] for r in seen if not r["is_final"]] == [1, 2, 3]
    assert [r["epoch"] for r in seen if r["is_final"]] == [3]


def test_a_trial_that_keeps_failing_is_reported_as_failed_with_its_reason(tmp_path):
    config = {"architecture": "simple_cnn", "dataset": "digits", "epochs": 2,
              "model": {"kernel_size": 99}}  # fmt: skip
    outcome = run_training_job(
        config, WorkerResources(workers=1), tmp_path, name="bad", max_failures=0
    )
    assert outcome.status == "failed"
    assert "kernel_size" in outcome.error


def torch_watch(path: Path):
    """A Ray Train callback that notes, at each report, whether the job's controller process
    (where callbacks run) has imported torch."""
    import ray.train

    class TorchWatch(ray.train.UserCallback):
        def after_report(self, run_context, metrics, checkpoint):
            import sys

            with path.open("a") as log:
                log.write(json.dumps("torch" in sys.modules) + "\n")

    return TorchWatch()


def test_a_one_worker_job_starts_nothing_it_does_not_use(tmp_path, local_ray_address):
    """One worker has no peer: its job sets up no process group, so its controller has no
    reason to import torch (seconds on the path to the loop's start). No job of the
    platform is given Ray Datasets, and the node of a local instance cannot be preempted:
    neither the datasets actor nor the preemption watcher is started (a process each)."""
    from ray.util.state import list_actors

    def helpers() -> dict[str, int]:
        names = ("TrainController", "DatasetManager", "PreemptionWatcher")
        actors = list_actors(local_ray_address, limit=10_000, raise_on_missing_output=True)
        return {name: sum(actor.class_name == name for actor in actors) for name in names}

    config = {"architecture": "mlp", "dataset": "digits", "epochs": 2, "batch_size": 64,
              "measure_inference": False}  # fmt: skip
    watched = tmp_path / "torch_in_controller.jsonl"
    before = helpers()
    outcome = run_training_job(
        config, WorkerResources(workers=1), tmp_path / "storage", name="one",
        callbacks=[torch_watch(watched)],
    )  # fmt: skip
    assert outcome.status == "completed", outcome.error
    assert outcome.metrics["num_workers"] == 1 and outcome.metrics["ranks_in_sync"] is True
    assert [json.loads(line) for line in watched.read_text().splitlines()] == [False] * 3
    started = {name: count - before[name] for name, count in helpers().items()}
    assert started == {"TrainController": 1, "DatasetManager": 0, "PreemptionWatcher": 0}
