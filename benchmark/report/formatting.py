"""How the report's numbers read on a page: one text version of each table for every format.

The terminal, Markdown and HTML reports show the same strings (exact parameter counts with
thousands separators, accuracy as ``mean ± std (n=…)``, fronts as ``✓``), built here once;
the CSV files keep the raw numbers instead. A column that only tells sweeps apart is shown
only when the report covers more than one sweep.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import pandas as pd

from benchmark.report.tables import ReportTable

FRONT_HEADERS = {
    "front": "P·T·A",
    "front_params_acc": "P·A",
    "front_time_acc": "T·A",
    "front_params_time": "P·T",
}
FRONT_LEGEND = "fronts (✓ = on the Pareto front): P params_total ↓, T train_time_s ↓, A accuracy ↑"

Formatter = Callable[[pd.Series], str]


def display_frame(table: ReportTable, compact: bool = False) -> pd.DataFrame:
    """``table`` as strings under readable headers, in the order a reader wants them.

    ``compact`` (the terminal) leaves out the architecture and dataset columns where the
    cell key already says them (no labels were given).
    """
    frame = table.frame
    columns = _COLUMNS[table.kind]
    if compact and _cells_say_names(frame):
        columns = [(h, f) for h, f in columns if h not in ("architecture", "dataset")]
    if "sweep_id" in frame and frame["sweep_id"].nunique() > 1:
        columns = [("sweep", lambda row: _text(row["sweep_id"])), *columns]
    shown = {header: [format_(row) for _, row in frame.iterrows()] for header, format_ in columns}
    return pd.DataFrame(shown, columns=[header for header, _ in columns], dtype=object)


def _cells_say_names(frame: pd.DataFrame) -> bool:
    if not {"cell", "architecture", "dataset"} <= set(frame.columns):
        return False
    names = frame["architecture"].astype(str) + "/" + frame["dataset"].astype(str)
    return bool(((names == frame["cell"]) | frame["architecture"].isna()).all())


def display_notes(table: ReportTable) -> list[str]:
    """The notes of ``table`` plus, for the Pareto table, what its front columns mean."""
    return table.notes + ([FRONT_LEGEND] if table.name == "pareto" else [])


def integer(value: Any) -> str:
    return "—" if _missing(value) else f"{int(value):,}"


def number(value: Any, digits: int = 3) -> str:
    return "—" if _missing(value) else f"{float(value):.{digits}g}"


def accuracy(value: Any, std: Any = None, n: Any = None) -> str:
    """``0.8600 ± 0.0100 (n=3)``; the spread only when there is one."""
    if _missing(value):
        return "—"
    text = f"{float(value):.4f}"
    if not _missing(std):
        text += f" ± {float(std):.4f}"
    if not _missing(n) and int(n) > 1:
        text += f" (n={int(n)})"
    return text


def _flag(value: Any) -> str:
    return "✓" if not _missing(value) and bool(value) else ""


def _yes_no(value: Any) -> str:
    return "—" if _missing(value) else ("yes" if bool(value) else "no")


def _text(value: Any) -> str:
    return "" if _missing(value) else str(value)


def _signed(value: Any, spread: Any = None) -> str:
    if _missing(value):
        return "—"
    text = f"{float(value):+.4f}"
    return text + (f" ± {float(spread):.4f}" if not _missing(spread) else "")


def _times(value: Any) -> str:
    return "—" if _missing(value) else f"{float(value):.3g}×"


def _missing(value: Any) -> bool:
    if value is None or value is pd.NA:
        return True
    return isinstance(value, float) and math.isnan(value)


def _column(name: str, format_: Callable[[Any], str] = _text) -> Formatter:
    return lambda row: format_(row.get(name))


_FRONTS = [(header, _column(column, _flag)) for column, header in FRONT_HEADERS.items()]
_MEASURES = [
    ("params", _column("params_total", integer)),
    ("trainable", _column("params_trainable", integer)),
    ("MACs/image", _column("macs_per_image", integer)),
    ("train time (s)", _column("train_time_s", number)),
    ("time to target (s)", _column("time_to_target_s", number)),
    ("test accuracy", lambda row: accuracy(row["accuracy"], row["accuracy_std"], row["n"])),
    ("device", _column("device")),
]

_COLUMNS: dict[str, list[tuple[str, Formatter]]] = {
    "pareto": [
        ("cell", _column("cell")),
        ("architecture", _column("architecture")),
        ("dataset", _column("dataset")),
        ("best trial", _column("trial_id")),
        *_MEASURES,
        ("trials", _column("trials", integer)),
        ("completed", _column("completed", integer)),
        ("early stopped", _column("early_stopped", integer)),
        ("diverged", _column("diverged", integer)),
        ("failed", _column("failed", integer)),
        ("outcome", _column("outcome")),
        *_FRONTS,
    ],
    "trials": [
        ("cell", _column("cell")),
        ("architecture", _column("architecture")),
        ("dataset", _column("dataset")),
        ("trial", _column("trial_id")),
        ("phase", _column("phase")),
        ("status", _column("status")),
        *_MEASURES,
        *_FRONTS,
        ("error", _column("error")),
    ],
    "pairs": [
        ("dataset", _column("dataset")),
        ("A", _column("a")),
        ("B", _column("b")),
        ("params A", _column("params_a", integer)),
        ("params B", _column("params_b", integer)),
        ("params B/A", _column("params_ratio", _times)),
        ("train time A (s)", _column("train_time_a_s", number)),
        ("train time B (s)", _column("train_time_b_s", number)),
        ("train time B/A", _column("train_time_ratio", _times)),
        ("accuracy A", lambda row: accuracy(row["accuracy_a"], None, row["n_a"])),
        ("accuracy B", lambda row: accuracy(row["accuracy_b"], None, row["n_b"])),
        ("Δ accuracy B−A", lambda row: _signed(row["accuracy_diff"], row["accuracy_diff_se"])),
        ("same device", _column("same_device", _yes_no)),
    ],
    "overfitting": [
        ("cell", _column("cell")),
        ("trial", _column("trial_id")),
        ("final train acc.", _column("final_train_accuracy", lambda v: number(v, 4))),
        ("final val acc.", _column("final_val_accuracy", lambda v: number(v, 4))),
        ("gap", _column("train_val_gap", _signed)),
        ("overfitting", _column("overfitting", _yes_no)),
        ("runs", _column("n", integer)),
    ],
}
