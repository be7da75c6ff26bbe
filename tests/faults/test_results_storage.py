"""The results directory: checked before any trial starts, and shared safely by two sweeps.

A results directory that cannot take files (a file in its place, a full disk) is a one-line
error before Ray starts, and leaves what is there untouched. Two sweeps of the same file
writing to one results root at once (two ``bench submit`` processes on one Ray cluster, as
two people's sweeps on a shared one, with one MLflow SQLite store) both complete, and every
table reads back whole.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner
from mlflow import MlflowClient

from benchmark.cli import cli
from benchmark.results.parquet import TABLES, read_table, sweep_dirs, table_dir
from benchmark.results.tracking import local_store

TRIALS = 2
SWEEP = f"""
name: shared
architectures: [mlp]
datasets: [digits]
search: {{algorithm: random, trials_per_cell: {TRIALS}, max_concurrent: 1}}
space:
  lr: {{type: loguniform, low: 1.0e-3, high: 1.0e-2}}
fixed: {{epochs: 2, batch_size: 64, measure_inference: false}}
resources: {{execution: inline}}
"""


@pytest.fixture
def sweep_file(tmp_path):
    path = tmp_path / "shared.yaml"
    path.write_text(SWEEP)
    return path


def _submit(sweep_file, results, **environment):
    runner = CliRunner(env=environment)
    return runner.invoke(cli, ["submit", str(sweep_file), "--results-dir", str(results)])


def _one_line_error(result) -> str:
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.output
    assert "Traceback" not in result.output
    return lines[0]


def test_a_file_in_place_of_the_results_directory_is_an_error_before_trials(tmp_path, sweep_file):
    in_the_way = tmp_path / "results"
    in_the_way.write_text("someone's notes\n")
    message = _one_line_error(_submit(sweep_file, in_the_way / "sweeps"))
    assert f"results directory {in_the_way / 'sweeps'} is not writable" in message
    assert "--results-dir" in message
    assert in_the_way.read_text() == "someone's notes\n"


def test_a_full_disk_is_an_error_before_trials_and_nothing_is_written(tmp_path, sweep_file):
    results = tmp_path / "results"
    earlier = results / "older" / "20261101-000000-abcd" / "sweep.yaml"
    earlier.parent.mkdir(parents=True)
    earlier.write_text("name: older\n")
    before = sorted(results.rglob("*"))
    # More free space than any disk has: the check sees this disk as full.
    message = _one_line_error(_submit(sweep_file, results, BENCH_MIN_FREE_GB="1e9"))
    assert f"results directory {results} has " in message and "GB free" in message
    assert "BENCH_MIN_FREE_GB" in message
    assert sorted(results.rglob("*")) == before
    assert earlier.read_text() == "name: older\n"


def test_two_sweeps_writing_one_results_root_at_once_both_complete(
    tmp_path, sweep_file, local_ray_address
):
    results = tmp_path / "results"
    command = [sys.executable, "-m", "benchmark.cli", "submit", str(sweep_file),
               "--results-dir", str(results), "--address", local_ray_address,
               "--quiet"]  # fmt: skip
    drivers = [
        subprocess.Popen(
            command, env=os.environ, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for _ in range(2)
    ]
    for driver in drivers:
        _, errors = driver.communicate(timeout=400)
        assert driver.returncode == 0, errors

    sweeps = sweep_dirs(results)
    assert len(sweeps) == 2 and {s.parent.name for s in sweeps} == {"shared"}
    for sweep in sweeps:
        for table in TABLES:
            for file in table_dir(sweep, table).glob("*.parquet"):
                pq.read_table(file)  # every file whole
        trials = read_table(sweep, "trials").to_pandas()
        assert len(trials) == TRIALS and set(trials["status"]) == {"completed"}
        assert set(trials["sweep_id"]) == {sweep.name}
    trials = read_table(results, "trials").to_pandas()
    assert len(trials) == 2 * TRIALS and trials["trial_id"].is_unique
    assert not list(results.rglob("*.tmp")), "no temporary file left behind"

    client = MlflowClient(local_store(results)[0])
    [experiment] = client.search_experiments(filter_string="name = 'shared'")
    runs = client.search_runs([experiment.experiment_id])
    sweep_runs = [r for r in runs if r.data.tags["bench_run"] == "sweep"]
    trial_runs = [r for r in runs if r.data.tags["bench_run"] == "trial"]
    assert sorted(r.data.tags["sweep_id"] for r in sweep_runs) == sorted(s.name for s in sweeps)
    assert sorted(r.info.run_id for r in trial_runs) == sorted(trials["mlflow_run_id"])
