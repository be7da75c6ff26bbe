"""Benchmark 6, report at scale: `bench report` over 10,000 trials and 1,000,000 epoch rows.

The results are synthetic but laid out exactly as sweeps leave them: written by the
platform's own writer (``trial_tables`` + ``write_trial``), one Parquet file per trial in
each of ``trials.parquet/``, ``epochs.parquet/`` and ``classes.parquet/`` of each sweep
folder, beside a ``sweep.yaml`` that validates; then compacted into one file per table, as
each sweep's end does. The report is timed once on the per-trial files too (what it reads
while a sweep still runs). Left out: the raw ``trials/<id>.json`` records,
which only the figures of the HTML and Markdown formats read.

Three measured processes, each on its own so that its peak memory is its own:

* platform, in process: the function ``bench report`` runs (its click callback), timed
  after the imports, printing into a buffer;
* platform, end to end: ``python -m benchmark.cli report RESULTS`` as a user runs it;
* baseline: what a user would write instead with pandas: ``pd.read_parquet`` of each
  sweep's trials table, the best search trial of each cell, its repeats' mean and spread,
  and the Pareto front of the bests by hand. It reads neither the epochs nor the classes
  table, which the report also reads (for the overfitting table and collapse detection).

``--device`` is accepted for uniformity with the other scripts; the report runs on the CPU.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import harness

ARCHITECTURES = {  # name: (params_total, macs_per_image, seconds per training epoch)
    "standard_cnn": (94_762, 10_300_000, 3.0),
    "separable_cnn": (12_965, 1_290_000, 2.0),
    "simple_cnn": (2_122_186, 7_710_000, 4.0),
    "mlp": (820_874, 820_000, 0.5),
}
DATASETS = ("cifar10", "fashion_mnist")
CLASSES = 10
REPEATS = 3
# Outcomes of the search trials, as shares (the rest complete).
FAILED, DIVERGED, EARLY_STOPPED = 0.02, 0.04, 0.04
TARGET_REPORT_S = 3.0


@dataclass(frozen=True)
class Scale:
    """How many sweeps, trials per cell (architecture × dataset) and epochs per trial."""

    sweeps: int
    trials_per_cell: int
    epochs: int

    @property
    def trials(self) -> int:
        return self.sweeps * len(ARCHITECTURES) * len(DATASETS) * self.trials_per_cell


SCALES = {
    "tiny": Scale(sweeps=1, trials_per_cell=25, epochs=10),  # 200 trials, 2,000 epoch rows
    "full": Scale(sweeps=5, trials_per_cell=250, epochs=100),  # 10,000 and 1,000,000
}


def main() -> None:
    parser = harness.make_parser(__doc__.splitlines()[0])
    parser.add_argument(
        "--results-dir",
        type=Path,
        default=None,
        help="write the synthetic results here and keep them (reused when they are there "
        "already at the same size); default: a temporary folder",
    )
    parser.add_argument(
        "--repeats",
        type=int,
        default=None,
        help="runs of each measured process, taking turns; the fastest of each counts "
        "(default: 1 at size tiny, 2 at full)",
    )
    args = parser.parse_args()
    if args.side == "platform":
        harness.write_json(args.result, time_report(Path(args.results_dir)))
    elif args.side == "pandas":
        harness.write_json(args.result, pandas_by_hand(Path(args.results_dir)))
    elif args.results_dir is not None:
        compare(args, args.results_dir)
    else:
        with tempfile.TemporaryDirectory(prefix="perf-report-") as folder:
            compare(args, Path(folder))


def compare(args: Any, results_dir: Path) -> None:
    scale = SCALES[args.size]
    script = str(Path(__file__).resolve())
    side_args = ["--results-dir", str(results_dir)]
    start = time.perf_counter()
    reused = write_results(results_dir, scale)
    written_s = time.perf_counter() - start
    running = compact_s = None
    if not reused:
        # As a running sweep leaves them: one file per trial. Then as a finished one does.
        running = [harness.run_side(script, side, side_args)[0]["report_s"]
                   for side in ("platform", "pandas")]  # fmt: skip
        compact_s = compact_results(results_dir, scale)
    repeats = args.repeats or (1 if args.size == "tiny" else 2)
    best = harness.best_of_alternating(
        script, ["platform", "pandas"], side_args, repeats,
        score=lambda figures, _: -figures["report_s"],
    )  # fmt: skip
    (platform, platform_run), (baseline, baseline_run) = best["platform"], best["pandas"]
    command = [sys.executable, "-m", "benchmark.cli", "report", str(results_dir)]
    cli_runs = [harness.run_process(command).check("bench report") for _ in range(repeats)]
    cli_run = min(cli_runs, key=lambda run: run.wall_s)
    rows = [
        harness.Row(
            "report, in process", "s", platform["report_s"], baseline["report_s"],
            harness.Target(TARGET_REPORT_S, at_least=False, on_ratio=False, unit="s"),
        ),
        harness.Row("report, whole process", "s", cli_run.wall_s, baseline_run.wall_s),
        *([harness.Row("report of per-trial files (a running sweep), in process", "s",
                       *running)] if running is not None else []),
        harness.Row("peak RSS, whole process", "MB", cli_run.peak_rss_mb,
                    baseline_run.peak_rss_mb),
    ]  # fmt: skip
    notes = [
        "platform: `bench report RESULTS` (table format), in process = its click callback "
        "after the imports; whole process = `python -m benchmark.cli report` as a subprocess",
        "baseline: pd.read_parquet of each sweep's trials table, best search trial per "
        "cell, mean/std over its repeats, Pareto front by hand; it reads no epochs or "
        "classes table (the report does: overfitting table, collapse detection)",
        f"peak RSS of the in-process side: {platform_run.peak_rss_mb:,.0f} MB; the report "
        f"printed {platform['printed_lines']} lines, the baseline found {baseline['cells']} cells",
        f"results {'reused' if reused else 'written'} in {written_s:.1f} s; each measured "
        f"process ran {repeats} time(s), figures of the fastest",
        "a sweep's tables are one file each once it ends (benchmark.results.parquet.compact"
        + (f": {compact_s:.1f} s for these sweeps)" if compact_s is not None else ")")
        + "; while it runs, each trial's rows are a file of their own (the per-trial row; "
        "measured once, not when the results are reused)",
    ]
    workload = {
        **asdict(scale),
        "trials": scale.trials,
        "epoch_rows": scale.trials * scale.epochs,
        "class_rows": scale.trials * CLASSES,
        "parquet_files_while_running": 3 * scale.trials,
    }
    harness.report(
        "Report at scale", rows, device=args.device, size=args.size, workload=workload,
        notes=notes, json_path=args.json,
    )  # fmt: skip


# --- the synthetic results ---------------------------------------------------------------


def write_results(results_dir: Path, scale: Scale) -> bool:
    """Write ``scale``'s sweeps under ``results_dir``, one file per trial as a running sweep
    does; False when they are there already (and compacted)."""
    marker = _marker(results_dir)
    if marker.exists() and json.loads(marker.read_text()) == asdict(scale):
        return True
    for number in range(scale.sweeps):
        write_sweep(results_dir, number, scale)
    return False


def compact_results(results_dir: Path, scale: Scale) -> float:
    """Compact every sweep as a sweep's end does; the seconds that took."""
    from benchmark.results.parquet import compact, sweep_dirs

    start = time.perf_counter()
    for sweep_dir in sweep_dirs(results_dir):
        compact(sweep_dir)
    took = time.perf_counter() - start
    _marker(results_dir).write_text(json.dumps(asdict(scale)))
    return took


