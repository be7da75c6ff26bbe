"""`bench report` and `bench results` on a small results folder written by the real writer.

The sweep (``sample_results``) has two cells of three search trials and two repeats each,
with one failed, one diverged and one early-stopped trial; every expected number below can
be worked out by hand from its docstring.
"""

from __future__ import annotations

import json
import math
import re

import click
import pandas as pd
import pytest
from click.testing import CliRunner
from rich.console import Console
from sample_results import EXPECTED, SWEEP_ID, SWEEP_NAME, sweep_yaml, write_sample_results

from benchmark.cli import BenchGroup
from benchmark.cli.report import report, results
from benchmark.report.render import markdown_report, print_tables, write_report
from benchmark.report.sources import SweepNotFoundError, load_results, locate_sweeps
from benchmark.report.tables import PairError, best_per_cell, build_report, parse_pairs
from benchmark.results.parquet import compact

STANDARD, SEPARABLE, MLP = "standard_cnn/digits", "separable_cnn/digits", "mlp/digits"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
TRIALS, EPOCHS, CLASSES = 10, 8 * 3 + 1, 8 * 3  # rows the sample writes to each table


@pytest.fixture(scope="module", params=["running", "finished"])
def results_dir(tmp_path_factory, request):
    """The sample as a running sweep leaves it (a file per trial) and as a finished one does
    (compacted): every report test reads both."""
    root = tmp_path_factory.mktemp("results")
    sweep_dir = write_sample_results(root)
    if request.param == "finished":
        compact(sweep_dir)
    return root


@pytest.fixture(scope="module")
def data(results_dir):
    return load_results(locate_sweeps([], results_dir))


@pytest.fixture(scope="module")
def built(data):
    return build_report(data)


def _rows(table) -> dict[str, pd.Series]:
    return {row["cell"]: row for _, row in table.frame.iterrows()}


def bench(*args: str):
    group = BenchGroup("bench")
    group.add_command(report)
    group.add_command(results)
    return CliRunner().invoke(group, list(args), prog_name="bench", env={"COLUMNS": "250"})


# --- the sample itself ------------------------------------------------------------------


def test_the_sample_sweep_file_is_a_valid_sweep():
    from benchmark.spec import parse_sweep

    spec = parse_sweep(sweep_yaml(["standard_cnn", "separable_cnn"]), source="sample")
    assert spec.repeats == 2 and spec.search.trials_per_cell == 3


# --- Pareto table -----------------------------------------------------------------------


def test_pareto_table_has_one_row_per_cell_with_its_best_search_trial(built):
    rows = _rows(built.pareto)
    assert set(rows) == {STANDARD, SEPARABLE}
    for cell, expected in EXPECTED.items():
        assert rows[cell]["trial_id"] == expected["best"]
        assert rows[cell]["runs"].split() == expected["runs"]
        assert rows[cell]["params_total"] == expected["params_total"]
        assert rows[cell]["architecture"] == cell.split("/")[0]
        assert rows[cell]["dataset"] == "digits"
        assert rows[cell]["device"] == "cpu:x86_64"


def test_accuracy_and_time_are_the_mean_over_the_best_trial_and_its_repeats(built):
    rows = _rows(built.pareto)
    for cell, expected in EXPECTED.items():
        assert rows[cell]["accuracy"] == pytest.approx(expected["accuracy"])
        assert rows[cell]["accuracy_std"] == pytest.approx(expected["std"])
        assert rows[cell]["n"] == 3
        assert rows[cell]["train_time_s"] == pytest.approx(expected["train_time_s"])


def test_failed_diverged_and_early_stopped_trials_are_counted_not_dropped(built):
    rows = _rows(built.pareto)
    for cell, expected in EXPECTED.items():
        for column in ("trials", "completed", "failed", "diverged", "early_stopped"):
            assert rows[cell][column] == expected[column], (cell, column)
        assert rows[cell]["outcome"] == "ok"


def test_fronts_are_marked_as_worked_out_by_hand(built):
    rows = _rows(built.pareto)
    # Separable is smaller and faster, standard more accurate: both on the 3-objective
    # front and on both accuracy fronts; on (params, time) separable dominates.
    for column in ("front", "front_params_acc", "front_time_acc"):
        assert rows[STANDARD][column] and rows[SEPARABLE][column], column
    assert rows[SEPARABLE]["front_params_time"]
    assert not rows[STANDARD]["front_params_time"]
    assert not any("devices" in note for note in built.pareto.notes)


