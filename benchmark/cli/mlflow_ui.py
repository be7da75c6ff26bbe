"""`bench ui`: browse the sweeps logged to the local MLflow store in a web browser."""

from __future__ import annotations

import subprocess
from pathlib import Path

import click

from benchmark.cli.options import results_dir_option


@click.command()
@results_dir_option("its MLflow store (RESULTS_DIR/mlflow.db) is served.")
@click.option("--port", default=5000, show_default=True, type=click.IntRange(1, 65535))
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Interface to listen on; 0.0.0.0 shows every run to the whole network.",
)
def ui(results_dir, port, host) -> None:
    """Serve the MLflow UI for the sweeps under RESULTS_DIR until Ctrl-C."""
    from benchmark.results.local_store import create_store
    from benchmark.results.tracking import STORE_FILE, local_store, ui_command, ui_environment

    store_uri, _ = local_store(results_dir)
    store = Path(results_dir) / STORE_FILE
    if not store.is_file():
        click.echo(f"note: no MLflow store under {results_dir}/ yet; the UI starts empty")
        if store.parent.is_dir():
            create_store(store)  # a copy of an empty one, instead of the server migrating
    click.echo(f"MLflow UI for {store_uri}: http://{host}:{port}  (Ctrl-C stops it)")
    try:
        command = ui_command(results_dir, host, port)
        completed = subprocess.run(command, env=ui_environment(), check=False)
    except KeyboardInterrupt:  # the server got the same Ctrl-C and stops by itself
        return
    if completed.returncode != 0:
        raise click.exceptions.Exit(completed.returncode)
