"""`bench datasets` and `bench data fetch` through Click's runner on the real command group."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

# The real-format writers live with the data suite, in tests/data/formats.py.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "data"))
from formats import write_cifar10, write_mnist_format

from benchmark.cli import cli


@pytest.fixture
def runner(monkeypatch) -> CliRunner:
    monkeypatch.setenv("BENCH_OFFLINE", "1")
    return CliRunner()


def rows_by_name(output: str) -> dict[str, list[str]]:
    """Table rows of rich's output, split on its column bars, keyed by dataset name."""
    rows = {}
    for line in output.splitlines():
        cells = [cell.strip() for cell in line.strip("│┃").split("│")]
        if len(cells) >= 6 and cells[0]:
            rows[cells[0]] = cells
    return rows


def test_datasets_lists_every_dataset_with_presence_in_the_data_dir(runner, tmp_path):
    write_cifar10(tmp_path)
    write_mnist_format(tmp_path, "FashionMNIST")
    result = runner.invoke(cli, ["datasets", "--data-dir", str(tmp_path)])

    assert result.exit_code == 0, result.output
    rows = rows_by_name(result.output)
    assert {"cifar10", "fashion_mnist", "mnist", "caltech101", "imagefolder", "digits",
            "mnist_sample"} <= set(rows)  # fmt: skip
    assert rows["cifar10"][1:6] == ["3×32×32", "10", "50,000", "10,000", "yes"]
    assert rows["fashion_mnist"][5] == "yes"
    assert rows["mnist"][5] == "no"
    assert rows["caltech101"][5] == "no" and rows["caltech101"][4] == "1,735*"
    assert rows["digits"][5] == "packaged"


def test_fetch_offline_without_the_files_exits_2_with_one_line(runner, tmp_path):
    result = runner.invoke(cli, ["data", "fetch", "cifar10", "--data-dir", str(tmp_path)])
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("Error: cifar10 is not in")
    assert "cifar-10-batches-py/data_batch_1" in lines[0] and str(tmp_path) in lines[0]


def test_fetch_of_a_dataset_already_present_succeeds_offline(runner, tmp_path):
    write_cifar10(tmp_path)
    result = runner.invoke(cli, ["data", "fetch", "cifar10", "--data-dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "cifar10: already present in" in result.output


@pytest.mark.parametrize(
    ("name", "expected"),
    [("cifar", "unknown dataset 'cifar'"), ("digits", "ships inside the scikit-learn package"),
     ("imagefolder", "reads your own folder")],
)  # fmt: skip
def test_fetch_of_an_unknown_or_unfetchable_dataset_exits_2(runner, tmp_path, name, expected):
    result = runner.invoke(cli, ["data", "fetch", name, "--data-dir", str(tmp_path)])
    assert result.exit_code == 2
    assert expected in result.output and len(result.output.strip().splitlines()) == 1


def test_data_cache_lists_what_was_decoded_and_clear_removes_it(runner, tmp_path, monkeypatch):
    from benchmark.data import get_dataset

    monkeypatch.setenv("BENCH_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("COLUMNS", "200")
    write_cifar10(tmp_path / "data", per_batch=6)
    for seed in (0, 1):
        get_dataset("cifar10", tmp_path / "data", offline=True, split_seed=seed)

    listed = runner.invoke(cli, ["data", "cache"])

    assert listed.exit_code == 0, listed.output
    rows = [[cell.strip() for cell in line.strip("│┃").split("│")]
            for line in listed.output.splitlines() if line.startswith("│")]  # fmt: skip
    assert sorted((row[0], row[2], row[3]) for row in rows) == [
        ("cifar10", "0.1", "0"), ("cifar10", "0.1", "1")]  # fmt: skip
    assert all(row[-1] == str((tmp_path / "data" / "cifar-10-batches-py").resolve())
               for row in rows)  # fmt: skip
    assert "2 cached dataset(s)" in listed.output and str(tmp_path / "cache") in listed.output

    cleared = runner.invoke(cli, ["data", "cache", "--clear"])

    assert cleared.exit_code == 0 and "removed 2 cached dataset(s)" in cleared.output
    assert not list((tmp_path / "cache").rglob("*.pt"))
    assert "0 cached dataset(s)" in runner.invoke(cli, ["data", "cache"]).output


def test_data_cache_says_when_the_cache_is_off(runner, monkeypatch):
    monkeypatch.setenv("BENCH_CACHE_DIR", "off")
    result = runner.invoke(cli, ["data", "cache"])
    assert result.exit_code == 0 and "the dataset cache is off" in result.output


@pytest.mark.parametrize("limit", ["lots", "0", "-3"])
def test_data_cache_refuses_a_limit_that_is_not_a_positive_number(runner, tmp_path, monkeypatch,
                                                                  limit):  # fmt: skip
    monkeypatch.setenv("BENCH_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("BENCH_CACHE_MAX_GB", limit)
    result = runner.invoke(cli, ["data", "cache"])
    assert result.exit_code == 2
    (line,) = result.output.strip().splitlines()
    assert f"BENCH_CACHE_MAX_GB='{limit}' is not a positive number" in line
    assert "Traceback" not in result.output
