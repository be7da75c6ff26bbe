"""Decoded datasets kept on this machine's disk, memory-mapped by every process that trains.

Every process that trains decodes its dataset: each lane of a sweep, each Ray Train job of
its own (``execution: train``), each inline trial, each DDP worker, each ``bench train``.
CIFAR-10's pickles take about 2.4 s to decode on a 2-core machine and 180 MB of memory per
process; an image folder preloaded at 224×224 far longer. The first process to decode a
dataset writes its three splits into one file here (``torch.save``); every later process
on the machine loads that file memory-mapped (``torch.load(mmap=True)``) in milliseconds,
and its pages are shared by all of them through the page cache. The mapping is
copy-on-write: nothing a trial did to its tensors could reach the file or another trial.
Processes that start together take turns (``decoding_turn``): one decodes, the others wait
and then map what it wrote.

An entry is named by everything that decides its contents: the dataset, its options with
their defaults, the validation carve (fraction and seed), the path, size and modification
time of every file of the folder it was decoded from, and the platform's version (whose
decoders made it); a changed file makes a new entry. Entries used least recently are
removed once the cache holds more than ``BENCH_CACHE_MAX_GB`` (default 20).
``BENCH_CACHE_DIR`` moves the cache (default ``$XDG_CACHE_HOME/bench``, else
``~/.cache/bench``); ``off`` turns it off. A cache that cannot be written (a read-only
home, a full disk) is passed by, never an error: the dataset is then decoded as without it.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import hashlib
import json
import logging
import math
import os
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from benchmark.data.bundle import DatasetBundle, TensorSplit
from benchmark.errors import BenchError
from benchmark.files import machine_cache_dir

CACHE_LIMIT_ENV = "BENCH_CACHE_MAX_GB"
DEFAULT_LIMIT_GB = 20.0
#: Part of every entry's name: a change to what an entry holds makes new names.
FORMAT = 1
SUFFIX = ".pt"
WRITING_PREFIX = ".writing-"
STALE_WRITE_S = 24 * 3600

_log = logging.getLogger(__name__)


class CacheSettingError(BenchError):
    """A setting of the dataset cache (an environment variable) that cannot be used."""


def cache_dir() -> Path | None:
    """Where decoded datasets are kept, or None when ``BENCH_CACHE_DIR=off``."""
    return machine_cache_dir("datasets")


@dataclass(frozen=True)
class CacheEntry:
    """One decoded dataset's file in the cache, and what rebuilds a bundle around it."""

    path: Path
    name: str
    options: dict[str, Any]
    val_fraction: float
    split_seed: int
    #: The folder the dataset was decoded from (shown by ``bench data cache``).
    source: Path

    def load(self) -> DatasetBundle | None:
        """The bundle held by this entry, memory-mapped; None when absent or unreadable."""
        import torch  # here: the registry, which imports this module, needs no torch

        if not self.path.is_file():
            return None
        try:
            held = torch.load(self.path, mmap=True, weights_only=True)
            bundle = self._bundle(held)
        except Exception as error:  # whatever is wrong with it, it is decoded again
            _log.warning("dataset cache: %s is unreadable (%s); decoding again", self.path, error)
            with contextlib.suppress(OSError):
                self.path.unlink()
            return None
        with contextlib.suppress(OSError):
            os.utime(self.path)  # used now: the last to be evicted
        return bundle

    def store(self, bundle: DatasetBundle) -> DatasetBundle:
        """Write ``bundle`` here and hand back its memory-mapped copy.

        The decoded tensors are then dropped by the caller, so that this process shares the
        file's pages with the next ones instead of keeping a private copy. A bundle with a
        split read from files (not decoded into memory) has nothing to keep; it and any
        bundle that cannot be written are handed back unchanged.
        """
        import torch

        splits = (bundle.train, bundle.val, bundle.test)
        if not all(isinstance(split, TensorSplit) for split in splits):
            return bundle
        described = {"dataset": self.name, "source": str(self.source), "options": self.options,
                     "val_fraction": self.val_fraction, "split_seed": self.split_seed,
                     "platform": _platform_version()}  # fmt: skip
        held = {"format": FORMAT, "facts": json.dumps(_facts(bundle)),
                "described": json.dumps(described, default=str)}  # fmt: skip
        for split_name, split in zip(("train", "val", "test"), splits, strict=True):
            held[f"{split_name}_images"] = split.images
            held[f"{split_name}_labels"] = split.labels
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            descriptor, temporary = tempfile.mkstemp(dir=self.path.parent, prefix=WRITING_PREFIX)
            try:
                with os.fdopen(descriptor, "wb") as file:
                    torch.save(held, file)
                os.replace(temporary, self.path)  # a reader never sees half an entry
            except BaseException:
                Path(temporary).unlink(missing_ok=True)
                raise
        except OSError as error:
            _log.warning("dataset cache: cannot write %s (%s); not cached", self.path, error)
            return bundle
        evict_least_recently_used(self.path.parent, keep=self.path)
        return self.load() or bundle

    def _bundle(self, held: dict[str, Any]) -> DatasetBundle:
        if held.get("format") != FORMAT:
            raise ValueError(f"format {held.get('format')}, expected {FORMAT}")
        facts = json.loads(held["facts"])
        train, val, test = (
            TensorSplit(held[f"{name}_images"], held[f"{name}_labels"])
            for name in ("train", "val", "test")
        )
        return DatasetBundle(
            name=self.name,
            train=train,
            val=val,
            test=test,
            class_names=facts["class_names"],
            mean=tuple(facts["mean"]),
            std=tuple(facts["std"]),
            flip_ok=facts["flip_ok"],
            val_fraction=self.val_fraction,
            split_seed=self.split_seed,
            options=self.options,
            skipped_files=tuple(facts["skipped_files"]),
        )


