"""The benchmark scripts of ``perf/`` run to the end at their tiny size and write their figures.

Each script runs as a user runs it (``python perf/<script>.py --size tiny --json PATH``), and
its JSON must hold both sides' figures, ratios that are the quotient of the two, and the
machine they were measured on. Timings are never asserted: a shared or slow machine would
fail a threshold for reasons that are not bugs.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

PERF = Path(__file__).resolve().parents[2] / "perf"


SCRIPTS = [
    "loop_vs_pytorch.py", "report_at_scale.py", "trial_overhead.py", "sweep_vs_optuna.py",
    "slots_busy.py", "early_stopping.py", "memory_format.py", "dataset_cache.py",
]  # fmt: skip


SWEEP_SCRIPTS = {"trial_overhead.py", "sweep_vs_optuna.py", "slots_busy.py", "early_stopping.py"}
# Options a script is run with beyond the common ones: slots busy at two packing levels.
OPTIONS = {"slots_busy.py": ["--packing", "1,2"]}


@pytest.fixture
def cluster_address(request) -> list[str]:
    """``--address`` of the suite's running Ray for a script that runs sweeps (its sides
    then join it instead of each starting Ray: seconds of the suite each), else nothing."""
    if request.node.callspec.params["script"] not in SWEEP_SCRIPTS:
        return []
    return ["--address", request.getfixturevalue("local_ray_address")]


@pytest.mark.parametrize("script", SCRIPTS)
def test_a_tiny_run_writes_both_figures_their_ratio_and_the_machine(
    script, tmp_path, cluster_address
):
    figures_file, kept = tmp_path / "figures.json", tmp_path / "kept"

    command = [sys.executable, str(PERF / script), "--size", "tiny", "--json", str(figures_file),
               "--keep-results", str(kept), *cluster_address, *OPTIONS.get(script, [])]  # fmt: skip

    jobs_before = (
        {job.job_id for job in _ray_jobs(cluster_address[1])} if cluster_address else set()
    )
    finished = subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=300,
    )

    assert finished.returncode == 0, finished.stderr[-3000:]
    figures = json.loads(figures_file.read_text())
    assert (figures["size"], figures["device"]) == ("tiny", "cpu")
    assert figures["rows"]
    for row in figures["rows"]:
        if "steady state" in row["name"] and math.isnan(row["platform"]):
            # Two tiny trials on two slots may never both be at work at once: no steady
            # state to measure, said as NaN (a figure never invented), and not met.
            assert row["met"] is False, row
            continue
        assert row["platform"] > 0 and row["baseline"] > 0, row
        assert math.isclose(row["ratio"], row["platform"] / row["baseline"], rel_tol=1e-9)
        if row["target"] is not None:
            assert isinstance(row["met"], bool)
    machine = figures["machine"]
    assert machine["cpu"] and machine["cores"] >= 1 and machine["ram_gb"] > 0
    assert machine["torch"]
    assert "ratio" in finished.stdout and machine["cpu"] in finished.stdout
    # Each sweep side's sweep stays where --keep-results says, its records with it.
    records = list(kept.glob("*/results/*/*/trials/*.json"))
    assert bool(records) == (script in SWEEP_SCRIPTS), records
    if cluster_address:  # each sweep side's driver was a job of the suite's Ray
        sides = [job for job in _ray_jobs(cluster_address[1]) if job.job_id not in jobs_before]
        assert sides and all(f"{PERF}/" in job.entrypoint for job in sides), sides
        assert {str(job.status) for job in sides} == {"SUCCEEDED"}, sides
    if script == "sweep_vs_optuna.py":  # where each side's wall time went
        phases = [note for note in figures["notes"] if "first trial started at" in note]
        assert [note.split(":")[0] for note in phases] == ["bench (inline)", "Optuna (2 trials)"]
        address = cluster_address[1]
        assert f"walls include its imports and joining the running Ray cluster at {address}" in (
            " ".join(figures["notes"])
        )
    if script == "slots_busy.py":  # one run per packing level, and the fastest named
        assert len(list(kept.glob("sweep-inline-*"))) == 2
        assert [row["name"].count("1 slots") for row in figures["rows"]] == [1, 1, 1, 0, 0, 0]
        assert any(note.startswith("inline: most trials per minute with ") for note in
                   figures["notes"])  # fmt: skip


def _ray_jobs(address: str) -> list:
    """The jobs of the suite's Ray at ``address`` (its own driver's, and those of drivers
    that joined it)."""
    from ray.util.state import list_jobs

    return list_jobs(address, limit=10_000)


@pytest.mark.parametrize("script", ["trial_overhead.py", "sweep_vs_optuna.py", "slots_busy.py"])
def test_an_unknown_execution_mode_is_refused_before_anything_runs(script):
    finished = subprocess.run(
        [sys.executable, str(PERF / script), "--executions", "pooled,warm"],
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert finished.returncode == 2
    assert "--executions: 'pooled,warm': name one or more of pooled, train, inline" in (
        finished.stderr
    )
    assert "Traceback" not in finished.stderr


def test_a_packing_level_below_one_is_refused_before_anything_runs():
    finished = subprocess.run(
        [sys.executable, str(PERF / "slots_busy.py"), "--packing", "4,0"],
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert finished.returncode == 2
    assert "--packing: '4,0': give one or more whole numbers of trials at once" in finished.stderr
    assert "Traceback" not in finished.stderr


@pytest.mark.parametrize(
    ("script", "options", "expected"),
    [
        ("sweep_vs_optuna.py", ["--device", "cpu", "--devices", "2"],
         "--devices: 2 needs --device cuda (a CPU is one device)"),
        ("slots_busy.py", ["--devices", "0"],
         "--devices: '0': give a whole number of GPUs, 1 or more"),
        ("sweep_vs_optuna.py", ["--device", "cuda", "--devices", "64"],
         "--devices: 64 GPUs asked for; this machine has "),
    ],
)  # fmt: skip
def test_devices_this_machine_does_not_have_are_refused_before_anything_runs(
    script, options, expected
):
    finished = subprocess.run(
        [sys.executable, str(PERF / script), *options],
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert finished.returncode == 2
    assert expected in finished.stderr
    assert "Traceback" not in finished.stderr


def test_an_address_where_no_cluster_answers_is_refused_before_anything_runs(closed_port, tmp_path):
    address = f"127.0.0.1:{closed_port}"
    finished = subprocess.run(
        [sys.executable, str(PERF / "sweep_vs_optuna.py"), "--address", address,
         "--keep-results", str(tmp_path / "kept")],
        capture_output=True,
        text=True,
        timeout=60,
    )  # fmt: skip

    assert finished.returncode == 2
    (line,) = [line for line in finished.stderr.splitlines() if line.startswith("sweep_vs")]
    assert f"--address: no Ray cluster answers at {address}" in line
    assert "Traceback" not in finished.stderr
    assert not (tmp_path / "kept").exists()
