"""How many trials of a sweep to run at once on one device: measured, not guessed.

A small network leaves a GPU mostly idle (a lone trial of S3's simple CNN kept an H200 at
most 39 % busy), so several trials sharing it, each holding a fraction, can run more trials
per hour, although each trains slower. Whether that pays depends on the network, the batch
and the device. ``measure_packing`` runs the sweep's first cell once per number of trials
at once (a short sweep of its own per level, with the sweep file's own settings, its
search and its data) on one device's worth of the cluster: on a GPU each trial holds 1/N
of it, on CPUs 1/N of the cores. It compares the trials per minute once the first trial
has ended (the lanes' start is paid once per sweep, not per trial), and ``bench packing``
prints the table and the ``resources`` that ran the most.
"""

from __future__ import annotations

import contextlib
import math
import statistics
import tempfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from rich.console import Console

from benchmark.cluster import connect_ray
from benchmark.files import write_atomically
from benchmark.spec import SweepFileError, SweepSpec, load_sweep
from benchmark.yaml_values import dump_yaml

#: Trials per trial slot at each level, and at least ``MIN_TRIALS``: enough for the rate
#: after the first trial to mean something. The first level also pays the first sweep's
#: one-time work in the driver (a new MLflow store, the plotting imports); on a 2-core
#: machine that slowed its first trials by several times, so a level is never 2 trials.
TRIALS_PER_SLOT = 3
MIN_TRIALS = 6


@dataclass(frozen=True)
class PackingLevel:
    """One level's measurement: ``at_once`` trials sharing the device."""

    at_once: int
    cpus_per_worker: float
    gpus_per_worker: float
    completed: int
    #: Trials whose loss collapsed: the search's doing, not the packing's; not in the rate.
    diverged: int
    #: Trials that ended in an error (out of memory included): the level is not eligible.
    failed: int
    #: After the first trial's end, so the lanes' start is left out; NaN below two trials.
    trials_per_minute: float
    median_train_s: float

    @property
    def share(self) -> str:
        """What each trial holds: ``0.25 GPU, 4 CPUs``."""
        return _share(self.cpus_per_worker, self.gpus_per_worker)

    @property
    def overrides(self) -> str:
        """The ``--set`` options that run a sweep at this level."""
        values = [f"resources.cpus_per_worker={self.cpus_per_worker:g}"]
        if self.gpus_per_worker:
            values.append(f"resources.gpus_per_worker={self.gpus_per_worker:g}")
        return " ".join(f"--set {value}" for value in values)


def parse_levels(text: str) -> list[int]:
    """``"1,2,4"`` as ``[1, 2, 4]``; ``ValueError`` (its message says what to write) else."""
    try:
        levels = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        levels = []
    if not levels or min(levels) < 1:
        raise ValueError(
            f"{text!r}: give one or more whole numbers of trials at once, at least 1, "
            "comma-separated (e.g. 1,2,4,8)"
        )
    return sorted(set(levels))


def default_levels(spec: SweepSpec, cluster: dict[str, float]) -> list[int]:
    """1, 2, 4 and 8 trials on a GPU; on CPUs, powers of two up to one trial per core."""
    if spec.resources.gpus_per_worker > 0:
        return [1, 2, 4, 8]
    cores = max(1, int(cluster.get("CPU", 1)))
    return [2**power for power in range(int(math.log2(cores)) + 1)]


def measure_packing(
    sweep_file: str | Path,
    overrides: tuple[str, ...] = (),
    levels: list[int] | None = None,
    trials_per_level: int | None = None,
    epochs: int | None = None,
    keep_dir: Path | None = None,
    console: Console | None = None,
) -> list[PackingLevel]:
    """Run the first cell of ``sweep_file`` at each level; the measurements, in level order.

    Each level's sweep (and its MLflow store) goes under ``keep_dir`` when given, else under
    a temporary folder removed at the end: they measure the platform, not the study.
    """
    from benchmark.results.tracking import local_store
    from benchmark.sweep.cells import plan_sweep
    from benchmark.sweep.run import start_sweep

    spec = load_sweep(sweep_file, overrides)
    # Checked whole before Ray starts; the levels' files live elsewhere: pin the data.
    data_dir = plan_sweep(spec, source=sweep_file).cells[0].base_config["data_dir"]
    spec = spec.model_copy(update={"data_dir": data_dir})
    if spec.resources.workers != 1:
        raise SweepFileError(
            sweep_file,
            "resources.workers",
            f"packing shares one device between one-worker trials, but a trial here has "
            f"{spec.resources.workers} workers; measure with --set resources.workers=1",
        )
    cluster = connect_ray().resources
    levels = sorted(set(levels or default_levels(spec, cluster)))
    console = console or Console(stderr=True)
    measured = []
    with _folder(keep_dir) as kept:
        folder = Path(kept)
        for at_once in levels:
            level_file = folder / f"{spec.name}-packing-{at_once}.yaml"
            values = _level_values(spec, sweep_file, at_once, cluster, trials_per_level, epochs)
            write_atomically(level_file, dump_yaml(values))
            resources = values["resources"]
            share = _share(resources["cpus_per_worker"], resources.get("gpus_per_worker", 0))
            console.print(f"packing: {at_once} trial(s) at once, each {share}")
            outcome = start_sweep(
                level_file,
                results_dir=folder,
                console=console,
                quiet=True,
                mlflow_uri=local_store(folder)[0],  # never the user's tracking server
            )
            measured.append(_measurement(at_once, values, outcome))
    return measured


