"""The results contract: the three Parquet tables of a sweep and how a trial fills them.

``trials`` has one row per trial, ``epochs`` one row per trial and epoch, ``classes`` one
row per trial and class (see DESIGN.md). The schemas below are the one place their columns
are named; the writer, the readers and the report import them. Every hyperparameter of a
trial is its own ``hp_<name>`` column (``hp_lr``, ``hp_model.width``); those columns vary
by sweep, so they are typed from their values and appended to the fixed part.
"""

from __future__ import annotations

import json
import math
from typing import Any

import pyarrow as pa

HP_PREFIX = "hp_"

TRIALS_SCHEMA = pa.schema(
    [
        ("sweep_id", pa.string()),
        ("sweep_name", pa.string()),
        ("trial_id", pa.string()),
        ("cell", pa.string()),
        ("architecture", pa.string()),
        ("architecture_label", pa.string()),
        ("dataset", pa.string()),
        ("dataset_label", pa.string()),
        ("phase", pa.string()),
        ("trial_number", pa.int64()),
        ("status", pa.string()),
        ("error", pa.string()),
        ("seed", pa.int64()),
        ("params_total", pa.int64()),
        ("params_trainable", pa.int64()),
        ("macs_per_image", pa.int64()),
        ("epochs_completed", pa.int64()),
        ("best_epoch", pa.int64()),
        ("train_time_s", pa.float64()),
        ("eval_time_s", pa.float64()),
        ("wall_time_s", pa.float64()),
        ("target_accuracy", pa.float64()),
        ("time_to_target_s", pa.float64()),
        ("best_val_accuracy", pa.float64()),
        ("final_val_accuracy", pa.float64()),
        ("test_accuracy", pa.float64()),
        ("test_loss", pa.float64()),
        ("precision_macro", pa.float64()),
        ("recall_macro", pa.float64()),
        ("f1_macro", pa.float64()),
        ("train_val_gap", pa.float64()),
        ("overfitting", pa.bool_()),
        ("inference_latency_ms", pa.float64()),
        ("inference_throughput", pa.float64()),
        ("peak_memory_mb", pa.float64()),
        ("device", pa.string()),
        ("node_id", pa.string()),
        ("num_workers", pa.int64()),
        ("started_at", pa.timestamp("ms", tz="UTC")),
        ("finished_at", pa.timestamp("ms", tz="UTC")),
        ("mlflow_run_id", pa.string()),
    ]
)

EPOCHS_SCHEMA = pa.schema(
    [
        ("sweep_id", pa.string()),
        ("trial_id", pa.string()),
        ("epoch", pa.int64()),
        ("train_loss", pa.float64()),
        ("train_accuracy", pa.float64()),
        ("val_loss", pa.float64()),
        ("val_accuracy", pa.float64()),
        ("lr", pa.float64()),
        ("epoch_time_s", pa.float64()),
        ("cum_train_time_s", pa.float64()),
        ("samples_per_s", pa.float64()),
    ]
)

CLASSES_SCHEMA = pa.schema(
    [
        ("sweep_id", pa.string()),
        ("trial_id", pa.string()),
        ("class_index", pa.int64()),
        ("class_name", pa.string()),
        ("precision", pa.float64()),
        ("recall", pa.float64()),
        ("f1", pa.float64()),
        ("support", pa.int64()),
    ]
)

SCHEMAS = {"trials": TRIALS_SCHEMA, "epochs": EPOCHS_SCHEMA, "classes": CLASSES_SCHEMA}

# Trial options that say where or how to run, not what was trained: no hp_ column.
_NOT_HYPERPARAMETERS = {
    "architecture", "dataset", "data_dir", "offline", "targets", "crash_at_epoch",
    "crash_rank", "checkpoint_every", "checkpoint_interval_s", "measure_inference",
    "inference_batch_size", "memory_limit_mb",
}  # fmt: skip


