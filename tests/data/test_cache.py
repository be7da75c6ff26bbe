"""Decoded datasets kept on the machine's disk, memory-mapped by the processes that follow."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from formats import write_cifar10, write_mnist_format

from benchmark.data import get_dataset
from benchmark.data.cache import CACHE_LIMIT_ENV, cache_dir
from benchmark.files import CACHE_DIR_ENV


@pytest.fixture
def cache(tmp_path, monkeypatch) -> Path:
    """A cache of the test's own; returns the folder its entries are written to."""
    monkeypatch.setenv(CACHE_DIR_ENV, str(tmp_path / "cache"))
    return cache_dir()


def entries(folder: Path) -> list[Path]:
    return sorted(folder.glob("*.pt")) if folder.is_dir() else []


def mapped_files() -> set[str]:
    """The files this process has memory-mapped (Linux)."""
    lines = Path("/proc/self/maps").read_text().splitlines()
    return {line.split(maxsplit=5)[5] for line in lines if len(line.split(maxsplit=5)) == 6}


def same_splits(first, second) -> bool:
    return all(
        torch.equal(first.split(name).images, second.split(name).images)
        and torch.equal(first.split(name).labels, second.split(name).labels)
        for name in ("train", "val", "test")
    )


def test_a_dataset_decoded_once_is_mapped_from_the_cache_by_the_next_process(tmp_path, cache):
    written = write_cifar10(tmp_path / "data", per_batch=6, test_count=10)
    decoded = get_dataset("cifar10", tmp_path / "data", offline=True)

    (entry,) = entries(cache)
    assert np.array_equal(decoded.test.images.numpy(), written.test.images)
    # A new process finds the entry: its images are pages of the cache's file, not a copy.
    script = (
        "import sys, hashlib; from benchmark.data import get_dataset; "
        "b = get_dataset('cifar10', sys.argv[1], offline=True); "
        "maps = open('/proc/self/maps').read(); "
        "print(sys.argv[2] in maps, len(b.train), len(b.val), len(b.test), b.class_names[3], "
        "hashlib.sha256(b.train.images.numpy().tobytes()).hexdigest())"
    )
    shown = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path / "data"), str(entry)],
        capture_output=True, text=True, check=True,
    ).stdout.split()  # fmt: skip

    expected = hashlib.sha256(decoded.train.images.numpy().tobytes()).hexdigest()
    assert shown == ["True", "27", "3", "10", decoded.class_names[3], expected]
    assert entries(cache) == [entry]


def test_the_same_process_gets_the_same_splits_and_facts_from_the_cache(tmp_path, cache):
    write_cifar10(tmp_path, per_batch=6)
    first = get_dataset("cifar10", tmp_path, offline=True, split_seed=3)
    again = get_dataset("cifar10", tmp_path, offline=True, split_seed=3)

    (entry,) = entries(cache)
    assert str(entry) in mapped_files()
    assert same_splits(first, again)
    assert (again.class_names, again.mean, again.std, again.flip_ok) == (
        first.class_names, first.mean, first.std, first.flip_ok)  # fmt: skip
    assert (again.name, again.split_seed, again.val_fraction) == ("cifar10", 3, 0.1)


def test_a_changed_source_file_is_decoded_again(tmp_path, cache):
    write_cifar10(tmp_path, per_batch=4)
    assert len(get_dataset("cifar10", tmp_path, offline=True).train) == 18

    write_cifar10(tmp_path, per_batch=8)  # the same files, other contents

    assert len(get_dataset("cifar10", tmp_path, offline=True).train) == 36
    assert len(entries(cache)) == 2


def test_each_validation_carve_has_an_entry_of_its_own(tmp_path, cache):
    write_cifar10(tmp_path, per_batch=6)
    seed0 = get_dataset("cifar10", tmp_path, offline=True, split_seed=0)
    seed1 = get_dataset("cifar10", tmp_path, offline=True, split_seed=1)
    wider = get_dataset("cifar10", tmp_path, offline=True, split_seed=0, val_fraction=0.2)

    assert not torch.equal(seed0.val.images, seed1.val.images)
    assert (len(seed0.val), len(wider.val)) == (3, 6)
    assert len(entries(cache)) == 3


def test_a_gzipped_mnist_is_named_by_its_files_after_decoding(tmp_path, cache):
    """Decoding unpacks MNIST's .gz files beside them: the entry is named after that, so
    the next process finds it."""
    write_mnist_format(tmp_path, "MNIST", compressed=True)
    first = get_dataset("mnist", tmp_path, offline=True)
    again = get_dataset("mnist", tmp_path, offline=True)

    (entry,) = entries(cache)
    assert str(entry) in mapped_files() and same_splits(first, again)


