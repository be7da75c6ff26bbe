"""The sweep's live table as a log file or a pipe receives it."""

from __future__ import annotations

import io

from rich.console import Console

from benchmark.spec import parse_sweep
from benchmark.sweep.cells import plan_sweep
from benchmark.sweep.progress import SweepProgress

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
