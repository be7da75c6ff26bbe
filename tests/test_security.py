"""Security guarantees, each checked on real files, real processes and real sockets.

- User files are parsed, never executed: YAML through the safe loader only, no ``eval``,
  weights with ``torch.load(weights_only=True)``, CIFAR pickles through an unpickler that
  builds arrays only. An AST scan of ``benchmark/`` keeps it so.
- Archives are extracted inside their target directory only.
- Servers the platform starts (the Ray dashboard, ``bench ui``'s MLflow server) listen on
  127.0.0.1 unless told otherwise.

(That no secret reaches the results is checked on a real sweep in
``tests/sweep/test_sweep_run.py``.)
"""

from __future__ import annotations

import ast
import io
import json
import os
import pickle
import signal
import socket
import subprocess
import sys
import tarfile
import time
import urllib.request
import zipfile
from pathlib import Path

import numpy as np
import psutil
import pytest
import yaml

from benchmark.data.download import ensure_files
from benchmark.data.sources.cifar import read_cifar_batch
from benchmark.errors import DatasetError
from benchmark.spec import SweepFileError, load_sweep

PACKAGE = Path(__file__).resolve().parents[1] / "benchmark"
LOOPBACK = {"127.0.0.1", "::1"}

# --- user files are parsed, never executed -----------------------------------------------


def test_a_sweep_file_with_a_python_tag_is_refused_and_runs_nothing(tmp_path):
    marker = tmp_path / "pwned"
    sweep_file = tmp_path / "evil.yaml"
    sweep_file.write_text(
        f'name: !!python/object/apply:os.system ["touch {marker}"]\n'
        "architectures: [mlp]\ndatasets: [digits]\n"
    )

    with pytest.raises(SweepFileError) as raised:
        load_sweep(sweep_file)

    message = str(raised.value)
    assert message.startswith(f"{sweep_file}: line 1: not valid YAML")
    assert len(message.splitlines()) == 1
    assert not marker.exists()


class _RunsCommand:
    """Unpickling this runs ``touch <marker>``: what a malicious pickle does."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_a_cifar_file_that_names_code_to_run_is_refused_and_runs_nothing(tmp_path):
    marker = tmp_path / "pwned"
    batch = tmp_path / "data_batch_1"
    batch.write_bytes(pickle.dumps({"data": _RunsCommand(marker), "labels": [0]}, protocol=2))

    with pytest.raises(DatasetError, match=r"corrupt CIFAR-10 file .*refuses to load"):
        read_cifar_batch(batch)
    assert not marker.exists()


def test_a_cifar_file_as_the_datasets_authors_wrote_it_still_loads(tmp_path):
    """Their pickles name ``numpy.core.multiarray`` (numpy 1), which the allow-list maps."""
    data = np.arange(2 * 3072, dtype=np.uint8).reshape(2, 3072)
    written = pickle.dumps({"data": data, "labels": [3, 7]}, protocol=2)
    batch = tmp_path / "data_batch_1"
    batch.write_bytes(written.replace(b"numpy._core.multiarray", b"numpy.core.multiarray"))

    split = read_cifar_batch(batch)

    assert split.labels.tolist() == [3, 7]
    assert split.images.shape == (2, 3, 32, 32)


# Calls that run code found in data, by the dotted name they are made with.
UNSAFE_CALLS = {
    "eval": "runs a string as Python",
    "exec": "runs a string as Python",
    "yaml.unsafe_load": "builds arbitrary Python objects",
    "yaml.full_load": "builds Python objects",
    "yaml.load_all": "use a safe loader explicitly",
    "pickle.load": "runs code named in the file",
    "pickle.loads": "runs code named in the file",
    "cloudpickle.load": "runs code named in the file",
    "cloudpickle.loads": "runs code named in the file",
    "dill.load": "runs code named in the file",
    "dill.loads": "runs code named in the file",
    "marshal.loads": "loads code objects",
    "shelve.open": "pickles underneath",
}
SAFE_YAML_LOADERS = {"SafeLoader", "CSafeLoader", "yaml.SafeLoader", "yaml.CSafeLoader",
                     "_SafeLoader"}  # fmt: skip
# Exceptions, each with why it reads no user input.
ALLOWED = {
    ("sweep/search.py", "pickle.load"): (
        "Tune's Searcher.restore(): the searcher state file Tune itself writes (via save()) "
        "into the sweep's own Tune directory, next to Tune's own pickled experiment state; "
        "no file a user supplies is read there"
    ),
}


def _dotted(node: ast.expr) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return f"{_dotted(node.value)}.{node.attr}"
    return ""


def _keyword(call: ast.Call, name: str) -> ast.expr | None:
    return next((k.value for k in call.keywords if k.arg == name), None)


def unsafe_calls(source: str) -> list[tuple[int, str, str]]:
    """(line, call, why) for every call in ``source`` that may run code found in data."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Call):
            continue
        name = _dotted(node.func)
        if name in UNSAFE_CALLS:
            found.append((node.lineno, name, UNSAFE_CALLS[name]))
        elif name == "yaml.load":
            loader = _keyword(node, "Loader")
            if loader is None and len(node.args) > 1:
                loader = node.args[1]
            if loader is None or _dotted(loader) not in SAFE_YAML_LOADERS:
                found.append((node.lineno, name, "needs Loader=SafeLoader (or a subclass)"))
        elif name == "torch.load":
            weights_only = _keyword(node, "weights_only")
            if not (isinstance(weights_only, ast.Constant) and weights_only.value is True):
                found.append((node.lineno, name, "needs weights_only=True"))
        elif name in {"np.load", "numpy.load"}:
            allow = _keyword(node, "allow_pickle")
            if isinstance(allow, ast.Constant) and allow.value is True:
                found.append((node.lineno, name, "allow_pickle=True unpickles"))
    return found


