"""Classification figures of a finished trial, computed with scikit-learn."""

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
    class_indices = list(range(len(class_names)))
    # Imported here: scikit-learn (with SciPy and pandas) takes seconds to import, and every
    # process that imports the training loop (a trial's driver, Ray Train's controller)
    # would pay for it; only the worker that finishes a trial needs it.
    from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

    per_class = precision_recall_fscore_support(
        labels, predictions, labels=class_indices, zero_division=0
    )
    macro = precision_recall_fscore_support(
        labels, predictions, labels=class_indices, average="macro", zero_division=0
    )
    weighted = precision_recall_fscore_support(
        labels, predictions, labels=class_indices, average="weighted", zero_division=0
    )
    matrix = confusion_matrix(labels, predictions, labels=class_indices)
    return ClassReport(
        class_names=list(class_names),
        precision=[float(v) for v in per_class[0]],
        recall=[float(v) for v in per_class[1]],
        f1=[float(v) for v in per_class[2]],
        support=[int(v) for v in per_class[3]],
        precision_macro=float(macro[0]),
        recall_macro=float(macro[1]),
        f1_macro=float(macro[2]),
        precision_weighted=float(weighted[0]),
        recall_weighted=float(weighted[1]),
        f1_weighted=float(weighted[2]),
        confusion_matrix=matrix.astype(int).tolist(),
    )


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
