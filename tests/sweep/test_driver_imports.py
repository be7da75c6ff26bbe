"""A sweep's driver never trains, so checking a sweep file and running a sweep from it must
not import torch (seconds of the sweep's start, and hundreds of megabytes of the driver)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import benchmark.data
import benchmark.models
from benchmark.data.loader import make_loader
from benchmark.models.profile import count_parameters
from benchmark.results.environment import _torch_build_fact, describe_environment

ROOT = Path(__file__).resolve().parents[2]

# What `bench submit` does before Ray starts, then the modules its sweep runs on, in a
# fresh process: a sweep file checked (names, keys, inputs), a misspelt one refused, and
# env.json written.
DRIVER = """
import json, sys
from pathlib import Path
import benchmark.cli, benchmark.sweep.run, benchmark.sweep.trainable, benchmark.sweep.publish
import benchmark.results.tracking, benchmark.train.pool, benchmark.train.trainers
from benchmark.results.environment import write_environment
from benchmark.spec import SweepFileError, load_sweep
from benchmark.sweep.cells import plan_sweep
from benchmark.sweep.preflight import check_inputs

source = "sweeps/quickstart.yaml"
check_inputs(plan_sweep(load_sweep(source), source=source), source)
try:
    load_sweep(source, ["architectures=[standrd_cnn]"])
    refused = None
except SweepFileError as error:
    refused = str(error)
environment = write_environment(Path(sys.argv[1]) / "env.json", {"CPU": 2.0})
print(json.dumps({"torch": "torch" in sys.modules, "refused": refused,
                  "packages": environment["packages"]}))
"""


def test_a_sweep_file_is_checked_and_its_driver_started_without_torch(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-c", DRIVER, str(tmp_path)],
        cwd=ROOT, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout.splitlines()[-1])
    assert seen["torch"] is False
    assert "unknown architecture 'standrd_cnn'; did you mean standard_cnn?" in seen["refused"]
    assert seen["packages"]["torch"] == torch.__version__.split("+")[0]


def test_torchs_build_is_read_from_its_version_file_as_torch_itself_says() -> None:
    assert _torch_build_fact("cuda") == torch.version.cuda
    assert _torch_build_fact("__version__") == torch.__version__
    assert _torch_build_fact("no_such_constant") is None


def test_the_packages_names_that_need_torch_are_theirs_when_first_used() -> None:
    assert benchmark.models.count_parameters is count_parameters
    assert benchmark.data.make_loader is make_loader
    from benchmark.models import summarize_model
    from benchmark.models.summary import summarize_model as defined

    assert summarize_model is defined
    with pytest.raises(AttributeError, match=r"'benchmark\.models' has no attribute 'no_such'"):
        benchmark.models.no_such  # noqa: B018


def test_env_json_names_the_gpus_and_torchs_cuda_from_nvidia_smi(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # This machine has no GPU: a stand-in prints what nvidia-smi prints for the same query
    # on a two-GPU machine (and a line that is no GPU), and fails on any other query.
    fake = tmp_path / "nvidia-smi"
    fake.write_text(
        '#!/bin/sh\n[ "$1" = "--query-gpu=name,driver_version" ] || exit 9\n'
        'printf "NVIDIA H200, 580.159.04\\nNVIDIA H200, 580.159.04\\n\\nNo devices\\n"\n'
    )
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}:{os.environ['PATH']}")
    environment = describe_environment({"GPU": 2.0})
    assert environment["gpus"] == ["NVIDIA H200", "NVIDIA H200"]
    assert environment["gpu_driver"] == "580.159.04"
    assert environment["cuda"] == torch.version.cuda
