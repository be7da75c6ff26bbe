"""Writing a trial's rows to Parquet as it finishes, and reading any set of sweeps back.

Each table of a sweep is a folder of Parquet files, one per trial:
``results/<sweep-name>/<sweep-id>/trials.parquet/<trial-id>.parquet`` (and likewise
``epochs.parquet``, ``classes.parquet``). A trial's file is written to a temporary name and
renamed, so a reader never sees half a file and a crash loses at most the trial in flight;
a trial that finishes again after a resume replaces its own file, so no row is duplicated.
Every row carries its ``sweep_id`` (and ``trials`` rows the sweep's name), so all sweeps
under a results folder read as one dataset: ``read_table("results", "trials")`` here,
``pd.read_parquet`` on one sweep's folder, or in DuckDB
``read_parquet('results/*/*/trials.parquet/*.parquet', union_by_name = true)``.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from benchmark.results.schema import SCHEMAS

TABLES = tuple(SCHEMAS)


def table_dir(sweep_dir: Path, table: str) -> Path:
    return Path(sweep_dir) / f"{table}.parquet"


def write_trial(sweep_dir: Path, trial_id: str, tables: dict[str, pa.Table]) -> None:
    """Write (or replace) one trial's rows in every table, each file atomically."""
    for name, table in tables.items():
        folder = table_dir(sweep_dir, name)
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{trial_id}.parquet"
        temporary = folder / f".{trial_id}.parquet.{os.getpid()}.tmp"
        pq.write_table(table, temporary)
        os.replace(temporary, path)


def sweep_dirs(paths: Path | str | Iterable[Path | str]) -> list[Path]:
    """The sweep folders under ``paths``: a sweep folder, a sweep-name folder, a results root."""
    if isinstance(paths, (str, Path)):
        paths = [paths]
    found: list[Path] = []
    for path in map(Path, paths):
        for depth in ("", "*", "*/*"):
            found.extend(p.parent for p in path.glob(f"{depth}/sweep.yaml".lstrip("/")))
    return sorted(set(found))


def read_table(paths: Path | str | Iterable[Path | str], table: str) -> pa.Table:
    """Every row of ``table`` under ``paths`` (see ``sweep_dirs``), hp_ columns unified."""
    files = [
        file
        for sweep in sweep_dirs(paths)
        for file in sorted(table_dir(sweep, table).glob("*.parquet"))
    ]
    if not files:
        return SCHEMAS[table].empty_table()
    tables = [pq.read_table(file) for file in files]
    return pa.concat_tables(tables, promote_options="permissive")
