"""`bench report` (Pareto tables and plots of sweeps) and `bench results` (table export)."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from benchmark.cli.options import results_dir_option

_results_option = results_dir_option(
    "sweep ids are looked up as RESULTS_DIR/<sweep-name>/<sweep-id>/."
)


@click.command()
@click.argument("sweeps", nargs=-1, metavar="[SWEEP_ID|PATH]...")
@_results_option
@click.option(
    "--format",
    "output_format",
    type=click.Choice(["table", "markdown", "html", "csv"]),
    default="table",
    show_default=True,
    help="table: the terminal; markdown: stdout, or report.md with --out; html: report.html "
    "with its PNG figures; csv: one file per table.",
)
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Folder for the report files; default for html/csv: <sweep>/report/.",
)
@click.option("--all", "every_trial", is_flag=True, help="One row per trial, not per cell.")
@click.option(
    "--pair",
    "pairs",
    multiple=True,
    metavar="A:B",
    help="Compare architecture B against A on each dataset; repeatable. "
    "Default: standard_x/separable_x-style names, or the two architectures of a dataset.",
)
def report(sweeps, results_dir, output_format, out, every_trial, pairs) -> None:
    """Pareto tables, paired comparisons and overfitting of sweeps (default: the newest).

    A SWEEP_ID is looked up under --results-dir; a PATH may be a sweep folder, a
    sweep-name folder or a whole results folder (every sweep in it).
    """
    from rich.console import Console

    from benchmark.report.render import markdown_report, print_tables, write_report
    from benchmark.report.sources import load_results, locate_sweeps
    from benchmark.report.tables import build_report, parse_pairs

    folders = locate_sweeps(sweeps, results_dir)
    data = load_results(folders)
    built = build_report(data, every_trial=every_trial, pairs=parse_pairs(pairs))
    if output_format == "table":
        # Piped or captured output has no width of its own: keep rows on one line.
        print_tables(built, Console(width=None if sys.stdout.isatty() else 240))
        if out is None:
            return
    elif output_format == "markdown" and out is None:
        click.echo(markdown_report(built), nl=False)
        return
    out_dir = out or (folders[0] / "report" if len(folders) == 1 else results_dir / "report")
    files = write_report(built, data, output_format, out_dir)
    click.echo(f"wrote {len(files)} files to {out_dir}/: {', '.join(f.name for f in files)}")


@click.command()
@click.argument("sweep", metavar="SWEEP_ID|PATH")
@_results_option
@click.option(
    "--format",
    "output_format",
    type=click.Choice(["csv", "json", "parquet"]),
    default="csv",
    show_default=True,
)
@click.option(
    "--table",
    type=click.Choice(["trials", "epochs", "classes"]),
    default=None,
    help="Export this table only (default: all three).",
)
@click.option(
    "--out",
    type=click.Path(path_type=Path),
    default=None,
    help="A file (with --table) or a folder; default: <sweep-id>-<table>.<format> here.",
)
def results(sweep, results_dir, output_format, table, out) -> None:
    """Export a sweep's Parquet tables (every trial, any status) as CSV, JSON or Parquet."""
    from benchmark.report.export import export_tables
    from benchmark.report.sources import locate_sweeps
    from benchmark.results.parquet import TABLES

    folders = locate_sweeps([sweep], results_dir)
    prefix = f"{folders[0].name}-" if len(folders) == 1 else ""
    tables = [table] if table else list(TABLES)
    for path in export_tables(folders, output_format, tables, out, prefix):
        click.echo(str(path))