def test_a_cell_whose_every_trial_failed_shows_as_such(tmp_path):
    write_sample_results(tmp_path, failed_cell=True)
    built = build_report(load_results(locate_sweeps([], tmp_path)))
    mlp = _rows(built.pareto)[MLP]
    assert (mlp["trials"], mlp["failed"], mlp["completed"]) == (3, 3, 0)
    assert mlp["outcome"] == "all failed"
    assert not mlp["front"] and math.isnan(mlp["accuracy"])
    assert "all failed" in markdown_report(built)


def test_a_cell_stuck_at_chance_accuracy_shows_as_collapsed(data):
    trials = data.trials.copy()
    separable = trials["cell"] == SEPARABLE
    trials.loc[separable, "test_accuracy"] = 0.34  # three classes: chance is 0.33
    rows = {row["cell"]: row for _, row in best_per_cell(trials, None, data.classes).iterrows()}
    assert rows[SEPARABLE]["outcome"].startswith("collapsed")
    assert rows[STANDARD]["outcome"] == "ok"


def test_a_planned_cell_without_any_trial_gets_a_row(data):
    planned = {SWEEP_ID: [(STANDARD, "standard_cnn", "digits"), ("vgg/digits", "vgg16", "digits")]}
    best = best_per_cell(data.trials, None, data.classes, planned)
    assert len(best) == 3
    row = best[best["cell"] == "vgg/digits"].iloc[0]
    assert (row["architecture"], row["trials"], row["outcome"]) == (
        "vgg16",
        0,
        "no trials recorded",
    )


def test_times_from_two_devices_get_a_front_each_and_a_note(tmp_path):
    write_sample_results(tmp_path, devices={"standard_cnn": "cuda:NVIDIA H100"})
    built = build_report(load_results(locate_sweeps([], tmp_path)))
    rows = _rows(built.pareto)
    assert rows[STANDARD]["device"] == "cuda:NVIDIA H100"
    # Alone on its device, each cell is on the fronts that involve training time.
    assert rows[STANDARD]["front_params_time"] and rows[SEPARABLE]["front_params_time"]
    [note] = [note for note in built.pareto.notes if "devices" in note]
    assert "cpu:x86_64" in note and "cuda:NVIDIA H100" in note and "per device" in note
    assert built.pairs.frame["same_device"].tolist() == [False]
    assert note in markdown_report(built)


def test_every_trial_table_lists_all_trials_and_fronts_only_completed_ones(data):
    built = build_report(data, every_trial=True)
    frame = built.pareto.frame.set_index("trial_id")
    assert len(frame) == TRIALS
    assert frame.loc["s2", "status"] == "failed"
    assert frame.loc["p0", "status"] == "diverged"
    # The diverged trial is the smallest and fastest, yet never on a front.
    assert not frame.loc["p0", ["front", "front_params_time"]].any()
    assert frame.loc["p1", "front_params_time"]
    assert "completed trials only" in built.pareto.notes[0]


# --- paired comparison and overfitting --------------------------------------------------


def test_standard_and_separable_are_paired_automatically(built):
    [pair] = built.pairs.frame.to_dict("records")
    assert (pair["a"], pair["b"]) == ("standard_cnn", "separable_cnn")
    assert pair["params_ratio"] == pytest.approx(5_000 / 20_000)
    assert pair["train_time_ratio"] == pytest.approx(1.1 / 2.1)
    assert pair["accuracy_diff"] == pytest.approx(0.81 - 0.86)
    assert pair["accuracy_diff_se"] == pytest.approx(math.sqrt(0.01**2 / 3 + 0.01**2 / 3))
    assert (pair["n_a"], pair["n_b"]) == (3, 3)


def test_an_explicit_pair_sets_which_architecture_is_the_baseline(data):
    built = build_report(data, pairs=parse_pairs(["separable_cnn:standard_cnn"]))
    [pair] = built.pairs.frame.to_dict("records")
    assert (pair["a"], pair["b"]) == ("separable_cnn", "standard_cnn")
    assert pair["params_ratio"] == pytest.approx(4.0)