def cache_entry(
    name: str,
    options: dict[str, Any],
    val_fraction: float,
    split_seed: int,
    source: Path | None,
) -> CacheEntry | None:
    """The entry of a dataset decoded from the files under ``source`` with these options.

    None when the cache is off, or when there is no folder to name the entry by (a packaged
    dataset, a folder that does not exist: its builder says what is wrong).
    """
    directory = _usable_cache(source)
    if directory is None:
        return None
    identity = {
        "format": FORMAT,
        "platform": _platform_version(),
        "dataset": name,
        "options": options,
        "val_fraction": val_fraction,
        "split_seed": split_seed,
        "source": str(source.resolve()),
        "files": source_files(source),
    }
    return CacheEntry(
        directory / f"{_named(name, identity)}{SUFFIX}",
        name,
        options,
        val_fraction,
        split_seed,
        source.resolve(),
    )


@dataclass(frozen=True)
class CachedDataset:
    """One entry as ``bench data cache`` lists it."""

    path: Path
    size_bytes: int
    #: When the entry was last written or loaded (seconds since the epoch).
    last_used: float
    #: Dataset, source folder, options, carve and platform version; None if unreadable.
    described: dict[str, Any] | None


def cached_datasets() -> list[CachedDataset]:
    """Every entry of the cache, the most recently used first (none when it is off)."""
    directory = cache_dir()
    found = []
    for path in directory.glob(f"*{SUFFIX}") if directory is not None else []:
        with contextlib.suppress(OSError):  # removed meanwhile by another process
            status = path.stat()
            found.append(CachedDataset(path, status.st_size, status.st_mtime, _described(path)))
    return sorted(found, key=lambda entry: entry.last_used, reverse=True)


def clear_cache() -> tuple[int, int]:
    """Remove every entry; returns how many and their bytes. Processes that map an entry
    keep reading it: its pages live until their mappings go."""
    directory = cache_dir()
    removed, freed = 0, 0
    for path in directory.glob(f"*{SUFFIX}") if directory is not None else []:
        with contextlib.suppress(FileNotFoundError):  # removed meanwhile by another process
            size = path.stat().st_size
            path.unlink()
            removed, freed = removed + 1, freed + size
    return removed, freed


def limit_gb() -> float:
    """The size past which the entries used longest ago are removed (``BENCH_CACHE_MAX_GB``).

    Raises ``CacheSettingError`` for a value that is not a positive number.
    """
    text = os.environ.get(CACHE_LIMIT_ENV, "").strip()
    if not text:
        return DEFAULT_LIMIT_GB
    try:
        gigabytes = float(text)
    except ValueError:
        gigabytes = math.nan
    if not gigabytes > 0:  # NaN too
        raise CacheSettingError(
            f"{CACHE_LIMIT_ENV}={text!r} is not a positive number of gigabytes; "
            f"set it to e.g. {DEFAULT_LIMIT_GB:g}, or unset it"
        )
    return gigabytes