def best_level(levels: list[PackingLevel]) -> PackingLevel | None:
    """The level with the most trials per minute among those where no trial failed."""
    eligible = [level for level in levels if not level.failed and level.completed >= 2]
    return max(eligible, key=lambda level: level.trials_per_minute, default=None)


def trials_per_minute(ends: list[float]) -> float:
    """Trials ended per minute between the first trial's end and the last one's (seconds)."""
    ends = sorted(ends)
    if len(ends) < 2 or ends[-1] <= ends[0]:
        return float("nan")
    return 60 * (len(ends) - 1) / (ends[-1] - ends[0])


def _level_values(
    spec: SweepSpec,
    source: str | Path,
    at_once: int,
    cluster: dict[str, float],
    trials_per_level: int | None,
    epochs: int | None,
) -> dict[str, Any]:
    """The sweep file of one level: the first cell, ``at_once`` trials sharing one device."""
    values = spec.model_dump(mode="json", exclude_none=True)
    cpus = cluster.get("CPU", 0.0)
    resources = values["resources"]
    if spec.resources.gpus_per_worker > 0:
        if cluster.get("GPU", 0.0) < 1:
            raise SweepFileError(
                source,
                "resources.gpus_per_worker",
                "packing on a GPU needs one whole GPU in the cluster, and it has none; "
                "set resources.gpus_per_worker: 0 to measure on CPUs",
            )
        resources["gpus_per_worker"] = 1 / at_once
        resources["cpus_per_worker"] = min(spec.resources.cpus_per_worker, cpus / at_once)
    else:
        resources["cpus_per_worker"] = cpus / at_once
    values.update(
        name=f"{spec.name}-packing-{at_once}",
        architectures=values["architectures"][:1],
        datasets=values["datasets"][:1],
        repeats=0,
        targets=[],
        scheduler={"type": "none"},  # every trial runs its epochs: equal work per level
        stop={},
    )
    values["search"].update(
        trials_per_cell=trials_per_level or max(MIN_TRIALS, TRIALS_PER_SLOT * at_once),
        max_concurrent=at_once,
    )
    if epochs is not None:
        values["fixed"]["epochs"] = epochs
    return values


def _share(cpus: float, gpus: float) -> str:
    share = f"{cpus:g} CPU{'' if cpus == 1 else 's'}"
    return f"{gpus:g} GPU, {share}" if gpus else share


def _measurement(at_once: int, values: dict[str, Any], outcome) -> PackingLevel:
    from benchmark.train.loop import STATUS_COMPLETED, STATUS_DIVERGED  # torch: loaded by now

    completed = [r for r in outcome.records if r["status"] == STATUS_COMPLETED]
    diverged = sum(r["status"] == STATUS_DIVERGED for r in outcome.records)
    ends = [datetime.fromisoformat(r["finished_at"]).timestamp() for r in completed]
    train = [r["metrics"]["train_time_s"] for r in completed]
    return PackingLevel(
        at_once=at_once,
        cpus_per_worker=values["resources"]["cpus_per_worker"],
        gpus_per_worker=values["resources"].get("gpus_per_worker", 0.0),
        completed=len(completed),
        diverged=diverged,
        failed=len(outcome.records) - len(completed) - diverged,
        trials_per_minute=trials_per_minute(ends),
        median_train_s=statistics.median(train) if train else float("nan"),
    )


def _folder(keep_dir: Path | None) -> contextlib.AbstractContextManager[str | Path]:
    """``keep_dir`` (made if missing), else a temporary folder removed afterwards."""
    if keep_dir is None:
        return tempfile.TemporaryDirectory(prefix="bench-packing-", ignore_cleanup_errors=True)
    keep_dir.mkdir(parents=True, exist_ok=True)
    return contextlib.nullcontext(keep_dir.resolve())
