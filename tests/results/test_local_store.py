"""A new local MLflow store is a copy of the empty one this machine migrated first.

The copy must be the store MLflow would have made (same tables, indexes and schema
revision, its ``Default`` experiment where MLflow puts it), must never replace a store that
exists, and a cache that is off or cannot be written must leave MLflow to make the store.
"""

from __future__ import annotations

import logging
import os
import sqlite3
from pathlib import Path

import pytest

from benchmark.files import CACHE_DIR_ENV
from benchmark.results.local_store import template_path
from benchmark.results.tracking import STORE_FILE, MlflowTracker


def _schema(database: Path) -> tuple[set, list, list]:
    """Tables and indexes, schema revision, experiments. A statement's lines are compared as
    a set: MLflow itself orders a table's CHECK constraints by the process's hash seed."""
    with sqlite3.connect(database) as connection:
        objects = {
            (kind, name, table, frozenset((sql or "").replace(",", "").split("\n")))
            for kind, name, table, sql in connection.execute(
                "select type, name, tbl_name, sql from sqlite_master"
            )
        }
        revision = connection.execute("select version_num from alembic_version").fetchall()
        experiments = connection.execute(
            "select experiment_id, name, artifact_location, lifecycle_stage from experiments"
        ).fetchall()
    return objects, revision, experiments


def _new_store(folder: Path) -> Path:
    MlflowTracker.connect(None, folder)
    return folder / STORE_FILE


def test_a_new_store_is_a_copy_of_the_kept_empty_one_and_equals_mlflows_own(tmp_path, monkeypatch):
    monkeypatch.setenv(CACHE_DIR_ENV, "off")
    made_by_mlflow = _new_store(tmp_path / "mlflow")
    monkeypatch.setenv(CACHE_DIR_ENV, str(tmp_path / "cache"))

    first = _new_store(tmp_path / "first")  # migrates the empty store, keeps it, copies it
    template = template_path()
    kept_bytes = template.read_bytes()
    second = _new_store(tmp_path / "second")

    assert template.parent == tmp_path / "cache" / "mlflow"
    assert template.read_bytes() == kept_bytes  # copied, never migrated again
    assert _schema(template)[2] == []  # no experiment: each copy gets its own Default
    assert _schema(first) == _schema(second) == _schema(made_by_mlflow)
    assert _schema(second)[1]  # at MLflow's latest revision, not an unversioned schema


def test_a_copied_store_takes_a_sweep_and_its_runs(tmp_path, monkeypatch):
    monkeypatch.setenv(CACHE_DIR_ENV, str(tmp_path / "cache"))
    _new_store(tmp_path / "first")

    tracker = MlflowTracker.connect(None, tmp_path / "results")
    run_id = tracker.start_sweep("20261127-000000-abcd", "copied", None, {"name": "copied"}, None)

    run = tracker.client.get_run(run_id)
    assert run.data.tags["sweep_id"] == "20261127-000000-abcd"
    experiment = tracker.client.get_experiment(run.info.experiment_id)
    assert experiment.artifact_location == (tmp_path / "results/mlartifacts/copied").as_uri()


def test_an_existing_store_is_opened_never_replaced(tmp_path, monkeypatch):
    monkeypatch.setenv(CACHE_DIR_ENV, str(tmp_path / "cache"))
    tracker = MlflowTracker.connect(None, tmp_path / "results")
    run_id = tracker.start_sweep("20261127-000000-abcd", "kept", None, {"name": "kept"}, None)

    reopened = MlflowTracker.connect(None, tmp_path / "results")

    assert reopened.client.get_run(run_id).info.run_name == "20261127-000000-abcd"
    assert not list((tmp_path / "results").glob(".*.tmp"))


def test_a_half_made_store_of_a_killed_process_is_removed_and_a_live_ones_kept(
    tmp_path, monkeypatch
):
    import subprocess
    import sys

    monkeypatch.setenv(CACHE_DIR_ENV, str(tmp_path / "cache"))
    name = template_path().name
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()  # its pid now names no process
    folder = tmp_path / "cache" / "mlflow"
    folder.mkdir(parents=True)
    left_by_the_dead = folder / f".{name}.{dead.pid}.tmp"
    being_written = folder / f".{name}.{os.getppid()}.tmp"
    for temporary in (left_by_the_dead, being_written):
        temporary.write_bytes(b"SQLite format 3\x00 half migrated")

    store = _new_store(tmp_path / "results")

    assert template_path().is_file() and _schema(store)[1]
    assert not left_by_the_dead.exists()
    assert being_written.read_bytes() == b"SQLite format 3\x00 half migrated"


def test_a_cache_that_cannot_be_written_leaves_mlflow_to_make_the_store(
    tmp_path, monkeypatch, caplog
):
    blocked = tmp_path / "blocked"
    blocked.write_text("a file where the cache's folder would be")
    monkeypatch.setenv(CACHE_DIR_ENV, str(blocked))

    with caplog.at_level(logging.WARNING, logger="benchmark.results.local_store"):
        store = _new_store(tmp_path / "results")

    assert "could not keep an empty MLflow store" in caplog.text
    _, revision, experiments = _schema(store)
    assert revision and [name for _, name, _, _ in experiments] == ["Default"]


@pytest.mark.parametrize("setting", ["off", "OFF"])
def test_with_the_cache_off_no_empty_store_is_kept(tmp_path, monkeypatch, setting):
    monkeypatch.setenv(CACHE_DIR_ENV, setting)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))

    store = _new_store(tmp_path / "results")

    assert template_path() is None
    assert not (tmp_path / "xdg").exists()
    assert _schema(store)[1]
