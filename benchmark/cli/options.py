"""Options that several commands share, defined once so they read the same everywhere."""

from __future__ import annotations

from pathlib import Path

import click

RESULTS_ENV = "BENCH_RESULTS_DIR"


def results_dir_option(purpose: str):
    """``--results-dir`` (alias ``--storage``): the results root, ``results`` by default.

    On a cluster it is a path every node can reach (NFS, EFS, a Kubernetes volume): the
    sweep's Parquet tables, records, Tune state and Train checkpoints all go under it, and
    the reports read them there. ``BENCH_RESULTS_DIR`` sets it for a whole shell.
    """
    return click.option(
        "--results-dir",
        "--storage",
        "results_dir",
        default="results",
        show_default=True,
        envvar=RESULTS_ENV,
        type=click.Path(file_okay=False, path_type=Path),
        help=f"Results root (alias --storage; env {RESULTS_ENV}): {purpose}",
    )


set_option = click.option(
    "--set",
    "overrides",
    multiple=True,
    metavar="KEY.PATH=VALUE",
    help="Override a key of the sweep file, e.g. --set search.trials_per_cell=4; repeatable.",
)
