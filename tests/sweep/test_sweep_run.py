"""A small real sweep, end to end: Tune + Optuna + ASHA + Ray Train on the embedded Ray.

One sweep (2 architectures × digits, a 3-point learning-rate grid, two objectives, ASHA)
serves several tests, since every trial costs about a minute of Ray start-up here.
"""

from __future__ import annotations

import itertools
import os
import pickle
from pathlib import Path

import pytest
from rich.console import Console

from benchmark.spec import SweepFileError, parse_sweep
from benchmark.sweep.cells import plan_sweep
from benchmark.sweep.run import start_sweep, trials_at_once

# At the first epoch (the ASHA rung) the good rate leads the slow one in both cells, by
# 0.13 or more of validation accuracy, and the hopeless one trails both.
GOOD_LR, SLOW_LR, HOPELESS_LR = 3e-3, 3e-4, 1e-7

SWEEP = f"""
name: e2e
architectures: [simple_cnn, mlp]
datasets: [digits]
search:
  algorithm: grid
  objectives:
    - metric: best_val_accuracy
    - metric: train_time_s
  max_concurrent: 2
space:
  # The hopeless rate last: ASHA can stop a trial only against a trial of its cell that
  # reached the rung before it, and two trials of one cell may start at the same moment.
  # Whichever of the first two reaches the rung first, the good one is above the cut-off.
  lr: {{type: choice, values: [{GOOD_LR}, {SLOW_LR}, {HOPELESS_LR}]}}
fixed:
  epochs: 2
  batch_size: 64
  measure_inference: false
scheduler:
  type: asha
  grace_period: 1
  reduction_factor: 2
"""


# Fake credentials in the driver's environment while the sweep runs: none may reach a file
# under the results root. (RAY_AUTH_TOKEN is not planted, it would change Ray's auth; the
# real token, if this machine has one, is searched for instead.)
PLANTED_SECRETS = {
    "MLFLOW_TRACKING_PASSWORD": "fake-mlflow-password-5f1c9e",
    "MLFLOW_TRACKING_TOKEN": "fake-mlflow-token-a83d20",
    "AWS_SECRET_ACCESS_KEY": "fake-aws-secret-77b4e1",
}


@pytest.fixture(scope="module")
def sweep(local_ray, tmp_path_factory):
    root = tmp_path_factory.mktemp("sweep")
    sweep_file = root / "e2e.yaml"
    sweep_file.write_text(SWEEP)
    saved = {name: os.environ.get(name) for name in PLANTED_SECRETS}
    os.environ.update(PLANTED_SECRETS)
    try:
        outcome = start_sweep(
            sweep_file, results_dir=root / "results", console=Console(quiet=True), quiet=True
        )
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
    return outcome


def test_every_cell_gets_its_whole_budget(sweep):
    by_cell: dict[str, list] = {}
    for record in sweep.records:
        by_cell.setdefault(record["cell"], []).append(record)
    assert sorted(by_cell) == ["mlp/digits", "simple_cnn/digits"]
    for records in by_cell.values():
        assert sorted(r["params"]["lr"] for r in records) == sorted([GOOD_LR, SLOW_LR, HOPELESS_LR])
        assert sorted(r["trial_number"] for r in records) == [0, 1, 2]
        # Trial k of every cell uses the same seed, so cells differ only by what they are.
        assert sorted(r["seed"] for r in records) == [0, 1, 2]
    assert len({r["trial_id"] for r in sweep.records}) == 6


def test_each_cells_study_saw_only_that_cells_trials(sweep):
    studies = _studies(sweep.directory.tune_dir)
    assert sorted(studies) == ["mlp/digits", "simple_cnn/digits"]
    for cell, search in studies.items():
        seen = sorted(trial.params["lr"] for trial in search._ot_study.trials)
        assert seen == sorted(r["params"]["lr"] for r in sweep.records if r["cell"] == cell)
        assert len(seen) == 3


def test_two_trials_ran_at_the_same_time(sweep):
    intervals = sorted((r["started_at"], r["finished_at"]) for r in sweep.records)
    overlaps = [a for a, b in itertools.pairwise(intervals) if b[0] < a[1]]
    assert overlaps, intervals


