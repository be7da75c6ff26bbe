"""MLflow logging: one parent run per sweep, one nested run per trial, never two.

The same scenario runs against the local SQLite store and against a real ``mlflow server``
(started here on 127.0.0.1, artifacts proxied through it); an unreachable server is an
error before any trial starts.
"""

from __future__ import annotations

import math
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from mlflow import MlflowClient

from benchmark.cli.mlflow_ui import ui
from benchmark.results.schema import hyperparameter_columns
from benchmark.results.tracking import MlflowTracker, TrackingError, ui_command

SWEEP_ID = "20261123-085328-9db4"
SWEEP_NAME = "smoke"
SPEC = {
    "name": SWEEP_NAME,
    "architectures": [{"architecture": "simple_cnn"}],
    "datasets": [{"dataset": "digits"}],
    "search": {"algorithm": "optuna-nsga2", "trials_per_cell": 2, "seed": 0,
               "objectives": [{"metric": "best_val_accuracy"}, {"metric": "train_time_s"}]},
    "space": {"lr": {"type": "loguniform", "low": 0.001, "high": 0.01}},
    "fixed": {"epochs": 2, "batch_size": 64},
}  # fmt: skip
CLASSES = ["0 - zero", "1 - one", "2 - two"]


def _config(lr: float, seed: int) -> dict:
    """A trial's full config, as ``benchmark.sweep.cells.trial_config`` builds it."""
    return {
        "epochs": 2, "batch_size": 64, "measure_inference": False, "architecture": "simple_cnn",
        "dataset": "digits", "data_dir": "/data", "offline": False, "lr": lr,
        "model": {"width": 32, "hidden": [64, 32]}, "seed": seed,
    }  # fmt: skip


def _completed_record() -> dict:
    """Shaped like a real record (``results/<sweep>/<id>/trials/<trial>.json``)."""
    return {
        "trial_id": "0746243b", "sweep_id": SWEEP_ID, "sweep_name": SWEEP_NAME,
        "cell": "simple_cnn/digits", "phase": "search", "trial_number": 0, "seed": 0,
        "params": {"lr": 0.0035}, "status": "completed", "error": None, "epochs_completed": 2,
        "metrics": {
            "status": "completed", "stop_reason": None, "epoch": 2, "epochs_completed": 2,
            "best_val_accuracy": 0.958, "test_accuracy": 0.953, "test_loss": 0.166,
            "f1_macro": 0.953, "overfitting": False, "train_time_s": 0.373,
            "params_total": 155530, "macs_per_image": 449536, "inference_latency_ms": math.nan,
            "device": "cpu:x86_64", "num_workers": 1, "checkpoint_path": "/tmp/checkpoint",
            "timestamp": 1795424105, "training_iteration": 3, "pid": 5826, "hostname": "vm",
            "time_total_s": 67.75, "done": True, "experiment_tag": "1_cell=simple_cnn_digits",
        },
        "time_to_target_s": {"0.9": 0.31},
        "history": [
            {"epoch": 1, "train_loss": 1.28, "train_accuracy": 0.61, "val_loss": 0.53,
             "val_accuracy": 0.83, "lr": 0.0035, "epoch_time_s": 0.24, "cum_train_time_s": 0.24,
             "samples_per_s": 5448.5},
            {"epoch": 2, "train_loss": 0.25, "train_accuracy": 0.93, "val_loss": 0.14,
             "val_accuracy": 0.96, "lr": 0.0035, "epoch_time_s": 0.14, "cum_train_time_s": 0.37,
             "samples_per_s": 9553.3},
        ],
        "class_report": {
            "class_names": CLASSES, "precision": [1.0, 0.87, 1.0], "recall": [0.97, 0.94, 0.97],
            "f1": [0.99, 0.91, 0.99], "support": [36, 36, 35], "precision_macro": 0.96,
            "recall_macro": 0.96, "f1_macro": 0.96, "precision_weighted": 0.96,
            "recall_weighted": 0.96, "f1_weighted": 0.96,
            "confusion_matrix": [[35, 1, 0], [0, 34, 2], [0, 1, 34]],
        },
        "class_names": CLASSES,
        "started_at": "2026-11-23T08:53:58.176+00:00",
        "finished_at": "2026-11-23T08:55:07.988+00:00",
    }  # fmt: skip


