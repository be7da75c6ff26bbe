"""`bench validate`, `bench submit --dry-run`, `bench status` and `bench logs`, run through
Click as a user runs them; none of them starts Ray."""

from __future__ import annotations

import re

import pytest
import ray
from click.testing import CliRunner

from benchmark.cli import cli
from benchmark.spec import parse_sweep
from benchmark.sweep.records import build_record
from benchmark.sweep.store import SweepDirectory

SWEEP = """
name: cli
architectures: [mlp, simple_cnn]
datasets: [digits]
search: {algorithm: optuna-tpe, trials_per_cell: 3}
space:
  lr: {type: loguniform, low: 1.0e-4, high: 1.0e-1}
fixed: {epochs: 2, batch_size: 64}
"""


def bench(*args: str):
    # A wide terminal, so that Rich's tables keep every value on one line.
    return CliRunner().invoke(cli, list(args), prog_name="bench", env={"COLUMNS": "250"})


@pytest.fixture
def sweep_file(tmp_path):
    path = tmp_path / "cli.yaml"
    path.write_text(SWEEP)
    return path


@pytest.fixture
def no_sweep_may_start(monkeypatch):
    """Fail loudly if a command got as far as starting a sweep."""
    import benchmark.sweep.run

    def refuse(*args, **kwargs):
        raise AssertionError("a sweep was started")

    monkeypatch.setattr(benchmark.sweep.run, "start_sweep", refuse)
    monkeypatch.setattr(benchmark.sweep.run, "resume_sweep", refuse)


def assert_one_line_error(result, prefix: str) -> None:
    assert result.exit_code == 2, result.output
    assert result.output.splitlines() == [result.output.rstrip("\n")], result.output
    assert result.output.startswith(prefix), result.output
    assert "Traceback" not in result.output


def test_validate_accepts_a_valid_file_and_prints_its_cells_and_trials(sweep_file):
    result = bench("validate", str(sweep_file))
    assert result.exit_code == 0, result.output
    assert result.output.startswith(f"{sweep_file}: valid — ")
    assert re.search(r"2 cells × \(?3 trials\)? = 6 trials\n$", result.output), result.output


def test_validate_counts_the_repeats_and_takes_overrides(sweep_file):
    result = bench("validate", str(sweep_file), "--set", "repeats=2", "--set", "datasets=[digits]")
    assert result.exit_code == 0, result.output
    assert re.search(r"2 cells × \(?3 trials \+ 2 repeats\)? = 10 trials\n$", result.output)


@pytest.mark.parametrize(
    ("written", "instead_of", "key"),
    [
        ("simple_cnnn]", "simple_cnn]", "architectures[1].architecture"),
        ("low: 1.0e-1, high: 1.0e-4", "low: 1.0e-4, high: 1.0e-1", "space.lr"),
        ("trials_per_cell: 0", "trials_per_cell: 3", "search.trials_per_cell"),
        ("algoritm: optuna-tpe", "algorithm: optuna-tpe", "search.algoritm"),
        # Found only when the cells' trial configs are built, after the schema checks.
        ("batch_size: 0", "batch_size: 64", "fixed.batch_size"),
    ],
)
def test_validate_reports_an_invalid_file_in_one_line_naming_the_key(
    tmp_path, written, instead_of, key
):
    path = tmp_path / "bad.yaml"
    assert instead_of in SWEEP
    path.write_text(SWEEP.replace(instead_of, written))
    result = bench("validate", str(path))
    assert_one_line_error(result, f"Error: {path}: {key}: ")


def test_validate_reports_a_missing_file_in_one_line(tmp_path):
    path = tmp_path / "missing.yaml"
    assert_one_line_error(bench("validate", str(path)), f"Error: {path}: no such file")


