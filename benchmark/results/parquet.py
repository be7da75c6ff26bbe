"""Writing a trial's rows to Parquet as it finishes, and reading any set of sweeps back.

Each table of a sweep is a folder: ``results/<sweep-name>/<sweep-id>/trials.parquet/``
(and likewise ``epochs.parquet/``, ``classes.parquet/``). While the sweep runs, each trial
that finishes writes a file of its own there, ``<trial-id>.parquet``, to a temporary name
then renamed, so a reader never sees half a file and a crash loses at most the trial in
flight; a trial that finishes again after a resume replaces its own file.

When the sweep ends, ``compact`` merges those files into one, ``compacted.parquet``: a
file that small costs half a millisecond or more to open whatever it holds, so a report of
10,000 trials spent 14 of its 15 seconds opening 10,000 files (``perf/report_at_scale.py``).
A trial written after that (``bench resume``, ``bench sync-mlflow``) gets its own file again
until the next compaction, and its own file wins over its rows in ``compacted.parquet``:
each trial's rows come from exactly one file, even if a compaction was cut short between
writing the merged file and removing the ones it merged.

Every row carries its ``sweep_id`` (and ``trials`` rows the sweep's name), so all sweeps
under a results folder read as one dataset: ``read_table("results", "trials")`` here,
``pd.read_parquet`` on one sweep's folder, or in DuckDB
``read_parquet('results/*/*/trials.parquet/*.parquet', union_by_name = true)``.
"""

from __future__ import annotations

import os
from collections.abc import Collection, Iterable, Sequence
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from benchmark.results.schema import SCHEMAS

TABLES = tuple(SCHEMAS)
COMPACTED = "compacted.parquet"
_FILES_PER_PART = 500


def table_dir(sweep_dir: Path, table: str) -> Path:
    return Path(sweep_dir) / f"{table}.parquet"


def write_trial(sweep_dir: Path, trial_id: str, tables: dict[str, pa.Table]) -> None:
    """Write (or replace) one trial's rows in every table, each file atomically."""
    for name, table in tables.items():
        folder = table_dir(sweep_dir, name)
        folder.mkdir(parents=True, exist_ok=True)
        _write_atomically(table, folder / f"{trial_id}.parquet")


def trial_files(folder: Path) -> list[Path]:
    """The per-trial files of one table folder (not the compacted file), by trial id."""
    return sorted(path for path in folder.glob("*.parquet") if path.name != COMPACTED)


def compact(sweep_dir: Path) -> None:
    """Merge each table's per-trial files into its ``compacted.parquet``, then remove them.

    The merged file replaces the old one atomically before any per-trial file goes, so a
    crash at any point leaves every trial's rows readable (see the module's docstring).
    """
    for table in TABLES:
        folder = table_dir(sweep_dir, table)
        merged = trial_files(folder)
        if not merged:
            continue
        _write_atomically(_read_folder(folder, table), folder / COMPACTED)
        for path in merged:
            path.unlink()


def sweep_dirs(paths: Path | str | Iterable[Path | str]) -> list[Path]:
    """The sweep folders under ``paths``: a sweep folder, a sweep-name folder, a results root."""
    if isinstance(paths, (str, Path)):
        paths = [paths]
    found: list[Path] = []
    for path in map(Path, paths):
        for depth in ("", "*", "*/*"):
            found.extend(p.parent for p in path.glob(f"{depth}/sweep.yaml".lstrip("/")))
    return sorted(set(found))


def read_table(
    paths: Path | str | Iterable[Path | str],
    table: str,
    trials: Collection[str] | None = None,
) -> pa.Table:
    """Every row of ``table`` under ``paths`` (see ``sweep_dirs``), hp_ columns unified;
    only the rows of the trial ids ``trials`` when given."""
    parts = [_read_folder(table_dir(sweep, table), table, trials) for sweep in sweep_dirs(paths)]
    return concat_tables(parts, table)


def concat_tables(tables: Sequence[pa.Table], table: str) -> pa.Table:
    """Rows of ``table`` from several reads as one table, hp_ columns unified.

    One chunk per column, not one per file: pandas keeps Arrow-backed strings as they come,
    and every filter, take and group-by on 10,000 chunks costs ten times more.
    """
    if not tables:
        return SCHEMAS[table].empty_table()
    return pa.concat_tables(tables, promote_options="permissive").combine_chunks()


def _read_folder(folder: Path, table: str, trials: Collection[str] | None = None) -> pa.Table:
    """One sweep's rows of ``table``: its per-trial files, then the rest of the compacted file.

    Each file is read with ``ParquetFile.read`` on this thread: for files of one to a
    hundred rows the dataset machinery behind ``pq.read_table`` (a scanner and its thread
    pool per file) costs more than the read itself, and threads do not help a read that
    short. Small tables are joined a few hundred at a time, since each holds tens of
    kilobytes of bookkeeping: held all at once, 10,000 of them took 600 MB.
    """
    own = trial_files(folder)
    if trials is not None:
        own = [path for path in own if path.stem in trials]
    parts = [
        concat_tables([pq.ParquetFile(path).read(use_threads=False) for path in batch], table)
        for batch in _batches(own, _FILES_PER_PART)
    ]
    compacted = folder / COMPACTED
    if compacted.exists():
        rows = pq.ParquetFile(compacted).read()
        if own:
            rows = rows.filter(pc.invert(_is_in(rows["trial_id"], [path.stem for path in own])))
        if trials is not None:
            rows = rows.filter(_is_in(rows["trial_id"], trials))
        parts.append(rows)
    return concat_tables(parts, table)


def _batches(items: list[Path], size: int) -> list[list[Path]]:
    return [items[start : start + size] for start in range(0, len(items), size)]


def _is_in(column: pa.ChunkedArray, values: Collection[str]) -> pa.ChunkedArray:
    return pc.is_in(column, value_set=pa.array(list(values), type=pa.string()))


def _write_atomically(table: pa.Table, path: Path) -> None:
    temporary = path.parent / f".{path.name}.{os.getpid()}.tmp"
    try:
        pq.write_table(table, temporary)
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
