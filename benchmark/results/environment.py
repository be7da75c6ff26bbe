"""``env.json``: what a sweep ran on, so that its figures can be compared honestly later.

Package versions, Python, OS, CPU model, GPU models with driver and CUDA versions, the Ray
cluster's resources and the project's git commit (with a flag when the tree had changes).
Each figure of a trial also carries its own ``device``; this file describes the whole run.

It is written by the sweep's driver, which never trains, so nothing here imports torch
(seconds, and on a GPU machine CUDA's start as well): the GPUs and their driver come from
``nvidia-smi``, the CUDA version torch was built for from torch's own ``version.py``.
"""

from __future__ import annotations

import ast
import importlib.util
import json
import platform
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any

from benchmark.files import write_atomically

PACKAGES = (
    "raybench", "torch", "torchvision", "ray", "optuna", "mlflow", "numpy", "pandas",
    "pyarrow", "scikit-learn", "pydantic",
)  # fmt: skip


def describe_environment(cluster_resources: dict[str, float] | None = None) -> dict[str, Any]:
    """Everything ``env.json`` holds; fields that cannot be known here are ``None``."""
    gpus = _nvidia_smi("name", "driver_version")
    return {
        "packages": {name: _version(name) for name in PACKAGES},
        "python": platform.python_version(),
        "os": platform.platform(),
        "cpu": _cpu_model(),
        "cpu_count": _cpu_count(),
        "gpus": [name for name, _ in gpus],
        # The CUDA version of torch's build (``torch.version.cuda``), where there are GPUs.
        "cuda": _torch_build_fact("cuda") if gpus else None,
        "gpu_driver": gpus[0][1] if gpus else None,
        "ray_cluster_resources": dict(cluster_resources or {}),
        "git": _git_state(Path(__file__).resolve().parents[2]),
    }


def write_environment(path: Path, cluster_resources: dict[str, float] | None = None) -> dict:
    environment = describe_environment(cluster_resources)
    write_atomically(path, json.dumps(environment, indent=2))
    return environment


def _version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _cpu_count() -> int | None:
    import os

    return os.cpu_count()


def _nvidia_smi(*fields: str) -> list[tuple[str, ...]]:
    """``fields`` of each GPU of this machine, as ``nvidia-smi`` reports them; none without it
    (a line that does not hold every field, such as an error, is no GPU)."""
    output = _run(["nvidia-smi", f"--query-gpu={','.join(fields)}", "--format=csv,noheader"])
    rows = [
        tuple(value.strip() for value in line.split(",", len(fields) - 1))
        for line in (output or "").splitlines()
    ]
    return [row for row in rows if len(row) == len(fields) and all(row)]


def _torch_build_fact(name: str) -> str | None:
    """A constant of the installed ``torch/version.py`` (``cuda``: '13.0'), read, not run."""
    spec = importlib.util.find_spec("torch")  # finds the package without importing it
    if spec is None or not spec.submodule_search_locations:
        return None
    try:
        source = Path(spec.submodule_search_locations[0], "version.py").read_text()
        tree = ast.parse(source)
    except (OSError, SyntaxError):
        return None
    for node in tree.body:
        target = node.target if isinstance(node, ast.AnnAssign) else None
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target = node.targets[0]
        if isinstance(target, ast.Name) and target.id == name and node.value is not None:
            value = ast.literal_eval(node.value)
            return None if value is None else str(value)
    return None


def _git_state(project: Path) -> dict[str, Any] | None:
    if not (project / ".git").exists():
        return None
    commit = _run(["git", "-C", str(project), "rev-parse", "HEAD"])
    if not commit:
        return None
    changes = _run(["git", "-C", str(project), "status", "--porcelain", "--untracked-files=no"])
    return {"commit": commit.strip(), "dirty": bool(changes and changes.strip())}


def _run(command: list[str]) -> str | None:
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout if done.returncode == 0 else None
