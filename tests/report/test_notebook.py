"""notebooks/results.ipynb runs top to bottom against a results folder with every outcome."""

from __future__ import annotations

from sample_results import write_sample_results


def test_results_notebook_rebuilds_the_pareto_table_and_plots(tmp_path, run_results_notebook):
    results = tmp_path / "results"
    write_sample_results(results, failed_cell=True)

    run = run_results_notebook(results)

    assert "13 trials in 1 sweep(s)" in run.text
    # The printed Pareto table: cell, params, time, accuracy, std, n, counts, outcome, front.
    rows = {words[0]: words for words in map(str.split, run.text.splitlines()) if len(words) >= 12}
    assert rows["standard_cnn/digits"][1:6] == ["20000", "2.1", "0.86", "0.01", "3"]
    assert rows["separable_cnn/digits"][-2:] == ["ok", "True"]
    assert rows["mlp/digits"][-3:] == ["all", "failed", "False"]
    assert run.images == 2  # accuracy vs parameters, accuracy vs training time