def _marker(results_dir: Path) -> Path:
    return results_dir / "perf-scale.json"


def sweep_yaml(name: str, scale: Scale) -> str:
    return f"""\
name: {name}
description: synthetic sweep of perf/report_at_scale.py
architectures: [{", ".join(ARCHITECTURES)}]
datasets: [{", ".join(DATASETS)}]
search:
  algorithm: optuna-tpe
  objectives:
    - metric: best_val_accuracy
  trials_per_cell: {scale.trials_per_cell - REPEATS}
space:
  lr: {{type: loguniform, low: 1e-4, high: 1e-1}}
  batch_size: {{type: choice, values: [32, 64, 128, 256]}}
  model.width: {{type: choice, values: [16, 32, 64]}}
fixed:
  epochs: {scale.epochs}
  optimizer: adam
repeats: {REPEATS}
targets: [0.5]
"""


def write_sweep(results_dir: Path, number: int, scale: Scale) -> None:
    """One sweep: every cell gets its search trials, then repeats of its best search trial."""
    import numpy as np

    from benchmark.results.parquet import write_trial
    from benchmark.results.schema import trial_tables

    name = f"scale_{number}"
    sweep_id = f"20270101-0000{number:02d}-perf"
    sweep_dir = results_dir / name / sweep_id
    sweep_dir.mkdir(parents=True, exist_ok=True)
    (sweep_dir / "sweep.yaml").write_text(sweep_yaml(name, scale))
    rng = np.random.default_rng(number)
    trial_number = 0
    for architecture, (params, macs, epoch_s) in ARCHITECTURES.items():
        for dataset in DATASETS:
            cell = f"{architecture}/{dataset}"
            searched = scale.trials_per_cell - REPEATS
            configs = [_random_config(rng, architecture, dataset, scale.epochs)
                       for _ in range(searched)]  # fmt: skip
            statuses = [_status(rng) for _ in range(searched)]
            quality = rng.uniform(0.3, 0.9, searched)
            # The best completed search trial, by validation accuracy: what gets repeated.
            best = int(np.argmax(np.where(np.array(statuses) == "completed", quality, -1.0)))
            plan = list(zip(["search"] * searched, statuses, configs, quality, strict=True))
            plan += [("repeat", "completed", configs[best], quality[best])] * REPEATS
            for phase, status, config, accuracy in plan:
                trial_id = f"trial-{trial_number:05d}"
                record = _record(
                    rng, sweep_id, name, trial_id, cell, phase, trial_number, status,
                    float(accuracy), params, macs, epoch_s * scale.epochs,
                )  # fmt: skip
                seeded = {**config, "seed": trial_number}
                tables = trial_tables(record, seeded, None)
                tables["epochs"] = _epochs(rng, sweep_id, trial_id, scale.epochs,
                                           float(accuracy), epoch_s)  # fmt: skip
                tables["classes"] = _classes(rng, sweep_id, trial_id, float(accuracy))
                write_trial(sweep_dir, trial_id, tables)
                trial_number += 1


