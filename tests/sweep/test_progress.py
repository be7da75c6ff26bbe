"""The sweep's live table as a log file or a pipe receives it."""

from __future__ import annotations

import io
from types import SimpleNamespace

from rich.console import Console

from benchmark.spec import parse_sweep
from benchmark.sweep.cells import plan_sweep
from benchmark.sweep.progress import SweepProgress
from benchmark.sweep.trainable import RECORDED

SWEEP = """\
name: study
architectures: [simple_cnn]
datasets: [digits]
"""


def test_the_final_table_ends_its_line_when_the_output_is_not_a_terminal():
    plan = plan_sweep(parse_sweep(SWEEP, source="sweep.yaml"), source="sweep.yaml")
    output = io.StringIO()
    console = Console(file=output, force_terminal=False, width=100)
    progress = SweepProgress(plan, console)
    progress.setup()
    progress.on_experiment_end(trials=[])
    console.print("sweep study finished")
    lines = output.getvalue().splitlines()
    assert lines[-1] == "sweep study finished"
    assert lines[-2].startswith("└") and lines[-2].endswith("┘")
    assert sum(line.startswith("┏") for line in lines) == 1  # the table, printed once


def test_a_resumed_sweeps_table_counts_its_recorded_trials_once():
    plan = plan_sweep(parse_sweep(SWEEP, source="sweep.yaml"), source="sweep.yaml")
    cell = plan.cells[0].key
    records = [
        {"cell": cell, "status": "completed", "metrics": {"best_val_accuracy": 0.91}},
        {"cell": cell, "status": "failed", "metrics": {}},
    ]
    output = io.StringIO()
    progress = SweepProgress(plan, Console(file=output, width=120), records=records)
    # Tune restarts the trial it had not seen end; it hands back its recorded result.
    restarted = SimpleNamespace(config={"cell": cell}, last_result={**final(0.91), RECORDED: True})
    progress.on_trial_start(0, [], restarted)
    progress.on_trial_complete(0, [], restarted)
    ran = SimpleNamespace(config={"cell": cell}, last_result=final(0.95))
    progress.on_trial_start(0, [], ran)
    progress.on_trial_complete(0, [], ran)

    Console(file=output, width=120).print(progress.table())
    (row,) = [line for line in output.getvalue().splitlines() if cell in line]
    assert [column.strip() for column in row.strip("│ ").split("│")] == [
        cell, "0", "3/10", "0", "0", "1", "0.95"
    ]  # fmt: skip


def final(accuracy: float) -> dict:
    return {"is_final": True, "status": "completed", "best_val_accuracy": accuracy}