def test_asha_stops_the_hopeless_trial_of_each_cell_early(sweep):
    for cell in ("mlp/digits", "simple_cnn/digits"):
        (hopeless,) = [
            r for r in sweep.records if r["cell"] == cell and r["params"]["lr"] == HOPELESS_LR
        ]
        assert hopeless["status"] == "early_stopped"
        assert "asha" in hopeless["error"]
        assert [epoch["epoch"] for epoch in hopeless["history"]] == [1]
        (good,) = [r for r in sweep.records if r["cell"] == cell and r["params"]["lr"] == GOOD_LR]
        assert good["status"] == "completed"
        assert good["metrics"]["best_val_accuracy"] > 0.5
        assert good["epochs_completed"] == 2


def test_multi_objective_search_yields_each_cells_pareto_set(sweep):
    for cell, search in _studies(sweep.directory.tune_dir).items():
        completed = [r for r in sweep.records if r["cell"] == cell and r["status"] == "completed"]
        front = search._ot_study.best_trials
        assert front
        points = {
            (r["metrics"]["best_val_accuracy"], r["metrics"]["train_time_s"]) for r in completed
        }
        expected = {
            p for p in points if not any(q[0] >= p[0] and q[1] <= p[1] and q != p for q in points)
        }
        assert {tuple(trial.values) for trial in front} == expected


def test_the_sweep_directory_holds_the_resolved_sweep_and_a_finished_state(sweep):
    resolved = parse_sweep(sweep.directory.spec_file.read_text())
    assert resolved.name == "e2e"
    assert Path(resolved.data_dir).is_absolute()
    assert sweep.directory.state()["state"] == "finished"
    import json

    environment = json.loads(sweep.directory.env_file.read_text())
    assert environment["packages"]["torch"].startswith("2.13.0")
    assert environment["ray_cluster_resources"]["CPU"] == 2.0
    assert environment["python"].startswith("3.11")


def test_a_trial_larger_than_the_cluster_is_refused_before_it_starts():
    plan = plan_sweep(parse_sweep(SWEEP, overrides=["resources.workers=3"]), source="e2e.yaml")
    with pytest.raises(SweepFileError, match=r"e2e.yaml: resources: a trial needs 3 CPUs"):
        trials_at_once(plan, {"CPU": 2.0}, "e2e.yaml")
    assert trials_at_once(plan_sweep(parse_sweep(SWEEP)), {"CPU": 2.0}, "e2e.yaml") == 2


def _studies(tune_dir: Path) -> dict:
    (state_file,) = tune_dir.glob("searcher-state-*.pkl")
    state = pickle.loads(state_file.read_bytes())
    return state["_studies"]


def test_every_trial_lands_in_the_three_parquet_tables_with_the_schema(sweep):
    from benchmark.results.parquet import COMPACTED, TABLES, read_table, table_dir
    from benchmark.results.schema import CLASSES_SCHEMA, EPOCHS_SCHEMA, TRIALS_SCHEMA

    for table in TABLES:  # the ended sweep's per-trial files are merged into one
        files = [path.name for path in table_dir(sweep.directory.path, table).iterdir()]
        assert files == [COMPACTED]

    trials = read_table(sweep.directory.path, "trials")
    assert sorted(trials.column("trial_id").to_pylist()) == sorted(
        r["trial_id"] for r in sweep.records
    )
    for field in TRIALS_SCHEMA:
        assert trials.schema.field(field.name).type == field.type
    assert "hp_lr" in trials.column_names and "hp_batch_size" in trials.column_names
    statuses = dict(
        zip(trials.column("trial_id").to_pylist(), trials.column("status").to_pylist(), strict=True)
    )
    assert statuses == {r["trial_id"]: r["status"] for r in sweep.records}
    assert read_table(sweep.directory.path, "epochs").schema.equals(EPOCHS_SCHEMA)
    classes = read_table(sweep.directory.path, "classes")
    assert classes.schema.equals(CLASSES_SCHEMA)
    test_set_size = 359  # scikit-learn digits' test split
    completed = [r["trial_id"] for r in sweep.records if r["status"] == "completed"]
    for trial_id in completed:
        supports = [row["support"] for row in classes.to_pylist() if row["trial_id"] == trial_id]
        assert sum(supports) == test_set_size