def _random_config(rng, architecture: str, dataset: str, epochs: int) -> dict[str, Any]:
    return {
        "architecture": architecture,
        "dataset": dataset,
        "lr": float(10 ** rng.uniform(-4, -1)),
        "batch_size": int(rng.choice([32, 64, 128, 256])),
        "model": {"width": int(rng.choice([16, 32, 64]))},
        "epochs": epochs,
        "optimizer": "adam",
        "targets": [0.5],
    }


def _status(rng) -> str:
    draw = rng.uniform()
    for status, share in (("failed", FAILED), ("diverged", DIVERGED),
                          ("early_stopped", EARLY_STOPPED)):  # fmt: skip
        if draw < share:
            return status
        draw -= share
    return "completed"


def _record(
    rng, sweep_id: str, sweep_name: str, trial_id: str, cell: str, phase: str, number: int,
    status: str, accuracy: float, params: int, macs: int, train_time_s: float,
) -> dict[str, Any]:  # fmt: skip
    """A record shaped like ``benchmark.sweep.records.build_record``'s (without history:
    the epochs table is built from arrays, much faster than from per-epoch dicts)."""
    noisy = accuracy + rng.normal(0, 0.01)
    gap = float(rng.uniform(0.0, 0.2))
    metrics = {}
    if status in ("completed", "diverged"):
        metrics = {
            "status": status, "epochs_completed": 1, "best_epoch": 1,
            "best_val_accuracy": accuracy, "final_val_accuracy": accuracy,
            "test_accuracy": noisy, "test_loss": 1.0 - noisy, "precision_macro": noisy,
            "recall_macro": noisy, "f1_macro": noisy, "train_val_gap": gap,
            "overfitting": gap > 0.1, "train_time_s": train_time_s * rng.uniform(0.9, 1.1),
            "eval_time_s": 1.0, "wall_time_s": train_time_s + 5.0, "params_total": params,
            "params_trainable": params, "macs_per_image": macs, "inference_latency_ms": 0.5,
            "inference_throughput": 5000.0, "peak_memory_mb": 900.0, "device": "cpu:x86_64",
            "num_workers": 1,
        }  # fmt: skip
    return {
        "trial_id": trial_id,
        "sweep_id": sweep_id,
        "sweep_name": sweep_name,
        "cell": cell,
        "phase": phase,
        "trial_number": number,
        "seed": number,
        "status": status,
        "error": None if status == "completed" else f"synthetic {status} trial",
        "epochs_completed": 1,
        "metrics": metrics,
        "time_to_target_s": {"0.5": train_time_s / 2} if accuracy > 0.5 else {},
        "started_at": "2027-01-01T00:00:00.000+00:00",
        "finished_at": "2027-01-01T01:00:00.000+00:00",
    }


