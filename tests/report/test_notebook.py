"""notebooks/results.ipynb runs top to bottom against a real results folder."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from sample_results import write_sample_results

NOTEBOOK = Path(__file__).resolve().parents[2] / "notebooks" / "results.ipynb"


@pytest.fixture
def python3_kernel(tmp_path_factory, monkeypatch):
    """The ``python3`` kernel; installed into a temporary prefix if no spec is found.

    jupyter_client runs a spec whose command is ``python`` with this interpreter, so the
    kernel imports the same ``benchmark`` as the test.
    """
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    try:
        KernelSpecManager().get_kernel_spec("python3")
    except NoSuchKernel:
        from ipykernel.kernelspec import install

        prefix = tmp_path_factory.mktemp("kernel")
        install(prefix=str(prefix))
        monkeypatch.setenv("JUPYTER_PATH", str(prefix / "share" / "jupyter"))
    return "python3"


def _outputs(notebook) -> str:
    texts = []
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            texts.append(output.get("text", ""))
            texts.append(output.get("data", {}).get("text/plain", ""))
    return "\n".join(texts)


def test_results_notebook_rebuilds_the_pareto_table_and_plot(tmp_path, python3_kernel):
    results = tmp_path / "results"
    write_sample_results(results, failed_cell=True)
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    assert "RESULTS =" in notebook.cells[0].source
    notebook.cells[0].source = f"RESULTS = {str(results)!r}"

    client = NotebookClient(
        notebook,
        kernel_name=python3_kernel,
        timeout=120,
        resources={"metadata": {"path": str(NOTEBOOK.parent)}},
    )
    client.execute()  # raises CellExecutionError on the first failing cell

    text = _outputs(notebook)
    assert "13 trials in 1 sweep(s)" in text
    # The printed Pareto table: cell, params, time, accuracy, std, n, counts, outcome, front.
    rows = {words[0]: words for words in map(str.split, text.splitlines()) if len(words) >= 12}
    assert rows["standard_cnn/digits"][1:6] == ["20000", "2.1", "0.86", "0.01", "3"]
    assert rows["separable_cnn/digits"][-2:] == ["ok", "True"]
    assert rows["mlp/digits"][-3:] == ["all", "failed", "False"]
    images = [
        output
        for cell in notebook.cells
        for output in cell.get("outputs", [])
        if "image/png" in output.get("data", {})
    ]
    assert len(images) == 1  # accuracy vs parameters