@pytest.mark.parametrize("text", ["standard_cnn", "a:", "a:a"])
def test_a_malformed_pair_is_refused(text):
    with pytest.raises(PairError, match="A:B"):
        parse_pairs([text])


def test_a_pair_naming_an_unknown_architecture_is_refused(data):
    with pytest.raises(PairError, match="known: separable_cnn, standard_cnn"):
        build_report(data, pairs=[("standard_cnn", "resnet18")])


def test_overfitting_flags_a_gap_above_a_tenth(built):
    rows = _rows(built.overfitting)
    for cell, expected in EXPECTED.items():
        assert rows[cell]["train_val_gap"] == pytest.approx(expected["gap"])
    assert bool(rows[STANDARD]["overfitting"]) is True
    assert bool(rows[SEPARABLE]["overfitting"]) is False


def test_overfitting_gap_comes_from_the_last_epoch_when_trials_lack_it(data):
    trials = data.trials.assign(train_val_gap=math.nan)
    from benchmark.report.tables import overfitting_table

    best = best_per_cell(trials, None, data.classes)
    rows = _rows(overfitting_table(best, trials, data.epochs))
    assert rows[STANDARD]["train_val_gap"] == pytest.approx(0.12)
    assert rows[STANDARD]["final_train_accuracy"] == pytest.approx(0.86 + 0.12, abs=0.01)


# --- output formats ---------------------------------------------------------------------


def test_terminal_tables_show_every_cell_and_the_accuracy_spread(built):
    console = Console(record=True, width=250)
    print_tables(built, console)
    text = console.export_text()
    assert STANDARD in text and SEPARABLE in text
    assert "0.8600 ± 0.0100 (n=3)" in text
    assert "Paired comparison" in text and "Overfitting" in text


def test_markdown_has_a_table_row_per_cell(built):
    lines = markdown_report(built).splitlines()
    standard = next(line for line in lines if line.startswith(f"| {STANDARD} |"))
    assert "| 20,000 |" in standard and "0.8600 ± 0.0100 (n=3)" in standard
    assert any(line.startswith(f"| {SEPARABLE} |") for line in lines)
    assert any(line.startswith("| digits | standard_cnn | separable_cnn |") for line in lines)


def test_csv_files_hold_the_raw_numbers_of_each_table(built, data, tmp_path):
    files = write_report(built, data, "csv", tmp_path)
    assert {f.name for f in files} >= {"pareto.csv", "pairs.csv", "overfitting.csv"}
    pareto = pd.read_csv(tmp_path / "pareto.csv").set_index("cell")
    assert len(pareto) == 2
    assert pareto.loc[STANDARD, "accuracy"] == pytest.approx(0.86)
    assert pareto.loc[SEPARABLE, "diverged"] == 1
    assert len(pd.read_csv(tmp_path / "pairs.csv")) == 1


def test_html_report_references_png_figures_that_exist(built, data, tmp_path):
    write_report(built, data, "html", tmp_path)
    page = (tmp_path / "report.html").read_text()
    sources = re.findall(r'<img src="([^"]+)"', page)
    # Two Pareto plots; learning curves and a confusion matrix per cell.
    assert len(sources) == 6
    assert {"accuracy_vs_params.png", "accuracy_vs_train_time.png"} <= set(sources)
    for source in sources:
        assert (tmp_path / source).read_bytes()[:8] == PNG_SIGNATURE, source
    assert STANDARD in page and "0.8600 ± 0.0100 (n=3)" in page


# --- finding sweeps ---------------------------------------------------------------------


def test_no_argument_means_the_newest_sweep_and_a_root_means_all(tmp_path):
    write_sample_results(tmp_path, sweep_id="20261101-000000-0001")
    newest = write_sample_results(tmp_path, sweep_id="20261202-000000-0002")
    assert locate_sweeps([], tmp_path) == [newest]
    assert len(locate_sweeps([str(tmp_path)], tmp_path / "elsewhere")) == 2
    assert len(locate_sweeps([str(tmp_path / SWEEP_NAME)], tmp_path)) == 2
    assert locate_sweeps(["20261101-000000-0001"], tmp_path)[0].name == "20261101-000000-0001"
    built = build_report(load_results(locate_sweeps([str(tmp_path)], tmp_path)))
    assert len(built.pareto.frame) == 4  # two cells of each sweep, never merged
    assert "sweep" in markdown_report(built).split("\n## Paired")[0]


