"""`bench submit --address` sends a whole sweep to a running multi-node Ray cluster (a head
and a worker node started by the test on 127.0.0.1, one CPU each) through the Ray Jobs API;
its trials (each a Ray Train job of its own, ``execution: train``) run on both nodes and its
results land in the given storage path."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from benchmark.cli import cli
from benchmark.results.parquet import read_table
from benchmark.sweep.remote import RemoteError, job_status
from benchmark.sweep.store import SweepDirectory

SWEEP = """
name: remote
architectures: [mlp]
datasets: [digits]
search: {algorithm: random, trials_per_cell: 2, max_concurrent: 2}
space:
  lr: {type: loguniform, low: 1.0e-3, high: 1.0e-2}
fixed: {epochs: 1, batch_size: 64, measure_inference: false}
resources: {execution: train}
"""


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def ray_cluster():
    """Two Ray nodes (head + worker, one CPU each) with the Jobs API on 127.0.0.1.

    Each node has its own temporary directory (short: it holds Unix sockets), so that the
    address file `ray start` writes does not point later embedded runs at this cluster.
    """
    ray = Path(sys.executable).with_name("ray")
    env = {**os.environ, "PATH": f"{ray.parent}{os.pathsep}{os.environ['PATH']}"}
    env["RAY_ENABLE_UV_RUN_RUNTIME_ENV"] = "0"
    # The head turns token authentication on; a node joining it must send the token too
    # (~/.ray/auth_token, the one the head uses on this machine).
    env["RAY_AUTH_MODE"] = "token"
    dashboard_port, gcs_port = _free_port(), _free_port()
    temp_dirs = [tempfile.mkdtemp(prefix=f"ray{node}-", dir="/tmp") for node in ("head", "w1")]
    common = ["--block", "--node-ip-address=127.0.0.1", "--num-cpus=1", "--disable-usage-stats"]

    def own_ports() -> list[str]:
        """Free ports for what Ray otherwise binds at fixed defaults (the agent's 52365...):
        another Ray instance of this test session may hold those."""
        names = ("dashboard-agent-listen-port", "dashboard-agent-grpc-port",
                 "runtime-env-agent-port", "metrics-export-port")  # fmt: skip
        return [f"--{name}={_free_port()}" for name in names]

    commands = [
        [str(ray), "start", "--head", f"--port={gcs_port}", "--include-dashboard=true",
         "--dashboard-host=127.0.0.1", f"--dashboard-port={dashboard_port}", *common,
         f"--ray-client-server-port={_free_port()}", *own_ports(),
         f"--temp-dir={temp_dirs[0]}"],
        [str(ray), "start", f"--address=127.0.0.1:{gcs_port}", *common, *own_ports(),
         f"--temp-dir={temp_dirs[1]}"],
    ]  # fmt: skip
    nodes = []
    try:
        for command in commands:
            quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
            nodes.append(subprocess.Popen(command, env=env, start_new_session=True, **quiet))
        yield f"http://127.0.0.1:{dashboard_port}"
    finally:
        # Each node's processes share its process group: end them all at once.
        for node in reversed(nodes):
            os.killpg(node.pid, signal.SIGKILL)
            node.wait()
        for temp_dir in temp_dirs:
            shutil.rmtree(temp_dir, ignore_errors=True)


def test_a_sweep_submitted_to_a_cluster_runs_on_every_node_and_lands_in_storage(
    ray_cluster, tmp_path
):
    sweep_file = tmp_path / "remote.yaml"
    sweep_file.write_text(SWEEP)
    storage = tmp_path / "shared" / "results"
    runner = CliRunner()
    submitted = _submit_when_ready(runner, ray_cluster, sweep_file, storage)
    assert submitted.exit_code == 0, submitted.output
    sweep_id = submitted.output.split("sweep id ")[1].split(":")[0]
    assert f"job bench-{sweep_id}-1 submitted" in submitted.output
    assert "finished: 2 completed" in submitted.output  # the job's own log, streamed

    directory = SweepDirectory.find(storage, sweep_id)
    assert [r["status"] for r in directory.records()] == ["completed", "completed"]
    trials = read_table(directory.path, "trials").to_pylist()
    nodes = {row["node_id"] for row in trials}
    assert len(nodes) == 2 and None not in nodes  # one trial on each one-CPU node
    assert {row["device"] for row in trials} == {trials[0]["device"]}
    assert list(directory.train_dir.iterdir())  # Train's checkpoints, in the storage path

    status = runner.invoke(cli, ["status", sweep_id, "--address", ray_cluster])
    assert f"remote {sweep_id}: SUCCEEDED" in status.output
    logs = runner.invoke(cli, ["logs", sweep_id, "--address", ray_cluster])
    assert "finished: 2 completed" in logs.output
    report = runner.invoke(cli, ["report", sweep_id, "--storage", str(storage)])
    assert report.exit_code == 0, report.output
    assert "mlp/digits" in report.output


def _submit_when_ready(runner, address, sweep_file, results):
    """Submit once the head's Jobs API answers and both nodes have joined (they come up a
    little after the head; a sweep sizes its concurrency to the nodes it sees)."""
    from ray.util.state import list_nodes

    for _ in range(120):
        try:
            job_status(address, None)
            alive = list_nodes(address=address, filters=[("state", "=", "ALIVE")])
            if len(alive) == 2:
                break
        except (RemoteError, ConnectionError, RuntimeError):  # not up yet
            pass
        time.sleep(1)
    args = ["submit", str(sweep_file), "--address", address, "--storage", str(results)]
    return runner.invoke(cli, [*args, "--follow"])