def _epochs(rng, sweep_id: str, trial_id: str, epochs: int, accuracy: float, epoch_s: float):
    import numpy as np
    import pyarrow as pa

    from benchmark.results.schema import EPOCHS_SCHEMA

    progress = np.arange(1, epochs + 1) / epochs
    val_accuracy = accuracy * progress + rng.normal(0, 0.005, epochs)
    epoch_time_s = epoch_s * rng.uniform(0.95, 1.05, epochs)
    columns = {
        "sweep_id": pa.array([sweep_id] * epochs),
        "trial_id": pa.array([trial_id] * epochs),
        "epoch": np.arange(1, epochs + 1),
        "train_loss": 2.3 * (1.0 - 0.8 * progress),
        "train_accuracy": val_accuracy + 0.1 * progress,
        "val_loss": 2.3 * (1.0 - 0.7 * progress),
        "val_accuracy": val_accuracy,
        "lr": np.full(epochs, 1e-3),
        "epoch_time_s": epoch_time_s,
        "cum_train_time_s": np.cumsum(epoch_time_s),
        "samples_per_s": 45_000 / epoch_time_s,
    }
    return pa.Table.from_arrays(list(columns.values()), schema=EPOCHS_SCHEMA)


def _classes(rng, sweep_id: str, trial_id: str, accuracy: float):
    import numpy as np
    import pyarrow as pa

    from benchmark.results.schema import CLASSES_SCHEMA

    scores = np.clip(accuracy + rng.normal(0, 0.05, CLASSES), 0.0, 1.0)
    columns = {
        "sweep_id": pa.array([sweep_id] * CLASSES),
        "trial_id": pa.array([trial_id] * CLASSES),
        "class_index": np.arange(CLASSES),
        "class_name": pa.array([f"class_{index}" for index in range(CLASSES)]),
        "precision": scores,
        "recall": scores,
        "f1": scores,
        "support": np.full(CLASSES, 1000),
    }
    return pa.Table.from_arrays(list(columns.values()), schema=CLASSES_SCHEMA)


# --- the measured sides -----------------------------------------------------------------


def time_report(results_dir: Path) -> dict[str, Any]:
    """The platform: what ``bench report RESULTS`` runs, timed after its imports."""
    import contextlib
    import importlib
    import io

    from benchmark.cli.report import report

    # What the command imports when it runs, imported here so as not to be timed.
    for module in ("render", "sources", "tables"):
        importlib.import_module(f"benchmark.report.{module}")

    printed = io.StringIO()
    start = time.perf_counter()
    with contextlib.redirect_stdout(printed):
        report.callback(
            sweeps=(str(results_dir),), results_dir=results_dir, output_format="table",
            out=None, every_trial=False, pairs=(),
        )  # fmt: skip
    return {
        "report_s": time.perf_counter() - start,
        "printed_lines": printed.getvalue().count("\n"),
    }


def pandas_by_hand(results_dir: Path) -> dict[str, Any]:
    """The baseline: the best configuration of each cell and its Pareto front, in pandas."""
    import numpy as np
    import pandas as pd

    start = time.perf_counter()
    trials = pd.concat(
        [pd.read_parquet(folder) for folder in sorted(results_dir.glob("*/*/trials.parquet"))],
        ignore_index=True,
    )
    hp_columns = [c for c in trials.columns if c.startswith("hp_") and c != "hp_seed"]
    completed = trials[trials["status"] == "completed"]
    search = completed[completed["phase"] == "search"]
    best = search.loc[search.groupby(["sweep_id", "cell"])["best_val_accuracy"].idxmax()]
    repeats = completed[completed["phase"] == "repeat"]
    runs = pd.concat([best, best[["sweep_id", "cell", *hp_columns]].merge(repeats)])
    summary = runs.groupby(["sweep_id", "cell"]).agg(
        params_total=("params_total", "first"),
        train_time_s=("train_time_s", "mean"),
        accuracy=("test_accuracy", "mean"),
        accuracy_std=("test_accuracy", "std"),
        n=("test_accuracy", "count"),
    )
    costs = np.column_stack([summary["params_total"], summary["train_time_s"],
                             -summary["accuracy"]]).astype(float)  # fmt: skip
    dominated = [
        bool(((costs <= point).all(axis=1) & (costs < point).any(axis=1)).any()) for point in costs
    ]
    summary["front"] = ~np.array(dominated)
    return {"report_s": time.perf_counter() - start, "cells": len(summary)}


if __name__ == "__main__":
    main()
