"""The MLflow tracking server stops mid-sweep: the sweep goes on, Parquet stays complete, and
``bench sync-mlflow`` logs the missing runs once the server is back, exactly once each.

A real ``bench submit`` (its own embedded Ray, inline trials) logs to a real tracking
server, which this test kills (SIGKILL) as soon as the first trial's run is in it.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

from click.testing import CliRunner
from mlflow import MlflowClient

from benchmark.cli import cli
from benchmark.results.parquet import read_table

TRIALS = 4
SWEEP = f"""
name: outage
architectures: [mlp]
datasets: [digits]
search: {{algorithm: random, trials_per_cell: {TRIALS}, max_concurrent: 1}}
space:
  lr: {{type: loguniform, low: 1.0e-3, high: 1.0e-2}}
fixed: {{epochs: 2, batch_size: 64, measure_inference: false}}
resources: {{execution: inline}}
"""


def _trial_runs(client: MlflowClient) -> list:
    experiments = [e.experiment_id for e in client.search_experiments()]
    if not experiments:
        return []
    return client.search_runs(experiments, filter_string="tags.bench_run = 'trial'")


def _wait_for_a_finished_trial_run(client: MlflowClient, driver: subprocess.Popen) -> None:
    deadline = time.monotonic() + 240
    while not any(run.info.status == "FINISHED" for run in _trial_runs(client)):
        assert driver.poll() is None, driver.communicate()
        assert time.monotonic() < deadline, "no trial reached MLflow"
        time.sleep(0.2)  # polling the server for the first run, not waiting on a guess


def test_a_tracking_server_that_stops_mid_sweep_costs_no_result(tmp_path, mlflow_server):
    (tmp_path / "outage.yaml").write_text(SWEEP)
    results = tmp_path / "results"
    command = [sys.executable, "-m", "benchmark.cli", "submit", str(tmp_path / "outage.yaml"),
               "--results-dir", str(results), "--mlflow-uri", mlflow_server.uri,
               "--quiet"]  # fmt: skip
    # No HTTP retries: a refused connection fails at once instead of after MLflow's backoff.
    environment = {**os.environ, "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0"}
    driver = subprocess.Popen(command, env=environment, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)  # fmt: skip
    client = MlflowClient(mlflow_server.uri)
    _wait_for_a_finished_trial_run(client, driver)
    mlflow_server.stop(kill=True)

    _, errors = driver.communicate(timeout=300)
    assert driver.returncode == 0, errors
    assert "not logged to MLflow" in errors and "bench sync-mlflow" in errors
    trials = read_table(results, "trials").to_pandas()
    assert len(trials) == TRIALS and set(trials["status"]) == {"completed"}
    assert trials["trial_id"].is_unique
    unlogged = trials[trials["mlflow_run_id"].isna()]
    assert 1 <= len(unlogged) < TRIALS, trials[["trial_id", "mlflow_run_id"]]
    sweep_id = trials["sweep_id"].iloc[0]

    mlflow_server.start()
    sync = ["sync-mlflow", sweep_id, "--results-dir", str(results),
            "--mlflow-uri", mlflow_server.uri]  # fmt: skip
    result = CliRunner().invoke(cli, sync)
    assert result.exit_code == 0, result.output
    assert f"{len(unlogged)} trial(s) logged" in result.output

    runs = _trial_runs(client)
    trials = read_table(results, "trials").to_pandas()
    assert sorted(run.data.tags["trial_id"] for run in runs) == sorted(trials["trial_id"])
    assert {run.info.status for run in runs} == {"FINISHED"}
    assert sorted(run.info.run_id for run in runs) == sorted(trials["mlflow_run_id"])
    for run in runs:
        history = client.get_metric_history(run.info.run_id, "val_accuracy")
        assert sorted(point.step for point in history) == [1, 2]
    sweep_run = client.search_runs(
        [runs[0].info.experiment_id], filter_string="tags.bench_run = 'sweep'"
    )
    assert [run.info.status for run in sweep_run] == ["FINISHED"]

    again = CliRunner().invoke(cli, sync)
    assert again.exit_code == 0 and "0 trial(s) logged" in again.output
    assert len(_trial_runs(client)) == TRIALS
