"""Caltech101 read from its 101_ObjectCategories tree of JPEGs; S2's six-class subset."""

from __future__ import annotations

import pytest
import torch
from formats import write_caltech101

from benchmark.data import get_dataset
from benchmark.data.sources.caltech import S2_CLASSES
from benchmark.errors import DatasetError

S2_COUNTS = {name: 5 for name in S2_CLASSES}


def test_all_classes_load_sorted_without_the_background_folder(tmp_path):
    write_caltech101(tmp_path, {**S2_COUNTS, "airplanes": 5})
    bundle = get_dataset("caltech101", tmp_path, offline=True, image_size=32)

    assert bundle.class_names == sorted([*S2_CLASSES, "airplanes"])
    assert "BACKGROUND_Google" not in bundle.class_names
    # 35 images: 7 carved for test (20 %), then 3 of the remaining 28 for validation.
    assert (len(bundle.train), len(bundle.val), len(bundle.test)) == (25, 3, 7)
    assert sorted(bundle.test.labels.tolist()) == list(range(7))  # one test image per class
    assert bundle.input_shape == (3, 32, 32)
    assert bundle.mean == pytest.approx((0.485, 0.456, 0.406))  # ImageNet's, for backbones


def test_the_s2_subset_keeps_the_study_order_and_labels_each_image_by_its_folder(tmp_path):
    write_caltech101(tmp_path, {**S2_COUNTS, "airplanes": 5})
    bundle = get_dataset("caltech101", tmp_path, offline=True, classes=list(S2_CLASSES))

    assert bundle.class_names == list(S2_CLASSES)
    assert len(bundle.train) + len(bundle.val) + len(bundle.test) == 30
    for split in (bundle.train, bundle.val, bundle.test):
        for path, label in zip(split.paths, split.labels.tolist(), strict=True):
            assert f"/{S2_CLASSES[label]}/" in path


def test_images_of_any_size_and_greyscale_ones_become_rgb_at_image_size(tmp_path):
    _, paths = write_caltech101(tmp_path, {"camera": 3, "brain": 3})
    bundle = get_dataset("caltech101", tmp_path, offline=True, image_size=48, test_fraction=0.34)
    everything = [(split, i) for split in (bundle.train, bundle.val, bundle.test)
                  for i in range(len(split))]  # fmt: skip
    for split, index in everything:
        image = split.read(index)
        assert image.shape == (3, 48, 48) and image.dtype == torch.uint8
    greyscale = str(paths[0])  # the fixture's first camera image is single-channel
    split, index = next((s, i) for s, i in everything if s.paths[i] == greyscale)
    image = split.read(index)
    assert torch.equal(image[0], image[1]) and torch.equal(image[1], image[2])


def test_a_tree_without_the_background_folder_loads(tmp_path):
    write_caltech101(tmp_path, S2_COUNTS, background=0)
    bundle = get_dataset("caltech101", tmp_path, offline=True, classes=["camera", "brain"])
    assert bundle.num_classes == 2


def test_an_unknown_class_is_an_error_with_suggestions(tmp_path):
    write_caltech101(tmp_path, S2_COUNTS)
    with pytest.raises(DatasetError, match=r"no class folder 'faces'.*did you mean Faces"):
        get_dataset("caltech101", tmp_path, offline=True, classes=["faces", "brain"])


def test_missing_caltech_offline_names_the_folder_expected(tmp_path):
    with pytest.raises(DatasetError, match="missing caltech101/101_ObjectCategories/<class>"):
        get_dataset("caltech101", tmp_path, offline=True)


def test_an_unreadable_jpeg_is_named_or_skipped_and_counted(tmp_path):
    directory, _ = write_caltech101(tmp_path, S2_COUNTS)
    broken = directory / "watch" / "image_0002.jpg"
    broken.write_bytes(b"not a jpeg at all")
    with pytest.raises(DatasetError, match=f"unreadable image {broken}.*on_corrupt: skip"):
        get_dataset("caltech101", tmp_path, offline=True)

    bundle = get_dataset("caltech101", tmp_path, offline=True, on_corrupt="skip")
    assert bundle.skipped_files == (str(broken),)
    assert len(bundle.train) + len(bundle.val) + len(bundle.test) == 29