def test_a_dry_run_prints_every_cell_and_the_trial_total_and_starts_nothing(
    sweep_file, tmp_path, no_sweep_may_start
):
    results = tmp_path / "results"
    ray_was_running = ray.is_initialized()  # another test's instance, if any
    result = bench("submit", str(sweep_file), "--dry-run", "--results-dir", str(results))
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[0] == "sweep cli: 2 cells × 3 trials = 6 trials"
    assert "objectives max best_val_accuracy" in result.output
    for cell in ("mlp/digits", "simple_cnn/digits"):
        assert f"cell {cell}" in result.output
    assert result.output.count("searched: ") == 2  # lr, in each cell
    assert not results.exists()
    assert ray.is_initialized() == ray_was_running


def test_a_dry_run_shows_the_overridden_budget(sweep_file, no_sweep_may_start):
    result = bench("submit", str(sweep_file), "--dry-run", "--set", "search.trials_per_cell=5")
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[0] == "sweep cli: 2 cells × 5 trials = 10 trials"


def test_a_dry_run_of_an_invalid_file_reports_it_in_one_line(sweep_file, no_sweep_may_start):
    result = bench("submit", str(sweep_file), "--dry-run", "--set", "repeats=-1")
    assert_one_line_error(result, f"Error: {sweep_file}: repeats: ")


def test_status_with_no_sweeps_shows_an_empty_table(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    result = bench("status", "--results-dir", str(empty))
    assert result.exit_code == 0, result.output
    # Rich wraps the title to the (empty) table's width, anywhere in the path.
    assert f"sweepsunder{empty}/" in "".join(result.output.split())
    assert "┃ sweep ┃ id ┃ state ┃ trials ┃" in result.output
    assert "Traceback" not in result.output


def test_status_of_an_unknown_sweep_is_a_one_line_error(tmp_path):
    result = bench("status", "no-such-sweep", "--results-dir", str(tmp_path))
    assert_one_line_error(result, "Error: no sweep 'no-such-sweep' under ")


def test_logs_without_an_address_is_a_one_line_error():
    result = bench("logs", "20260101-000000-abcd")
    assert_one_line_error(result, "Error: bench logs needs --address")


@pytest.fixture
def finished_sweep(tmp_path):
    """A sweep directory as a finished sweep leaves it: two trial records, state finished."""
    spec = parse_sweep(SWEEP)
    directory = SweepDirectory.create(tmp_path / "results", spec, "20260101-000000-abcd")
    trials = [
        ("trial_a", "mlp/digits", 0, {"is_final": True, "status": "completed",
                                      "best_val_accuracy": 0.9123, "train_time_s": 1.25}),
        ("trial_b", "simple_cnn/digits", 0, {"epoch": 1, "val_accuracy": 0.2}),
    ]  # fmt: skip
    for index, (trial_id, cell, number, last_result) in enumerate(trials):
        directory.write_record(
            build_record(
                trial_id=trial_id,
                sweep_id=directory.sweep_id,
                sweep_name=directory.sweep_name,
                config={"cell": cell, "phase": "search", "trial_number": number, "seed": 0,
                        "params": {"lr": 1e-3}},
                last_result=last_result,
                epochs=[],
                error=None,
                stop_reason="asha stopped it at epoch 1" if "epoch" in last_result else None,
                started_at=f"2026-01-01T00:00:0{index}",
            )
        )  # fmt: skip
    directory.write_state("finished")
    return directory


def test_status_of_a_sweep_lists_its_trials(finished_sweep):
    results = finished_sweep.path.parent.parent
    result = bench("status", finished_sweep.sweep_id, "--results-dir", str(results))
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == "sweep cli 20260101-000000-abcd: finished"
    (completed,) = [line for line in lines if "trial_a" in line]
    assert "mlp/digits" in completed and "completed" in completed
    assert "0.9123" in completed and "1.25" in completed
    (stopped,) = [line for line in lines if "trial_b" in line]
    assert "simple_cnn/digits" in stopped and "early_stopped" in stopped
    assert "asha stopped it at epoch 1" in stopped


def test_status_without_an_id_lists_the_sweep(finished_sweep):
    results = finished_sweep.path.parent.parent
    result = bench("status", "--results-dir", str(results))
    assert result.exit_code == 0, result.output
    (row,) = [line for line in result.output.splitlines() if "20260101-000000-abcd" in line]
    assert "cli" in row and "finished" in row and "2" in row
