"""`bench train`: one trial as a Ray Train job, outside any sweep."""

from __future__ import annotations

import json
import math
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from benchmark.overrides import apply_overrides


@click.command()
@click.option("--arch", "architecture", required=True, help="Architecture name (bench models).")
@click.option("--dataset", required=True, help="Dataset name (bench datasets).")
@click.option(
    "--set",
    "overrides",
    multiple=True,
    metavar="KEY=VALUE",
    help="Trial option, e.g. --set lr=0.01 --set model.width=64; repeatable.",
)
@click.option("--workers", default=1, show_default=True, help="Ray Train workers (DDP ranks).")
@click.option("--cpus-per-worker", default=1.0, show_default=True)
@click.option(
    "--gpus-per-worker",
    default=0.0,
    show_default=True,
    help="GPUs per worker; fractions pack several trials on one GPU.",
)
@click.option(
    "--max-failures",
    default=1,
    show_default=True,
    help="Worker failures to recover from (restart from the last checkpoint).",
)
@click.option("--data-dir", default="data", show_default=True, type=click.Path(file_okay=False))
@click.option("--offline", is_flag=True, help="Never download; fail if data is missing.")
@click.option(
    "--storage",
    default="results/train",
    show_default=True,
    help="Where Ray Train keeps checkpoints (a path every node can reach).",
)
@click.option("--address", default=None, help="Join a running Ray cluster instead of starting one.")
@click.option("--json", "as_json", is_flag=True, help="Print the final metrics as JSON.")
def train(architecture, dataset, overrides, workers, cpus_per_worker, gpus_per_worker,
          max_failures, data_dir, offline, storage, address, as_json) -> None:  # fmt: skip
    """Train one architecture on one dataset as a Ray Train job and print its metrics."""
    from benchmark.train.job import train_once
    from benchmark.train.resources import WorkerResources

    config = apply_overrides(
        {"architecture": architecture, "dataset": dataset, "data_dir": data_dir,
         "offline": offline},
        overrides,
    )  # fmt: skip
    outcome = train_once(
        config,
        WorkerResources(workers, cpus_per_worker, gpus_per_worker),
        storage_path=Path(storage).resolve(),
        max_failures=max_failures,
        address=address,
    )
    if as_json:
        everything = {**outcome.metrics, **outcome.summary()}
        click.echo(json.dumps(everything, indent=2, default=str))
    else:
        Console().print(_summary_table(outcome.summary()))
    if outcome.status == "failed":
        raise SystemExit(1)


def _summary_table(summary: dict) -> Table:
    table = Table(title=f"{summary['architecture']} on {summary['dataset']}: {summary['status']}")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for key, value in summary.items():
        if isinstance(value, float):
            value = "—" if math.isnan(value) else f"{value:.6g}"
        table.add_row(key, str(value))
    return table
