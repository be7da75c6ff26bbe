"""Classification figures of a finished trial, from its confusion matrix.

Precision, recall and F1 per class and their macro and weighted averages are ratios of the
confusion matrix's counts, computed here as scikit-learn defines them
(``precision_recall_fscore_support`` with ``zero_division=0``; the tests hold the two
equal). They are not imported from scikit-learn because they are computed in every
training worker, and ``sklearn.metrics`` (with SciPy) costs a worker about 160 MB of memory
and a second of start-up (``perf/loop_vs_pytorch.py``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np


@dataclass(frozen=True)
class ClassReport:
    """Per-class precision, recall, F1 and support, with macro and weighted averages."""

    class_names: list[str]
    precision: list[float]
    recall: list[float]
    f1: list[float]
    support: list[int]
    precision_macro: float
    recall_macro: float
    f1_macro: float
    precision_weighted: float
    recall_weighted: float
    f1_weighted: float
    confusion_matrix: list[list[int]]

    def to_dict(self) -> dict:
        return asdict(self)


def classification_report(
    labels: np.ndarray, predictions: np.ndarray, class_names: Sequence[str]
) -> ClassReport:
    """Per-class and averaged figures; a class never predicted scores 0, not NaN."""
    classes = len(class_names)
    pairs = np.asarray(labels, dtype=np.int64) * classes + np.asarray(predictions, np.int64)
    matrix = np.bincount(pairs, minlength=classes * classes).reshape(classes, classes)
    true_positives = np.diag(matrix).astype(np.float64)
    support = matrix.sum(axis=1)
    predicted = matrix.sum(axis=0)
    precision = _ratio(true_positives, predicted)
    recall = _ratio(true_positives, support)
    f1 = _ratio(2 * true_positives, support + predicted)
    return ClassReport(
        class_names=list(class_names),
        precision=precision.tolist(),
        recall=recall.tolist(),
        f1=f1.tolist(),
        support=support.astype(int).tolist(),
        precision_macro=float(precision.mean()),
        recall_macro=float(recall.mean()),
        f1_macro=float(f1.mean()),
        precision_weighted=_weighted(precision, support),
        recall_weighted=_weighted(recall, support),
        f1_weighted=_weighted(f1, support),
        confusion_matrix=matrix.astype(int).tolist(),
    )


def _ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """numerator / denominator, 0 where the denominator is 0 (scikit-learn's zero_division=0)."""
    return np.divide(
        numerator, denominator, out=np.zeros_like(numerator, np.float64), where=denominator > 0
    )


def _weighted(values: np.ndarray, support: np.ndarray) -> float:
    total = support.sum()
    return float((values * support).sum() / total) if total > 0 else 0.0


def time_to_targets(
    val_accuracies: Sequence[float], cum_train_times_s: Sequence[float], targets: Sequence[float]
) -> dict[str, float | None]:
    """Training time until validation accuracy first reached each target (None if never)."""
    reached: dict[str, float | None] = {}
    for target in targets:
        reached[f"{target:g}"] = next(
            (
                time_s
                for accuracy, time_s in zip(val_accuracies, cum_train_times_s, strict=True)
                if accuracy >= target
            ),
            None,
        )
    return reached
