"""A small but real results folder for the report's tests: files as a sweep writes them.

Study S1 on digits: cells ``standard_cnn/digits`` and ``separable_cnn/digits``, each with 3
search trials and 2 repeats of its best. Every trial goes through the real writer
(``trial_tables`` + ``write_trial``) and leaves its raw record in ``trials/<id>.json``;
``sweep.yaml`` is the resolved sweep. The numbers are chosen so that the expected report can
be worked out by hand (see ``EXPECTED``).

standard_cnn/digits: s0 completed (val 0.85), s1 completed and best (val 0.87), s2 failed;
repeats r0, r1 completed. Test accuracies of s1, r0, r1: 0.86, 0.85, 0.87 (mean 0.86, std
0.01); train times 2.0, 2.2, 2.1 s (mean 2.1); 20 000 parameters; gaps 0.12, 0.11, 0.13
(mean 0.12: overfitting). separable_cnn/digits: p0 diverged, p1 completed and best (val
0.83), p2 early-stopped; repeats q0, q1 completed. Test accuracies 0.82, 0.80, 0.81 (mean
0.81, std 0.01); train times 1.0, 1.2, 1.1 s (mean 1.1); 5 000 parameters; gaps 0.02, 0.03,
0.01. Neither best dominates the other on (params, time, accuracy); separable dominates
standard on (params, time).
With ``failed_cell``, a third cell ``mlp/digits`` whose three trials all failed.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from benchmark.results.parquet import write_trial
from benchmark.results.schema import trial_tables

SWEEP_NAME = "s1_digits"
SWEEP_ID = "20261201-120000-abcd"
CLASS_NAMES = ["zero", "one", "two"]

EXPECTED = {
    "standard_cnn/digits": {
        "best": "s1", "runs": ["s1", "r0", "r1"], "accuracy": 0.86, "std": 0.01,
        "train_time_s": 2.1, "params_total": 20_000, "trials": 5, "completed": 4,
        "failed": 1, "diverged": 0, "early_stopped": 0, "gap": 0.12,
    },
    "separable_cnn/digits": {
        "best": "p1", "runs": ["p1", "q0", "q1"], "accuracy": 0.81, "std": 0.01,
        "train_time_s": 1.1, "params_total": 5_000, "trials": 5, "completed": 3,
        "failed": 0, "diverged": 1, "early_stopped": 1, "gap": 0.02,
    },
}  # fmt: skip


def sweep_yaml(architectures: list[str]) -> str:
    names = ", ".join(architectures)
    return f"""\
name: {SWEEP_NAME}
description: Standard vs depthwise-separable CNNs on digits (report test)
architectures: [{names}]
datasets: [digits]
search:
  algorithm: optuna-tpe
  objectives:
    - metric: best_val_accuracy
  trials_per_cell: 3
  seed: 0
space:
  lr: {{type: loguniform, low: 1e-3, high: 1e-2}}
fixed:
  epochs: 3
  batch_size: 64
