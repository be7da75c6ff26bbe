"""CIFAR-10 read from its python pickle batches, in torchvision's layout."""

from __future__ import annotations

import numpy as np
import pytest
from formats import CIFAR10_LABEL_NAMES, truncate, write_cifar10

from benchmark.data import get_dataset
from benchmark.errors import DatasetError


def test_cifar10_loads_train_test_classes_and_pixels_from_the_pickles(tmp_path):
    written = write_cifar10(tmp_path, per_batch=4, test_count=10)
    bundle = get_dataset("cifar10", tmp_path, offline=True)

    assert bundle.class_names == CIFAR10_LABEL_NAMES
    assert bundle.input_shape == (3, 32, 32) and bundle.num_classes == 10
    assert (len(bundle.train), len(bundle.val), len(bundle.test)) == (18, 2, 10)
    assert np.array_equal(bundle.test.images.numpy(), written.test.images)
    assert np.array_equal(bundle.test.labels.numpy(), written.test.labels)
    # Train and validation together are exactly the five training batches.
    carved = np.concatenate([bundle.train.images.numpy(), bundle.val.images.numpy()])
    assert sorted(map(bytes, carved)) == sorted(map(bytes, written.train.images))
    assert bundle.flip_ok and bundle.mean == pytest.approx((0.4914, 0.4822, 0.4465))


def test_missing_cifar10_offline_names_the_files_and_the_directory(tmp_path):
    with pytest.raises(DatasetError) as caught:
        get_dataset("cifar10", tmp_path / "nowhere", offline=True)
    message = str(caught.value)
    assert "\n" not in message
    assert "cifar-10-batches-py/data_batch_1" in message
    assert f"{tmp_path / 'nowhere'}/" in message
    assert "bench data fetch cifar10" in message


def test_one_missing_batch_is_named(tmp_path):
    write_cifar10(tmp_path)
    (tmp_path / "cifar-10-batches-py" / "data_batch_4").unlink()
    with pytest.raises(DatasetError, match=r"missing cifar-10-batches-py/data_batch_4\)"):
        get_dataset("cifar10", tmp_path, offline=True)


def test_a_truncated_pickle_is_an_error_naming_the_file(tmp_path):
    write_cifar10(tmp_path)
    broken = truncate(tmp_path / "cifar-10-batches-py" / "data_batch_3")
    with pytest.raises(DatasetError, match=f"corrupt CIFAR-10 file {broken}"):
        get_dataset("cifar10", tmp_path, offline=True)


def test_the_environment_variable_alone_makes_loading_offline(tmp_path, monkeypatch):
    monkeypatch.setenv("BENCH_OFFLINE", "1")
    with pytest.raises(DatasetError, match=r"offline \(BENCH_OFFLINE=1"):
        get_dataset("cifar10", tmp_path)
