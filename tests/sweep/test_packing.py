"""``bench packing``: each level is a sweep of the file's first cell, its trials sharing the
device, and the level that ran the most trials per minute is the one named."""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path

import pytest
from click.testing import CliRunner

from benchmark.cli import cli
from benchmark.spec import load_sweep
from benchmark.sweep.packing import trials_per_minute
from benchmark.sweep.store import SweepDirectory

SWEEP = """
name: packed
architectures: [mlp, standard_cnn]
datasets: [digits]
search: {algorithm: random, trials_per_cell: 8, max_concurrent: 1}
space:
  lr: {type: loguniform, low: 1.0e-3, high: 1.0e-2}
fixed: {epochs: 6, batch_size: 64, measure_inference: false}
scheduler: {type: asha, grace_period: 1, reduction_factor: 2}
repeats: 2
resources: {cpus_per_worker: 1, execution: inline}  # no lanes to start: a quicker test
"""


def test_each_level_shares_the_cores_and_the_fastest_is_named(
    local_ray, tmp_path, monkeypatch, closed_port
):
    # The levels' sweeps are measurements: they never go to the user's tracking server.
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"http://127.0.0.1:{closed_port}")
    sweep_file = tmp_path / "packed.yaml"
    sweep_file.write_text(SWEEP)
    keep = tmp_path / "levels"
    arguments = ["packing", str(sweep_file), "--levels", "2,1", "--trials", "3", "--epochs", "2"]
    result = CliRunner().invoke(cli, [*arguments, "--keep", str(keep)])
    assert result.exit_code == 0, result.output
    assert (keep / "mlflow.db").exists()

    rates = {}
    for at_once, cpus in ((1, 2.0), (2, 1.0)):  # the suite's Ray has 2 CPUs
        (sweep_dir,) = (keep / f"packed-packing-{at_once}").iterdir()
        spec = load_sweep(sweep_dir / "sweep.yaml")
        assert spec.resources.cpus_per_worker == cpus
        assert spec.search.max_concurrent == at_once
        records = SweepDirectory(sweep_dir).records()
        # The first cell only, every trial its full epochs (no early stopping, no repeats).
        assert [r["cell"] for r in records] == ["mlp/digits"] * 3
        assert [r["status"] for r in records] == ["completed"] * 3
        assert [len(r["history"]) for r in records] == [2, 2, 2]
        ends = [datetime.fromisoformat(r["finished_at"]).timestamp() for r in records]
        rates[at_once] = trials_per_minute(ends)

    fastest = max(rates, key=rates.get)
    named = re.search(r"most trials per minute: (\d+) at once; run with (.+)", result.output)
    assert named, result.output
    assert int(named[1]) == fastest
    assert named[2] == f"--set resources.cpus_per_worker={2 // fastest}"
    for at_once, rate in rates.items():  # the table shows each level's rate
        assert re.search(rf"│ {at_once}\s+│.*│ {rate:.1f}\s+│", result.output), result.output


def test_trials_of_several_workers_are_refused_before_anything_runs(tmp_path):
    sweep_file = tmp_path / "packed.yaml"
    sweep_file.write_text(SWEEP)
    arguments = ["packing", str(sweep_file), "--set", "resources.workers=2",
                 "--set", "resources.execution=pooled"]  # fmt: skip
    result = CliRunner().invoke(cli, arguments)
    assert result.exit_code == 2
    message = result.output.strip()
    assert "\n" not in message and "Traceback" not in message
    assert "resources.workers" in message and "--set resources.workers=1" in message
    assert str(sweep_file) in message


def test_levels_must_be_whole_numbers_of_at_least_one(tmp_path):
    sweep_file = tmp_path / "packed.yaml"
    sweep_file.write_text(SWEEP)
    result = CliRunner().invoke(cli, ["packing", str(sweep_file), "--levels", "4,0"])
    assert result.exit_code == 2
    assert "--levels" in result.output and "at least 1" in result.output


def test_a_diverged_trial_is_counted_as_such_and_a_failed_one_rules_its_level_out():
    from benchmark.sweep.packing import _measurement, best_level
    from benchmark.sweep.run import SweepOutcome

    def record(status: str, end_s: int) -> dict:
        return {"status": status, "finished_at": f"2026-11-27T10:00:{end_s:02d}+00:00",
                "metrics": {"train_time_s": 1.0}}  # fmt: skip

    def level(at_once: int, statuses: list[str]):
        records = [record(status, 10 * number) for number, status in enumerate(statuses)]
        values = {"resources": {"cpus_per_worker": 2 / at_once}}
        return _measurement(at_once, values, SweepOutcome(SweepDirectory(Path(".")), records))

    diverging = level(1, ["completed", "diverged", "completed", "completed"])
    failing = level(2, ["completed", "completed", "completed", "failed", "out_of_memory"])
    assert (diverging.completed, diverging.diverged, diverging.failed) == (3, 1, 0)
    assert (failing.completed, failing.diverged, failing.failed) == (3, 0, 2)
    # Completed trials only: 2 more ended in the 30 s after the first (at 0, 20 and 30 s).
    assert diverging.trials_per_minute == pytest.approx(60 * 2 / 30)
    assert failing.trials_per_minute > diverging.trials_per_minute  # yet never chosen
    assert best_level([diverging, failing]) is diverging
