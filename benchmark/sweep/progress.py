"""The live view of a sweep: per cell, trials running / finished / stopped / failed and the
best value of the first objective so far — one small table instead of Tune's wall of them.
A resumed sweep's table starts from the trials already recorded.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from ray.tune import Callback
from rich.console import Console
from rich.live import Live
from rich.table import Table

from benchmark.sweep.cells import SweepPlan
from benchmark.sweep.trainable import RECORDED


@dataclass
class CellProgress:
    running: int = 0
    completed: int = 0
    early_stopped: int = 0
    diverged: int = 0
    failed: int = 0
    best: float | None = None


class SweepProgress(Callback):
    """A Tune callback that keeps a rich ``Live`` table up to date (nothing when quiet)."""

    def __init__(
        self,
        plan: SweepPlan,
        console: Console,
        quiet: bool = False,
        records: Iterable[dict[str, Any]] = (),
    ) -> None:
        self._plan = plan
        self._objective = plan.spec.objectives[0]
        self._cells = {cell.key: CellProgress() for cell in plan.cells}
        self._console = console
        self._live: Live | None = None
        self._quiet = quiet
        for record in records:  # finished before a resume
            cell = self._cells.setdefault(record["cell"], CellProgress())
            self._count(cell, record["status"], record["metrics"].get(self._objective.metric))

    def setup(self, **info) -> None:
        if not self._quiet:
            self._live = Live(self.table(), console=self._console, refresh_per_second=2)
            self._live.start()

    def on_trial_start(self, iteration, trials, trial, **info) -> None:
        self._cell(trial).running += 1
        self._refresh()

    def on_trial_complete(self, iteration, trials, trial, **info) -> None:
        self._finish(trial, trial.last_result or {}, failed=False)

    def on_trial_error(self, iteration, trials, trial, **info) -> None:
        self._finish(trial, trial.last_result or {}, failed=True)

    def on_experiment_end(self, trials, **info) -> None:
        if self._live is not None:
            self._live.update(self.table())
            self._live.stop()
            self._live = None
            if not self._console.is_terminal:  # a log or a pipe: rich ends it mid-line
                self._console.line()

    def _finish(self, trial, result: dict[str, Any], failed: bool) -> None:
        cell = self._cell(trial)
        cell.running = max(0, cell.running - 1)
        if not result.get(RECORDED):  # else counted from its record already
            status = "failed" if failed else result.get("status", "early_stopped")
            if not result.get("is_final") and not failed:
                status = "early_stopped"
            self._count(cell, status, result.get(self._objective.metric))
        self._refresh()

    def _count(self, cell: CellProgress, status: str, value: Any) -> None:
        setattr(
            cell, status if hasattr(cell, status) else "completed", getattr(cell, status, 0) + 1
        )
        if status == "completed" and isinstance(value, (int, float)) and math.isfinite(value):
            better = max if self._objective.direction == "max" else min
            cell.best = value if cell.best is None else better(cell.best, value)

    def _cell(self, trial) -> CellProgress:
        return self._cells.setdefault(trial.config.get("cell", "?"), CellProgress())

    def _refresh(self) -> None:
        if self._live is not None:
            self._live.update(self.table())

    def table(self) -> Table:
        budget = self._plan.trials_per_cell + self._plan.spec.repeats
        table = Table(title=f"sweep {self._plan.spec.name}", title_justify="left")
        for column in ("cell", "running", "done", "early stopped", "diverged", "failed"):
            table.add_column(column, justify="left" if column == "cell" else "right")
        table.add_column(f"best {self._objective.metric}", justify="right")
        for key, cell in self._cells.items():
            done = cell.completed + cell.early_stopped + cell.diverged + cell.failed
            table.add_row(
                key,
                str(cell.running),
                f"{done}/{budget}",
                str(cell.early_stopped),
                str(cell.diverged),
                str(cell.failed),
                "—" if cell.best is None else f"{cell.best:.4g}",
            )
        return table