def test_the_scan_finds_each_kind_of_unsafe_call():
    source = """
yaml.load(text)
yaml.load(text, Loader=yaml.Loader)
yaml.unsafe_load(text)
eval(expression)
pickle.load(handle)
torch.load(path)
torch.load(path, weights_only=False)
np.load(path, allow_pickle=True)
yaml.load(text, Loader=yaml.SafeLoader)
torch.load(path, map_location="cpu", weights_only=True)
model.eval()
"""
    lines = [line for line, _, _ in unsafe_calls(source)]
    assert lines == [2, 3, 4, 5, 6, 7, 8, 9]


def test_the_package_loads_no_user_data_with_code_running_calls():
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE).as_posix()
        for line, name, why in unsafe_calls(path.read_text()):
            if (relative, name) not in ALLOWED:
                found.append(f"benchmark/{relative}:{line}: {name}: {why}")
    assert not found, "\n".join(found)


def test_the_yaml_loader_the_package_uses_is_the_safe_one():
    from benchmark import yaml_values

    assert issubclass(yaml_values._SafeLoader, yaml.SafeLoader)
    assert not issubclass(yaml_values._SafeLoader, yaml.FullLoader)


# --- archives stay inside their target directory -------------------------------------------


def _tar_with(path: Path, member: str, link_to: str | None = None) -> Path:
    with tarfile.open(path, "w:gz") as archive:
        info = tarfile.TarInfo(member)
        if link_to is not None:
            info.type, info.linkname = tarfile.SYMTYPE, link_to
            archive.addfile(info)
            # Then a file written through the link, landing wherever it points.
            info = tarfile.TarInfo(f"{member}/evil")
        payload = b"written by the archive"
        info.size = len(payload)
        archive.addfile(info, io.BytesIO(payload))
    return path


def _download_extracting(archive: Path):
    """A dataset "download" that extracts ``archive`` the way torchvision's classes do."""
    from torchvision.datasets.utils import extract_archive

    def download(root: Path) -> None:
        extract_archive(str(archive), str(root))

    return download


@pytest.mark.parametrize(
    ("member", "link_to"),
    [
        pytest.param("../evil", None, id="parent-directory-member"),
        pytest.param("sub/../../evil", None, id="member-climbing-out-of-a-subfolder"),
        pytest.param("link", "..", id="symlink-to-the-parent"),
        pytest.param("link", "OUTSIDE", id="symlink-to-an-absolute-path"),
    ],
)
def test_a_tar_member_escaping_the_data_directory_is_refused(
    tmp_path, monkeypatch, member, link_to
):
    monkeypatch.delenv("BENCH_OFFLINE", raising=False)
    root, outside = tmp_path / "data", tmp_path / "outside"
    outside.mkdir()
    link_to = str(outside) if link_to == "OUTSIDE" else link_to
    archive = _tar_with(tmp_path / "archive.tar.gz", member, link_to)

    refused = r"download failed \((OutsideDestination|AbsoluteLink|LinkOutsideDestination)Error"
    with pytest.raises(DatasetError, match=refused):
        ensure_files("evil", root, lambda r: ["wanted"], _download_extracting(archive), False)

    assert not (tmp_path / "evil").exists()
    assert not any(outside.iterdir())
    assert tarfile.TarFile.extraction_filter is None  # the filter was scoped to the download


def _present_after(download):
    """``missing_files`` and ``download`` for a dataset whose one file is ``wanted``."""

    def missing(root: Path) -> list[str]:
        return [] if (root / "wanted").exists() else ["wanted"]

    def download_then_mark(root: Path) -> None:
        download(root)
        (root / "wanted").touch()

    return missing, download_then_mark


