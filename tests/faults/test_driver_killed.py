"""A sweep whose driver is killed with SIGKILL mid-sweep resumes with the same sweep id,
and its final results hold every trial exactly once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from benchmark.sweep.store import SweepDirectory

SWEEP = """
name: killed
architectures: [mlp]
datasets: [digits]
search:
  algorithm: random
  trials_per_cell: 2
  max_concurrent: 1
space:
  lr: {type: loguniform, low: 1.0e-3, high: 1.0e-2}
fixed:
  epochs: 1
  batch_size: 64
  measure_inference: false
"""


def _bench(*arguments: str, **options) -> subprocess.Popen:
    # A session of its own, so that killing it kills its embedded Ray with it.
    return subprocess.Popen(
        [sys.executable, "-m", "benchmark.cli", *arguments],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
        **options,
    )


def _wait_for(condition, process: subprocess.Popen, timeout_s: float) -> None:
    """Poll ``condition`` until it holds; fail early if ``process`` ended first."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if process.poll() is not None:
            raise AssertionError(f"bench exited early:\n{process.stdout.read()}")
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.5)


def test_a_sweep_killed_mid_way_resumes_and_keeps_every_trial_once(tmp_path):
    sweep_file = tmp_path / "killed.yaml"
    sweep_file.write_text(SWEEP)
    results = tmp_path / "results"
    arguments = ["--results-dir", str(results), "--quiet"]
    driver = _bench("submit", str(sweep_file), "--sweep-id", "kill-me", *arguments)
    directory = SweepDirectory(results / "killed" / "kill-me")
    try:
        _wait_for(lambda: len(list(directory.trials_dir.glob("*.json"))) >= 1, driver, 480)
    finally:
        os.killpg(driver.pid, signal.SIGKILL)
        driver.wait()
    first = directory.records()
    assert len(first) == 1 and first[0]["status"] == "completed"
    assert directory.state()["state"] == "interrupted"

    resumed = _bench("resume", "kill-me", *arguments)
    output, _ = resumed.communicate(timeout=540)
    assert resumed.returncode == 0, output

    records = directory.records()
    assert [r["trial_number"] for r in records] == [0, 1]
    assert len({r["trial_id"] for r in records}) == 2
    assert all(r["status"] == "completed" for r in records)
    assert records[0] == first[0]  # the finished trial was kept, not re-run
    assert directory.state()["state"] == "finished"
    assert "sweep kill-me finished: 2 completed" in output
    _assert_no_duplicates_in_parquet_or_mlflow(directory, results, records)


def _assert_no_duplicates_in_parquet_or_mlflow(directory, results, records) -> None:
    import mlflow

    from benchmark.results.parquet import read_table

    trial_ids = sorted(r["trial_id"] for r in records)
    assert sorted(read_table(directory.path, "trials").column("trial_id").to_pylist()) == trial_ids
    epochs = read_table(directory.path, "epochs").to_pylist()
    assert sorted((row["trial_id"], row["epoch"]) for row in epochs) == [(t, 1) for t in trial_ids]
    client = mlflow.MlflowClient(tracking_uri=f"sqlite:///{results / 'mlflow.db'}")
    (experiment,) = [e for e in client.search_experiments() if e.name == "killed"]
    runs = client.search_runs([experiment.experiment_id], max_results=100)
    children = [r for r in runs if "mlflow.parentRunId" in r.data.tags]
    assert len(runs) - len(children) == 1
    assert sorted(r.data.tags["trial_id"] for r in children) == trial_ids
