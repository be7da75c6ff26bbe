"""The trial figures: drawn without pyplot, saved as whole PNG files."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from benchmark.report.plots import (
    ConfusionMatrixPainter,
    confusion_matrix_figure,
    learning_curves_figure,
    save_figure,
)

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

COLUMNS = ("epoch", "train_loss", "train_accuracy", "val_loss", "val_accuracy")
HISTORY = [
    dict(zip(COLUMNS, values, strict=True))
    for values in [
        (1, 1.28, 0.61, 0.53, 0.83),
        (2, 0.25, 0.93, 0.14, 0.96),
        (3, 0.19, 0.95, None, None),
    ]
]


def _assert_png(path) -> None:
    assert path.read_bytes()[:8] == PNG_SIGNATURE
    assert not list(path.parent.glob(".*.tmp")), "the temporary file was left behind"


def test_small_confusion_matrix_is_annotated_with_counts(tmp_path):
    matrix = [[35, 1, 0], [2, 30, 4], [0, 0, 36]]
    figure = confusion_matrix_figure(matrix, ["cat", "dog", "bird"], "3 classes")
    counts = sorted(text.get_text() for text in figure.axes[0].texts)
    assert counts == sorted(str(value) for row in matrix for value in row)
    _assert_png(save_figure(figure, tmp_path / "cm3.png"))


def test_confusion_matrix_of_102_classes_stays_readable(tmp_path):
    rng = np.random.default_rng(0)
    matrix = np.diag(rng.integers(5, 40, size=102)) + rng.integers(0, 2, size=(102, 102))
    matrix[7] = 0  # a class absent from the test split must not divide by zero
    names = [f"flower {index}" for index in range(102)]
    figure = confusion_matrix_figure(matrix, names, "102 classes")
    axes = figure.axes[0]
    assert len(axes.texts) == 0  # no counts: 10,404 numbers would be unreadable
    assert len(axes.get_xticks()) < 30
    _assert_png(save_figure(figure, tmp_path / "nested" / "cm102.png"))


@pytest.mark.parametrize("classes", [10, 102], ids=["counted", "too-many-to-count"])
def test_a_painter_redraws_its_figure_into_the_pixels_of_a_new_one(tmp_path, classes):
    """The painter keeps the first figure's layout for the next matrices of the same classes:
    each later PNG must be the one a new figure of that matrix would give."""
    rng = np.random.default_rng(1)
    names = [f"class {index}" for index in range(classes)]
    first = rng.integers(0, 50, size=(classes, classes))
    second = np.diag(rng.integers(100, 900, size=classes)) + rng.integers(0, 3, (classes, classes))
    painter = ConfusionMatrixPainter()
    painter.save(first, names, "simple_cnn/cifar10 · trial 1", tmp_path / "first.png")
    title = "simple_cnn/cifar10 · trial 0f3a2_00017"
    redrawn = painter.save(second, names, title, tmp_path / "second.png")
    drawn_anew = save_figure(confusion_matrix_figure(second, names, title), tmp_path / "new.png")

    _assert_png(redrawn)
    assert np.array_equal(_pixels(redrawn), _pixels(drawn_anew))
    assert not np.array_equal(_pixels(redrawn), _pixels(tmp_path / "first.png"))
    # Other classes get a figure of their own.
    three = painter.save(second[:3, :3], names[:3], "three classes", tmp_path / "three.png")
    three_anew = confusion_matrix_figure(second[:3, :3], names[:3], "three classes")
    assert np.array_equal(_pixels(three), _pixels(save_figure(three_anew, tmp_path / "3.png")))


def _pixels(path) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"))


@pytest.mark.parametrize("as_frame", [False, True], ids=["epoch-dicts", "dataframe"])
def test_learning_curves_show_train_and_val_loss_and_accuracy(tmp_path, as_frame):
    epochs = pd.DataFrame(HISTORY) if as_frame else HISTORY
    figure = learning_curves_figure(epochs, "simple_cnn/digits")
    loss_axes, accuracy_axes = figure.axes
    assert [line.get_label() for line in loss_axes.lines] == ["train", "val"]
    assert [line.get_label() for line in accuracy_axes.lines] == ["train", "val"]
    assert list(loss_axes.lines[0].get_xdata()) == [1, 2, 3]
    _assert_png(save_figure(figure, tmp_path / "curves.png"))


def test_saving_replaces_an_existing_file(tmp_path):
    path = tmp_path / "curves.png"
    path.write_bytes(b"stale")
    save_figure(learning_curves_figure(HISTORY[:1], "one epoch"), path)
    _assert_png(path)
