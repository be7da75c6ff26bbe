"""Turning a finished Tune trial into one record, and writing it the moment it finishes.

Every trial ends as exactly one of: ``completed`` or ``diverged`` (its final report says so),
``failed`` (its job failed for good, or the trial itself errored; the reason is kept), or
``early_stopped`` (stopped by its cell's scheduler, or by the sweep's time budget, before a
final report). The record holds the trial's identity (cell, phase, seed, sampled values),
its final metrics, its epoch history and per-class report, and its start and end times.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from ray.tune import Callback

from benchmark.sweep.publish import TrialPublisher
from benchmark.sweep.store import SweepDirectory
from benchmark.sweep.trainable import RECORDED

EARLY_STOPPED = "early_stopped"
FAILED = "failed"

EPOCH_KEYS = (
    "epoch", "train_loss", "train_accuracy", "val_loss", "val_accuracy", "lr", "epoch_time_s",
    "cum_train_time_s", "samples_per_s",
)  # fmt: skip

# Keys of a final report that are bulky or belong elsewhere in the record.
_NOT_METRICS = {"history", "class_report", "class_names", "config", "is_final", "error"}


class TrialRecorder(Callback):
    """A Tune callback (driver side) that publishes each trial's results as it finishes."""

    def __init__(
        self,
        directory: SweepDirectory,
        scheduler_stops: dict[str, str],
        publisher: TrialPublisher,
    ) -> None:
        self._directory = directory
        self._scheduler_stops = scheduler_stops
        self.publisher = publisher
        self._epochs: dict[str, dict[int, dict[str, Any]]] = {}
        self._started: dict[str, str] = {}

    def on_trial_start(self, iteration, trials, trial, **info) -> None:
        self._started.setdefault(trial.trial_id, _now())

    def on_trial_result(self, iteration, trials, trial, result, **info) -> None:
        if not result.get("is_final") and "epoch" in result:
            epochs = self._epochs.setdefault(trial.trial_id, {})
            epochs[int(result["epoch"])] = {k: result[k] for k in EPOCH_KEYS if k in result}

    def on_trial_complete(self, iteration, trials, trial, **info) -> None:
        self._write(trial, error=None)

    def on_trial_error(self, iteration, trials, trial, **info) -> None:
        self._write(trial, error=_trial_error(trial))

    def _write(self, trial, error: str | None) -> None:
        if (trial.last_result or {}).get(RECORDED):
            return  # finished before a resume; its record is already on disk
        record = build_record(
            trial_id=trial.trial_id,
            sweep_id=self._directory.sweep_id,
            sweep_name=self._directory.sweep_name,
            config=trial.config,
            last_result=trial.last_result or {},
            epochs=sorted(self._epochs.pop(trial.trial_id, {}).values(), key=_epoch),
            error=error,
            stop_reason=self._scheduler_stops.get(trial.trial_id),
            started_at=self._started.pop(trial.trial_id, None),
        )
        self.publisher.publish(record)


def build_record(
    *,
    trial_id: str,
    sweep_id: str,
    sweep_name: str,
    config: dict[str, Any],
    last_result: dict[str, Any],
    epochs: list[dict[str, Any]],
    error: str | None,
    stop_reason: str | None,
    started_at: str | None,
) -> dict[str, Any]:
    """One trial's record from its config and the last result Tune holds for it."""
    final = last_result if last_result.get("is_final") else {}
    if error is not None:
        status = FAILED
    elif final:
        status = final["status"]
        error = final.get("error") or (final.get("stop_reason") if status != "completed" else None)
    else:
        status = EARLY_STOPPED
        error = stop_reason or "stopped before its last epoch (the sweep's time budget ran out)"
    history = final.get("history") or epochs
    metrics = {
        key: value for key, value in final.items() if key not in _NOT_METRICS and _is_scalar(value)
    }
    return {
        "trial_id": trial_id,
        "sweep_id": sweep_id,
        "sweep_name": sweep_name,
        "cell": config.get("cell"),
        "phase": config.get("phase"),
        "trial_number": config.get("trial_number"),
        "seed": config.get("seed"),
        "params": config.get("params", {}),
        "status": status,
        "error": error,
        "epochs_completed": final.get("epochs_completed", len(history)),
        "metrics": metrics,
        "time_to_target_s": final.get("time_to_target_s") or {},
        "history": history,
        "class_report": final.get("class_report"),
        "class_names": final.get("class_names"),
        "started_at": started_at,
        "finished_at": _now(),
    }


def _trial_error(trial) -> str:
    """The last line of the trial's error (the exception), not its whole traceback."""
    text = ""
    path = getattr(trial, "error_file", None)
    if path:
        try:
            with open(path) as file:
                text = file.read()
        except OSError:
            text = ""
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else "the trial's driver failed"


def _is_scalar(value: Any) -> bool:
    if isinstance(value, float):
        return True  # NaN and infinity are facts too (a diverged trial's loss)
    return isinstance(value, (bool, int, str)) or value is None


def _epoch(record: dict[str, Any]) -> int:
    return int(record.get("epoch", 0))


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds")
