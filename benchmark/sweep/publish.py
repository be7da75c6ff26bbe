"""Publishing a finished trial: MLflow first, then its Parquet rows, then its record.

Order matters for "exactly once": the MLflow run id goes into the Parquet rows, and the
record (``trials/<id>.json``) marks the trial as done for a resume. The Parquet rows and
the record are the platform's own facts and are always written; MLflow is a view of them.
A tracking server that is down costs the MLflow run only: the trial's record says so
(``mlflow_run_id`` empty), and ``sync`` logs every such trial later, when the server is
back, whether from the running sweep (after the next trial that logs fine, and once more at
its end) or from ``bench sync-mlflow``. ``MlflowTracker.log_trial`` finds a trial's run by
its tags, so a run half-written when the server went away is completed, never doubled.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmark.errors import BenchError
from benchmark.results.parquet import TABLES, compact, table_dir, trial_files, write_trial
from benchmark.results.schema import trial_tables
from benchmark.results.tracking import MlflowTracker
from benchmark.spec import load_sweep
from benchmark.sweep.cells import Cell, plan_sweep, trial_config
from benchmark.sweep.store import SweepDirectory


@dataclass
class SyncOutcome:
    """What a sync logged, and which trials are still missing from MLflow (with why)."""

    logged: list[str] = field(default_factory=list)
    missing: dict[str, str] = field(default_factory=dict)


class TrialPublisher:
    """Writes each finished trial of one sweep everywhere it belongs."""

    def __init__(
        self,
        directory: SweepDirectory,
        cells: dict[str, Cell],
        tracker: MlflowTracker | None = None,
        log_models: bool = False,
        warn: Callable[[str], None] = print,
    ) -> None:
        self._directory = directory
        self._cells = cells
        self._tracker = tracker
        self._log_models = log_models
        self._warn = warn
        self.unlogged: set[str] = set()

    def publish(self, record: dict[str, Any]) -> None:
        """Write ``record``; a tracking failure is a warning, never a lost trial."""
        self._write(record, strict=False)
        if not record["mlflow_run_id"]:
            self.unlogged.add(record["trial_id"])
        elif self.unlogged and self._tracker is not None:
            self.sync()  # the server answers again: log what it missed

    def sync(self, records: list[dict[str, Any]] | None = None) -> SyncOutcome:
        """Log to MLflow every recorded trial of the sweep that is not there yet.

        ``records`` are the sweep's records when the caller has just read them (they are
        updated in place); by default they are read here. Stops trying at the first failure
        (the server is still away): each attempt costs MLflow's retries, and the remaining
        trials are reported as missing with that reason.
        """
        outcome = SyncOutcome()
        reason = None
        for record in self._directory.records() if records is None else records:
            if record.get("mlflow_run_id"):
                continue
            if reason is None:
                try:
                    self._write(record, strict=True)
                    outcome.logged.append(record["trial_id"])
                    continue
                except Exception as error:  # kept for the next sync
                    reason = _first_line(error)
            outcome.missing[record["trial_id"]] = reason
        self.unlogged = set(outcome.missing)
        return outcome

    def _write(self, record: dict[str, Any], strict: bool) -> None:
        cell = self._cells[record["cell"]]
        config = trial_config(cell, record["params"], record["seed"])
        run_id = None
        if self._tracker is not None:
            checkpoint = record["metrics"].get("checkpoint_path") if self._log_models else None
            try:
                run_id = self._tracker.log_trial(record, config, checkpoint_path=checkpoint)
            except Exception as error:  # whatever the server says, the sweep goes on
                if strict:
                    raise
                self._warn(
                    f"trial {record['trial_id']}: not logged to MLflow ({_first_line(error)}); "
                    "it will be logged when the server answers again, or by "
                    f"`bench sync-mlflow {self._directory.sweep_id}`"
                )
        record["mlflow_run_id"] = run_id
        write_trial(self._directory.path, record["trial_id"], trial_tables(record, config, run_id))
        self._directory.write_record(record)


def discard_unrecorded(directory: SweepDirectory, tracker: MlflowTracker | None) -> list[str]:
    """Remove what a killed driver left of trials it never recorded; their ids.

    A trial's record is written last, so a driver killed while publishing a trial can leave
    its Parquet rows (and MLflow run) without a record. On resume Tune re-runs that trial,
    possibly under a new id; the leftovers go first, so each trial is in the results once.
    Half-written temporary files of a killed writer go too.
    """
    recorded = {record["trial_id"] for record in directory.records()}
    orphans: set[str] = set()
    for table in TABLES:
        folder = table_dir(directory.path, table)
        for path in folder.glob(".*.tmp"):
            path.unlink()
        for path in trial_files(folder):
            if path.stem not in recorded:
                orphans.add(path.stem)
                path.unlink()
    for path in directory.trials_dir.glob(".*.tmp"):
        path.unlink()
    if tracker is not None and tracker.parent_run_id is not None:
        tracker.delete_trial_runs(keep=recorded)
    return sorted(orphans)


def sync_sweep(directory: SweepDirectory, tracker: MlflowTracker) -> SyncOutcome:
    """``bench sync-mlflow``: log a finished or interrupted sweep's missing MLflow runs.

    Opens (or creates) the sweep's parent run, logs each trial whose record has no run id,
    and closes the parent run with the sweep's state.
    """
    state = directory.state()["state"]
    if state == "running":
        raise BenchError(
            f"sweep {directory.sweep_id} is still running; it logs its missing MLflow runs "
            "itself when the server answers again; run bench sync-mlflow after it ends"
        )
    plan = plan_sweep(load_sweep(directory.spec_file), source=directory.spec_file)
    environment = _read_json(directory.env_file)
    tracker.start_sweep(
        directory.sweep_id,
        plan.spec.name,
        plan.spec.description,
        plan.spec.model_dump(mode="json", exclude_none=True),
        environment,
        sweep_dir=directory.path,
    )
    publisher = TrialPublisher(
        directory,
        {cell.key: cell for cell in plan.cells},
        tracker,
        log_models=plan.spec.log_models,
    )
    outcome = publisher.sync()
    compact_tables(directory)  # the rows of the trials logged now were rewritten
    if state in ("finished", "interrupted"):
        tracker.end_sweep(state)
    return outcome


def compact_tables(directory: SweepDirectory, warn: Callable[[str], None] = print) -> None:
    """One Parquet file per table of ``directory`` (``compact``); a warning, never an error.

    Left as they are (say, on a full disk), the per-trial files are complete results too:
    only reading them is slower.
    """
    try:
        compact(directory.path)
    except OSError as error:
        warn(f"Parquet files of sweep {directory.sweep_id} left one per trial: {error}")


def _read_json(path: Path) -> dict[str, Any] | None:
    return json.loads(path.read_text()) if path.exists() else None


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__
