"""Exporting a sweep's Parquet tables as CSV, JSON or one Parquet file (``bench results``).

The tables under ``results/`` are folders of per-trial files, which suits a writer that
must never lose a row; a collaborator or a spreadsheet wants one file per table. The rows
are exported as they are stored (every trial, whatever its status; ``hp_`` columns
unified across trials), written to a temporary name and renamed.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from benchmark.errors import BenchError
from benchmark.files import write_atomically
from benchmark.results.parquet import TABLES, read_table

EXPORT_FORMATS = ("csv", "json", "parquet")


class ExportPathError(BenchError):
    """An ``--out`` that cannot hold what is exported (a file name for several tables)."""


def export_tables(
    sweeps: Sequence[Path],
    fmt: str,
    tables: Sequence[str] = TABLES,
    out: Path | None = None,
    prefix: str = "",
) -> list[Path]:
    """Write each of ``tables`` of ``sweeps`` as one ``fmt`` file; return the files.

    ``out`` is a file when one table is exported and it has a suffix (``trials.csv``),
    else a folder that gets ``<table>.<fmt>``; without it, files go to the current folder
    as ``<prefix><table>.<fmt>``. JSON is an array of row objects (ISO timestamps, null
    for a missing value), readable with ``pandas.read_json``.
    """
    paths = _destinations(list(tables), fmt, out, prefix)
    for table, path in paths.items():
        _write(read_table(list(sweeps), table), fmt, path)
    return list(paths.values())


def _destinations(tables: list[str], fmt: str, out: Path | None, prefix: str) -> dict[str, Path]:
    if out is None:
        return {table: Path(f"{prefix}{table}.{fmt}") for table in tables}
    out = Path(out)
    names_a_file = out.suffix != "" and not out.is_dir()
    if names_a_file and len(tables) == 1:
        return {tables[0]: out}
    if names_a_file:
        raise ExportPathError(
            f"--out {out} names one file but {len(tables)} tables are exported; "
            "pass --table or a folder"
        )
    return {table: out / f"{table}.{fmt}" for table in tables}


def _write(table: pa.Table, fmt: str, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "parquet":
        temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        pq.write_table(table, temporary)
        os.replace(temporary, path)
        return
    frame = table.to_pandas()
    if fmt == "csv":
        write_atomically(path, frame.to_csv(index=False))
    elif fmt == "json":
        write_atomically(path, frame.to_json(orient="records", date_format="iso", indent=1))
    else:
        raise ValueError(f"unknown export format {fmt!r}; one of {', '.join(EXPORT_FORMATS)}")
