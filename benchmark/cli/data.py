"""`bench datasets` and `bench data fetch`: the dataset registry."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click
from rich.console import Console
from rich.table import Table

if TYPE_CHECKING:
    from benchmark.data import DatasetSummary

DATA_DIR_OPTION = click.option(
    "--data-dir",
    default="data",
    show_default=True,
    type=click.Path(file_okay=False),
    help="Where datasets are kept (torchvision's layout).",
)


@click.command()
@DATA_DIR_OPTION
def datasets(data_dir: str) -> None:
    """List every registered dataset: shape, classes, sizes, and whether it is present."""
    from benchmark.data import describe_datasets

    console = Console()
    # Descriptions only where they fit: squeezed into 80 columns they become unreadable.
    wide = console.width >= 120
    console.print(_datasets_table(describe_datasets(data_dir), data_dir, wide))


@click.group()
def data() -> None:
    """Manage local copies of datasets."""


@data.command()
@click.argument("name")
@DATA_DIR_OPTION
def fetch(name: str, data_dir: str) -> None:
    """Download dataset NAME into the data directory now (for workers without internet).

    Honours BENCH_OFFLINE=1: then it only checks that the files are there.
    """
    from benchmark.data import fetch_dataset

    result = fetch_dataset(name, data_dir)
    verb = "downloaded to" if result.downloaded else "already present in"
    Console().print(f"{result.name}: {verb} {result.root}/")


def _datasets_table(summaries: list[DatasetSummary], data_dir: str, wide: bool) -> Table:
    table = Table(title=f"Datasets (present: files under {data_dir}/)")
    table.add_column("name", no_wrap=True)
    for column in ("shape", "classes", "train", "test"):
        table.add_column(column, justify="right", no_wrap=True)
    table.add_column("present", no_wrap=True)
    if wide:
        table.add_column("description")
    for summary in summaries:
        entry = summary.entry
        cells = [
            entry.name,
            "×".join(str(side) for side in entry.input_shape),
            _count(entry.num_classes),
            _count(entry.train_size),
            _count(entry.test_size) + ("*" if entry.test_carved else ""),
            summary.availability,
        ]
        table.add_row(*cells, *([entry.description] if wide else []))
    table.caption = (
        "train includes the validation split carved at load (val_fraction, default 10 %); "
        "* no test set of its own: carved with a seed (test_fraction, default 20 %); "
        "packaged: ships inside a PyPI package; own folder: option path"
    )
    return table


def _count(value: int | None) -> str:
    return "—" if value is None else f"{value:,}"
