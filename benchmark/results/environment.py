"""``env.json``: what a sweep ran on, so that its figures can be compared honestly later.

Package versions, Python, OS, CPU model, GPU models with driver and CUDA versions, the Ray
cluster's resources and the project's git commit (with a flag when the tree had changes).
Each figure of a trial also carries its own ``device``; this file describes the whole run.
"""

from __future__ import annotations

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
    return {
        "packages": {name: _version(name) for name in PACKAGES},
        "python": platform.python_version(),
        "os": platform.platform(),
        "cpu": _cpu_model(),
        "cpu_count": _cpu_count(),
        "gpus": _gpus(),
        "cuda": _cuda_version(),
        "gpu_driver": _gpu_driver(),
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


def _gpus() -> list[str]:
    import torch

    if not torch.cuda.is_available():
        return []
    return [torch.cuda.get_device_name(index) for index in range(torch.cuda.device_count())]


def _cuda_version() -> str | None:
    import torch

    return torch.version.cuda if torch.cuda.is_available() else None


def _gpu_driver() -> str | None:
    output = _run(["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"])
    return output.splitlines()[0].strip() if output else None


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
