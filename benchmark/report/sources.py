"""Finding the sweeps a report is about, and loading their results into pandas.

A report reads what a sweep left on disk, nothing else: ``results/<name>/<id>/`` with its
resolved ``sweep.yaml``, the three Parquet tables and the raw ``trials/<id>.json`` records
(where the confusion matrices are). The user names sweeps by id (looked up under the
results directory), by path (a sweep folder, a sweep-name folder or a whole results root),
or not at all (the newest sweep).

The ``trials`` table is read whole, ``epochs`` and ``classes`` only on demand: the report
reads the rows of the trials it shows (the best of each cell and its repeats). In a sweep
still running every trial's rows are a file of their own, and each file costs half a
millisecond or more to open, so reading only the shown trials' files matters there; a
finished sweep's tables are one file each (``benchmark.results.parquet.compact``).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from benchmark.errors import SweepNotFoundError
from benchmark.results.parquet import concat_tables, read_table, sweep_dirs
from benchmark.spec.schema import SweepSpec
from benchmark.yaml_values import load_yaml

# What a sweep ranks its trials by when its sweep.yaml cannot tell (the schema's default).
DEFAULT_RANKING = ("best_val_accuracy", "max")


@dataclass(frozen=True)
class SweepSource:
    """One sweep folder; ``spec`` is ``None`` when its sweep.yaml no longer validates."""

    path: Path
    spec: SweepSpec | None

    @property
    def sweep_id(self) -> str:
        return self.path.name

    @property
    def ranking(self) -> tuple[str, str]:
        """(metric, "max"|"min"): the sweep's first objective, which chose its best trials."""
        if self.spec is None:
            return DEFAULT_RANKING
        first = self.spec.objectives[0]
        return first.metric, first.direction

    def record(self, trial_id: str) -> dict[str, Any] | None:
        """The raw record of one trial (``trials/<id>.json``), if it is there."""
        path = self.path / "trials" / f"{trial_id}.json"
        return json.loads(path.read_text()) if path.exists() else None


TrialKey = tuple[str, str]  # (sweep_id, trial_id)


@dataclass
class ReportData:
    """The rows of every selected sweep, as pandas frames, plus the sweeps themselves.

    ``epochs`` and ``classes`` are whole tables, read on first use; ``rows_of`` reads the
    rows of a few trials only.
    """

    sweeps: dict[str, SweepSource]
    trials: pd.DataFrame
    notes: list[str] = field(default_factory=list)
    _whole_tables: dict[str, pd.DataFrame] = field(default_factory=dict, repr=False)

    @property
    def epochs(self) -> pd.DataFrame:
        """Every epoch row of every trial."""
        return self._whole("epochs")

    @property
    def classes(self) -> pd.DataFrame:
        """Every per-class row of every trial."""
        return self._whole("classes")

    def rows_of(self, table: str, keys: Iterable[TrialKey]) -> pd.DataFrame:
        """The rows of ``table`` (``epochs`` or ``classes``) of the trials ``keys`` only.

        Reads those trials' rows only, rather than the whole table, unless that is read
        already.
        """
        keys = list(dict.fromkeys(keys))
        if table in self._whole_tables or any(sweep not in self.sweeps for sweep, _ in keys):
            whole = self._whole(table)
            chosen = pd.MultiIndex.from_frame(whole[["sweep_id", "trial_id"]]).isin(keys)
            return whole[chosen]
        by_sweep: dict[str, set[str]] = {}
        for sweep, trial in keys:
            by_sweep.setdefault(sweep, set()).add(trial)
        parts = [read_table(self.sweeps[sweep].path, table, trials)
                 for sweep, trials in by_sweep.items()]  # fmt: skip
        return concat_tables(parts, table).to_pandas()

    def _whole(self, table: str) -> pd.DataFrame:
        if table not in self._whole_tables:
            folders = [source.path for source in self.sweeps.values()]
            self._whole_tables[table] = read_table(folders, table).to_pandas()
        return self._whole_tables[table]

    @property
    def rankings(self) -> dict[str, tuple[str, str]]:
        return {sweep_id: source.ranking for sweep_id, source in self.sweeps.items()}

    def record(self, sweep_id: str, trial_id: str) -> dict[str, Any] | None:
        source = self.sweeps.get(sweep_id)
        return source.record(trial_id) if source is not None else None

    def architecture_order(self) -> list[str]:
        """Architecture labels in the order the sweep files list them (baselines first)."""
        order: list[str] = []
        for source in self.sweeps.values():
            for entry in source.spec.architectures if source.spec else []:
                if entry.name not in order:
                    order.append(entry.name)
        return order

    def planned_cells(self) -> dict[str, list[tuple[str, str, str]]]:
        """Every cell each sweep planned, run or not: (cell key, architecture, dataset)."""
        return {
            sweep_id: [
                (f"{arch.name}/{dataset.name}", arch.architecture, dataset.dataset)
                for arch in source.spec.architectures
                for dataset in source.spec.datasets
            ]
            for sweep_id, source in self.sweeps.items()
            if source.spec is not None
        }


