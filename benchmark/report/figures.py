"""Every figure of a report, written as PNG files into the report's folder.

Two Pareto plots (accuracy vs parameters, accuracy vs training time) from the Pareto
table; per cell, the learning curves and the confusion matrix of its best trial. The
curves come from ``epochs.parquet``, the matrix from the trial's raw record
(``trials/<id>.json``): the Parquet tables keep per-class figures but not the matrix.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from benchmark.report.pareto_plots import (
    accuracy_vs_parameters_figure,
    accuracy_vs_train_time_figure,
)
from benchmark.report.plots import confusion_matrix_figure, learning_curves_figure, save_figure
from benchmark.report.sources import ReportData
from benchmark.report.tables import Report


@dataclass(frozen=True)
class FigureFile:
    """A written figure: its caption and its file name, relative to the report's folder."""

    caption: str
    filename: str
    section: str  # "pareto", "learning curves" or "confusion matrices"


def write_figures(report: Report, data: ReportData, out_dir: Path) -> list[FigureFile]:
    """Draw and save every figure of ``report`` into ``out_dir``; return them in order."""
    out_dir = Path(out_dir)
    written: list[FigureFile] = []

    def save(figure, caption: str, filename: str, section: str) -> None:
        save_figure(figure, out_dir / filename)
        written.append(FigureFile(caption, filename, section))

    rows = report.pareto.frame
    save(accuracy_vs_parameters_figure(rows), "Accuracy vs parameters",
         "accuracy_vs_params.png", "pareto")  # fmt: skip
    save(accuracy_vs_train_time_figure(rows), "Accuracy vs training time",
         "accuracy_vs_train_time.png", "pareto")  # fmt: skip

    several_sweeps = report.best["sweep_id"].nunique() > 1
    for _, best in report.best.dropna(subset=["trial_id"]).iterrows():
        stem = _file_stem(best["cell"], best["sweep_id"] if several_sweeps else None)
        title = f"{best['cell']} — trial {best['trial_id']}"
        epochs = _epochs_of(data.epochs, best["sweep_id"], best["trial_id"])
        if not epochs.empty:
            save(learning_curves_figure(epochs, title), f"Learning curves: {title}",
                 f"curves_{stem}.png", "learning curves")  # fmt: skip
        record = data.record(best["sweep_id"], best["trial_id"]) or {}
        class_report = record.get("class_report") or {}
        matrix = class_report.get("confusion_matrix")
        if matrix:
            names = class_report.get("class_names") or record.get("class_names") or []
            save(confusion_matrix_figure(matrix, names, title), f"Confusion matrix: {title}",
                 f"confusion_{stem}.png", "confusion matrices")  # fmt: skip
    return written


def _epochs_of(epochs: pd.DataFrame, sweep_id: str, trial_id: str) -> pd.DataFrame:
    mask = (epochs["sweep_id"] == sweep_id) & (epochs["trial_id"] == trial_id)
    return epochs[mask].sort_values("epoch")


def _file_stem(cell: str, sweep_id: str | None) -> str:
    """``standard_cnn/digits`` → ``standard_cnn-digits``: safe in a file name and a URL."""
    text = f"{sweep_id}-{cell}" if sweep_id else cell
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-")
