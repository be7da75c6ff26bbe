"""What every deployment file must agree on: one image, one shared results path."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT


@pytest.fixture(scope="session")
def image() -> str:
    """The project's image, built from the Dockerfile, that every cluster runs."""
    return "ghcr.io/OWNER/bench:latest"


@pytest.fixture(scope="session")
def shared_results() -> str:
    """The results directory every node reaches (EFS, NFS or a ReadWriteMany volume)."""
    return "/mnt/shared/results"
