"""MNIST and Fashion-MNIST read from idx-ubyte files, gzipped or not, by torchvision's parser."""

from __future__ import annotations

import numpy as np
import pytest
from formats import truncate, write_mnist_format

from benchmark.data import get_dataset
from benchmark.errors import DatasetError

FOLDERS = [("mnist", "MNIST", "0 - zero"), ("fashion_mnist", "FashionMNIST", "T-shirt/top")]


@pytest.mark.parametrize(("name", "folder", "first_class"), FOLDERS)
def test_gzipped_idx_files_load_with_torchvision_class_names(tmp_path, name, folder, first_class):
    written = write_mnist_format(tmp_path, folder, train_count=30, test_count=10)
    bundle = get_dataset(name, tmp_path, offline=True)

    assert bundle.input_shape == (1, 28, 28)
    assert bundle.class_names[0] == first_class and bundle.num_classes == 10
    assert (len(bundle.train), len(bundle.val), len(bundle.test)) == (27, 3, 10)
    assert np.array_equal(bundle.test.images.numpy(), written.test.images)
    assert np.array_equal(bundle.test.labels.numpy(), written.test.labels)
    assert not bundle.flip_ok  # a mirrored digit or shoe is another image
    # Decompressed once next to the archives, as torchvision's download leaves them.
    assert (tmp_path / folder / "raw" / "train-images-idx3-ubyte").is_file()


def test_uncompressed_idx_files_load_as_they_are(tmp_path):
    written = write_mnist_format(tmp_path, "MNIST", compressed=False)
    bundle = get_dataset("mnist", tmp_path, offline=True)
    assert np.array_equal(bundle.test.images.numpy(), written.test.images)


def test_missing_idx_files_offline_are_named_with_their_folder(tmp_path):
    with pytest.raises(DatasetError) as caught:
        get_dataset("fashion_mnist", tmp_path, offline=True)
    message = str(caught.value)
    assert "FashionMNIST/raw/train-images-idx3-ubyte(.gz)" in message
    assert "FashionMNIST/raw/t10k-labels-idx1-ubyte(.gz)" in message
    assert f"{tmp_path}/" in message


def test_a_truncated_idx_file_is_an_error_naming_it(tmp_path):
    write_mnist_format(tmp_path, "MNIST", compressed=False)
    broken = truncate(tmp_path / "MNIST" / "raw" / "t10k-images-idx3-ubyte")
    with pytest.raises(DatasetError, match=f"corrupt idx file {broken}"):
        get_dataset("mnist", tmp_path, offline=True)


def test_a_truncated_gzip_is_an_error_naming_it_and_leaves_no_partial_file(tmp_path):
    write_mnist_format(tmp_path, "MNIST")
    raw = tmp_path / "MNIST" / "raw"
    broken = truncate(raw / "train-images-idx3-ubyte.gz")
    with pytest.raises(DatasetError, match=f"corrupt file {broken}"):
        get_dataset("mnist", tmp_path, offline=True)
    assert not (raw / "train-images-idx3-ubyte").exists()
    assert not [path for path in raw.iterdir() if path.name.startswith(".")]


def test_labels_that_do_not_match_the_images_are_an_error(tmp_path):
    write_mnist_format(tmp_path, "MNIST", compressed=False)
    labels = tmp_path / "MNIST" / "raw" / "t10k-labels-idx1-ubyte"
    header, values = labels.read_bytes()[:8], labels.read_bytes()[8:]
    labels.write_bytes(header[:4] + (len(values) - 1).to_bytes(4, "big") + values[:-1])
    with pytest.raises(DatasetError, match=r"10 images but .* 9 labels"):
        get_dataset("mnist", tmp_path, offline=True)
