"""`bench submit --address` sends a whole sweep to a running Ray cluster (a head started by
the test on 127.0.0.1) through the Ray Jobs API; its results are readable afterwards."""

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
from benchmark.sweep.remote import RemoteError, job_status
from benchmark.sweep.store import SweepDirectory

SWEEP = """
name: remote
architectures: [mlp]
datasets: [digits]
search: {algorithm: random, trials_per_cell: 1}
space:
  lr: {type: loguniform, low: 1.0e-3, high: 1.0e-2}
fixed: {epochs: 1, batch_size: 64, measure_inference: false}
"""


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def ray_head():
    """A one-node Ray cluster with its dashboard (the Jobs API) on 127.0.0.1."""
    dashboard_port = _free_port()
    # Its own temporary directory (short: it holds Unix sockets), so that the address file
    # `ray start` writes does not point later embedded runs at this short-lived head.
    temp_dir = tempfile.mkdtemp(prefix="rayhead-", dir="/tmp")
    ray = Path(sys.executable).with_name("ray")
    env = {**os.environ, "PATH": f"{ray.parent}{os.pathsep}{os.environ['PATH']}"}
    env["RAY_ENABLE_UV_RUN_RUNTIME_ENV"] = "0"
    head = subprocess.Popen(
        [str(ray), "start", "--head", "--block", "--node-ip-address=127.0.0.1",
         f"--port={_free_port()}", "--include-dashboard=true", "--dashboard-host=127.0.0.1",
         f"--dashboard-port={dashboard_port}", "--num-cpus=2", "--disable-usage-stats",
         f"--temp-dir={temp_dir}"],
        env=env, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        yield f"http://127.0.0.1:{dashboard_port}"
    finally:
        # The head's processes share its process group: end them all at once.
        os.killpg(head.pid, signal.SIGKILL)
        head.wait()
        shutil.rmtree(temp_dir, ignore_errors=True)


def test_a_sweep_submitted_to_a_cluster_runs_there_and_its_results_are_readable(ray_head, tmp_path):
    sweep_file = tmp_path / "remote.yaml"
    sweep_file.write_text(SWEEP)
    results = tmp_path / "results"
    runner = CliRunner()
    submitted = _submit_when_ready(runner, ray_head, sweep_file, results)
    assert submitted.exit_code == 0, submitted.output
    sweep_id = submitted.output.split("sweep id ")[1].split(":")[0]
    assert f"job bench-{sweep_id}-1 submitted" in submitted.output
    assert "finished: 1 completed" in submitted.output  # the job's own log, streamed

    (record,) = SweepDirectory.find(results, sweep_id).records()
    assert record["status"] == "completed"
    assert record["cell"] == "mlp/digits"

    status = runner.invoke(cli, ["status", sweep_id, "--address", ray_head])
    assert f"remote {sweep_id}: SUCCEEDED" in status.output
    logs = runner.invoke(cli, ["logs", sweep_id, "--address", ray_head])
    assert "finished: 1 completed" in logs.output


def _submit_when_ready(runner, address, sweep_file, results):
    """Submit once the head's Jobs API answers (it comes up a little after the head)."""
    for _ in range(120):
        try:
            job_status(address, None)
            break
        except (RemoteError, ConnectionError, RuntimeError):  # not up yet
            time.sleep(1)
    args = ["submit", str(sweep_file), "--address", address, "--results-dir", str(results)]
    return runner.invoke(cli, [*args, "--follow"])