def _failed_record() -> dict:
    """A trial whose job failed before its first epoch: no history, no class report."""
    return {
        "trial_id": "8a95d319", "sweep_id": SWEEP_ID, "sweep_name": SWEEP_NAME,
        "cell": "simple_cnn/digits", "phase": "search", "trial_number": 1, "seed": 1,
        "params": {"lr": 0.009}, "status": "failed",
        "error": "RuntimeError: CUDA out of memory. " + "x" * 9000, "epochs_completed": 0,
        "metrics": {}, "time_to_target_s": {}, "history": [], "class_report": None,
        "class_names": None, "started_at": "2026-11-23T08:53:58.300+00:00",
        "finished_at": "2026-11-23T08:54:10.000+00:00",
    }  # fmt: skip


def _log_sweep(tracker: MlflowTracker, sweep_dir: Path, checkpoint: Path) -> dict[str, str]:
    tracker.start_sweep(SWEEP_ID, SWEEP_NAME, "a smoke sweep", SPEC, {"python": "3.11"}, sweep_dir)
    return {
        "0746243b": tracker.log_trial(_completed_record(), _config(0.0035, 0), str(checkpoint)),
        "8a95d319": tracker.log_trial(_failed_record(), _config(0.009, 1)),
    }


def _sweep_runs(client: MlflowClient):
    experiment = client.get_experiment_by_name(SWEEP_NAME)
    runs = client.search_runs(
        [experiment.experiment_id], filter_string=f"tags.sweep_id = '{SWEEP_ID}'"
    )
    parents = [run for run in runs if "mlflow.parentRunId" not in run.data.tags]
    children = [run for run in runs if "mlflow.parentRunId" in run.data.tags]
    return parents, children


def _artifact_names(client: MlflowClient, run_id: str, path: str | None = None) -> set[str]:
    return {Path(item.path).name for item in client.list_artifacts(run_id, path)}


def _check_logged_sweep(tracker: MlflowTracker, run_ids: dict[str, str], sweep_dir: Path) -> None:
    client = MlflowClient(tracking_uri=tracker.tracking_uri)
    parents, children = _sweep_runs(client)
    assert len(parents) == 1 and len(children) == 2
    parent = parents[0]
    assert parent.data.tags["sweep_name"] == SWEEP_NAME
    assert parent.data.params["search.algorithm"] == "optuna-nsga2"
    assert {"sweep.yaml", "env.json"} <= _artifact_names(client, parent.info.run_id)
    assert {child.data.tags["mlflow.parentRunId"] for child in children} == {parent.info.run_id}
    assert {child.data.tags["trial_id"]: child.info.run_id for child in children} == run_ids

    completed = client.get_run(run_ids["0746243b"])
    params = completed.data.params
    assert params["lr"] == "0.0035" and params["model.width"] == "32"
    assert params["model.hidden"] == "[64, 32]"
    assert set(params) == {name[3:] for name in hyperparameter_columns(_config(0.0035, 0))}
    history = client.get_metric_history(completed.info.run_id, "val_accuracy")
    assert [(point.step, point.value) for point in history] == [(1, 0.83), (2, 0.96)]
    metrics = completed.data.metrics
    assert metrics["test_accuracy"] == 0.953 and metrics["params_total"] == 155530
    assert metrics["time_to_target_s/0.9"] == 0.31
    assert math.isnan(metrics["inference_latency_ms"])  # kept: results are facts
    assert not {"pid", "timestamp", "training_iteration", "done"} & set(metrics)
    tags = completed.data.tags
    assert tags["status"] == "completed" and tags["cell"] == "simple_cnn/digits"
    assert tags["trial_id"] == "0746243b" and tags["device"] == "cpu:x86_64"
    assert tags["parquet_path"] == str(sweep_dir / "trials.parquet")
    assert completed.info.status == "FINISHED"
    assert _artifact_names(client, completed.info.run_id) >= {
        "confusion_matrix.png", "confusion_matrix.csv", "class_report.csv",
        "trial_record.json", "checkpoint",
    }  # fmt: skip
    assert _artifact_names(client, completed.info.run_id, "checkpoint") == {"model.pt"}

    failed = client.get_run(run_ids["8a95d319"])
    assert failed.info.status == "FAILED"
    assert failed.data.tags["status"] == "failed"
    assert failed.data.tags["error"].startswith("RuntimeError: CUDA out of memory.")
    assert failed.data.params["lr"] == "0.009"
    assert _artifact_names(client, failed.info.run_id) == {"trial_record.json"}


