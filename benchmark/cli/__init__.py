"""The ``bench`` command: a thin Click layer over the library.

Each command parses its options, calls one library function, prints the result and maps
known mistakes (``BenchError``) to a one-line message and exit code 2. Commands live in
the sibling modules, one module per group of commands; this module only assembles them.
"""

from __future__ import annotations

from importlib.metadata import version

import click

from benchmark.errors import BenchError

EXIT_USER_ERROR = 2


class BenchGroup(click.Group):
    """A Click group that reports ``BenchError`` as one line on stderr with exit code 2."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except BenchError as error:
            click.echo(f"Error: {error}", err=True)
            ctx.exit(EXIT_USER_ERROR)


@click.group(cls=BenchGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(version("raybench"), prog_name="bench")
def cli() -> None:
    """Benchmark image-classification networks: sweeps on Ray, results in Parquet and MLflow."""


def _register_commands() -> None:
    from benchmark.cli import data as data_commands
    from benchmark.cli import mlflow_ui
    from benchmark.cli import models as models_commands
    from benchmark.cli import packing as packing_commands
    from benchmark.cli import predict as predict_commands
    from benchmark.cli import report as report_commands
    from benchmark.cli import sweep as sweep_commands
    from benchmark.cli import train as train_commands

    cli.add_command(models_commands.models)
    cli.add_command(data_commands.datasets)
    cli.add_command(data_commands.data)
    cli.add_command(train_commands.train)
    cli.add_command(predict_commands.predict)
    cli.add_command(mlflow_ui.ui)
    cli.add_command(report_commands.report)
    cli.add_command(report_commands.results)
    cli.add_command(packing_commands.packing)
    for command in (sweep_commands.validate, sweep_commands.submit, sweep_commands.resume,
                    sweep_commands.status, sweep_commands.logs,
                    sweep_commands.sync_mlflow):  # fmt: skip
        cli.add_command(command)


_register_commands()


def main() -> None:
    """Entry point of the ``bench`` console script."""
    cli()