def test_a_trials_epoch_rows_match_what_tune_reported(sweep):
    import json

    from benchmark.results.parquet import read_table

    epochs = read_table(sweep.directory.path, "epochs").to_pylist()
    for record in sweep.records:
        (result_file,) = sweep.directory.tune_dir.glob(f"*{record['trial_id']}*/result.json")
        reported = [json.loads(line) for line in result_file.read_text().splitlines()]
        reported = [r for r in reported if not r.get("is_final")]
        rows = sorted(
            (row for row in epochs if row["trial_id"] == record["trial_id"]),
            key=lambda row: row["epoch"],
        )
        assert [row["epoch"] for row in rows] == [r["epoch"] for r in reported]
        for row, report in zip(rows, reported, strict=True):
            for key in ("train_loss", "val_accuracy", "lr", "cum_train_time_s"):
                assert row[key] == report[key]


def test_mlflow_holds_one_parent_run_and_one_child_per_trial(sweep):
    import mlflow

    results_root = sweep.directory.path.parents[1]
    client = mlflow.MlflowClient(tracking_uri=f"sqlite:///{results_root / 'mlflow.db'}")
    (experiment,) = [e for e in client.search_experiments() if e.name == "e2e"]
    runs = client.search_runs([experiment.experiment_id], max_results=100)
    parents = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    children = [r for r in runs if "mlflow.parentRunId" in r.data.tags]
    assert len(parents) == 1
    assert sorted(r.data.tags["trial_id"] for r in children) == sorted(
        r["trial_id"] for r in sweep.records
    )
    from benchmark.results.parquet import read_table

    trials = read_table(sweep.directory.path, "trials").to_pylist()
    run_ids = {row["trial_id"]: row["mlflow_run_id"] for row in trials}
    records = {r["trial_id"]: r for r in sweep.records}
    for child in children:
        record = records[child.data.tags["trial_id"]]
        assert run_ids[record["trial_id"]] == child.info.run_id
        assert child.data.tags["status"] == record["status"]
        assert child.data.tags["cell"] == record["cell"]
        assert float(child.data.params["lr"]) == record["params"]["lr"]
        history = client.get_metric_history(child.info.run_id, "val_accuracy")
        assert [(m.step, m.value) for m in history] == [
            (epoch["epoch"], epoch["val_accuracy"]) for epoch in record["history"]
        ]
        if record["status"] == "completed":
            artifacts = {a.path for a in client.list_artifacts(child.info.run_id)}
            assert {"confusion_matrix.png", "confusion_matrix.csv", "class_report.csv",
                    "trial_record.json"} <= artifacts  # fmt: skip
            final = child.data.metrics["test_accuracy"]
            assert final == record["metrics"]["test_accuracy"]


def test_bench_report_renders_the_real_sweep_as_html_with_its_figures(sweep, tmp_path):
    import re

    from click.testing import CliRunner

    from benchmark.cli import cli

    out = tmp_path / "report"
    result = CliRunner().invoke(
        cli, ["report", str(sweep.directory.path), "--format", "html", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    page = (out / "report.html").read_text()
    for cell in ("simple_cnn/digits", "mlp/digits"):
        assert cell in page
    images = re.findall(r'<img src="([^"]+)"', page)
    # Two Pareto plots, then learning curves and a confusion matrix per cell's best trial.
    assert len(images) == 2 + 2 * 2
    for image in images:
        assert (out / image).read_bytes().startswith(b"\x89PNG")


def test_the_results_notebook_runs_on_the_real_sweep(sweep, run_results_notebook):
    run = run_results_notebook(sweep.directory.path.parents[1])
    assert f"{len(sweep.records)} trials in 1 sweep(s)" in run.text
    assert "simple_cnn/digits" in run.text and "mlp/digits" in run.text
    assert run.images == 2


def test_no_secret_reaches_any_file_under_the_results_root(sweep):
    """Parquet, JSON records, env.json, sweep.yaml, the MLflow db and artifacts, Tune and
    Train state: every byte under the results root is searched for every secret."""
    secrets = [value.encode() for value in PLANTED_SECRETS.values()]
    token_file = Path.home() / ".ray" / "auth_token"
    if token_file.is_file() and token_file.read_text().strip():
        secrets.append(token_file.read_text().strip().encode())
    results_root = sweep.directory.path.parents[1]
    files = [path for path in results_root.rglob("*") if path.is_file()]
    assert any(path.suffix == ".parquet" for path in files)
    assert any(path.name == "mlflow.db" for path in files)
    leaks = [
        f"{path.relative_to(results_root)} holds secret #{index}"
        for path in files
        for index, secret in enumerate(secrets)
        if secret in path.read_bytes()
    ]
    assert not leaks, leaks