def locate_sweeps(targets: Sequence[str], results_dir: str | Path) -> list[Path]:
    """The sweep folders named by ``targets`` (ids or paths); none named = the newest one."""
    results_dir = Path(results_dir)
    if not targets:
        found = _by_id(results_dir, "*")
        if not found:
            raise SweepNotFoundError(
                f"no sweeps under {results_dir}/; pass a sweep id or path, or --results-dir"
            )
        return [max(found, key=lambda path: path.name)]
    folders: list[Path] = []
    for target in targets:
        path = Path(target)
        if path.exists():
            found = sweep_dirs(path)
            if not found:
                raise SweepNotFoundError(f"no sweep (sweep.yaml) in {path} or the two levels below")
        else:
            found = _by_id(results_dir, target)
            if not found:
                recent = ", ".join(p.name for p in _by_id(results_dir, "*")[-5:]) or "none yet"
                raise SweepNotFoundError(
                    f"no sweep '{target}' under {results_dir}/ (recent: {recent}); "
                    "pass --results-dir if it was written elsewhere"
                )
        folders.extend(folder for folder in found if folder not in folders)
    return folders


def load_results(folders: Sequence[Path]) -> ReportData:
    """The trials of ``folders`` as a pandas frame (hp_ columns unified across sweeps); the
    epochs and classes tables are read when asked for (``ReportData``)."""
    sweeps = {folder.name: SweepSource(folder, _read_spec(folder)) for folder in folders}
    notes = [
        f"sweep {sweep_id}: its sweep.yaml does not validate; trials ranked by {DEFAULT_RANKING[0]}"
        for sweep_id, source in sweeps.items()
        if source.spec is None
    ]
    trials = read_table(list(folders), "trials").to_pandas()
    return ReportData(sweeps, trials, notes)


def rankings(folders: Sequence[Path]) -> dict[str, tuple[str, str]]:
    """Each sweep's (metric, direction) that chose its best trials, read from sweep.yaml."""
    return {Path(folder).name: SweepSource(Path(folder), _read_spec(Path(folder))).ranking
            for folder in folders}  # fmt: skip


def _by_id(results_dir: Path, sweep_id: str) -> list[Path]:
    """Sweep folders ``<results>/<name>/<id>/``, oldest first (ids sort by start time)."""
    found = [p.parent for p in results_dir.glob(f"*/{sweep_id}/sweep.yaml")]
    return sorted(found, key=lambda path: path.name)


def _read_spec(folder: Path) -> SweepSpec | None:
    """The resolved sweep, schema-checked only.

    ``parse_sweep`` also checks names against the model and dataset registries, which
    imports torch (seconds) and would refuse a finished sweep whose architecture has since
    been renamed; a report only needs what the file says.
    """
    try:
        return SweepSpec.model_validate(load_yaml((folder / "sweep.yaml").read_text()))
    except Exception:  # an old or hand-edited file: the report still shows its trials
        return None
