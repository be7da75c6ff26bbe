"""A trial's checkpoints written by the process that trained it, where its Ray Train run's go.

Ray Train persists a job's checkpoints as ``<storage>/<run name>/checkpoint_<time>/``. A
trial run on a warm lane, or inline in its Tune trial, writes its own the same way, under
the sweep's ``train/<trial_id>/``: one file written straight from the training process.
Relayed to Tune instead, a checkpoint went through the broker and the Tune trial's process
and was copied again into Tune's folder: for the simple CNN's 34 MB (weights, Adam's
moments, the best epoch's weights) that took 0.25 s an epoch on a 2-core machine, against
0.02 s to write it here. So one folder holds every trial's checkpoints whichever way it
ran, ``bench predict`` and ``bench resume`` look in one place, and a trial restarted (its
lane's workers died, or the sweep was resumed) goes on from the newest one.

The folder is on the sweep's results directory, which a cluster's nodes share. Each
checkpoint is written under a temporary name and renamed, so a reader never sees half of
one; only the newest ``CHECKPOINTS_KEPT`` are kept, as a Ray Train job of the sweep keeps
them.

torch is imported where a checkpoint is read or written: the processes that only relay a
sweep's trials (its broker, a lane's Train controller, each Tune trial) load this module
but never touch a checkpoint, and importing torch would cost each of them seconds.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

STATE_FILE = "state.pt"

#: How many of a trial's newest checkpoints stay on disk, whichever way it ran (its final
#: one and the last epoch's, from which a trial killed in its final evaluation resumes; the
#: last epoch's holds the best weights too, inside the early-stopping state).
CHECKPOINTS_KEPT = 2

#: Ray Train's name for a checkpoint folder, followed by the time it was taken.
CHECKPOINT_PREFIX = "checkpoint_"


@dataclass(frozen=True)
class TrialCheckpoints:
    """The checkpoint folders of one trial, under ``folder``."""

    folder: Path

    def save(self, state: dict[str, Any]) -> Path:
        """Write ``state`` as the trial's newest checkpoint; drop those past the kept few."""
        self.folder.mkdir(parents=True, exist_ok=True)
        # Named as Ray Train names its own, so they sort by time alike.
        target = self.folder / f"{CHECKPOINT_PREFIX}{dt.datetime.now():%Y-%m-%d_%H-%M-%S.%f}"
        staging = self.folder / f".{target.name}.{os.getpid()}.tmp"
        staging.mkdir()
        save_state(staging, state)
        staging.rename(target)
        for old in self.paths()[:-CHECKPOINTS_KEPT]:
            shutil.rmtree(old, ignore_errors=True)
        return target

    def paths(self) -> list[Path]:
        """The trial's complete checkpoints, oldest first."""
        return sorted(self.folder.glob(f"{CHECKPOINT_PREFIX}*"))

    def final(self) -> Path | None:
        """The trial's final checkpoint (the weights its test figures were measured on), if
        it got that far."""
        import torch

        for path in reversed(self.paths()):
            # Memory-mapped: only the few plain values read here leave the disk.
            if torch.load(path / STATE_FILE, weights_only=True, mmap=True).get("final"):
                return path
        return None

    def resume_state(self) -> dict[str, Any] | None:
        """The state to train on from: the newest checkpoint taken during training (a final
        one holds no optimizer; a trial stopped after it has only its evaluation to redo)."""
        for path in reversed(self.paths()):
            state = load_state(path)
            if not state.get("final"):
                return state
        return None


def save_state(directory: Path, state: dict[str, Any]) -> Path:
    """Write a checkpoint's training state into ``directory``; the file holds only tensors
    and plain data.

    Written without the CRC-32 of each record that ``torch.save`` computes by default:
    ``torch.load`` never checks it, and computing it took about a third of a checkpoint's
    time (the simple CNN's 34 MB: 58 to 100 ms with it, 28 to 48 ms without, on a 2-core
    machine), taken from the training, three times per trial of two epochs. Every
    checkpoint is renamed into place once whole, so a reader never sees half of one.
    """
    import torch

    path = directory / STATE_FILE
    computed = torch.serialization.get_crc32_options()
    torch.serialization.set_crc32_options(False)
    try:
        torch.save(state, path)
    finally:
        torch.serialization.set_crc32_options(computed)
    return path


def load_state(directory: Path) -> dict[str, Any]:
    """Read a checkpoint written by ``save_state``; refuses pickled code (weights_only)."""
    import torch

    return torch.load(directory / STATE_FILE, map_location="cpu", weights_only=True)
