"""The tables of a study's report: the Pareto table, paired comparisons, overfitting.

All three start from the ``trials`` table (and ``epochs`` for learning-curve facts) as
pandas frames, so that the CLI, a notebook and a test build exactly the same numbers.

- **Pareto table**: one row per cell (architecture × dataset), its best configuration —
  the completed *search* trial best by the sweep's first objective, the rule the sweep
  itself used to choose what to repeat — with its test accuracy as mean ± std over that
  trial and its completed repeats. Failed, diverged and early-stopped trials never make a
  best, but every cell counts them, and a cell with nothing to show says why.
- **Paired comparison**: two architectures on the same dataset (standard vs separable
  convolutions): parameter and training-time ratios, accuracy difference and its spread.
- **Overfitting**: the train–validation gap of each model, flagged above 0.1 (STUDIES S3).

Training times from different devices are never ranked together: with more than one
device in a table, the fronts that involve time are drawn per device and the table says so.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from benchmark.errors import BenchError
from benchmark.report.pareto import FRONTS, mark_fronts
from benchmark.report.sources import DEFAULT_RANKING, ReportData

STATUSES = ("completed", "early_stopped", "diverged", "failed")
COMPLETED = "completed"
REPEAT = "repeat"

# A train accuracy this far above validation accuracy is overfitting (STUDIES.md, S3).
OVERFIT_GAP = 0.1
# A best test accuracy within this of 1 / classes learned nothing (STUDIES.md, S5's VGG16).
COLLAPSE_MARGIN = 0.05

Ranking = tuple[str, str]  # (metric, "max" | "min")


class PairError(BenchError):
    """A ``--pair A:B`` that is malformed or names architectures the results do not have."""


@dataclass
class ReportTable:
    """One table of the report: its rows and the notes a reader must see with them.

    ``name`` names its files (``pareto.csv``); ``kind`` its layout, where one name has two
    (the Pareto table of best configurations, or of every trial).
    """

    name: str
    title: str
    frame: pd.DataFrame
    notes: list[str] = field(default_factory=list)
    kind: str = ""

    def __post_init__(self) -> None:
        self.kind = self.kind or self.name


@dataclass
class Report:
    """What ``bench report`` shows, in every format: three tables and the report's notes."""

    pareto: ReportTable
    pairs: ReportTable
    overfitting: ReportTable
    best: pd.DataFrame  # one row per cell, whatever the Pareto table shows (for figures)
    notes: list[str] = field(default_factory=list)
    title: str = "Benchmark report"

    @property
    def tables(self) -> list[ReportTable]:
        return [self.pareto, self.pairs, self.overfitting]


def build_report(
    data: ReportData, every_trial: bool = False, pairs: Sequence[tuple[str, str]] = ()
) -> Report:
    """Every table of the report for the sweeps in ``data``.

    Of the epochs and classes tables it reads the rows of the trials it shows only: the
    best trial of each cell and its repeats (every trial with ``every_trial``).
    """
    best = best_per_cell(data.trials, data.rankings, None, data.planned_cells())
    with_best = best[best["trial_id"].notna()]
    best_keys = zip(with_best["sweep_id"], with_best["trial_id"], strict=True)
    best = with_outcomes(best, data.rows_of("classes", best_keys))
    pareto = pareto_table(best) if not every_trial else trials_pareto_table(data.trials)
    if not every_trial:
        pareto.notes.insert(0, _ranking_note(data.rankings))
    comparison = paired_comparison(best, pairs, data.architecture_order())
    overfit_rows = pareto.frame if every_trial else best
    shown = [(row["sweep_id"], trial_id) for _, row in overfit_rows.iterrows()
             for trial_id in _run_ids(row)]  # fmt: skip
    overfitting = overfitting_table(overfit_rows, data.trials, data.rows_of("epochs", shown))
    sweeps = ", ".join(f"{s.path.parent.name} {s.sweep_id}" for s in data.sweeps.values())
    title = f"Benchmark report: {sweeps}" if sweeps else "Benchmark report"
    return Report(pareto, comparison, overfitting, best, list(data.notes), title)


# --- the best configuration of each cell ------------------------------------------------