def test_an_unknown_sweep_id_is_a_bench_error(results_dir):
    with pytest.raises(SweepNotFoundError, match="no sweep 'nope'"):
        locate_sweeps(["nope"], results_dir)


# --- the commands -----------------------------------------------------------------------


def test_bench_report_prints_the_newest_sweep_as_tables(results_dir):
    result = bench("report", "--results-dir", str(results_dir))
    assert result.exit_code == 0, result.output
    assert STANDARD in result.output and "0.8100 ± 0.0100 (n=3)" in result.output


def test_bench_report_writes_csv_files_readable_with_pandas(results_dir, tmp_path):
    out = tmp_path / "report"
    result = bench(
        "report", SWEEP_ID, "--results-dir", str(results_dir), "--format", "csv", "--out", str(out)
    )
    assert result.exit_code == 0, result.output
    assert len(pd.read_csv(out / "pareto.csv")) == 2
    assert len(pd.read_csv(out / "overfitting.csv")) == 2


def test_bench_report_all_with_a_path_writes_html(results_dir, tmp_path):
    sweep_dir = results_dir / SWEEP_NAME / SWEEP_ID
    out = tmp_path / "html"
    result = bench("report", str(sweep_dir), "--all", "--format", "html", "--out", str(out))
    assert result.exit_code == 0, result.output
    page = (out / "report.html").read_text()
    assert page.count("<tr>") >= TRIALS + 1 and "CUDA out of memory" in page


def test_bench_report_markdown_without_out_goes_to_stdout(results_dir):
    result = bench("report", "--results-dir", str(results_dir), "--format", "markdown")
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("# Benchmark report")
    assert f"| {STANDARD} |" in result.stdout


def test_bench_report_of_an_unknown_sweep_is_a_one_line_error(results_dir):
    result = bench("report", "nope", "--results-dir", str(results_dir))
    assert result.exit_code == 2, result.output
    assert result.output.splitlines() == [result.output.rstrip("\n")]
    assert result.output.startswith("Error: no sweep 'nope' under")


def test_bench_report_with_a_bad_pair_is_a_one_line_error(results_dir):
    result = bench("report", "--results-dir", str(results_dir), "--pair", "standard_cnn")
    assert result.exit_code == 2 and result.output.startswith("Error: --pair"), result.output


@pytest.mark.parametrize(
    ("fmt", "read"),
    [("csv", pd.read_csv), ("json", pd.read_json), ("parquet", pd.read_parquet)],
)
def test_bench_results_exports_every_table(results_dir, tmp_path, fmt, read):
    out = tmp_path / "export"
    result = bench(
        "results", SWEEP_ID, "--results-dir", str(results_dir), "--format", fmt, "--out", str(out)
    )
    assert result.exit_code == 0, result.output
    assert len(read(out / f"trials.{fmt}")) == TRIALS
    assert len(read(out / f"epochs.{fmt}")) == EPOCHS
    assert len(read(out / f"classes.{fmt}")) == CLASSES


def test_bench_results_exports_one_table_to_a_named_file(results_dir, tmp_path):
    out = tmp_path / "trials.json"
    result = bench(
        "results", SWEEP_ID, "--results-dir", str(results_dir), "--format", "json",
        "--table", "trials", "--out", str(out),
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    rows = json.loads(out.read_text())
    assert len(rows) == TRIALS
    assert {row["status"] for row in rows} == {"completed", "failed", "diverged", "early_stopped"}


def test_bench_results_refuses_a_file_for_several_tables(results_dir, tmp_path):
    out = tmp_path / "all.csv"
    result = bench("results", SWEEP_ID, "--results-dir", str(results_dir), "--out", str(out))
    assert result.exit_code == 2 and "pass --table or a folder" in result.output


def test_bench_results_of_an_unknown_sweep_is_a_one_line_error(results_dir):
    result = bench("results", "nope", "--results-dir", str(results_dir))
    assert result.exit_code == 2
    assert result.output.splitlines() == [result.output.rstrip("\n")]
    assert result.output.startswith("Error: no sweep 'nope'")


def test_the_commands_are_click_commands_named_for_the_cli():
    assert isinstance(report, click.Command) and report.name == "report"
    assert isinstance(results, click.Command) and results.name == "results"
