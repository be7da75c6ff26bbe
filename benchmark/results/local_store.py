"""A new local MLflow store, copied from an empty one this machine has migrated before.

MLflow creates a SQLite store by running its whole chain of schema migrations: about
4 CPU-seconds on a 2-core machine, paid by the first sweep (or ``bench train``) of every
results folder, on the path to its first trial. The schema depends on MLflow's version
only, so the first store made with a version is also kept in the machine's cache, empty:
not even MLflow's ``Default`` experiment, which MLflow adds to each copy on opening it,
with the artifact location it would have given it anyway. Later stores are copies of it
(milliseconds). When the cache is off or cannot be written, MLflow migrates as before.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
from pathlib import Path

from benchmark.files import machine_cache_dir

_log = logging.getLogger(__name__)


def create_store(database: Path) -> bool:
    """Put an empty, migrated store at ``database`` unless a file is there; whether it did.

    Call it holding the store's lock (``tracking._store_lock``): the copy goes in under a
    temporary name and is renamed, so a reader never opens half a database.
    """
    if database.exists():
        return False
    template = _template()
    if template is None:
        return False
    temporary = database.with_name(f".{database.name}.{os.getpid()}.tmp")
    try:
        shutil.copyfile(template, temporary)
        os.replace(temporary, database)
    except OSError as error:
        with contextlib.suppress(OSError):
            temporary.unlink(missing_ok=True)
        _log.warning("could not copy the empty MLflow store %s: %s", template, error)
        return False
    return True


def template_path() -> Path | None:
    """Where the empty store of the installed MLflow is kept; None with the cache off."""
    import mlflow

    folder = machine_cache_dir("mlflow")
    return None if folder is None else folder / f"empty-store-mlflow-{mlflow.__version__}.db"


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
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
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