def best_per_cell(
    trials: pd.DataFrame,
    rankings: Mapping[str, Ranking] | None = None,
    classes: pd.DataFrame | None = None,
    planned: Mapping[str, Sequence[tuple[str, str, str]]] | None = None,
) -> pd.DataFrame:
    """One row per (sweep, cell): status counts, best trial, its measures over its runs.

    ``rankings`` gives each sweep's first objective (default: best_val_accuracy, max);
    ``classes`` (rows of the classes table, at least the best trials') lets a collapsed
    cell be named (``with_outcomes``); ``planned`` (sweep id → (cell key, architecture,
    dataset) of each cell) adds a row for a cell with no trial. ``runs`` lists the trial
    ids averaged: the best trial and its completed repeats.
    """
    rankings = rankings or {}
    rows = [
        _cell_row(group, rankings.get(sweep_id, DEFAULT_RANKING))
        for (sweep_id, _), group in trials.groupby(["sweep_id", "cell"], sort=False)
    ]
    seen = {(row["sweep_id"], row["cell"]) for row in rows}
    for sweep_id, cells in (planned or {}).items():
        for cell, architecture, dataset in cells:
            if (sweep_id, cell) not in seen:
                rows.append(_empty_cell_row(sweep_id, cell, architecture, dataset))
    frame = pd.DataFrame(rows, columns=_BEST_COLUMNS).astype(_COUNT_TYPES)
    frame = frame.sort_values(["sweep_id", "cell"], kind="stable", ignore_index=True)
    return with_outcomes(frame, classes)


def with_outcomes(best: pd.DataFrame, classes: pd.DataFrame | None) -> pd.DataFrame:
    """``best`` with the outcome of each cell that has a best trial: ``ok``, or collapsed
    when its accuracy is within ``COLLAPSE_MARGIN`` of chance (1 / the classes the trial
    reported in ``classes``; unknown without its rows there, and then ``ok``)."""
    class_counts = _class_counts(classes)
    outcomes = best["outcome"].astype(object).tolist()
    cells = zip(best["sweep_id"], best["trial_id"], best["accuracy"], strict=True)
    for position, (sweep_id, trial_id, accuracy) in enumerate(cells):
        if pd.notna(trial_id):
            outcomes[position] = _result_outcome(accuracy, class_counts.get((sweep_id, trial_id)))
    return best.assign(outcome=outcomes)


_BEST_COLUMNS = [
    "sweep_id", "cell", "architecture", "dataset", "trial_id", "params_total",
    "params_trainable", "macs_per_image", "train_time_s", "time_to_target_s", "accuracy",
    "accuracy_std", "n", "device", "trials", *STATUSES, "outcome", "runs",
]  # fmt: skip


# Counts stay integers with a gap (not floats) where a cell has no best trial.
_COUNT_TYPES = dict.fromkeys(
    ["params_total", "params_trainable", "macs_per_image", "n", "trials", *STATUSES], "Int64"
)


def _cell_row(group: pd.DataFrame, ranking: Ranking) -> dict:
    first = group.iloc[0]
    counts = {status: int((group["status"] == status).sum()) for status in STATUSES}
    row: dict = {
        "sweep_id": first["sweep_id"],
        "cell": first["cell"],
        "architecture": first.get("architecture"),
        "dataset": first.get("dataset"),
        "trials": len(group),
        **counts,
    }
    best_index = _best_trial(group, ranking)
    if best_index is None:
        row["outcome"] = _no_result(counts, len(group))
        row["n"] = 0
        return row
    best = group.loc[best_index]
    runs = group.loc[[best_index, *_repeats_of(best, group)]]
    on_device = runs[runs["device"].fillna("") == _text(best["device"])]
    accuracies = runs["test_accuracy"].dropna()
    row.update(
        trial_id=best["trial_id"],
        params_total=best["params_total"],
        params_trainable=best["params_trainable"],
        macs_per_image=best["macs_per_image"],
        device=best["device"],
        # Times only from runs on the best trial's device: never averaged across hardware.
        train_time_s=on_device["train_time_s"].mean(),
        time_to_target_s=on_device["time_to_target_s"].mean(),
        accuracy=accuracies.mean() if len(accuracies) else math.nan,
        accuracy_std=accuracies.std(ddof=1) if len(accuracies) > 1 else math.nan,
        n=len(accuracies),
        runs=" ".join(runs["trial_id"]),
    )
    return row


def _empty_cell_row(sweep_id: str, cell: str, architecture: str, dataset: str) -> dict:
    return {"sweep_id": sweep_id, "cell": cell, "architecture": architecture,
            "dataset": dataset, "trials": 0, "n": 0, **dict.fromkeys(STATUSES, 0),
            "outcome": "no trials recorded"}  # fmt: skip


