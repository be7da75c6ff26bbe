"""Where a sweep keeps its files: ``<results>/<sweep-name>/<sweep-id>/``.

``sweep.yaml`` is the resolved sweep (overrides applied), read back by ``bench resume``;
``tune/`` is Tune's experiment (its state is what resuming continues); ``train/`` holds each
trial's Ray Train run and checkpoints; ``trials/<trial_id>.json`` is one record per
finished trial, written atomically and keyed by trial id, so a trial that finishes again
after a resume replaces its record instead of adding a second one; ``state.json`` says
whether the sweep is running, finished or was interrupted; ``env.json`` what it ran on; the
Parquet tables (``trials.parquet/`` ...) are written by ``benchmark.results``.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmark.errors import SweepNotFoundError
from benchmark.files import process_alive, write_atomically
from benchmark.spec import SweepSpec
from benchmark.yaml_values import dump_yaml

TUNE_EXPERIMENT = "tune"


def new_sweep_id() -> str:
    """Sortable by start time, unique without coordination: ``20261123-101500-3f2a``."""
    return f"{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(2)}"


@dataclass(frozen=True)
class SweepDirectory:
    path: Path

    @classmethod
    def create(cls, results_dir: Path, spec: SweepSpec, sweep_id: str) -> SweepDirectory:
        directory = cls(Path(results_dir).resolve() / spec.name / sweep_id)
        directory.trials_dir.mkdir(parents=True, exist_ok=True)
        resolved = dump_yaml(spec.model_dump(mode="json", exclude_none=True))
        write_atomically(directory.spec_file, resolved)
        return directory

    @classmethod
    def find(cls, results_dir: Path, sweep_id: str) -> SweepDirectory:
        matches = sorted(Path(results_dir).resolve().glob(f"*/{sweep_id}/sweep.yaml"))
        if not matches:
            known = ", ".join(d.sweep_id for d in list_sweeps(results_dir)[-5:]) or "none yet"
            raise SweepNotFoundError(
                f"no sweep '{sweep_id}' under {results_dir}/ (recent: {known}); "
                "pass --results-dir if it was written elsewhere"
            )
        return cls(matches[0].parent)

    @property
    def sweep_id(self) -> str:
        return self.path.name

    @property
    def sweep_name(self) -> str:
        return self.path.parent.name

    @property
    def spec_file(self) -> Path:
        return self.path / "sweep.yaml"

    @property
    def tune_dir(self) -> Path:
        return self.path / TUNE_EXPERIMENT

    @property
    def train_dir(self) -> Path:
        return self.path / "train"

    def checkpoint_dir(self, trial_id: str) -> Path:
        """Where trial ``trial_id``'s checkpoints are: its Ray Train run's folder (a trial
        run on a lane, or inline, writes them there too)."""
        return self.train_dir / trial_id

    @property
    def trials_dir(self) -> Path:
        return self.path / "trials"

    @property
    def env_file(self) -> Path:
        return self.path / "env.json"

    @property
    def state_file(self) -> Path:
        return self.path / "state.json"

    def write_record(self, record: dict[str, Any]) -> None:
        path = self.trials_dir / f"{record['trial_id']}.json"
        write_atomically(path, json.dumps(record, default=str))

    def read_record(self, trial_id: str) -> dict[str, Any] | None:
        path = self.trials_dir / f"{trial_id}.json"
        return json.loads(path.read_text()) if path.exists() else None

    def records(self) -> list[dict[str, Any]]:
        """Every finished trial's record, in the order the trials were created."""
        records = [json.loads(p.read_text()) for p in self.trials_dir.glob("*.json")]
        return sorted(records, key=lambda r: (r.get("started_at") or "", r["trial_id"]))

    def write_state(self, state: str, **details: Any) -> None:
        values = {
            "state": state,
            "sweep_id": self.sweep_id,
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "updated_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            **details,
        }
        write_atomically(self.state_file, json.dumps(values, indent=2))

    def state(self) -> dict[str, Any]:
        """The last state written; a ``running`` sweep whose driver is gone is ``interrupted``."""
        if not self.state_file.exists():
            return {"state": "unknown"}
        values = json.loads(self.state_file.read_text())
        if values["state"] == "running" and not _driver_alive(values):
            values["state"] = "interrupted"
        return values


def list_sweeps(results_dir: Path) -> list[SweepDirectory]:
    """Every sweep under ``results_dir``, oldest first (sweep ids sort by start time)."""
    found = [SweepDirectory(p.parent) for p in Path(results_dir).glob("*/*/sweep.yaml")]
    return sorted(found, key=lambda d: d.sweep_id)


def _driver_alive(state: dict[str, Any]) -> bool:
    if state.get("host") != socket.gethostname():
        return True  # another machine's driver: trust what it wrote
    try:
        pid = int(state["pid"])
    except (ValueError, KeyError):
        return False
    return process_alive(pid)
