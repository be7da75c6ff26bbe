"""Seeded stratified carving: a partition, proportional per class, repeatable."""

from __future__ import annotations

import numpy as np
import pytest

from benchmark.data.splits import stratified_split
from benchmark.errors import DatasetError

LABELS = np.array([0] * 50 + [1] * 30 + [2] * 20)


def test_carving_partitions_the_indices():
    kept, carved = stratified_split(LABELS, 0.2, seed=0)
    assert len(carved) == 20
    assert np.array_equal(np.sort(np.concatenate([kept, carved])), np.arange(100))


def test_every_class_keeps_its_share_in_the_carved_part():
    _, carved = stratified_split(LABELS, 0.2, seed=0)
    assert np.bincount(LABELS[carved]).tolist() == [10, 6, 4]


def test_the_carved_total_is_exact_even_when_shares_are_fractional():
    labels = np.array([0] * 7 + [1] * 7 + [2] * 7)
    _, carved = stratified_split(labels, 0.3, seed=0)
    assert len(carved) == round(0.3 * 21)
    assert sorted(np.bincount(labels[carved]).tolist()) == [2, 2, 2]


def test_same_seed_same_indices_other_seed_other_indices():
    first = stratified_split(LABELS, 0.2, seed=3)[1]
    assert np.array_equal(first, stratified_split(LABELS, 0.2, seed=3)[1])
    assert not np.array_equal(first, stratified_split(LABELS, 0.2, seed=4)[1])


def test_at_least_one_image_is_carved_and_too_few_images_is_an_error():
    _, carved = stratified_split(np.array([0, 1, 0, 1]), 0.1, seed=0)
    assert len(carved) == 1
    with pytest.raises(DatasetError, match="too few images"):
        stratified_split(np.array([0]), 0.5, seed=0)