def _described(path: Path) -> dict[str, Any] | None:
    import torch

    try:  # mapped: only the small description is read from the disk
        return json.loads(torch.load(path, mmap=True, weights_only=True)["described"])
    except Exception:  # unreadable: listed as such, and decoded again when next needed
        return None


@contextlib.contextmanager
def decoding_turn(
    name: str,
    options: dict[str, Any],
    val_fraction: float,
    split_seed: int,
    source: Path | None,
) -> Iterator[None]:
    """Hold this machine's turn to look up, and if need be decode, one dataset.

    Processes that start together (a job's DDP workers, the lanes of a sweep, trials at
    once) would otherwise each decode the dataset and each keep a private copy: one
    decodes and writes the entry while the others wait, then they map it. The turn is an
    ``flock`` on a file of the cache, released by the kernel if its holder dies. Without a
    cache (off, not writable, nothing to name the entry by) there is no turn to take.
    """
    directory = _usable_cache(source)
    if directory is None:
        yield
        return
    identity = [str(source.resolve()), options, val_fraction, split_seed]
    path = directory / "locks" / f"{_named(name, identity)}.lock"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        lock = open(path, "a")  # noqa: SIM115 (held across the yield)
    except OSError:
        yield
        return
    with lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            _log.info("dataset cache: waiting for another process decoding %s", name)
            fcntl.flock(lock, fcntl.LOCK_EX)
        yield  # the lock goes with the file's closing


def source_files(folder: Path) -> list[tuple[str, int, int]]:
    """(path under ``folder``, size, modification time in ns) of every file, sorted."""
    found = []
    for directory, _, names in os.walk(folder):
        for file_name in names:
            path = Path(directory) / file_name
            with contextlib.suppress(OSError):  # gone meanwhile: not part of the dataset
                status = path.stat()
                found.append((str(path.relative_to(folder)), status.st_size, status.st_mtime_ns))
    return sorted(found)


def evict_least_recently_used(directory: Path, keep: Path) -> None:
    """Remove the entries used longest ago until the cache fits its limit (``keep`` stays).

    A process that has an evicted entry mapped keeps reading it: the file's pages live
    until its last mapping goes. Half-written files a killed process left behind (a day
    old: no write takes that long) go too.
    """
    for path in directory.glob(f"{WRITING_PREFIX}*"):
        with contextlib.suppress(OSError):
            if time.time() - path.stat().st_mtime > STALE_WRITE_S:
                path.unlink()
    try:
        limit = limit_gb() * 1e9
    except CacheSettingError as error:  # a trial's worker goes on; `bench data cache` says it
        _log.warning("dataset cache: %s; nothing evicted", error)
        return
    entries = []
    for path in directory.glob(f"*{SUFFIX}"):
        with contextlib.suppress(OSError):
            status = path.stat()
            entries.append((status.st_mtime, status.st_size, path))
    total = sum(size for _, size, _ in entries)
    for _, size, path in sorted(entries, key=lambda entry: entry[0]):
        if total <= limit:
            break
        if path == keep:
            continue
        with contextlib.suppress(OSError):
            path.unlink()
            total -= size


@functools.cache
def _platform_version() -> str:
    try:
        return metadata.version("raybench")
    except metadata.PackageNotFoundError:  # run from a source tree that is not installed
        return "unknown"


def _usable_cache(source: Path | None) -> Path | None:
    """The cache's folder, or None when it is off or there is no folder to name an entry by
    (a packaged dataset; a folder that does not exist, which its builder reports)."""
    directory = cache_dir()
    if directory is None or source is None or not source.is_dir():
        return None
    return directory


def _named(name: str, identity: Any) -> str:
    """``name`` and a digest of ``identity``: a file name that changes with either."""
    digest = hashlib.sha256(json.dumps(identity, sort_keys=True, default=str).encode())
    return f"{name}-{digest.hexdigest()[:24]}"


def _facts(bundle: DatasetBundle) -> dict[str, Any]:
    return {
        "class_names": [str(name) for name in bundle.class_names],
        "mean": list(bundle.mean),
        "std": list(bundle.std),
        "flip_ok": bool(bundle.flip_ok),
        "skipped_files": list(bundle.skipped_files),
    }
