"""`bench datasets`, `bench data fetch` and `bench data cache`: the dataset registry, the
files under a data directory, and the decoded datasets kept on this machine."""

from __future__ import annotations

from datetime import datetime
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


@data.command()
@click.option("--clear", is_flag=True, help="Remove every entry (processes using one keep it).")
def cache(clear: bool) -> None:
    """List the datasets decoded on this machine (the dataset cache), or remove them.

    Every process that trains maps a dataset from here once one process has decoded it.
    BENCH_CACHE_DIR moves the cache (off turns it off); BENCH_CACHE_MAX_GB bounds it.
    """
    from benchmark.data.cache import cache_dir, cached_datasets, clear_cache, limit_gb

    console = Console()
    directory = cache_dir()
    if directory is None:
        console.print("the dataset cache is off (BENCH_CACHE_DIR=off): datasets are decoded "
                      "in every process")  # fmt: skip
        return
    if clear:
        removed, freed = clear_cache()
        console.print(f"removed {removed} cached dataset(s), {_megabytes(freed)} from {directory}")
        return
    limit = limit_gb()  # a setting that cannot be used: its one line, before any table
    entries = cached_datasets()
    total = sum(entry.size_bytes for entry in entries)
    console.print(_cache_table(entries))
    console.print(f"{len(entries)} cached dataset(s), {_megabytes(total)} in {directory} "
                  f"(limit {limit:g} GB: BENCH_CACHE_MAX_GB)")  # fmt: skip


def _cache_table(entries) -> Table:
    table = Table(title="Decoded datasets on this machine, the most recently used first")
    table.add_column("dataset", no_wrap=True)
    table.add_column("options")
    table.add_column("val", no_wrap=True)
    table.add_column("seed", no_wrap=True)
    table.add_column("size", justify="right", no_wrap=True)
    table.add_column("last used", no_wrap=True)
    table.add_column("decoded from", overflow="fold")
    table.caption = "val, seed: the validation split's fraction and seed (split_seed)"
    for entry in entries:
        described = entry.described or {}
        options = described.get("options") or {}
        shown = ", ".join(f"{key}={value}" for key, value in sorted(options.items()))
        table.add_row(
            described.get("dataset", "unreadable (decoded again when next needed)"),
            shown or "—",
            str(described.get("val_fraction", "—")),
            str(described.get("split_seed", "—")),
            _megabytes(entry.size_bytes),
            datetime.fromtimestamp(entry.last_used).strftime("%Y-%m-%d %H:%M"),
            described.get("source", str(entry.path)),
        )
    return table


def _megabytes(size_bytes: int) -> str:
    return f"{size_bytes / 1e6:,.1f} MB"


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
