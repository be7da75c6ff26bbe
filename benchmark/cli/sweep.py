"""`bench validate`, `bench submit`, `bench resume`, `bench status`, `bench logs`: sweeps."""

from __future__ import annotations

import click
from rich.console import Console
from rich.table import Table

from benchmark.cli.options import results_dir_option, set_option
from benchmark.errors import BenchError

_results_option = results_dir_option("results go to RESULTS_DIR/<sweep-name>/<sweep-id>/.")
_mlflow_option = click.option(
    "--mlflow-uri",
    default=None,
    envvar="MLFLOW_TRACKING_URI",
    help="MLflow tracking server; default: a SQLite store under the results directory.",
)
_address_option = click.option(
    "--address",
    default=None,
    help="A running Ray cluster: its dashboard URL (http://host:8265) for job submission.",
)


@click.command()
@click.argument("sweep_file", type=click.Path(dir_okay=False))
@set_option
def validate(sweep_file, overrides) -> None:
    """Check SWEEP_FILE (schema, names, values) without running anything."""
    from benchmark.spec import load_sweep
    from benchmark.sweep.cells import plan_sweep

    plan = plan_sweep(load_sweep(sweep_file, overrides), source=sweep_file)
    repeats = f" + {plan.spec.repeats} repeats" if plan.spec.repeats else ""
    click.echo(
        f"{sweep_file}: valid — {len(plan.cells)} cells × ({plan.trials_per_cell} trials"
        f"{repeats}) = {plan.total_trials} trials"
    )


@click.command()
@click.argument("sweep_file", type=click.Path(dir_okay=False))
@set_option
@_results_option
@_address_option
@click.option("--dry-run", is_flag=True, help="Print the resolved sweep and exit.")
@click.option("--follow", is_flag=True, help="With --address: stream the job's logs.")
@click.option("--resume", "resume_id", default=None, metavar="SWEEP_ID", help="Continue a sweep.")
@click.option("--sweep-id", default=None, hidden=True, help="Use this id (remote jobs).")
@click.option("--quiet", is_flag=True, help="No live progress; print only the summary.")
@click.option(
    "--smoke",
    is_flag=True,
    help="Every path of the sweep in minutes: 1 trial per cell, 1 epoch, 64 images per "
    "split, images at most 64 px; results under <name>-smoke.",
)
@_mlflow_option
def submit(sweep_file, overrides, results_dir, address, dry_run, follow, resume_id, sweep_id,
           quiet, smoke, mlflow_uri) -> None:  # fmt: skip
    """Run every architecture × dataset cell of SWEEP_FILE as a Ray Tune sweep."""
    from benchmark.spec import load_sweep
    from benchmark.sweep.cells import plan_sweep

    if smoke:
        overrides = (*overrides, "smoke=true")
    plan = plan_sweep(load_sweep(sweep_file, overrides), source=sweep_file)
    if dry_run:
        _print_plan(plan)
        return
    if address and _is_job_address(address):
        from benchmark.sweep.remote import follow_job, submit_remote

        submission = submit_remote(
            sweep_file, overrides, address, results_dir, resume_id, mlflow_uri
        )
        click.echo(f"sweep id {submission.sweep_id}: job {submission.job_id} submitted")
        click.echo(f"dashboard: {submission.dashboard_url}")
        if follow:
            status = follow_job(address, submission.job_id, click.echo)
            if status != "SUCCEEDED":
                raise click.exceptions.Exit(1)
        return
    from benchmark.sweep.run import resume_sweep, start_sweep

    console = Console(stderr=True)
    if resume_id:
        outcome = resume_sweep(resume_id, results_dir, address, console, quiet, mlflow_uri)
    else:
        outcome = start_sweep(
            sweep_file, overrides, results_dir, sweep_id, address, console, quiet, mlflow_uri
        )
    _print_outcome(outcome)


@click.command()
@click.argument("sweep_id")
@_results_option
@_address_option
@click.option("--quiet", is_flag=True, help="No live progress; print only the summary.")
@_mlflow_option
def resume(sweep_id, results_dir, address, quiet, mlflow_uri) -> None:
    """Continue an interrupted sweep: finished trials are kept, unfinished ones restarted."""
    from benchmark.sweep.run import resume_sweep

    outcome = resume_sweep(sweep_id, results_dir, address, Console(stderr=True), quiet, mlflow_uri)
    _print_outcome(outcome)


