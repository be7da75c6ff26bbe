"""Making a dataset's files present under the data directory, or saying plainly why not.

Downloads go through torchvision's dataset classes, so the files land in torchvision's own
layout and copies made by torchvision elsewhere are found as they are. Offline
(``offline=True`` or ``BENCH_OFFLINE=1``) nothing is downloaded; then, or when a download
fails, the error names the files expected and the directory to put them in.

A download that cannot reach its server must fail, not hang: every socket operation gets
a timeout (torchvision's ``urlopen`` calls pass none), and every tar archive is extracted
inside the data directory only. Concurrent processes that miss the same dataset (the
workers of one DDP trial, trials of one sweep) take a file lock so that one downloads
while the others wait and then find the files.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import socket
import tarfile
from collections.abc import Callable, Iterator
from pathlib import Path

from benchmark.errors import DatasetError

OFFLINE_ENV = "BENCH_OFFLINE"
#: Seconds any one connect or read of a download may take before it is abandoned.
SOCKET_TIMEOUT_S = 30.0
_MISSING_SHOWN = 6


def offline_requested(offline: bool = False) -> bool:
    """True when the caller or the environment (``BENCH_OFFLINE=1``) forbids downloads."""
    flag = os.environ.get(OFFLINE_ENV, "").strip().lower()
    return offline or flag in {"1", "true", "yes", "on"}


def missing_data_error(name: str, root: Path, missing: list[str], reason: str) -> DatasetError:
    """The one-line error for absent files: which files, where, why, and how to fix it."""
    shown = ", ".join(missing[:_MISSING_SHOWN])
    if len(missing) > _MISSING_SHOWN:
        shown += f" and {len(missing) - _MISSING_SHOWN} more"
    return DatasetError(
        f"{name} is not in {root}/ (missing {shown}); {reason}: run `bench data fetch {name} "
        f"--data-dir {root}` where the network is reachable, or put those files there"
    )


def ensure_files(
    name: str,
    root: Path,
    missing_files: Callable[[Path], list[str]],
    download: Callable[[Path], None],
    offline: bool,
) -> bool:
    """Make ``missing_files(root)`` empty, downloading if allowed; True if it downloaded."""
    missing = missing_files(root)
    if not missing:
        return False
    if offline_requested(offline):
        reason = f"offline ({OFFLINE_ENV}=1, --offline, or offline: true in a sweep)"
        raise missing_data_error(name, root, missing, reason)
    with _download_lock(name, root, missing):
        missing = missing_files(root)  # Another process may have fetched it meanwhile.
        if not missing:
            return False
        try:
            with _socket_timeout(SOCKET_TIMEOUT_S), _archives_stay_inside():
                download(root)
        except Exception as error:  # Any failure of a download means the same to the user.
            reason = f"download failed ({type(error).__name__}: {_summary(error)})"
            raise missing_data_error(name, root, missing, reason) from error
    missing = missing_files(root)
    if missing:
        raise missing_data_error(name, root, missing, "the download did not produce them")
    return True


def _summary(error: BaseException) -> str:
    """First and last line of a message (torchvision's start with the file, end with why)."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    if len(lines) > 1:
        return f"{lines[0]} … {lines[-1]}"
    return lines[0] if lines else "no message"


@contextlib.contextmanager
def _socket_timeout(seconds: float) -> Iterator[None]:
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(seconds)
    try:
        yield
    finally:
        socket.setdefaulttimeout(previous)


@contextlib.contextmanager
def _archives_stay_inside() -> Iterator[None]:
    """Every tar archive extracted meanwhile goes through ``tarfile.data_filter``.

    torchvision extracts with a bare ``extractall``: a member named ``../x`` or ``/x``, or a
    link pointing outside, would write outside the data directory. The ``data`` filter
    (Python >= 3.11.4, the default from 3.14) refuses those members, links outside the
    target and device files. Zip extraction already drops ``..`` and leading ``/``.
    """
    previous = tarfile.TarFile.extraction_filter
    tarfile.TarFile.extraction_filter = staticmethod(tarfile.data_filter)
    try:
        yield
    finally:
        tarfile.TarFile.extraction_filter = previous


@contextlib.contextmanager
def _download_lock(name: str, root: Path, missing: list[str]) -> Iterator[None]:
    """Hold an exclusive lock on ``root/.<name>.download.lock`` (creating ``root``)."""
    try:
        root.mkdir(parents=True, exist_ok=True)
        handle = open(root / f".{name}.download.lock", "w")  # noqa: SIM115 (held below)
    except OSError as error:
        reason = f"cannot download into it ({type(error).__name__}: {error.strerror or error})"
        raise missing_data_error(name, root, missing, reason) from None
    with handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
