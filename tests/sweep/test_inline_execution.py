"""``resources.execution: inline``: the loop runs inside each Tune trial, no Ray Train job.

The same sweep machinery (per-cell studies, records, Parquet, MLflow) with the training
loop in the trial's own process: a trial costs seconds of fixed time instead of tens.
Failing inline trials are covered by ``tests/faults/test_trial_faults.py``.
"""

from __future__ import annotations

import pytest

from benchmark.results.parquet import read_table
from benchmark.spec import SweepFileError, parse_sweep

SWEEP = """
name: inline
architectures: [mlp]
datasets: [digits]
search: {algorithm: random, trials_per_cell: 2, max_concurrent: 2}
space:
  lr: {type: loguniform, low: 1.0e-3, high: 1.0e-2}
fixed: {epochs: 2, batch_size: 64, measure_inference: false}
resources: {execution: inline}
"""


@pytest.fixture(scope="module")
def sweep(run_sweep):
    return run_sweep(SWEEP, "inline")


def test_inline_trials_train_and_report_every_epoch(sweep):
    completed = [r for r in sweep.records if r["cell"] == "mlp/digits"]
    assert [r["status"] for r in completed] == ["completed", "completed"]
    for record in completed:
        assert [epoch["epoch"] for epoch in record["history"]] == [1, 2]
        assert record["metrics"]["test_accuracy"] > 0.5
        assert record["metrics"]["node_id"]
    epochs = read_table(sweep.directory.path, "epochs").to_pandas()
    assert sorted(epochs.groupby("trial_id").size()) == [2, 2]
    assert sweep.directory.state()["state"] == "finished"


def test_inline_execution_runs_one_worker():
    with pytest.raises(SweepFileError, match=r"resources\.workers: inline execution runs one"):
        parse_sweep(SWEEP, source="x.yaml", overrides=["resources.workers=2"])