@click.command("sync-mlflow")
@click.argument("sweep_id")
@_results_option
@_mlflow_option
def sync_mlflow(sweep_id, results_dir, mlflow_uri) -> None:
    """Log a sweep's trials that MLflow missed (its server was down) from their Parquet record.

    Safe to run again: a trial already in MLflow is found by its tags and not logged twice.
    """
    from pathlib import Path

    from benchmark.results.tracking import MlflowTracker
    from benchmark.sweep.publish import sync_sweep
    from benchmark.sweep.store import SweepDirectory

    directory = SweepDirectory.find(Path(results_dir), sweep_id)
    tracker = MlflowTracker.connect(mlflow_uri, Path(results_dir))
    outcome = sync_sweep(directory, tracker)
    click.echo(
        f"sweep {sweep_id}: {len(outcome.logged)} trial(s) logged to {tracker.tracking_uri}"
        + ("" if outcome.logged else " (MLflow had every trial already)")
    )
    if outcome.missing:
        for trial_id, reason in sorted(outcome.missing.items()):
            click.echo(f"trial {trial_id}: still not logged ({reason})", err=True)
        raise click.exceptions.Exit(1)


@click.command()
@click.argument("sweep_id", required=False)
@_results_option
@_address_option
def status(sweep_id, results_dir, address) -> None:
    """Show every sweep under the results directory, or one sweep's trials."""
    if address:
        from benchmark.sweep.remote import job_status

        click.echo(job_status(address, sweep_id))
        return
    from pathlib import Path

    from benchmark.sweep.store import SweepDirectory, list_sweeps

    if sweep_id is None:
        table = Table("sweep", "id", "state", "trials", title=f"sweeps under {results_dir}/")
        for directory in list_sweeps(Path(results_dir)):
            table.add_row(
                directory.sweep_name,
                directory.sweep_id,
                directory.state()["state"],
                str(len(directory.records())),
            )
        Console().print(table)
        return
    directory = SweepDirectory.find(Path(results_dir), sweep_id)
    click.echo(f"sweep {directory.sweep_name} {sweep_id}: {directory.state()['state']}")
    _print_records(directory.records())


@click.command()
@click.argument("sweep_id")
@_address_option
def logs(sweep_id, address) -> None:
    """Print the logs of a sweep submitted to a cluster (its Ray job)."""
    from benchmark.sweep.remote import job_logs

    if not address:
        raise BenchError("bench logs needs --address (the cluster's dashboard URL)")
    click.echo(job_logs(address, sweep_id), nl=False)


def _is_job_address(address: str) -> bool:
    """Dashboard URLs go to the Jobs API; ``auto`` or ``host:port`` join as a driver."""
    return address.startswith(("http://", "https://"))


def _print_plan(plan) -> None:
    """The resolved sweep: what runs where, what is searched, what is fixed."""
    spec, console = plan.spec, Console()
    resources = spec.resources
    console.print(
        f"sweep [bold]{spec.name}[/]: {len(plan.cells)} cells × {plan.trials_per_cell} trials"
        + (f" + {spec.repeats} repeats of each best" if spec.repeats else "")
        + f" = {plan.total_trials} trials"
    )
    console.print(
        f"search {spec.search.algorithm} (seed {spec.search.seed}), objectives "
        + ", ".join(f"{o.direction} {o.metric}" for o in spec.objectives)
        + f"; early stopping: {spec.scheduler.type}"
    )
    at_once = spec.search.max_concurrent or "as many as fit"
    console.print(
        f"each trial: {resources.workers} worker(s) × {resources.cpus_per_worker:g} CPU, "
        f"{resources.gpus_per_worker:g} GPU; at most {at_once} at once"
    )
    for cell in plan.cells:
        table = Table(title=f"cell {cell.key}", title_justify="left", show_header=False)
        table.add_column("key", style="bold")
        table.add_column("value")
        for key, distribution in cell.space.items():
            table.add_row(key, f"searched: {distribution.describe()}")
        for key, value in cell.base_config.items():
            if key not in cell.caps:
                table.add_row(key, str(value))
        for key, value in cell.caps.items():
            if isinstance(value, dict):
                value = {**cell.base_config.get(key, {}), **value}
            table.add_row(key, f"{value} (smoke)")
        console.print(table)


def _print_outcome(outcome) -> None:
    directory = outcome.directory
    counts = ", ".join(f"{n} {status}" for status, n in sorted(outcome.counts().items()))
    state = "interrupted" if outcome.interrupted else "finished"
    click.echo(f"sweep {directory.sweep_id} {state}: {counts or 'no trials'}; {directory.path}")
    if outcome.interrupted:
        click.echo(f"continue it with: bench resume {directory.sweep_id}")


def _print_records(records) -> None:
    table = Table("trial", "cell", "phase", "status", "best_val_accuracy", "train_time_s", "error")
    for record in records:
        metrics = record["metrics"]
        table.add_row(
            record["trial_id"],
            record["cell"],
            record["phase"],
            record["status"],
            _figure(metrics.get("best_val_accuracy")),
            _figure(metrics.get("train_time_s")),
            record["error"] or "",
        )
    Console().print(table)


def _figure(value) -> str:
    return "—" if value is None else f"{value:.4g}"