def trial_tables(
    record: dict[str, Any], hyperparameters: dict[str, Any], mlflow_run_id: str | None = None
) -> dict[str, pa.Table]:
    """The rows one finished trial adds to each table, typed by the schemas above."""
    metrics = record.get("metrics", {})
    architecture_label, _, dataset_label = (record.get("cell") or "/").partition("/")
    target, time_to_target = _first_target(record.get("time_to_target_s") or {})
    trial_row = {name: metrics.get(name) for name in TRIALS_SCHEMA.names}
    trial_row.update(
        sweep_id=record["sweep_id"],
        sweep_name=record["sweep_name"],
        trial_id=record["trial_id"],
        cell=record.get("cell"),
        architecture=hyperparameters.get("architecture"),
        architecture_label=architecture_label,
        dataset=hyperparameters.get("dataset"),
        dataset_label=dataset_label,
        phase=record.get("phase"),
        trial_number=record.get("trial_number"),
        status=record["status"],
        error=record.get("error"),
        seed=record.get("seed"),
        epochs_completed=record.get("epochs_completed"),
        target_accuracy=target,
        time_to_target_s=time_to_target,
        started_at=record.get("started_at"),
        finished_at=record.get("finished_at"),
        mlflow_run_id=mlflow_run_id,
    )
    if record.get("started_at") and record.get("finished_at"):
        # Wall time of the trial as the sweep saw it, Ray start-up included (the worker
        # loop's own wall time leaves that out).
        elapsed = _timestamp(record["finished_at"]) - _timestamp(record["started_at"])
        trial_row["wall_time_s"] = elapsed.total_seconds()
    trials = _one_row_table(TRIALS_SCHEMA, trial_row, hyperparameter_columns(hyperparameters))
    return {
        "trials": trials,
        "epochs": _epoch_table(record),
        "classes": _class_table(record),
    }


def hyperparameter_columns(config: dict[str, Any]) -> dict[str, Any]:
    """``{"hp_lr": 0.001, "hp_model.width": 32, ...}`` from a trial's full config."""
    columns: dict[str, Any] = {}
    for key, value in _flatten(config).items():
        if key.split(".")[0] in _NOT_HYPERPARAMETERS:
            continue
        columns[f"{HP_PREFIX}{key}"] = value
    return columns


def _flatten(values: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in values.items():
        if isinstance(value, dict) and value:
            flat.update(_flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def _first_target(times: dict[str, Any]) -> tuple[float | None, float | None]:
    """The lowest target accuracy and the time it took (``None`` if never reached)."""
    if not times:
        return None, None
    target = min(times, key=float)
    value = times[target]
    return float(target), (float(value) if value is not None else None)


def _one_row_table(
    schema: pa.Schema, row: dict[str, Any], hyperparameters: dict[str, Any]
) -> pa.Table:
    arrays = [_array(field.type, [row.get(field.name)]) for field in schema]
    fields = list(schema)
    for name, value in sorted(hyperparameters.items()):
        field = pa.field(name, _hyperparameter_type(value))
        fields.append(field)
        arrays.append(_array(field.type, [_hyperparameter_value(value)]))
    return pa.Table.from_arrays(arrays, schema=pa.schema(fields))


def _hyperparameter_type(value: Any) -> pa.DataType:
    if isinstance(value, bool):
        return pa.bool_()
    if isinstance(value, int):
        return pa.int64()
    if isinstance(value, float):
        return pa.float64()
    return pa.string()


def _hyperparameter_value(value: Any) -> Any:
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return json.dumps(value)  # lists (hidden sizes), augmentation switches ...


def _array(data_type: pa.DataType, values: list[Any]) -> pa.Array:
    if pa.types.is_timestamp(data_type):
        values = [None if v is None else _timestamp(v) for v in values]
    elif pa.types.is_integer(data_type):
        values = [None if v is None or _is_nan(v) else int(v) for v in values]
    return pa.array(values, type=data_type)


def _timestamp(text: str):
    import datetime as dt

    return dt.datetime.fromisoformat(text)


def _is_nan(value: Any) -> bool:
    return isinstance(value, float) and math.isnan(value)


def _epoch_table(record: dict[str, Any]) -> pa.Table:
    rows = [
        {"sweep_id": record["sweep_id"], "trial_id": record["trial_id"], **epoch}
        for epoch in record.get("history") or []
    ]
    return _table(EPOCHS_SCHEMA, rows)


def _class_table(record: dict[str, Any]) -> pa.Table:
    report = record.get("class_report") or {}
    rows = [
        {
            "sweep_id": record["sweep_id"],
            "trial_id": record["trial_id"],
            "class_index": index,
            "class_name": name,
            "precision": report["precision"][index],
            "recall": report["recall"][index],
            "f1": report["f1"][index],
            "support": report["support"][index],
        }
        for index, name in enumerate(report.get("class_names") or [])
    ]
    return _table(CLASSES_SCHEMA, rows)


def _table(schema: pa.Schema, rows: list[dict[str, Any]]) -> pa.Table:
    columns = [_array(field.type, [row.get(field.name) for row in rows]) for field in schema]
    return pa.Table.from_arrays(columns, schema=schema)