def _best_trial(group: pd.DataFrame, ranking: Ranking) -> Hashable | None:
    """The index of the completed search trial best by ``ranking`` (ties: earliest trial).

    The same rule as the sweep's searcher (``benchmark.sweep.search``), so the repeats of
    the cell re-ran exactly this configuration. ``None`` when no trial qualifies.
    """
    metric, direction = ranking
    candidates = group[(group["status"] == COMPLETED) & (group["phase"] != REPEAT)]
    if metric not in candidates:
        return None
    values = pd.to_numeric(candidates[metric]).astype(float)
    scores = (values if direction == "max" else -values)[np.isfinite(values)]
    if scores.empty:
        return None
    order = pd.DataFrame({"score": scores, "number": candidates["trial_number"]})
    order = order.sort_values(["score", "number"], ascending=[False, True], kind="stable")
    return order.index[0]


def _repeats_of(best: pd.Series, group: pd.DataFrame) -> list:
    """Completed repeats that ran the best trial's configuration (with new seeds)."""
    repeats = group[(group["phase"] == REPEAT) & (group["status"] == COMPLETED)]
    hp_columns = [c for c in group.columns if c.startswith("hp_") and c != "hp_seed"]
    return [
        index
        for index, repeat in repeats.iterrows()
        if all(_same(best[c], repeat[c]) for c in hp_columns)
    ]


def _same(a, b) -> bool:
    return bool(pd.isna(a) and pd.isna(b)) or bool(a == b)


def _text(value) -> str:
    return "" if value is None or pd.isna(value) else str(value)


def _no_result(counts: Mapping[str, int], total: int) -> str:
    for status, label in (("failed", "all failed"), ("diverged", "all diverged"),
                          ("early_stopped", "all early-stopped")):  # fmt: skip
        if counts[status] == total:
            return label
    return "no usable trial"


def _result_outcome(accuracy: float, classes: int | None) -> str:
    if classes and not math.isnan(accuracy) and accuracy <= 1 / classes + COLLAPSE_MARGIN:
        return f"collapsed (chance {1 / classes:.2f})"
    return "ok"


def _class_counts(classes: pd.DataFrame | None) -> dict[tuple[str, str], int]:
    if classes is None or classes.empty:
        return {}
    return classes.groupby(["sweep_id", "trial_id"]).size().to_dict()


def _ranking_note(rankings: Mapping[str, Ranking]) -> str:
    described = sorted({f"{'highest' if d == 'max' else 'lowest'} {m}" for m, d in
                        (rankings.values() or [DEFAULT_RANKING])})  # fmt: skip
    return (
        f"best of each cell: the completed search trial with the {' / '.join(described)}; "
        "accuracy = test accuracy, mean ± std over it and its repeats (n runs)"
    )


# --- the Pareto table -------------------------------------------------------------------


def pareto_table(best: pd.DataFrame) -> ReportTable:
    """The best of each cell with its fronts marked (per device when devices differ)."""
    frame, notes = _with_fronts(best, best["n"] > 0)
    return ReportTable("pareto", "Pareto table (best configuration of each cell)", frame, notes)


def trials_pareto_table(trials: pd.DataFrame) -> ReportTable:
    """Every trial (``--all``), fronts drawn among the completed ones only."""
    frame = trials.rename(columns={"test_accuracy": "accuracy"}).assign(
        accuracy_std=math.nan, n=lambda f: f["accuracy"].notna().astype(int)
    )
    columns = [
        "sweep_id", "cell", "architecture", "dataset", "trial_id", "phase", "status",
        "params_total", "params_trainable", "macs_per_image", "train_time_s",
        "time_to_target_s", "accuracy", "accuracy_std", "n", "device", "error",
    ]  # fmt: skip
    frame = frame[columns].sort_values(["sweep_id", "cell", "trial_id"], ignore_index=True)
    frame = frame.astype({c: "Int64" for c in _COUNT_TYPES if c in frame.columns})
    frame, notes = _with_fronts(frame, frame["status"] == COMPLETED)
    notes.insert(0, "every trial; Pareto fronts among completed trials only")
    return ReportTable("pareto", "Pareto table (every trial)", frame, notes, kind="trials")


