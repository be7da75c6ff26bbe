"""Fixtures shared by the whole suite."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest

from benchmark.cluster import prepare_ray_environment

# Tests never reach beyond this machine: datasets and weights must already be on disk.
os.environ["BENCH_OFFLINE"] = "1"
# A torch.hub cache of the suite's own, set before any Ray worker starts (workers inherit
# it): tests that need "ImageNet" weights put stand-in files there, and nothing a
# developer has cached changes what the tests see.
os.environ["TORCH_HOME"] = tempfile.mkdtemp(prefix="bench-tests-torch-")
atexit.register(shutil.rmtree, os.environ["TORCH_HOME"], ignore_errors=True)
prepare_ray_environment()

RESULTS_NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "results.ipynb"


@pytest.fixture(scope="session")
def local_ray():
    """One embedded Ray instance (2 CPUs) shared by every test that needs it, started the way
    ``bench`` starts it.

    Starting Ray costs tens of seconds on a 2-core machine, so it is started once, on first
    use, and shut down when the session ends. It has its dashboard: Ray Train releases the
    resources of a stopped trial through the state API the dashboard serves.
    """
    import ray

    from benchmark.cluster import connect_ray

    connect_ray(num_cpus=2)
    yield ray
    ray.shutdown()


@dataclass
class NotebookRun:
    """What an executed notebook printed (text) and how many PNG images it displayed."""

    text: str
    images: int


@pytest.fixture
def run_results_notebook(tmp_path_factory, monkeypatch):
    """Executes ``notebooks/results.ipynb`` top to bottom against a results folder.

    The ``python3`` kernel is installed into a temporary prefix if no spec is found;
    jupyter_client runs a spec whose command is ``python`` with this interpreter, so the
    kernel imports the same ``benchmark`` as the test. A failing cell raises
    ``CellExecutionError``.
    """
    import nbformat
    from ipykernel.kernelspec import install
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel
    from nbclient import NotebookClient

    try:
        KernelSpecManager().get_kernel_spec("python3")
    except NoSuchKernel:
        prefix = tmp_path_factory.mktemp("kernel")
        install(prefix=str(prefix))
        monkeypatch.setenv("JUPYTER_PATH", str(prefix / "share" / "jupyter"))

    def run(results: Path) -> NotebookRun:
        notebook = nbformat.read(RESULTS_NOTEBOOK, as_version=4)
        assert "RESULTS =" in notebook.cells[0].source
        notebook.cells[0].source = f"RESULTS = {str(results)!r}"
        NotebookClient(
            notebook,
            kernel_name="python3",
            timeout=120,
            resources={"metadata": {"path": str(RESULTS_NOTEBOOK.parent)}},
        ).execute()
        outputs = [output for cell in notebook.cells for output in cell.get("outputs", [])]
        text = "\n".join(
            output.get("text", "") + "\n" + output.get("data", {}).get("text/plain", "")
            for output in outputs
        )
        images = sum("image/png" in output.get("data", {}) for output in outputs)
        return NotebookRun(text, images)

    return run
