"""Accuracy against cost, with the Pareto front drawn: the figures a study's paper shows.

One point per row of a Pareto table (a cell's best configuration, or a trial), its error
bar the standard deviation over repeats; colour = architecture, marker = device. The front
(cost ↓, accuracy ↑) is a staircase through its points, one per device: training times
from different hardware are never joined by one front. Figures are made with
``benchmark.report.plots.new_figure`` (no pyplot) and saved with its ``save_figure``.
"""

from __future__ import annotations

import pandas as pd
from matplotlib.figure import Figure

from benchmark.report.pareto import pareto_front_by
from benchmark.report.plots import new_figure

_MARKERS = ("o", "s", "^", "D", "v", "P", "X")
# Beyond this many points, labels would hide the points they name.
LABEL_MAX_POINTS = 20


def accuracy_vs_parameters_figure(frame: pd.DataFrame, title: str = "") -> Figure:
    """Accuracy against parameter count (log scale if wide), with the params–accuracy front."""
    return accuracy_front_figure(
        frame, "params_total", "parameters (total)", title or "Accuracy vs parameters",
        log_x=True, front_column="front_params_acc", per_device=False,
    )  # fmt: skip


def accuracy_vs_train_time_figure(frame: pd.DataFrame, title: str = "") -> Figure:
    """Accuracy against training time (log scale if wide), one time–accuracy front per device."""
    return accuracy_front_figure(
        frame, "train_time_s", "training time (s)", title or "Accuracy vs training time",
        log_x=True, front_column="front_time_acc",
    )  # fmt: skip


def accuracy_front_figure(
    frame: pd.DataFrame,
    cost: str,
    cost_label: str,
    title: str,
    log_x: bool = False,
    front_column: str | None = None,
    accuracy: str = "accuracy",
    per_device: bool = True,
) -> Figure:
    """Accuracy (y) against ``cost`` (x) with the front of (cost ↓, accuracy ↑) drawn.

    ``front_column`` names a boolean column already marking the front (the report's own
    marks, which also know which rows may be on it); without it the front is computed from
    the plotted points. ``per_device`` draws one front per device: right for a time, not
    needed for a parameter count, which the hardware does not change.
    """
    points = frame.assign(
        _x=pd.to_numeric(frame[cost]).astype(float),
        _y=pd.to_numeric(frame[accuracy]).astype(float),
    ).dropna(subset=["_x", "_y"])
    if "device" not in points:
        points["device"] = None
    if front_column and front_column in points:
        points["_front"] = points[front_column].astype(bool)
    else:
        by = "device" if per_device and points["device"].nunique() > 1 else None
        points["_front"] = pareto_front_by(points, {"_x": "min", "_y": "max"}, by)

    figure = new_figure(7.0, 4.8)
    axes = figure.add_subplot()
    axes.set_title(title)
    axes.set_xlabel(cost_label)
    axes.set_ylabel("test accuracy")
    axes.grid(alpha=0.3)
    if points.empty:
        axes.text(0.5, 0.5, "no completed trial to plot", ha="center", va="center",
                  transform=axes.transAxes)  # fmt: skip
        return figure

    labels = _point_labels(points)
    devices = list(dict.fromkeys(points["device"].fillna("unknown device")))
    colours = {name: f"C{i % 10}" for i, name in enumerate(dict.fromkeys(labels))}
    for device_index, device in enumerate(devices):
        on_device = points[points["device"].fillna("unknown device") == device]
        marker = _MARKERS[device_index % len(_MARKERS)]
        for label, group in on_device.groupby(labels[on_device.index], sort=False):
            std = group.get("accuracy_std")
            axes.errorbar(
                group["_x"], group["_y"], yerr=None if std is None else std.fillna(0.0),
                fmt=marker, color=colours[label], capsize=3,
                label=f"{label} ({device})" if len(devices) > 1 else label,
            )  # fmt: skip
    fronts = points.groupby("device", dropna=False) if per_device else [(None, points)]
    for _, group in fronts:
        front = group[group["_front"]].sort_values("_x")
        axes.step(front["_x"], front["_y"], where="post", color="0.3", linewidth=1,
                  linestyle="--", zorder=0)  # fmt: skip
    axes.plot([], [], color="0.3", linestyle="--", linewidth=1, label="Pareto front")
    if len(points) <= LABEL_MAX_POINTS:
        for index, row in points.iterrows():
            axes.annotate(labels[index], (row["_x"], row["_y"]), textcoords="offset points",
                          xytext=(4, 4), fontsize=7)  # fmt: skip
    # A log axis only pays when the costs span orders of magnitude (ResNet50 vs a tiny CNN).
    if log_x and (points["_x"] > 0).all() and points["_x"].max() >= 20 * points["_x"].min():
        axes.set_xscale("log")
    axes.legend(fontsize=7, loc="best")
    return figure


def _point_labels(points: pd.DataFrame) -> pd.Series:
    """The architecture's label, or the whole cell key when datasets differ."""
    cells = points["cell"].astype(str)
    datasets = cells.str.partition("/")[2]
    return cells if datasets.nunique() > 1 else cells.str.partition("/")[0]
