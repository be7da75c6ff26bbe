"""The MLflow tracking server stops mid-sweep: the sweep goes on, Parquet stays complete, and
``bench sync-mlflow`` logs the missing runs once the server is back, exactly once each.

A real ``bench submit`` (inline trials, on the suite's running Ray) logs to a real
tracking server, which this test kills (SIGKILL) as soon as the first trial's run is in it.
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


def test_a_tracking_server_that_stops_mid_sweep_costs_no_result(
    tmp_path, mlflow_server, local_ray_address
):
    (tmp_path / "outage.yaml").write_text(SWEEP)
    results = tmp_path / "results"
    command = [sys.executable, "-m", "benchmark.cli", "submit", str(tmp_path / "outage.yaml"),
               "--results-dir", str(results), "--mlflow-uri", mlflow_server.uri,
               "--address", local_ray_address, "--quiet"]  # fmt: skip
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
    trials = read_table(results, "trials").to_pandas()  # the rewritten rows, compacted again
    assert len(trials) == TRIALS and trials["trial_id"].is_unique
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


def test_trials_missed_while_the_server_was_away_are_logged_when_it_answers_again(
    tmp_path, mlflow_server, monkeypatch
):
    """The publisher of a running sweep: a trial's Parquet rows and record are written at
    once; its MLflow run by the publisher's thread, or, while the server is down, after the
    next trial that logs fine."""
    import datetime as dt

    from benchmark.results.tracking import MlflowTracker
    from benchmark.spec import parse_sweep
    from benchmark.sweep.cells import plan_sweep
    from benchmark.sweep.publish import TrialPublisher
    from benchmark.sweep.records import build_record
    from benchmark.sweep.store import SweepDirectory

    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")  # refused at once, no backoff
    plan = plan_sweep(parse_sweep(SWEEP, source="outage.yaml"), source="outage.yaml")
    [cell] = plan.cells
    directory = SweepDirectory.create(tmp_path / "results", plan.spec, "20261123-000000-cafe")
    tracker = MlflowTracker.connect(mlflow_server.uri, tmp_path / "results")
    tracker.start_sweep(directory.sweep_id, "outage", None, {}, None, sweep_dir=directory.path)
    warnings: list[str] = []
    publisher = TrialPublisher(directory, {cell.key: cell}, tracker, warn=warnings.append)

    def finished(number: int) -> dict:
        now = dt.datetime.now(dt.UTC).isoformat()
        final = {"is_final": True, "status": "completed", "test_accuracy": 0.9,
                 "history": [{"epoch": 1, "val_accuracy": 0.8}]}  # fmt: skip
        config = {"cell": cell.key, "phase": "search", "trial_number": number, "seed": number,
                  "params": {"lr": 0.001 * (number + 1)}}  # fmt: skip
        return build_record(
            trial_id=f"trial{number}", sweep_id=directory.sweep_id, sweep_name="outage",
            config=config, last_result=final, epochs=[], error=None, stop_reason=None,
            started_at=now,
        )  # fmt: skip

    publisher.publish(finished(0))
    publisher.wait()
    mlflow_server.stop(kill=True)
    publisher.publish(finished(1))
    # The facts are on disk when publish returns, before MLflow is even tried.
    assert directory.read_record("trial1")["status"] == "completed"
    trials = read_table(directory.path, "trials").to_pandas()
    assert sorted(trials["trial_id"]) == ["trial0", "trial1"]
    publisher.wait()
    assert publisher.unlogged == {"trial1"} and "bench sync-mlflow" in warnings[0]
    assert directory.read_record("trial1")["mlflow_run_id"] is None

    mlflow_server.start()
    publisher.publish(finished(2))
    publisher.close()
    assert publisher.unlogged == set()
    runs = _trial_runs(MlflowClient(mlflow_server.uri))
    assert sorted(run.data.tags["trial_id"] for run in runs) == ["trial0", "trial1", "trial2"]
    trials = read_table(directory.path, "trials").to_pandas()
    assert sorted(trials["mlflow_run_id"]) == sorted(run.info.run_id for run in runs)