repeats: 2
targets: [0.8]
offline: true
"""


# (trial id, cell, phase, number, status, lr, best_val, test_acc, train_time_s, params, gap)
_TRIALS = [
    ("s0", "standard_cnn", "search", 0, "completed", 0.003, 0.85, 0.84, 2.4, 20_000, 0.05),
    ("s1", "standard_cnn", "search", 1, "completed", 0.005, 0.87, 0.86, 2.0, 20_000, 0.12),
    ("s2", "standard_cnn", "search", 2, "failed", 0.009, None, None, None, None, None),
    ("r0", "standard_cnn", "repeat", 3, "completed", 0.005, 0.86, 0.85, 2.2, 20_000, 0.11),
    ("r1", "standard_cnn", "repeat", 4, "completed", 0.005, 0.87, 0.87, 2.1, 20_000, 0.13),
    ("p0", "separable_cnn", "search", 0, "diverged", 0.009, 0.12, 0.10, 0.4, 5_000, -0.01),
    ("p1", "separable_cnn", "search", 1, "completed", 0.004, 0.83, 0.82, 1.0, 5_000, 0.02),
    ("p2", "separable_cnn", "search", 2, "early_stopped", 0.002, None, None, None, None, None),
    ("q0", "separable_cnn", "repeat", 3, "completed", 0.004, 0.82, 0.80, 1.2, 5_000, 0.03),
    ("q1", "separable_cnn", "repeat", 4, "completed", 0.004, 0.83, 0.81, 1.1, 5_000, 0.01),
]
_FAILED_CELL = [
    (f"m{number}", "mlp", "search", number, "failed", 0.004, None, None, None, None, None)
    for number in range(3)
]


def write_sample_results(
    results_dir: Path,
    devices: dict[str, str] | None = None,
    failed_cell: bool = False,
    sweep_id: str = SWEEP_ID,
) -> Path:
    """Write the sweep under ``results_dir``; return its folder.

    ``devices`` maps an architecture to the device its trials ran on (default CPU).
    """
    devices = devices or {}
    trials = _TRIALS + (_FAILED_CELL if failed_cell else [])
    architectures = ["standard_cnn", "separable_cnn"] + (["mlp"] if failed_cell else [])
    sweep_dir = results_dir / SWEEP_NAME / sweep_id
    (sweep_dir / "trials").mkdir(parents=True)
    (sweep_dir / "sweep.yaml").write_text(sweep_yaml(architectures))
    for trial in trials:
        architecture = trial[1]
        record = _record(sweep_id, *trial, device=devices.get(architecture, "cpu:x86_64"))
        config = {
            "architecture": architecture, "dataset": "digits", "data_dir": "/data",
            "offline": True, "targets": [0.8], "epochs": 3, "batch_size": 64,
            "lr": record["params"]["lr"], "seed": record["seed"],
        }  # fmt: skip
        write_trial(sweep_dir, record["trial_id"], trial_tables(record, config, None))
        (sweep_dir / "trials" / f"{record['trial_id']}.json").write_text(json.dumps(record))
    return sweep_dir


def _record(
    sweep_id: str, trial_id: str, architecture: str, phase: str, number: int, status: str,
    lr: float, best_val: float | None, test_accuracy: float | None,
    train_time_s: float | None, params: int | None, gap: float | None, device: str,
) -> dict[str, Any]:  # fmt: skip
    """A record shaped like ``benchmark.sweep.records.build_record``'s."""
    has_final = status in ("completed", "diverged")
    history = _history(best_val, gap, epochs=3 if has_final else 1)
    metrics: dict[str, Any] = {}
    class_report = None
    if has_final:
        metrics = {
            "status": status, "epochs_completed": 3, "best_epoch": 3,
            "best_val_accuracy": best_val, "final_val_accuracy": best_val,
            "test_accuracy": test_accuracy, "test_loss": 0.3 if status == "completed" else None,
            "precision_macro": test_accuracy, "recall_macro": test_accuracy,
            "f1_macro": test_accuracy, "train_val_gap": gap, "overfitting": gap > 0.1,
            "train_time_s": train_time_s, "eval_time_s": 0.1, "wall_time_s": 9.0,
            "params_total": params, "params_trainable": params, "macs_per_image": params * 10,
            "inference_latency_ms": 0.5, "inference_throughput": 1000.0,
            "peak_memory_mb": 900.0, "device": device, "num_workers": 1,
        }  # fmt: skip
        class_report = {
            "class_names": CLASS_NAMES,
            "precision": [0.9, 0.9, 0.9],
            "recall": [0.9, 0.9, 0.9],
            "f1": [0.9, 0.9, 0.9],
            "support": [10, 10, 10],
            "confusion_matrix": [[9, 1, 0], [0, 9, 1], [1, 0, 9]],
        }
    seed = number
    error = {"failed": "RuntimeError: CUDA out of memory", "diverged": "loss is NaN at epoch 3",
             "early_stopped": "stopped by ASHA at epoch 1"}.get(status)  # fmt: skip
    return {
        "trial_id": trial_id,
        "sweep_id": sweep_id,
        "sweep_name": SWEEP_NAME,
        "cell": f"{architecture}/digits",
        "phase": phase,
        "trial_number": number,
        "seed": seed,
        "params": {"lr": lr},
        "status": status,
        "error": error,
        "epochs_completed": len(history),
        "metrics": metrics,
        "time_to_target_s": {"0.8": train_time_s} if has_final and best_val > 0.8 else {},
        "history": history if status != "failed" else [],
        "class_report": class_report,
        "class_names": CLASS_NAMES if has_final else None,
        "started_at": f"2026-12-01T12:00:{number:02d}.000+00:00",
        "finished_at": f"2026-12-01T12:01:{number:02d}.000+00:00",
        "mlflow_run_id": None,
    }


def _history(best_val: float | None, gap: float | None, epochs: int) -> list[dict[str, Any]]:
    """Epochs whose last one has val = best_val and train − val = gap."""
    final_val = best_val if best_val is not None else 0.5
    final_train = final_val + (gap if gap is not None else 0.0)
    rows = []
    for epoch in range(1, epochs + 1):
        share = epoch / 3
        rows.append(
            {
                "epoch": epoch,
                "train_loss": 1.0 / epoch,
                "train_accuracy": final_train * share if epoch < 3 else final_train,
                "val_loss": 1.1 / epoch,
                "val_accuracy": final_val * share if epoch < 3 else final_val,
                "lr": 0.005,
                "epoch_time_s": 0.5,
                "cum_train_time_s": 0.5 * epoch,
                "samples_per_s": 1000.0,
            }
        )
    return rows
