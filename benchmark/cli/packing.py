"""`bench packing`: how many trials of a sweep to run at once on one device, measured."""

from __future__ import annotations

import math
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from benchmark.cli.options import set_option


def _levels(_context, _parameter, text: str | None) -> list[int] | None:
    from benchmark.sweep.packing import parse_levels

    if text is None:
        return None
    try:
        return parse_levels(text)
    except ValueError as error:
        raise click.BadParameter(str(error)) from None


@click.command()
@click.argument("sweep_file", type=click.Path(dir_okay=False))
@set_option
@click.option(
    "--levels",
    callback=_levels,
    default=None,
    metavar="N[,N…]",
    help="Trials at once to measure, comma-separated (default: 1,2,4,8 on a GPU; on CPUs, "
    "powers of two up to one trial per core).",
)
@click.option(
    "--trials",
    type=click.IntRange(min=2),
    default=None,
    help="Trials per level (default: 3 per trial at once, at least 6).",
)
@click.option(
    "--epochs",
    type=click.IntRange(min=1),
    default=None,
    help="Epochs per trial (default: the sweep file's).",
)
@click.option(
    "--keep",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Keep each level's sweep (results and MLflow store) under this folder.",
)
def packing(sweep_file, overrides, levels, trials, epochs, keep) -> None:
    """Measure how many trials of SWEEP_FILE's first cell to run at once on one device.

    Each level is a short sweep of its own, each trial holding 1/N of one GPU (or of the
    cores); the level that ran the most completed trials per minute, none failed, is
    the one to set.
    """
    from benchmark.sweep.packing import best_level, measure_packing

    measured = measure_packing(
        sweep_file, overrides, levels, trials, epochs, keep, Console(stderr=True)
    )
    table = Table(
        "at once",
        "each trial",
        "completed",
        "diverged",
        "failed",
        "trials per minute",
        "median training",
    )
    for level in measured:
        table.add_row(
            str(level.at_once),
            level.share,
            str(level.completed),
            str(level.diverged),
            str(level.failed),
            _figure(level.trials_per_minute, "{:.1f}"),
            _figure(level.median_train_s, "{:.2f} s"),
        )
    Console().print(table)
    best = best_level(measured)
    if best is None:
        click.echo("no level completed two trials or more without a failure", err=True)
        raise click.exceptions.Exit(1)
    click.echo(f"most trials per minute: {best.at_once} at once; run with {best.overrides}")


def _figure(value: float, form: str) -> str:
    return "—" if math.isnan(value) else form.format(value)
