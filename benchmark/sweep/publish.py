"""Publishing a finished trial: its Parquet rows and record at once, then its MLflow run.

The Parquet rows and the record (``trials/<id>.json``, which marks the trial as done for a
resume) are the platform's own facts: they are written the moment the trial finishes, on
Tune's loop, in milliseconds. MLflow is a view of them: logging a run (metrics, params, the
confusion-matrix image) takes a few tenths of a second, so a thread of its own does it, and
Tune's loop goes on starting the next trial meanwhile. Once a run is
logged, its id is written into the trial's rows and record.

"Exactly once" holds whatever stops: a record without a run id (the server was down, or
the driver died before the thread logged it) is logged by ``sync``, from the running sweep
(after the next trial that logs fine, and once more at its end) or from ``bench
sync-mlflow``; ``MlflowTracker.log_trial`` finds a trial's run by its tags, so a run
half-written when the server or the driver went away is completed, never doubled.
"""

from __future__ import annotations

import json
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from benchmark.errors import BenchError
from benchmark.results.parquet import TABLES, compact, table_dir, trial_files, write_trial
from benchmark.results.schema import trial_tables
from benchmark.spec import load_sweep
from benchmark.sweep.cells import Cell, plan_sweep, trial_config
from benchmark.sweep.store import SweepDirectory
from benchmark.train.checkpoints import TrialCheckpoints

if TYPE_CHECKING:
    from benchmark.results.tracking import MlflowTracker


@dataclass
class SyncOutcome:
    """What a sync logged, and which trials are still missing from MLflow (with why)."""

    logged: list[str] = field(default_factory=list)
    missing: dict[str, str] = field(default_factory=dict)


class TrialPublisher:
    """Writes each finished trial of one sweep everywhere it belongs.

    ``publish`` returns once the trial's facts are on disk; its MLflow run is logged by the
    publisher's thread. ``wait`` (or ``close``) returns once every run handed to the thread
    is logged or has failed with a warning.
    """

    def __init__(
        self,
        directory: SweepDirectory,
        cells: dict[str, Cell],
        tracker: MlflowTracker,
        log_models: bool = False,
        warn: Callable[[str], None] = print,
    ) -> None:
        self._directory = directory
        self._cells = cells
        self._tracker = tracker
        self._log_models = log_models
        self._warn = warn
        self.unlogged: set[str] = set()
        self._to_log: queue.Queue[tuple[dict[str, Any], dict[str, Any]] | None] = queue.Queue()
        self._logger: threading.Thread | None = None

    def publish(self, record: dict[str, Any]) -> None:
        """Write ``record``'s rows and record now; hand its MLflow run to the thread."""
        config = self._config(record)
        self._write_facts(record, config, run_id=None)
        if self._logger is None:
            self._logger = threading.Thread(
                target=self._log_in_turn, name="mlflow-logger", daemon=True
            )
            self._logger.start()
        self._to_log.put((dict(record), config))

    def wait(self) -> None:
        """Return once every trial published so far is logged to MLflow or warned about."""
        self._to_log.join()

    def close(self) -> None:
        """``wait``, then end the thread."""
        if self._logger is not None:
            self._to_log.put(None)
            self._logger.join()
            self._logger = None

    def sync(self, records: list[dict[str, Any]] | None = None) -> SyncOutcome:
        """Log to MLflow every recorded trial of the sweep that is not there yet.

        Waits for the thread first, so that no trial is logged by both. ``records`` are
        the sweep's records when the caller has just read them (they are updated in
        place); by default they are read here.
        """
        self.wait()
        return self._sync(self._directory.records() if records is None else records)

    def _log_in_turn(self) -> None:
        """The thread: log each published trial, in the order they finished."""
        while (item := self._to_log.get()) is not None:
            try:
                self._log(*item)
            finally:
                self._to_log.task_done()
        self._to_log.task_done()

    def _log(self, record: dict[str, Any], config: dict[str, Any]) -> None:
        """Log one trial; a tracking failure is a warning, never a lost trial."""
        try:
            self._write(record, config)
        except Exception as error:  # whatever the server says, the sweep goes on
            self.unlogged.add(record["trial_id"])
            self._warn(
                f"trial {record['trial_id']}: not logged to MLflow ({_first_line(error)}); "
                "it will be logged when the server answers again, or by "
                f"`bench sync-mlflow {self._directory.sweep_id}`"
            )
            return
        if self.unlogged:  # the server answers again: log what it missed
            missed = (self._directory.read_record(trial) for trial in sorted(self.unlogged))
            self._sync([record for record in missed if record is not None])

    def _sync(self, records: list[dict[str, Any]]) -> SyncOutcome:
        """Log each of ``records`` without a run id, stopping at the first failure.

        Each attempt costs MLflow's retries, so after one fails (the server is still
        away) the remaining trials are reported as missing with that reason.
        """
        outcome = SyncOutcome()
        reason = None
        for record in records:
            if record.get("mlflow_run_id"):
                continue
            if reason is None:
                try:
                    self._write(record, self._config(record))
                    outcome.logged.append(record["trial_id"])
                    continue
                except Exception as error:  # kept for the next sync
                    reason = _first_line(error)
            outcome.missing[record["trial_id"]] = reason
        self.unlogged = set(outcome.missing)
        return outcome

    def _write(self, record: dict[str, Any], config: dict[str, Any]) -> None:
        """Log ``record``'s MLflow run, then write its id into its rows and record."""
        checkpoint = None
        if self._log_models:
            final = TrialCheckpoints(self._directory.checkpoint_dir(record["trial_id"])).final()
            checkpoint = None if final is None else str(final)
        run_id = self._tracker.log_trial(record, config, checkpoint_path=checkpoint)
        self._write_facts(record, config, run_id)

    def _write_facts(
        self, record: dict[str, Any], config: dict[str, Any], run_id: str | None
    ) -> None:
        """The trial's Parquet rows, then its record (which marks it done), each atomically."""
        record["mlflow_run_id"] = run_id
        write_trial(self._directory.path, record["trial_id"], trial_tables(record, config, run_id))
        self._directory.write_record(record)

    def _config(self, record: dict[str, Any]) -> dict[str, Any]:
        return trial_config(self._cells[record["cell"]], record["params"], record["seed"])


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
