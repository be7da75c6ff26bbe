"""Fixtures shared by the whole suite."""

from __future__ import annotations

import atexit
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
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
# Likewise a machine cache of the suite's own: decoded datasets and the empty MLflow store
# are kept there, not in the developer's ~/.cache/bench.
os.environ["BENCH_CACHE_DIR"] = tempfile.mkdtemp(prefix="bench-tests-cache-")
atexit.register(shutil.rmtree, os.environ["BENCH_CACHE_DIR"], ignore_errors=True)
# Two test processes share the machine's cores, and each is often training while the other
# is. An OpenMP thread of torch that has done its share of an operation spins, waiting for
# the next one, on a core the other test process needs; waiting passively gives it back.
# Set before torch is imported: every Ray worker and subprocess of the suite inherits it.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
prepare_ray_environment()

RESULTS_NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "results.ipynb"


@pytest.fixture(scope="session")
def local_ray():
    """One embedded Ray instance (2 CPUs) shared by every test of this test process that
    needs it, started the way ``bench`` starts it.

    Starting Ray costs seconds on a 2-core machine, so it is started once per test process
    (pytest-xdist runs two), on first use, and shut down when the session ends. Each
    process's instance is its own: a test that asks Ray's state API about "its" cluster
    names this one's address, since another instance runs beside it. It has its dashboard:
    Ray Train releases the resources of a stopped trial through the state API the
    dashboard serves.
    """
    import ray

    from benchmark.cluster import connect_ray

    connect_ray(num_cpus=2)
    yield ray
    ray.shutdown()


@pytest.fixture(scope="session")
def local_ray_address(local_ray) -> str:
    """The GCS address of this test process's Ray: what a test passes to Ray's state API
    or to ``--address``, since another test process's instance runs beside it."""
    return local_ray.get_runtime_context().gcs_address


@pytest.fixture(scope="session")
def run_sweep(local_ray, tmp_path_factory):
    """Runs a sweep file's text as ``bench submit`` does, quietly, on the suite's embedded
    Ray, in a new folder named after it (the file and its results); returns the outcome."""
    from rich.console import Console

    from benchmark.sweep.run import start_sweep

    def run(text: str, name: str, overrides: tuple[str, ...] = ()):
        root = tmp_path_factory.mktemp(name)
        sweep_file = root / f"{name}.yaml"
        sweep_file.write_text(text)
        return start_sweep(
            sweep_file,
            overrides=overrides,
            results_dir=root / "results",
            console=Console(quiet=True),
            quiet=True,
        )

    return run


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


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class MlflowServer:
    """A real ``mlflow server`` on 127.0.0.1 with its own store, proxying artifacts.

    It can be stopped (SIGKILL, as a crashed server) and started again on the same port and
    store, as a server that comes back.
    """

    store: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen | None = None

    @property
    def uri(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def artifacts(self) -> Path:
        return self.store / "artifacts"

    def start(self, limit_s: float = 120) -> None:
        from benchmark.results.local_store import create_store
        from benchmark.results.tracking import ui_environment

        self.store.mkdir(parents=True, exist_ok=True)
        create_store(self.store / "mlflow.db")  # the suite's copy of an empty store: no migration
        command = [
            sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1",
            "--port", str(self.port), "--workers", "1",
            "--backend-store-uri", f"sqlite:///{self.store / 'mlflow.db'}",
            "--serve-artifacts", "--artifacts-destination", str(self.artifacts),
            "--default-artifact-root", "mlflow-artifacts:/",
        ]  # fmt: skip
        log = self.store / "server.log"
        with open(log, "a") as output:
            self.process = subprocess.Popen(
                command,
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                env=ui_environment(),  # as bench ui runs it: no GenAI job runner
            )
        deadline = time.monotonic() + limit_s
        while True:
            try:
                with urllib.request.urlopen(f"{self.uri}/health", timeout=2) as answer:
                    if answer.status == 200:
                        return
            except OSError:
                pass
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                pytest.fail(f"mlflow server did not start: {log.read_text()[-2000:]}")
            time.sleep(0.25)  # polling the server's health, not waiting on a guess

    def stop(self, kill: bool = False) -> None:
        """Stop the server and its workers (its own process group)."""
        if self.process is None:
            return
        try:
            os.killpg(self.process.pid, signal.SIGKILL if kill else signal.SIGTERM)
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
        except ProcessLookupError:
            pass
        self.process = None


@pytest.fixture
def closed_port() -> int:
    """A port on 127.0.0.1 that nothing listens on."""
    return free_port()


@pytest.fixture
def mlflow_server(tmp_path):
    """A running ``MlflowServer``, stopped after the test."""
    server = MlflowServer(tmp_path / "mlflow-server")
    server.start()
    yield server
    server.stop()
