"""Figures of one trial: its confusion matrix and its learning curves, saved as PNG files.

The figures are plain ``matplotlib.figure.Figure`` objects drawn on an Agg canvas, never
through ``pyplot``: the driver of a sweep draws one per finished trial for hours, and
pyplot's global figure registry would keep every one of them alive (and would need a
display). Other plotting modules of the report build their figures with ``new_figure`` and
write them with ``save_figure`` so that every PNG of the platform is made the same way.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

# Above these many classes a count per cell, or a name per tick, is unreadable.
ANNOTATE_MAX_CLASSES = 20
NAMED_TICKS_MAX_CLASSES = 60


def new_figure(width_in: float, height_in: float) -> Figure:
    """A figure on its own Agg canvas: no display, no pyplot state, freed when dropped."""
    figure = Figure(figsize=(width_in, height_in), layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def save_figure(figure: Figure, path: str | Path, dpi: int = 120) -> Path:
    """Write ``figure`` as a PNG at ``path`` atomically (a reader never sees half a file)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    figure.savefig(temporary, format="png", dpi=dpi)
    os.replace(temporary, path)
    return path


def confusion_matrix_figure(
    matrix: Sequence[Sequence[int]] | np.ndarray, class_names: Sequence[str], title: str
) -> Figure:
    """Rows are true classes, columns predictions.

    Cells are coloured by the fraction of their true class (so that a rare class reads like
    a common one) and, up to ``ANNOTATE_MAX_CLASSES`` classes, annotated with their counts.
    The figure grows with the number of classes; beyond ``NAMED_TICKS_MAX_CLASSES`` the
    ticks show class indices instead of names (about 100 classes stay legible).
    """
    figure = _confusion_matrix_frame(class_names)
    _show_counts(figure, matrix, title)
    return figure


class ConfusionMatrixPainter:
    """Saves confusion matrices as PNG files, redrawing one figure per list of class names.

    A sweep's driver saves one for every finished trial while the next trial trains on the
    same cores. A new figure measures every tick label for its layout and makes all its
    artists again: about 0.4 CPU-seconds for ten classes on a 2-core machine, taken from
    the training beside it. The trials of one dataset share their class names, and with
    them the figure's size, ticks, colour bar and margins; only the cells, their counts and
    the title change. So the layout computed for the first matrix is kept, and each later
    one is drawn into the same figure: the same pixels a new figure would give (a test
    compares them), for about half the work.
    """

    def __init__(self) -> None:
        self._figures: dict[tuple[str, ...], Figure] = {}

    def save(
        self,
        matrix: Sequence[Sequence[int]] | np.ndarray,
        class_names: Sequence[str],
        title: str,
        path: str | Path,
    ) -> Path:
        names = tuple(str(name) for name in class_names)
        figure = self._figures.get(names)
        if figure is None:
            figure = confusion_matrix_figure(matrix, names, title)
            written = save_figure(figure, path)
            _keep_layout(figure)
            self._figures[names] = figure
            return written
        _show_counts(figure, matrix, title)
        return save_figure(figure, path)


def _keep_layout(figure: Figure) -> None:
    """Keep the axes where the figure's layout has just put them, and lay it out no more.

    Without a layout engine at all: with any (even ``"none"``'s placeholder), ``savefig``
    measures every artist in a pass of its own before drawing them, most of a redraw's
    work.
    """
    with matplotlib.rc_context(
        {"figure.autolayout": False, "figure.constrained_layout.use": False}
    ):
        figure.set_layout_engine(None)


def _confusion_matrix_frame(class_names: Sequence[str]) -> Figure:
    """What a confusion matrix of these classes looks like before its counts are known:
    the axes, their ticks, the colour bar and, up to ``ANNOTATE_MAX_CLASSES``, one empty
    text per cell."""
    classes = len(class_names)
    side_in = float(np.clip(2.5 + 0.22 * classes, 5.0, 16.0))
    figure = new_figure(side_in + 1.2, side_in)
    axes = figure.add_subplot()
    image = axes.imshow(
        np.zeros((classes, classes)), cmap="Blues", vmin=0.0, vmax=1.0, interpolation="nearest"
    )
    figure.colorbar(image, ax=axes, shrink=0.8, label="fraction of the true class")
    axes.set_xlabel("predicted class")
    axes.set_ylabel("true class")

    if classes <= NAMED_TICKS_MAX_CLASSES:
        ticks = np.arange(classes)
        labels = [str(name) for name in class_names]
        font_size = 8 if classes <= ANNOTATE_MAX_CLASSES else 6
    else:
        ticks = np.arange(0, classes, max(1, classes // 20))
        labels = [str(index) for index in ticks]
        font_size = 7
    axes.set_xticks(ticks, labels, rotation=90, fontsize=font_size)
    axes.set_yticks(ticks, labels, fontsize=font_size)

    if classes <= ANNOTATE_MAX_CLASSES:
        for row, column in np.ndindex(classes, classes):
            annotation = axes.text(column, row, "", ha="center", va="center", fontsize=8)
            # Inside its cell, it moves no margin: left out of the layout's measurements,
            # which would otherwise size every count's text (the same pixels, less work).
            annotation.set_in_layout(False)
    return figure


def _show_counts(figure: Figure, matrix: Sequence[Sequence[int]] | np.ndarray, title: str) -> None:
    """Colour the cells of a figure from ``_confusion_matrix_frame`` by ``matrix``, write
    their counts and the title."""
    counts = np.asarray(matrix, dtype=np.int64)
    row_totals = counts.sum(axis=1, keepdims=True)
    fractions = np.divide(counts, row_totals, out=np.zeros(counts.shape), where=row_totals > 0)
    axes = figure.axes[0]
    axes.images[0].set_data(fractions)
    axes.set_title(title)
    if not axes.texts:  # no counts past ANNOTATE_MAX_CLASSES classes
        return
    for annotation, count, fraction in zip(axes.texts, counts.flat, fractions.flat, strict=True):
        annotation.set_text(str(count))
        annotation.set_color("white" if fraction > 0.5 else "black")


def learning_curves_figure(epochs: Sequence[dict[str, Any]] | Any, title: str) -> Figure:
    """Loss and accuracy against the epoch, train and validation, side by side.

    ``epochs`` is a trial's history (a list of epoch dicts, or the rows of
    ``epochs.parquet`` as a pandas DataFrame); a missing value leaves a gap.
    """
    rows = epochs.to_dict("records") if hasattr(epochs, "to_dict") else list(epochs)
    rows = sorted(rows, key=lambda row: row.get("epoch", 0))
    epoch = [row.get("epoch") for row in rows]

    figure = new_figure(10.0, 4.0)
    figure.suptitle(title)
    loss_axes, accuracy_axes = figure.subplots(1, 2)
    for axes, quantity in ((loss_axes, "loss"), (accuracy_axes, "accuracy")):
        for split, style in (("train", "-"), ("val", "--")):
            values = [_number(row.get(f"{split}_{quantity}")) for row in rows]
            if not all(np.isnan(values)):
                marker = "o" if len(rows) <= 30 else None
                axes.plot(epoch, values, style, marker=marker, label=split)
        axes.set_xlabel("epoch")
        axes.xaxis.set_major_locator(MaxNLocator(integer=True))
        axes.set_ylabel(quantity)
        axes.grid(alpha=0.3)
        if axes.lines:
            axes.legend()
    return figure


def _number(value: Any) -> float:
    return float("nan") if value is None else float(value)
