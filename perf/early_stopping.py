"""Benchmark 5, early stopping: the same search with ASHA and without, compute and best result.

Both sides run the same sweep through ``bench submit``'s function, one after the other in
one process (inline trials, since what is compared is epochs, not start-up): the same random
search with the same seed, so both try the same learning rates, widths and dropouts in the
same order. The baseline trains every trial to the end; the platform side adds a per-cell
ASHA scheduler (grace period 1 epoch, reduction factor 3). Compute is counted twice:
epochs trained, and training seconds as the loop measured them. The best validation
accuracy of each side says whether the savings cost the search its best trial.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import harness
import sweep_timeline

TARGET_SAVING = 2.0  # compute without / with early stopping


def _settings(size: str) -> dict[str, Any]:
    return {"trials": 4 if size == "tiny" else 24, "epochs": 2 if size == "tiny" else 9}


def _sweep(scheduler: str, device: str, size: str) -> str:
    settings = _settings(size)
    asha = "{type: asha, metric: val_accuracy, grace_period: 1, reduction_factor: 3}"
    return f"""
name: early-stopping-{scheduler}
architectures: [standard_cnn]
datasets: [digits]
search: {{algorithm: random, trials_per_cell: {settings["trials"]}, max_concurrent: 2, seed: 0}}
space:
  lr: {{type: loguniform, low: 1.0e-4, high: 3.0e-2}}
  model.width: {{type: choice, values: [8, 16, 32]}}
  model.dropout: {{type: uniform, low: 0.0, high: 0.5}}
fixed: {{epochs: {settings["epochs"]}, batch_size: 64, measure_inference: false}}
scheduler: {asha if scheduler == "asha" else "{type: none}"}
resources: {{execution: inline, gpus_per_worker: {0.5 if device == "cuda" else 0}}}
"""


def _side(device: str, size: str, result: Path) -> None:
    """Both searches, one after the other, in one process (one Ray start for the two)."""
    figures = {}
    for scheduler in ("none", "asha"):
        with harness.sweep_folder(f"asha-{scheduler}") as folder:
            sweep = _sweep(scheduler, device, size)
            figures[scheduler] = sweep_timeline.run_sweep(sweep, folder)
    harness.write_json(result, figures)


def _totals(records: list[dict[str, Any]]) -> dict[str, float]:
    return {
        "epochs": sum(r["epochs_completed"] or 0 for r in records),
        "train_s": sum(r["train_time_s"] or 0.0 for r in records),
        "best": max(r["best_val_accuracy"] or 0.0 for r in records),
        "early_stopped": sum(r["status"] == "early_stopped" for r in records),
    }


def main() -> None:
    arguments = harness.make_parser(__doc__.splitlines()[0]).parse_args()
    figures = harness.one_side(__file__, "searches", arguments, _side)
    if figures is None:  # this process was the side
        return
    full, asha = (_totals(figures[side]["records"]) for side in ("none", "asha"))
    saving = harness.Target(1 / TARGET_SAVING, at_least=False)
    rows = [
        harness.Row(
            "epochs trained, ASHA vs none", "epochs", asha["epochs"], full["epochs"], saving
        ),
        harness.Row("training time, ASHA vs none", "s", asha["train_s"], full["train_s"], saving),
        harness.Row(
            "best validation accuracy, ASHA vs none",
            "accuracy",
            asha["best"],
            full["best"],
            harness.Target(0.99, at_least=True),
        ),
    ]
    settings = _settings(arguments.size)
    harness.report(
        "Benchmark 5: early stopping (ASHA) vs none",
        rows,
        device=arguments.device,
        size=arguments.size,
        workload={
            "model": "standard_cnn (width, dropout, lr searched)",
            "dataset": "digits",
            "trials": settings["trials"],
            "epochs": settings["epochs"],
            "search": "random, seed 0 (the same trials on both sides)",
        },
        notes=[
            f"ASHA stopped {asha['early_stopped']} of {settings['trials']} trials early; "
            f"compute saved: {full['epochs'] / asha['epochs']:.2f}× in epochs, "
            f"{full['train_s'] / asha['train_s']:.2f}× in training time "
            f"(target ≥ {TARGET_SAVING:g}× at an equal best)",
        ],
        json_path=arguments.json,
    )


if __name__ == "__main__":
    sys.exit(main())