def _with_fronts(frame: pd.DataFrame, eligible: pd.Series) -> tuple[pd.DataFrame, list[str]]:
    """``frame`` with a column per front; only ``eligible`` rows can be on a front."""
    devices = sorted(frame.loc[eligible, "device"].dropna().unique())
    by = "device" if len(devices) > 1 else None
    marked = mark_fronts(frame[eligible], by=by)
    result = frame.copy()
    for column in FRONTS:
        result[column] = False
        result.loc[marked.index, column] = marked[column]
        result[column] = result[column].astype(bool)
    notes = []
    if by is not None:
        notes.append(
            f"times come from {len(devices)} devices ({', '.join(devices)}): the fronts that "
            "involve training time are computed per device, never across devices"
        )
    return result, notes


# --- paired comparison ------------------------------------------------------------------


def parse_pairs(texts: Sequence[str]) -> list[tuple[str, str]]:
    """``["standard_cnn:separable_cnn"]`` → ``[("standard_cnn", "separable_cnn")]``."""
    pairs = []
    for text in texts:
        a, sep, b = text.partition(":")
        if not sep or not a or not b or a == b:
            raise PairError(f"--pair '{text}' must name two architectures as A:B")
        pairs.append((a, b))
    return pairs


def paired_comparison(
    best: pd.DataFrame, pairs: Sequence[tuple[str, str]] = (), order: Sequence[str] = ()
) -> ReportTable:
    """B against A on each dataset: params and time ratios (B/A), accuracy difference (B−A).

    ``pairs`` names the architectures (their labels, as in the cell keys); without it,
    architectures sharing a suffix (``standard_cnn`` / ``separable_cnn``) are paired, or
    the two architectures of a dataset that has exactly two. ``order`` (the sweep file's)
    decides which of an automatic pair is the baseline A. The accuracy difference's spread
    is its standard error over the repeats, √(s_A²/n_A + s_B²/n_B), known only when both
    sides were repeated.
    """
    labelled = best.assign(
        label=best["cell"].str.partition("/")[0], dataset_label=best["cell"].str.partition("/")[2]
    )
    rows, matched = [], set()
    notes = ["Δ accuracy: B − A of the mean test accuracies, ± its standard error over repeats"]
    for (_, dataset), group in labelled.groupby(["sweep_id", "dataset_label"], sort=False):
        by_label = {row["label"]: row for _, row in group.iterrows()}
        for a, b in pairs or _automatic_pairs(list(by_label), order):
            if a in by_label and b in by_label:
                matched.add((a, b))
                rows.append(_pair_row(dataset, by_label[a], by_label[b]))
    missing = [f"{a}:{b}" for a, b in pairs if (a, b) not in matched]
    if missing:
        known = ", ".join(sorted(labelled["label"].unique())) or "none"
        raise PairError(
            f"--pair {', '.join(missing)}: no dataset has both architectures (known: {known})"
        )
    frame = pd.DataFrame(rows, columns=_PAIR_COLUMNS)
    frame["same_device"] = frame["same_device"].astype("boolean")
    if (~frame["same_device"].fillna(True)).any():
        notes.append("some pairs ran on different devices: their time ratios mix hardware")
    return ReportTable("pairs", "Paired comparison (B against A)", frame, notes)


_PAIR_COLUMNS = [
    "sweep_id", "dataset", "a", "b", "params_a", "params_b", "params_ratio", "train_time_a_s",
    "train_time_b_s", "train_time_ratio", "accuracy_a", "accuracy_b", "accuracy_diff",
    "accuracy_diff_se", "n_a", "n_b", "same_device",
]  # fmt: skip


def _automatic_pairs(labels: list[str], order: Sequence[str]) -> list[tuple[str, str]]:
    # The sweep file's order first; without one, a "standard_*" architecture is the baseline.
    rank = {label: index for index, label in enumerate(order)}
    labels = sorted(
        labels,
        key=lambda label: (rank.get(label, len(rank)), not label.startswith("standard"), label),
    )
    by_suffix: dict[str, list[str]] = {}
    for label in labels:
        prefix, sep, suffix = label.partition("_")
        if sep and prefix and suffix:
            by_suffix.setdefault(suffix, []).append(label)
    pairs = [(group[0], group[1]) for group in by_suffix.values() if len(group) == 2]
    if not pairs and len(labels) == 2:
        pairs = [(labels[0], labels[1])]
    return pairs


