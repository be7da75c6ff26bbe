"""The results tables on disk: a file per trial while a sweep runs, one file once it ends.

Whatever the layout, and wherever a compaction was cut short, every trial's rows read back
exactly once, and a trial written again after compaction reads back with its new rows.
"""

from __future__ import annotations

import contextlib
import resource
import shutil
import signal

import pyarrow as pa
import pytest

from benchmark.results.parquet import (
    COMPACTED,
    TABLES,
    compact,
    read_table,
    table_dir,
    trial_files,
    write_trial,
)
from benchmark.results.schema import SCHEMAS
from benchmark.sweep.publish import compact_tables
from benchmark.sweep.store import SweepDirectory


def _tables(trial_id: str, accuracy: float, epochs: int = 2) -> dict[str, pa.Table]:
    """Rows of one trial: ``trials`` with its accuracy, ``epochs`` one per epoch."""
    trials = pa.table({"sweep_id": ["s"], "trial_id": [trial_id], "test_accuracy": [accuracy]})
    epochs_rows = pa.table({
        "sweep_id": ["s"] * epochs,
        "trial_id": [trial_id] * epochs,
        "epoch": list(range(1, epochs + 1)),
    })  # fmt: skip
    return {"trials": trials, "epochs": epochs_rows}


@pytest.fixture
def sweep(tmp_path):
    folder = tmp_path / "name" / "20270101-000000-abcd"
    folder.mkdir(parents=True)
    (folder / "sweep.yaml").write_text("name: name\n")
    for number, accuracy in enumerate([0.5, 0.6, 0.7]):
        write_trial(folder, f"t{number}", _tables(f"t{number}", accuracy))
    return folder


def _accuracies(sweep) -> dict[str, float]:
    rows = read_table(sweep, "trials").to_pylist()
    assert len(rows) == len({row["trial_id"] for row in rows}), "a trial read twice"
    return {row["trial_id"]: row["test_accuracy"] for row in rows}


def test_compaction_leaves_one_file_per_table_with_every_row(sweep):
    before = {table: read_table(sweep, table).sort_by("trial_id") for table in ("trials", "epochs")}
    compact(sweep)
    for table in ("trials", "epochs"):
        folder = table_dir(sweep, table)
        assert [path.name for path in folder.iterdir()] == [COMPACTED]
        assert read_table(sweep, table).sort_by("trial_id").equals(before[table])


def test_a_trial_written_after_compaction_replaces_its_rows(sweep):
    compact(sweep)
    write_trial(sweep, "t1", _tables("t1", 0.9, epochs=3))  # e.g. bench sync-mlflow
    assert _accuracies(sweep) == {"t0": 0.5, "t1": 0.9, "t2": 0.7}
    assert read_table(sweep, "epochs", trials={"t1"}).column("epoch").to_pylist() == [1, 2, 3]
    compact(sweep)
    assert _accuracies(sweep) == {"t0": 0.5, "t1": 0.9, "t2": 0.7}
    assert [path.name for path in table_dir(sweep, "epochs").iterdir()] == [COMPACTED]


def test_a_compaction_cut_short_before_removing_the_merged_files_reads_each_trial_once(sweep):
    kept = sweep.parent / "kept"
    shutil.copytree(table_dir(sweep, "trials"), kept)
    compact(sweep)
    for path in kept.iterdir():  # the per-trial files back beside the merged file
        shutil.copy(path, table_dir(sweep, "trials"))
    assert _accuracies(sweep) == {"t0": 0.5, "t1": 0.6, "t2": 0.7}
    compact(sweep)
    assert trial_files(table_dir(sweep, "trials")) == []
    assert _accuracies(sweep) == {"t0": 0.5, "t1": 0.6, "t2": 0.7}


def test_rows_of_chosen_trials_come_from_either_layout(sweep):
    compact(sweep)
    write_trial(sweep, "t3", _tables("t3", 0.8))
    chosen = read_table(sweep, "trials", trials={"t0", "t3"}).to_pylist()
    assert sorted(row["trial_id"] for row in chosen) == ["t0", "t3"]


@contextlib.contextmanager
def _files_limited_to(size: int):
    """A real write failure: files may grow to ``size`` bytes only (EFBIG, as on a full disk)."""
    limits = resource.getrlimit(resource.RLIMIT_FSIZE)
    handler = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (size, limits[1]))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, limits)
        signal.signal(signal.SIGXFSZ, handler)


def test_a_compaction_that_cannot_write_keeps_every_per_trial_file(sweep):
    with _files_limited_to(64), pytest.raises(OSError):
        compact(sweep)
    folder = table_dir(sweep, "trials")
    assert sorted(path.name for path in folder.iterdir()) == [f"t{n}.parquet" for n in range(3)]
    assert _accuracies(sweep) == {"t0": 0.5, "t1": 0.6, "t2": 0.7}


def test_a_sweep_that_cannot_compact_ends_with_a_warning_not_an_error(sweep):
    warnings = []
    with _files_limited_to(64):
        compact_tables(SweepDirectory(sweep), warn=warnings.append)
    assert len(warnings) == 1 and "left one per trial" in warnings[0]
    assert _accuracies(sweep) == {"t0": 0.5, "t1": 0.6, "t2": 0.7}


def test_a_sweep_without_rows_reads_as_empty_tables(tmp_path):
    (tmp_path / "sweep.yaml").write_text("name: empty\n")
    compact(tmp_path)
    for table in TABLES:
        assert read_table(tmp_path, table).schema == SCHEMAS[table].empty_table().schema