def test_an_absolute_tar_member_lands_inside_the_data_directory(tmp_path, monkeypatch):
    monkeypatch.delenv("BENCH_OFFLINE", raising=False)
    root = tmp_path / "data"
    outside = tmp_path / "outside" / "evil"
    archive = _tar_with(tmp_path / "archive.tar.gz", str(outside))

    ensure_files("evil", root, *_present_after(_download_extracting(archive)), False)

    assert not outside.exists()
    assert (root / str(outside).lstrip("/")).read_bytes() == b"written by the archive"


def test_a_zip_member_escaping_the_data_directory_lands_inside_it(tmp_path, monkeypatch):
    monkeypatch.delenv("BENCH_OFFLINE", raising=False)
    root = tmp_path / "data"
    archive = tmp_path / "archive.zip"
    with zipfile.ZipFile(archive, "w") as written:
        written.writestr("../evil", b"written by the archive")

    ensure_files("evil", root, *_present_after(_download_extracting(archive)), False)

    assert not (tmp_path / "evil").exists()
    assert (root / "evil").read_bytes() == b"written by the archive"


# --- servers listen on 127.0.0.1 ---------------------------------------------------------


def _listening(processes: list[psutil.Process]) -> dict[int, set[str]]:
    """Port → addresses that ``processes`` accept TCP connections on."""
    ports: dict[int, set[str]] = {}
    for process in processes:
        try:
            connections = process.net_connections(kind="tcp")
        except psutil.Error:  # exited meanwhile
            continue
        for connection in connections:
            if connection.status == psutil.CONN_LISTEN:
                ports.setdefault(connection.laddr.port, set()).add(connection.laddr.ip)
    return ports


def _is_dashboard(process: psutil.Process) -> bool:
    try:
        command = " ".join(process.cmdline())
    except psutil.Error:
        return False
    return "ray/dashboard/dashboard.py" in command or command.startswith("ray-dashboard-")


def _dashboard_listeners(ray_module) -> tuple[int, dict[int, set[str]]]:
    """The dashboard's web UI port, and what every dashboard process listens on."""
    node = ray_module._private.worker.global_worker.node
    host, _, port = node.address_info["webui_url"].rpartition(":")
    assert host == "127.0.0.1"
    dashboard = [p for p in psutil.Process().children(recursive=True) if _is_dashboard(p)]
    return int(port), _listening(dashboard)


def test_the_ray_dashboard_listens_on_loopback_only(local_ray):
    from ray.dashboard.consts import DASHBOARD_METRIC_PORT

    port, listening = _dashboard_listeners(local_ray)

    assert listening.get(port) == {"127.0.0.1"}, listening
    # Its head modules serve nothing beyond the loopback either, but for Ray's Prometheus
    # exporter (see the next test).
    others = {p: a for p, a in listening.items() if p != DASHBOARD_METRIC_PORT}
    assert all(addresses <= LOOPBACK for addresses in others.values()), listening
    # A sweep connects again once Ray is up; the address it prints is the loopback one.
    from benchmark.cluster import connect_ray

    assert connect_ray().dashboard_url == f"http://127.0.0.1:{port}"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_bench_ui_serves_mlflow_on_loopback_by_default(tmp_path):
    port = _free_port()
    log = tmp_path / "ui.log"
    (tmp_path / "r").mkdir()  # a results folder without a store: bench ui copies an empty one
    with open(log, "wb") as output:
        server = subprocess.Popen(
            [sys.executable, "-m", "benchmark.cli", "ui", "--results-dir", str(tmp_path / "r"),
             "--port", str(port)],
            stdout=output, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 180
        listening: dict[int, set[str]] = {}
        while port not in listening:
            assert server.poll() is None, log.read_text()
            assert time.monotonic() < deadline, f"no listener on {port}:\n{log.read_text()}"
            tree = [psutil.Process(server.pid), *psutil.Process(server.pid).children(True)]
            listening = _listening(tree)
            time.sleep(0.2)  # polling interval, not synchronisation
        assert listening[port] <= LOOPBACK, listening
        assert all(addresses <= LOOPBACK for addresses in listening.values()), listening
        # The server answers from the copied store, with the experiment MLflow adds to it.
        search = f"http://127.0.0.1:{port}/api/2.0/mlflow/experiments/search?max_results=5"
        with urllib.request.urlopen(search, timeout=30) as answer:
            names = [e["name"] for e in json.load(answer)["experiments"]]
        assert names == ["Default"]
        # Without MLflow's GenAI job runner and its queue's consumer: nothing here uses them.
        commands = [" ".join(p.cmdline()) for p in psutil.Process(server.pid).children(True)]
        assert commands and not [c for c in commands if "_job_runner" in c or "huey" in c]
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait(timeout=30)
