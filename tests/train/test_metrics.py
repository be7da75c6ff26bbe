"""The trial's classification figures equal scikit-learn's, which defines them."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

from benchmark.train.metrics import classification_report


def _sklearn(labels, predictions, classes: int):
    indices = list(range(classes))
    per_class = precision_recall_fscore_support(
        labels, predictions, labels=indices, zero_division=0
    )
    averages = {
        average: precision_recall_fscore_support(
            labels, predictions, labels=indices, average=average, zero_division=0
        )[:3]
        for average in ("macro", "weighted")
    }
    return per_class, averages, confusion_matrix(labels, predictions, labels=indices)


@pytest.mark.parametrize("seed", range(12))
def test_figures_equal_scikit_learns(seed):
    rng = np.random.default_rng(seed)
    classes = int(rng.integers(2, 12))
    samples = int(rng.integers(1, 300))
    # Some classes never occur and some are never predicted: the zero-division cases.
    labels = rng.integers(0, max(1, classes - seed % 3), samples)
    predictions = np.where(
        rng.uniform(size=samples) < 0.6, labels, rng.integers(0, classes, samples)
    )
    predictions = np.minimum(predictions, classes - 1 - seed % 2)
    report = classification_report(labels, predictions, [f"c{i}" for i in range(classes)])

    per_class, averages, matrix = _sklearn(labels, predictions, classes)
    np.testing.assert_allclose(report.precision, per_class[0], atol=1e-12)
    np.testing.assert_allclose(report.recall, per_class[1], atol=1e-12)
    np.testing.assert_allclose(report.f1, per_class[2], atol=1e-12)
    assert report.support == per_class[3].tolist()
    np.testing.assert_allclose(
        [report.precision_macro, report.recall_macro, report.f1_macro], averages["macro"],
        atol=1e-12,
    )  # fmt: skip
    np.testing.assert_allclose(
        [report.precision_weighted, report.recall_weighted, report.f1_weighted],
        averages["weighted"], atol=1e-12,
    )  # fmt: skip
    assert report.confusion_matrix == matrix.tolist()


def test_a_perfect_and_an_all_wrong_classifier():
    labels = np.array([0, 1, 2, 2])
    perfect = classification_report(labels, labels, ["a", "b", "c"])
    assert perfect.f1 == [1.0, 1.0, 1.0] and perfect.f1_macro == 1.0
    wrong = classification_report(labels, (labels + 1) % 3, ["a", "b", "c"])
    assert wrong.precision == wrong.recall == wrong.f1 == [0.0, 0.0, 0.0]
    assert wrong.confusion_matrix == [[0, 1, 0], [0, 0, 1], [2, 0, 0]]