def _check_resume_reuses_runs(
    tracker_uri: str, results_dir: Path, run_ids: dict[str, str], sweep_dir: Path
) -> None:
    """A new process (a resumed sweep) logs into the same parent and the same trial runs."""
    tracker = MlflowTracker.connect(tracker_uri, results_dir)
    parent_before, _ = _sweep_runs(tracker.client)
    tracker.start_sweep(SWEEP_ID, SWEEP_NAME, "a smoke sweep", SPEC, None, sweep_dir)
    assert tracker.parent_run_id == parent_before[0].info.run_id
    again = tracker.log_trial(_completed_record(), _config(0.0035, 0))
    assert again == run_ids["0746243b"]
    tracker.end_sweep("finished")

    parents, children = _sweep_runs(tracker.client)
    assert len(parents) == 1 and len(children) == 2
    assert parents[0].info.status == "FINISHED"
    history = tracker.client.get_metric_history(again, "val_accuracy")
    assert [point.step for point in history] == [1, 2]  # no point logged twice


@pytest.fixture
def checkpoint(tmp_path) -> Path:
    folder = tmp_path / "checkpoint_000002"
    folder.mkdir()
    (folder / "model.pt").write_bytes(b"weights")
    return folder


def test_sweep_logs_to_local_sqlite_store_once_per_trial(tmp_path, monkeypatch, checkpoint):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.chdir(tmp_path)
    results_dir = tmp_path / "results"
    sweep_dir = results_dir / SWEEP_NAME / SWEEP_ID

    tracker = MlflowTracker.connect(None, results_dir)
    assert tracker.tracking_uri == f"sqlite:///{results_dir / 'mlflow.db'}"
    run_ids = _log_sweep(tracker, sweep_dir, checkpoint)

    _check_logged_sweep(tracker, run_ids, sweep_dir)
    artifacts = results_dir / "mlartifacts"
    assert list(artifacts.rglob("confusion_matrix.png")), "artifacts belong under results/"
    assert not (tmp_path / "mlruns").exists()
    _check_resume_reuses_runs(None, results_dir, run_ids, sweep_dir)


def test_sweep_logs_to_tracking_server_with_proxied_artifacts(tmp_path, mlflow_server, checkpoint):
    uri, server_artifacts = mlflow_server.uri, mlflow_server.artifacts
    results_dir = tmp_path / "results"
    sweep_dir = results_dir / SWEEP_NAME / SWEEP_ID

    tracker = MlflowTracker.connect(uri, results_dir)
    run_ids = _log_sweep(tracker, sweep_dir, checkpoint)

    _check_logged_sweep(tracker, run_ids, sweep_dir)
    experiment = tracker.client.get_experiment_by_name(SWEEP_NAME)
    assert experiment.artifact_location.startswith("mlflow-artifacts:")
    assert list(server_artifacts.rglob("confusion_matrix.png")), "uploaded through the server"
    assert not (results_dir / "mlflow.db").exists()
    _check_resume_reuses_runs(uri, results_dir, run_ids, sweep_dir)


@pytest.mark.parametrize("from_env", [False, True], ids=["option", "environment"])
def test_unreachable_server_fails_fast_with_one_line(tmp_path, monkeypatch, from_env, closed_port):
    uri = f"http://127.0.0.1:{closed_port}"
    if from_env:
        monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    started = time.monotonic()
    with pytest.raises(TrackingError) as raised:
        MlflowTracker.connect(None if from_env else uri, tmp_path / "results")
    assert time.monotonic() - started < 5
    message = str(raised.value)
    assert "\n" not in message
    assert uri in message and "--mlflow-uri" in message and "MLFLOW_TRACKING_URI" in message


def test_bench_ui_serves_the_local_store_on_localhost(tmp_path):
    result = CliRunner().invoke(ui, ["--help"])
    assert result.exit_code == 0
    assert "--results-dir" in result.output and "--port" in result.output
    command = ui_command(tmp_path / "results", port=5123)
    assert command[command.index("--host") + 1] == "127.0.0.1"
    assert command[command.index("--port") + 1] == "5123"
    store = f"sqlite:///{(tmp_path / 'results' / 'mlflow.db').resolve()}"
    assert command[command.index("--backend-store-uri") + 1] == store
