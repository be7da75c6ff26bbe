"""Files the platform writes: whole or absent, never half, and only where they fit."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from benchmark.errors import BenchError

#: Moves the platform's per-machine cache; ``off`` turns it off.
CACHE_DIR_ENV = "BENCH_CACHE_DIR"


def machine_cache_dir(part: str) -> Path | None:
    """The folder of this machine's cache that holds ``part``, or None when it is off.

    The cache keeps what any process of the platform on this machine can reuse instead of
    making it again (decoded datasets, an empty MLflow store): ``$BENCH_CACHE_DIR``, else
    ``$XDG_CACHE_HOME/bench``, else ``~/.cache/bench``. Nothing in it is a result.
    """
    configured = os.environ.get(CACHE_DIR_ENV, "").strip()
    if configured.lower() == "off":
        return None
    if configured:
        return Path(configured).expanduser() / part
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "bench" / part


def write_atomically(path: Path, text: str) -> None:
    """Write to a temporary name beside ``path``, then rename: readers never see half."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_text(text)
    os.replace(temporary, path)


def process_alive(pid: int) -> bool:
    """Whether a process ``pid`` runs on this machine (another user's counts): what a file
    that names its writer's pid is checked against before it is called abandoned."""
    try:
        os.kill(pid, 0)  # no signal sent: only whether such a process exists
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # it exists, and belongs to another user
    return True


class StorageError(BenchError):
    """A results directory that cannot take a sweep's files."""


MIN_FREE_GB_VARIABLE = "BENCH_MIN_FREE_GB"
DEFAULT_MIN_FREE_GB = 1.0


def check_writable_dir(folder: Path, min_free_gb: float | None = None) -> Path:
    """Create ``folder`` if needed and prove it takes a file, with room to spare.

    Called before a sweep starts: a results directory that is read-only, is a file, or sits
    on a full disk should be a one-line error now, not a crash when the first trial ends.
    The room wanted is ``min_free_gb`` (default ``$BENCH_MIN_FREE_GB``, else 1 GB; 0 turns
    the check off): checkpoints of large models take hundreds of MB per trial.
    """
    folder = Path(folder).expanduser().resolve()
    fix = "pass another with --results-dir (or BENCH_RESULTS_DIR)"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / f".write-probe.{os.getpid()}"
        with open(probe, "wb") as file:
            file.write(b"probe")
            file.flush()
            os.fsync(file.fileno())
        probe.unlink()
    except OSError as error:
        reason = error.strerror or type(error).__name__
        message = f"results directory {folder} is not writable ({reason}); {fix}"
        raise StorageError(message) from None
    if min_free_gb is None:
        min_free_gb = _min_free_gb()
    free_gb = shutil.disk_usage(folder).free / 1e9
    if free_gb < min_free_gb:
        raise StorageError(
            f"results directory {folder} has {free_gb:.2f} GB free, below the {min_free_gb:g} GB "
            f"a sweep needs; free some space, {fix}, or lower {MIN_FREE_GB_VARIABLE}"
        )
    return folder


def _min_free_gb() -> float:
    value = os.environ.get(MIN_FREE_GB_VARIABLE, "")
    try:
        return float(value) if value else DEFAULT_MIN_FREE_GB
    except ValueError:
        raise StorageError(
            f"{MIN_FREE_GB_VARIABLE}={value!r} is not a number of GB; set it to e.g. 1"
        ) from None
