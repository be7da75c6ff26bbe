"""make_loader: normalised batches on the device; the in-memory and DataLoader paths agree."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from bundles import as_uint8, indexed_bundle, yielded_indices

from benchmark.data import get_dataset, make_loader
from benchmark.data.bundle import DatasetBundle


def test_batches_are_normalised_float_images_and_int64_labels(digits_bundle):
    loader = make_loader(digits_bundle, "train", batch_size=100, shuffle=False)
    images, labels = next(iter(loader))
    assert images.shape == (100, 1, 8, 8) and images.dtype == torch.float32
    assert labels.dtype == torch.int64 and torch.equal(labels, digits_bundle.train.labels[:100])
    mean, std = digits_bundle.mean[0], digits_bundle.std[0]
    assert np.array_equal(as_uint8(images, mean, std), digits_bundle.train.images[:100].numpy())
    assert (len(loader), loader.num_samples) == (13, 1294)
    assert sum(len(labels) for _, labels in loader) == 1294


def test_validation_and_test_loaders_never_augment(digits_bundle):
    for split in ("val", "test"):
        plain = make_loader(digits_bundle, split, batch_size=64, shuffle=False)
        asked = make_loader(digits_bundle, split, batch_size=64, shuffle=False, augment="strong")
        assert asked.augment.is_identity
        for (a, _), (b, _) in zip(plain, asked, strict=True):
            assert torch.equal(a, b)


def test_training_with_augment_none_yields_the_images_unchanged(digits_bundle):
    plain = make_loader(digits_bundle, "train", batch_size=500, shuffle=False, augment="none")
    augmented = make_loader(digits_bundle, "train", batch_size=500, shuffle=False,
                            augment="strong")  # fmt: skip
    reference = make_loader(digits_bundle, "val", batch_size=500, shuffle=False)
    first_plain, first_augmented = next(iter(plain))[0], next(iter(augmented))[0]
    mean, std = digits_bundle.mean[0], digits_bundle.std[0]
    assert np.array_equal(as_uint8(first_plain, mean, std), digits_bundle.train.images[:500])
    assert not torch.equal(first_plain, first_augmented)
    assert reference.num_samples == len(digits_bundle.val)


def test_an_epoch_is_repeatable_and_the_next_one_differs(digits_bundle):
    loader = make_loader(digits_bundle, "train", batch_size=256, augment="strong", seed=4)
    loader.set_epoch(2)
    first = [(images.clone(), labels.clone()) for images, labels in loader]
    again = list(loader)
    assert all(torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
               for a, b in zip(first, again, strict=True))  # fmt: skip
    loader.set_epoch(3)
    assert not torch.equal(next(iter(loader))[1], first[0][1])


def test_unshuffled_loaders_keep_the_split_order_and_drop_last_drops_the_tail():
    bundle = indexed_bundle(23)
    assert yielded_indices(make_loader(bundle, "test", batch_size=5, shuffle=False)) == list(
        range(23)
    )
    loader = make_loader(bundle, "train", batch_size=5, shuffle=False, drop_last=True)
    assert (len(loader), loader.num_samples) == (4, 20)
    assert yielded_indices(loader) == list(range(20))


def file_and_memory_bundles(folder) -> tuple[DatasetBundle, DatasetBundle]:
    """The same image folder twice: decoded per batch from files, and preloaded in memory."""
    options = {"path": str(folder), "image_size": 20, "test_fraction": 0.3}
    return get_dataset("imagefolder", **options), get_dataset("imagefolder", preload=True,
                                                              **options)  # fmt: skip


@pytest.mark.parametrize("augment", [None, "strong"])
def test_the_dataloader_path_and_the_in_memory_path_yield_the_same_tensors(pets_folder, augment):
    from_files, in_memory = file_and_memory_bundles(pets_folder)
    assert not from_files.train.in_memory and in_memory.train.in_memory
    for split in ("train", "test"):
        options = {"batch_size": 3, "augment": augment, "seed": 1, "num_workers": 0}
        decoded = make_loader(from_files, split, **options)
        sliced = make_loader(in_memory, split, **options)
        decoded.set_epoch(1)
        sliced.set_epoch(1)
        pairs = list(zip(decoded, sliced, strict=True))
        assert len(pairs) == len(decoded) > 1
        for (a_images, a_labels), (b_images, b_labels) in pairs:
            assert torch.equal(a_labels, b_labels)
            assert torch.equal(a_images, b_images)


def test_dataloader_workers_follow_set_epoch_across_epochs(pets_folder):
    from_files, in_memory = file_and_memory_bundles(pets_folder)
    workers = make_loader(from_files, "train", batch_size=3, num_workers=1, seed=2)
    memory = make_loader(in_memory, "train", batch_size=3, seed=2)
    for epoch in (0, 1):
        workers.set_epoch(epoch)
        memory.set_epoch(epoch)
        labels = torch.cat([labels for _, labels in workers])
        assert torch.equal(labels, torch.cat([labels for _, labels in memory]))


def test_a_loaders_workers_stop_cleanly_as_soon_as_it_is_dropped(pets_folder):
    """Dropped by its last reference (no cycle left for the garbage collector), a loader
    tells its workers to stop, and they exit by themselves: torch's shutdown under the
    cycle collector left them waiting until it terminated them 5 s later, in whatever
    the process did next (a lane's next trial)."""
    import gc
    import multiprocessing

    from_files, _ = file_and_memory_bundles(pets_folder)
    loader = make_loader(from_files, "train", batch_size=3, num_workers=1, seed=2)
    before = set(multiprocessing.active_children())
    for epoch in (0, 1):
        loader.set_epoch(epoch)
        assert sum(len(labels) for _, labels in loader) == loader.num_samples
    (worker,) = set(multiprocessing.active_children()) - before
    gc.disable()
    try:
        del loader
        assert worker.exitcode == 0, worker.exitcode  # stopped and joined, not terminated
    finally:
        gc.enable()


def test_normalisation_constants_are_made_once_per_device_not_per_batch(digits_bundle):
    """Made per batch on a GPU, each constant is a copy that stalls the GPU's queue."""
    from benchmark.data import transforms

    loader = make_loader(digits_bundle, "train", batch_size=64, augment=None)
    transforms._channel_constants.cache_clear()
    batches = sum(1 for _ in loader) + sum(1 for _ in loader)
    info = transforms._channel_constants.cache_info()
    assert batches == 2 * len(loader) > 2
    assert (info.misses, info.hits) == (1, batches - 1)