def _pair_row(dataset: str, a: pd.Series, b: pd.Series) -> dict:
    se = math.nan
    if a["n"] > 1 and b["n"] > 1:
        se = math.sqrt(a["accuracy_std"] ** 2 / a["n"] + b["accuracy_std"] ** 2 / b["n"])
    return {
        "sweep_id": a["sweep_id"],
        "dataset": dataset,
        "a": a["label"],
        "b": b["label"],
        "params_a": a["params_total"],
        "params_b": b["params_total"],
        "params_ratio": _ratio(b["params_total"], a["params_total"]),
        "train_time_a_s": a["train_time_s"],
        "train_time_b_s": b["train_time_s"],
        "train_time_ratio": _ratio(b["train_time_s"], a["train_time_s"]),
        "accuracy_a": a["accuracy"],
        "accuracy_b": b["accuracy"],
        "accuracy_diff": _number(b["accuracy"]) - _number(a["accuracy"]),
        "accuracy_diff_se": se,
        "n_a": a["n"],
        "n_b": b["n"],
        # Unknown (NA) when a side has no result, so no timing to compare.
        "same_device": pd.NA
        if pd.isna(a["device"]) or pd.isna(b["device"])
        else bool(a["device"] == b["device"]),
    }


def _ratio(numerator, denominator) -> float:
    numerator, denominator = _number(numerator), _number(denominator)
    return numerator / denominator if denominator else math.nan


def _number(value) -> float:
    return math.nan if value is None or pd.isna(value) else float(value)


# --- overfitting ------------------------------------------------------------------------


def overfitting_table(
    rows: pd.DataFrame, trials: pd.DataFrame, epochs: pd.DataFrame
) -> ReportTable:
    """Final train and validation accuracy and their gap per model (row of ``rows``).

    A row of the per-cell table averages its runs (``runs``); a row of the every-trial
    table is its trial. The gap is the trainer's own (``train_val_gap``: measured at the
    epoch whose weights were kept) where the trials table has it, else the last epoch's
    train accuracy minus its validation accuracy.
    """
    per_trial = _final_accuracies(trials, epochs)
    records = []
    for _, row in rows.iterrows():
        run_ids = _run_ids(row)
        keys = [(row["sweep_id"], trial_id) for trial_id in run_ids]
        runs = per_trial.reindex(pd.MultiIndex.from_tuples(keys, names=per_trial.index.names))
        gap = runs["train_val_gap"].mean() if keys else math.nan
        records.append(
            {
                "sweep_id": row["sweep_id"],
                "cell": row["cell"],
                "trial_id": row.get("trial_id"),
                "final_train_accuracy": runs["final_train_accuracy"].mean() if keys else math.nan,
                "final_val_accuracy": runs["final_val_accuracy"].mean() if keys else math.nan,
                "train_val_gap": gap,
                "overfitting": pd.NA if pd.isna(gap) else bool(gap > OVERFIT_GAP),
                "n": int(runs["train_val_gap"].notna().sum()) if keys else 0,
            }
        )
    frame = pd.DataFrame(records, columns=_OVERFIT_COLUMNS)
    frame["overfitting"] = frame["overfitting"].astype("boolean")
    note = f"overfitting: train accuracy above validation accuracy by more than {OVERFIT_GAP}"
    return ReportTable("overfitting", "Overfitting (train − validation accuracy)", frame, [note])


_OVERFIT_COLUMNS = [
    "sweep_id", "cell", "trial_id", "final_train_accuracy", "final_val_accuracy",
    "train_val_gap", "overfitting", "n",
]  # fmt: skip


def _run_ids(row: pd.Series) -> list[str]:
    """The trials a row stands for: its ``runs`` (per-cell table) or its own trial."""
    runs = row.get("runs")
    if isinstance(runs, str) and runs:
        return runs.split()
    trial_id = row.get("trial_id")
    return [trial_id] if isinstance(trial_id, str) else []


def _final_accuracies(trials: pd.DataFrame, epochs: pd.DataFrame) -> pd.DataFrame:
    """Per (sweep_id, trial_id): last-epoch train and val accuracy, and the gap."""
    last = (
        epochs.sort_values("epoch")
        .groupby(["sweep_id", "trial_id"])[["train_accuracy", "val_accuracy"]]
        .last()
        .rename(columns={"train_accuracy": "final_train_accuracy", "val_accuracy": "last_val"})
    )
    frame = trials.set_index(["sweep_id", "trial_id"])[["final_val_accuracy", "train_val_gap"]]
    frame = frame.join(last, how="left")
    frame["final_val_accuracy"] = frame["final_val_accuracy"].fillna(frame["last_val"])
    from_epochs = frame["final_train_accuracy"] - frame["last_val"]
    frame["train_val_gap"] = frame["train_val_gap"].fillna(from_epochs)
    return frame[["final_train_accuracy", "final_val_accuracy", "train_val_gap"]]
