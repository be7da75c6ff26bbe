"""The registry: every dataset by name, one-line errors, the recorded validation split."""

from __future__ import annotations

import numpy as np
import pytest

from benchmark.data import (
    dataset_defaults,
    describe_datasets,
    get_dataset,
    keep_datasets,
    list_datasets,
)
from benchmark.errors import DatasetError, UnknownDatasetError

STUDY_DATASETS = {
    "cifar10", "fashion_mnist", "mnist", "caltech101", "imagefolder", "digits", "mnist_sample",
}  # fmt: skip


def test_every_dataset_of_the_studies_is_registered():
    assert set(list_datasets()) >= STUDY_DATASETS
    assert list_datasets("*mnist*") == ["fashion_mnist", "mnist", "mnist_sample"]


def test_unknown_dataset_is_an_error_that_suggests_close_names(tmp_path):
    with pytest.raises(UnknownDatasetError, match=r"unknown dataset 'cifar'.*cifar10"):
        get_dataset("cifar", tmp_path)


def test_unknown_option_is_one_line_naming_dataset_option_and_allowed_ones(tmp_path):
    with pytest.raises(DatasetError) as caught:
        get_dataset("caltech101", tmp_path, clases=["camera"])
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith("caltech101: unknown option 'clases'")
    assert "did you mean 'classes'" in message
    assert "allowed: classes, image_size, test_fraction" in message


def test_a_dataset_without_options_says_it_takes_none(tmp_path):
    with pytest.raises(DatasetError, match="cifar10: unknown option 'image_size'; cifar10 takes "
                                          "no options"):  # fmt: skip
        get_dataset("cifar10", tmp_path, image_size=64)


@pytest.mark.parametrize(
    ("option", "value", "expected"),
    [
        ("image_size", 0, "image_size must be an integer >= 1"),
        ("test_fraction", 1.5, "test_fraction must be a number between 0 and 1"),
        ("on_corrupt", "ignore", "on_corrupt must be one of error, skip"),
        ("flip_ok", "yes", "flip_ok must be true or false"),
    ],
)
def test_bad_option_values_are_named(pets_folder, option, value, expected):
    with pytest.raises(DatasetError, match=f"imagefolder: option {expected}"):
        get_dataset("imagefolder", path=str(pets_folder), **{option: value})


def test_option_defaults_reproduce_the_studies():
    assert dataset_defaults("caltech101")["image_size"] == 224
    assert dataset_defaults("caltech101")["classes"] is None
    assert dataset_defaults("digits") == {"test_fraction": 0.2, "test_seed": 0}


def test_validation_split_is_carved_from_train_stratified_and_recorded(digits_bundle):
    bundle = digits_bundle
    assert (bundle.val_fraction, bundle.split_seed) == (0.1, 0)
    # 1,797 digits: 359 carved for test, 10 % of the remaining 1,438 for validation.
    assert (len(bundle.train), len(bundle.val), len(bundle.test)) == (1294, 144, 359)
    val_counts = np.bincount(bundle.val.labels.numpy(), minlength=10)
    assert val_counts.min() >= 13 and val_counts.max() <= 16  # ~14.4 per class


def test_the_same_split_seed_carves_the_same_validation_images_and_another_seed_not(
    digits_bundle,
):
    again = get_dataset("digits", split_seed=0)
    other = get_dataset("digits", split_seed=1)
    assert np.array_equal(again.val.images.numpy(), digits_bundle.val.images.numpy())
    assert not np.array_equal(other.val.images.numpy(), digits_bundle.val.images.numpy())
    # The test split does not move with split_seed: every trial is scored on the same images.
    assert np.array_equal(other.test.images.numpy(), digits_bundle.test.images.numpy())


def test_kept_datasets_are_decoded_once_per_arguments_and_only_inside_the_block(tmp_path):
    with keep_datasets(limit=2):
        first = get_dataset("digits", tmp_path)
        assert get_dataset("digits", tmp_path) is first
        other_split = get_dataset("digits", tmp_path, split_seed=1)
        assert other_split is not first
        assert get_dataset("digits", tmp_path, split_seed=1) is other_split
        # A third dataset pushes out the one used longest ago (split seed 0).
        third = get_dataset("digits", tmp_path, split_seed=2)
        assert get_dataset("digits", tmp_path, split_seed=2) is third
        assert get_dataset("digits", tmp_path, split_seed=1) is other_split
        assert get_dataset("digits", tmp_path) is not first
    # Outside the block nothing is kept: every call decodes again.
    assert get_dataset("digits", tmp_path) is not get_dataset("digits", tmp_path)


def test_a_kept_dataset_still_refuses_bad_arguments(tmp_path):
    with keep_datasets():
        get_dataset("digits", tmp_path)
        with pytest.raises(DatasetError, match="val_fraction must be between 0 and 1"):
            get_dataset("digits", tmp_path, val_fraction=1.0)
        with pytest.raises(DatasetError, match="no_such_option"):
            get_dataset("digits", tmp_path, no_such_option=1)


def test_val_fraction_outside_zero_one_is_rejected():
    with pytest.raises(DatasetError, match="val_fraction must be between 0 and 1"):
        get_dataset("digits", val_fraction=1.0)


def test_describe_lists_every_dataset_with_shape_classes_and_sizes(tmp_path):
    rows = {row.entry.name: row for row in describe_datasets(tmp_path)}
    assert set(rows) == set(list_datasets())
    cifar10, caltech101 = rows["cifar10"].entry, rows["caltech101"].entry
    assert cifar10.input_shape == (3, 32, 32)
    assert (cifar10.train_size, cifar10.test_size) == (50_000, 10_000)
    assert rows["fashion_mnist"].entry.num_classes == 10
    assert caltech101.num_classes == 101 and caltech101.test_carved
    assert rows["digits"].availability == "packaged"
    assert rows["cifar10"].availability == "no"