def test_a_damaged_entry_is_decoded_again_and_replaced(tmp_path, cache):
    write_cifar10(tmp_path, per_batch=6)
    first = get_dataset("cifar10", tmp_path, offline=True)
    (entry,) = entries(cache)
    size = entry.stat().st_size
    # A new file in its place (the first bundle still maps the old one: cutting that one
    # short would take the pages from under it, as it would from any process using it).
    damaged = tmp_path / "damaged.pt"
    damaged.write_bytes(entry.read_bytes()[: size // 2])
    damaged.replace(entry)

    again = get_dataset("cifar10", tmp_path, offline=True)

    assert same_splits(first, again)
    assert entries(cache) == [entry] and entry.stat().st_size == size


def test_a_preloaded_image_folder_is_cached_and_one_read_from_files_is_not(pets_folder, cache):
    options = {"path": str(pets_folder), "image_size": 16}
    get_dataset("imagefolder", offline=True, **options)
    assert entries(cache) == []

    first = get_dataset("imagefolder", offline=True, preload=True, **options)
    again = get_dataset("imagefolder", offline=True, preload=True, **options)

    (entry,) = entries(cache)
    assert str(entry) in mapped_files() and same_splits(first, again)
    assert again.options["preload"] is True and again.class_names == ["cat", "dog", "fish"]


def test_the_cache_can_be_turned_off(tmp_path, monkeypatch):
    monkeypatch.setenv(CACHE_DIR_ENV, "off")
    write_cifar10(tmp_path, per_batch=6)
    assert cache_dir() is None

    bundle = get_dataset("cifar10", tmp_path, offline=True)

    assert len(bundle.train) == 27
    assert not any(str(path).endswith(".pt") for path in mapped_files())


def test_a_cache_that_cannot_be_written_is_passed_by(tmp_path, monkeypatch):
    blocked = tmp_path / "a-file"
    blocked.write_text("the cache's folder cannot be made under a file")
    monkeypatch.setenv(CACHE_DIR_ENV, str(blocked))
    written = write_cifar10(tmp_path / "data", per_batch=6)

    bundle = get_dataset("cifar10", tmp_path / "data", offline=True)

    assert np.array_equal(bundle.test.images.numpy(), written.test.images)
    assert blocked.read_text().startswith("the cache's folder")


def test_entries_used_least_recently_go_first_past_the_limit(tmp_path, cache, monkeypatch):
    write_cifar10(tmp_path, per_batch=6)
    for seed in (0, 1, 2):
        get_dataset("cifar10", tmp_path, offline=True, split_seed=seed)
    paths = entries(cache)
    assert len(paths) == 3
    size = paths[0].stat().st_size
    # Ages set by hand: the file system's clock is too coarse to order quick uses.
    for age, path in enumerate(paths):
        os.utime(path, (1_000_000 + age, 1_000_000 + age))
    get_dataset("cifar10", tmp_path, offline=True, split_seed=0)  # a use: now the newest
    used = [path for path in paths if path.stat().st_mtime > 2_000_000]
    assert len(used) == 1
    monkeypatch.setenv(CACHE_LIMIT_ENV, str(2.5 * size / 1e9))

    get_dataset("cifar10", tmp_path, offline=True, split_seed=9)  # a fourth entry

    oldest = next(path for path in paths if path not in used)
    kept = entries(cache)
    assert len(kept) == 2 and used[0] in kept and oldest not in kept


def test_a_process_waits_for_the_one_decoding_and_maps_what_it_wrote(tmp_path, cache):
    """Processes starting together (DDP workers, lanes) decode a dataset once between them."""
    from benchmark.data.cache import cache_entry, decoding_turn
    from benchmark.data.registry import _decode, dataset_entry

    data = tmp_path / "data"
    write_cifar10(data, per_batch=6)
    folder = (data / "cifar-10-batches-py").resolve()
    script = (
        "import logging, os, sys; logging.basicConfig(level=logging.INFO); "
        "from benchmark.data import get_dataset; "
        "b = get_dataset('cifar10', sys.argv[1], offline=True); "
        "print([l.split()[4] for l in open('/proc/self/maps') if l.rstrip().endswith('.pt')][0])"
    )
    with decoding_turn("cifar10", {}, 0.1, 0, folder):  # this process's turn to decode
        other = subprocess.Popen([sys.executable, "-c", script, str(data)], text=True,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip
        # The other process says it waits, and then does wait: it cannot end before this
        # turn does. Without turns it would decode at once, write its own entry and end.
        said = next((line for line in other.stderr if "waiting for another process" in line), "")
        assert "decoding cifar10" in said and other.poll() is None
        entry = cache_entry("cifar10", {}, 0.1, 0, folder)
        entry.store(_decode(dataset_entry("cifar10"), data, {}, 0.1, 0))
    mapped_inode, _ = other.communicate(timeout=120)

    assert other.returncode == 0
    assert int(mapped_inode) == entry.path.stat().st_ino  # it mapped the entry written here
    assert entries(cache) == [entry.path]


def test_a_write_a_killed_process_left_half_done_is_removed_a_day_later(tmp_path, cache):
    cache.mkdir(parents=True)
    stale, recent = cache / ".writing-stale", cache / ".writing-recent"
    for path in (stale, recent):
        path.write_bytes(b"half an entry")
    two_days_ago = time.time() - 2 * 24 * 3600
    os.utime(stale, (two_days_ago, two_days_ago))  # its writer died two days ago
    write_cifar10(tmp_path / "data", per_batch=6)

    get_dataset("cifar10", tmp_path / "data", offline=True)  # writes an entry

    assert not stale.exists() and recent.exists()  # the recent one may still be written
    assert len(entries(cache)) == 1


def test_a_limit_that_is_not_a_number_never_fails_a_load(tmp_path, cache, monkeypatch):
    """A trial's worker goes on (nothing evicted); `bench data cache` reports the setting."""
    monkeypatch.setenv(CACHE_LIMIT_ENV, "lots")
    written = write_cifar10(tmp_path / "data", per_batch=6)

    bundle = get_dataset("cifar10", tmp_path / "data", offline=True)

    assert np.array_equal(bundle.test.images.numpy(), written.test.images)
    assert len(entries(cache)) == 1
