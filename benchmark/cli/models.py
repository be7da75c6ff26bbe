"""`bench models`: the architecture zoo.

``bench models [PATTERN]`` (short for ``bench models list``) prints every registered
architecture with its parameters and MACs per image at a dataset shape, and its defaults;
``bench models show NAME`` prints one model layer by layer. The figures come from
``benchmark.models``; this module only parses options and formats.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from benchmark.overrides import apply_overrides

_DEFAULT_COMMAND = "list"


class _ModelsGroup(click.Group):
    """A group whose first argument, when it names no subcommand, goes to ``list``.

    So ``bench models``, ``bench models 'resnet*'`` and ``bench models --num-classes 6``
    list, while ``bench models show NAME`` shows.
    """

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        help_options = ctx.help_option_names
        if not args or (args[0] not in self.commands and args[0] not in help_options):
            args = [_DEFAULT_COMMAND, *args]
        return super().parse_args(ctx, args)


def _shape_options(command: Callable[..., Any]) -> Callable[..., Any]:
    command = click.option(
        "--num-classes", type=click.IntRange(min=1), default=10, show_default=True,
        help="Outputs of the last layer.",
    )(command)  # fmt: skip
    return click.option(
        "--dataset-shape", default="3x32x32", show_default=True, metavar="CxHxW",
        help="Shape of one image of the dataset: channels x height x width.",
    )(command)  # fmt: skip


@click.group(cls=_ModelsGroup)
def models() -> None:
    """List every registered architecture, or show one layer by layer.

    \b
    bench models [--dataset-shape 3x32x32] [--num-classes 10] [PATTERN]
    bench models show NAME [--dataset-shape ...] [--num-classes ...] [--set key=value ...]
    """


@models.command(name=_DEFAULT_COMMAND)
@_shape_options
@click.argument("pattern", default="*")
def list_command(dataset_shape: str, num_classes: int, pattern: str) -> None:
    """List architectures matching PATTERN (e.g. 'resnet*') with params and MACs."""
    # Imported here, as in every command: the models need torch, which every other `bench`
    # command (report, status, ...) would otherwise load for nothing (seconds, 500 MB).
    from benchmark.models import FREEZE_MODES, parse_input_shape, profile_models
    from benchmark.models.weights import WEIGHTS_CHOICES

    input_shape = parse_input_shape(dataset_shape)
    profiles = profile_models(pattern, input_shape, num_classes)
    shape = "×".join(map(str, input_shape))
    table = Table(title=f"Architectures for {shape} images, {num_classes} classes")
    table.add_column("architecture", no_wrap=True)
    table.add_column("params", justify="right", no_wrap=True)
    table.add_column("trainable", justify="right", no_wrap=True)
    table.add_column("MACs/image", justify="right", no_wrap=True)
    table.add_column("defaults", min_width=24)
    for profile in profiles:
        defaults = " ".join(
            f"{key}={_value_text(value)}" for key, value in profile.defaults.items()
        )
        if profile.error is not None:
            table.add_row(profile.name, "-", "-", "-", f"[red]{escape(profile.error)}[/red]")
            continue
        table.add_row(
            profile.name,
            f"{profile.params_total:,}",
            f"{profile.params_trainable:,}",
            _si(profile.macs_per_image),
            escape(defaults),
        )
    console = _console()
    console.print(table)
    console.print(
        f"Every architecture also takes weights={'|'.join(WEIGHTS_CHOICES)} (imagenet: "
        f"torchvision-based ones) and freeze={'|'.join(FREEZE_MODES)}; both default to none."
    )


@models.command(name="show")
@_shape_options
@click.option(
    "--set", "overrides", multiple=True, metavar="KEY=VALUE",
    help="Set a hyperparameter (repeatable), e.g. --set width=64 --set weights=imagenet.",
)  # fmt: skip
@click.argument("name")
def show_command(
    dataset_shape: str, num_classes: int, overrides: tuple[str, ...], name: str
) -> None:
    """One architecture layer by layer: output shape and parameters of every layer."""
    from benchmark.models import parse_input_shape, summarize_model

    input_shape = parse_input_shape(dataset_shape)
    summary = summarize_model(name, input_shape, num_classes, **apply_overrides({}, overrides))
    shape = "×".join(map(str, input_shape))
    table = Table(title=f"{summary.name}: {summary.description}", title_justify="left")
    table.add_column("layer", no_wrap=True)
    table.add_column("type", no_wrap=True)
    table.add_column("output shape", no_wrap=True)
    table.add_column("params", justify="right", no_wrap=True)
    table.add_row("input", "", _shape_text(input_shape), "")
    for layer in summary.layers:
        table.add_row(
            escape(layer.name), layer.kind, _shape_text(layer.output_shape), f"{layer.params:,}"
        )
    console = _console()
    console.print(table)
    console.print(f"Input: {shape}, {num_classes} classes")
    console.print(f"Total params: {summary.params_total:,}")
    console.print(f"Trainable params: {summary.params_trainable:,}")
    console.print(f"Non-trainable params: {summary.params_non_trainable:,}")
    console.print(f"MACs per image: {summary.macs_per_image:,} ({_si(summary.macs_per_image)})")


def _console() -> Console:
    """Rich's console, 120 columns wide when output goes to a file or a pipe (where rich would
    assume 80 and wrap every table)."""
    console = Console()
    return console if console.is_terminal else Console(width=120)


def _shape_text(shape: tuple[int, ...]) -> str:
    return "(" + ", ".join(map(str, shape)) + ")"


def _value_text(value: object) -> str:
    if isinstance(value, list | tuple):
        return "[" + ",".join(map(str, value)) + "]"
    return str(value)


def _si(count: int) -> str:
    """3 significant digits with a k/M/G suffix: 15,346,881,536 → '15.3G'."""
    for divisor, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if count >= divisor:
            return f"{count / divisor:.3g}{suffix}"
    return str(count)
