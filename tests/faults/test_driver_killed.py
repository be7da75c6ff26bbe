"""A sweep whose driver is killed with SIGKILL mid-sweep resumes with the same sweep id,
and its final results hold every trial exactly once, in Parquet and in MLflow.

It runs once on warm Train lanes (the default: the trial in flight when the driver dies
continues from the newest checkpoint its lane wrote into its folder), as on a laptop: the
driver's embedded Ray dies with it. It runs once with each trial a Ray Train job of its own
(it continues from its Train run's checkpoint), as on a cluster: the driver joined a running
Ray (``--address``, here the suite's), which outlives it and ends the dead driver's trials
and Train workers itself. A Ray Train worker killed mid-trial (the driver alive) is
``tests/train/test_job.py``'s.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from benchmark.sweep.store import SweepDirectory

SWEEP = """
name: killed
architectures: [mlp]
datasets: [digits]
search:
  algorithm: random
  trials_per_cell: {trials}
  max_concurrent: 1
space:
  lr: {{type: loguniform, low: 1.0e-3, high: 1.0e-2}}
fixed:
  epochs: 1
  batch_size: 64
  measure_inference: false
resources: {{execution: {execution}}}
"""


def _bench(*arguments: str, **options) -> subprocess.Popen:
    # A session of its own, so that killing it kills its embedded Ray (if any) with it.
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
        time.sleep(0.2)


# A Train job per trial takes tens of seconds, so its next trial cannot be recorded before
# the kill: two trials cover it. A lane's trials of this sweep take 0.2 to 1 s, and a few
# may end between the first record and the kill: eight.
@pytest.mark.parametrize(
    ("execution", "trials", "where"), [("pooled", 8, "embedded"), ("train", 2, "cluster")]
)
def test_a_sweep_killed_mid_way_resumes_and_keeps_every_trial_once(
    tmp_path, request, execution, trials, where
):
    sweep_file = tmp_path / "killed.yaml"
    sweep_file.write_text(SWEEP.format(trials=trials, execution=execution))
    results = tmp_path / "results"
    arguments = ["--results-dir", str(results), "--quiet"]
    if where == "cluster":
        arguments += ["--address", request.getfixturevalue("local_ray_address")]
    driver = _bench("submit", str(sweep_file), "--sweep-id", "kill-me", *arguments)
    directory = SweepDirectory(results / "killed" / "kill-me")
    try:
        _wait_for(lambda: len(list(directory.trials_dir.glob("*.json"))) >= 1, driver, 480)
    finally:
        os.killpg(driver.pid, signal.SIGKILL)
        driver.wait()
    first = directory.records()
    # Killed as soon as a trial was recorded; a fast next trial may have made it too.
    assert 1 <= len(first) < trials and {r["status"] for r in first} == {"completed"}
    assert directory.state()["state"] == "interrupted"

    resumed = _bench("resume", "kill-me", *arguments)
    output, _ = resumed.communicate(timeout=540)
    assert resumed.returncode == 0, output

    records = directory.records()
    assert [r["trial_number"] for r in records] == list(range(trials))
    assert len({r["trial_id"] for r in records}) == trials
    assert all(r["status"] == "completed" for r in records)
    # The finished trials were kept, not re-run. A trial whose MLflow run the killed
    # driver had not logged yet (the publisher's thread does it after the record) was
    # logged on resume: only its run id was filled in.
    assert [_without_run_id(r) for r in records[: len(first)]] == [
        _without_run_id(r) for r in first
    ]
    assert directory.state()["state"] == "finished"
    assert f"sweep kill-me finished: {trials} completed" in output
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
    run_ids = {r.data.tags["trial_id"]: r.info.run_id for r in children}
    assert {r["trial_id"]: r["mlflow_run_id"] for r in records} == run_ids


def _without_run_id(record: dict) -> dict:
    return {key: value for key, value in record.items() if key != "mlflow_run_id"}


def test_what_a_killed_driver_left_of_an_unrecorded_trial_is_discarded_on_resume(tmp_path):
    """The record is written last: a trial with Parquet rows and an MLflow run but no record
    was being published when the driver died, and Tune will run it again."""
    import json

    import pyarrow as pa
    import pyarrow.parquet as pq

    from benchmark.results.parquet import TABLES, table_dir
    from benchmark.results.tracking import KIND_TAG, TRIAL_KIND, MlflowTracker
    from benchmark.sweep.publish import discard_unrecorded

    results = tmp_path / "results"
    directory = SweepDirectory(results / "killed" / "20261123-000000-beef")
    directory.trials_dir.mkdir(parents=True)
    (directory.trials_dir / "kept.json").write_text(json.dumps({"trial_id": "kept"}))
    (directory.trials_dir / ".lost.json.123.tmp").write_text("{")
    for table in TABLES:
        folder = table_dir(directory.path, table)
        folder.mkdir()
        for trial in ("kept", "lost"):
            pq.write_table(pa.table({"trial_id": [trial]}), folder / f"{trial}.parquet")
        (folder / ".lost.parquet.123.tmp").write_bytes(b"PAR1")
    tracker = MlflowTracker.connect(None, results)
    tracker.start_sweep(directory.sweep_id, "killed", None, {}, None, sweep_dir=directory.path)
    for trial in ("kept", "lost"):
        tags = {KIND_TAG: TRIAL_KIND, "sweep_id": directory.sweep_id, "trial_id": trial}
        tracker.client.create_run(tracker.experiment_id, tags=tags)

    assert discard_unrecorded(directory, tracker) == ["lost"]

    for table in TABLES:
        assert sorted(p.name for p in table_dir(directory.path, table).iterdir()) == [
            "kept.parquet"
        ]
    assert sorted(p.name for p in directory.trials_dir.iterdir()) == ["kept.json"]
    runs = tracker.client.search_runs(
        [tracker.experiment_id], filter_string=f"tags.{KIND_TAG} = '{TRIAL_KIND}'"
    )
    assert [run.data.tags["trial_id"] for run in runs] == ["kept"]
