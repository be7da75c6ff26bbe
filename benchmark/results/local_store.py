"""A new local MLflow store, copied from an empty one this machine has migrated before.

MLflow creates a SQLite store by running its whole chain of schema migrations: about
4 CPU-seconds on a 2-core machine, paid by the first sweep of every results folder on
the path to its first trial (and by ``bench ui`` on a folder without a store). The schema
depends on MLflow's version only, so the first store made with a version is also kept in
the machine's cache, empty: not even MLflow's ``Default`` experiment, which MLflow adds to
each copy on opening it, with the artifact location it would have given it anyway. Later
stores are copies of it (milliseconds). When the cache is off or cannot be written, MLflow
migrates as before.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
from importlib import metadata
from pathlib import Path

from benchmark.files import machine_cache_dir, process_alive

_log = logging.getLogger(__name__)


def create_store(database: Path) -> bool:
    """Put an empty, migrated store at ``database`` unless a file is there; whether it did.

    The copy is written under a temporary name and hard-linked into place, which fails if
    a store appeared there meanwhile (another sweep's, already holding runs): a reader
    never opens half a database, and no store is ever replaced. Where the copy cannot be
    made (no hard links on that file system), MLflow creates the store itself.
    """
    if database.exists():
        return False
    template = _template()
    if template is None:
        return False
    temporary = database.with_name(f".{database.name}.{os.getpid()}.tmp")
    try:
        shutil.copyfile(template, temporary)
        os.link(temporary, database)
    except FileExistsError:
        return False
    except OSError as error:
        _log.warning("could not copy the empty MLflow store %s: %s", template, error)
        return False
    finally:
        with contextlib.suppress(OSError):
            temporary.unlink(missing_ok=True)
    return True


def quiet_migrations() -> None:
    """Keep MLflow's INFO line per schema migration off the user's terminal."""
    for name in ("mlflow.store.db.utils", "alembic"):
        logging.getLogger(name).setLevel(logging.WARNING)


def template_path() -> Path | None:
    """Where the empty store of the installed MLflow is kept; None with the cache off."""
    folder = machine_cache_dir("mlflow")
    if folder is None:
        return None
    return folder / f"empty-store-mlflow-{metadata.version('mlflow')}.db"


def _template() -> Path | None:
    """The empty store, migrated here the first time; None when it cannot be made."""
    path = template_path()
    if path is None or path.is_file():
        return path
    import sqlalchemy

    try:  # what MLflow's own store runs on an empty database; not public API
        from mlflow.store.db.utils import _initialize_tables
    except ImportError:
        return None
    quiet_migrations()
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        _remove_stale_temporaries(path.parent)
        engine = sqlalchemy.create_engine(f"sqlite:///{temporary}")
        try:
            _initialize_tables(engine)
        finally:
            engine.dispose()
        os.replace(temporary, path)  # two processes making it at once: either copy is whole
    except (OSError, sqlalchemy.exc.SQLAlchemyError) as error:
        with contextlib.suppress(OSError):
            temporary.unlink(missing_ok=True)
        _log.warning("could not keep an empty MLflow store in %s: %s", path.parent, error)
        return None
    return path


def _remove_stale_temporaries(folder: Path) -> None:
    """Delete the half-migrated stores that processes killed while making one left behind.

    A temporary is ``.<name>.<pid>.tmp``: one whose process is gone will never be finished
    or removed; one whose process is alive may still be written, so it stays.
    """
    for temporary in folder.glob(".*.tmp"):
        pid = temporary.name.removesuffix(".tmp").rpartition(".")[2]
        if pid.isdigit() and not process_alive(int(pid)):
            with contextlib.suppress(OSError):
                temporary.unlink()
