"""Fixtures of the data suite: small real-format datasets written into a temporary folder."""

from __future__ import annotations

from pathlib import Path

import pytest
from formats import write_class_folders

from benchmark.data import DatasetBundle, get_dataset


@pytest.fixture(scope="session")
def digits_bundle() -> DatasetBundle:
    """The real digits dataset (scikit-learn's import is slow: load it once per session)."""
    return get_dataset("digits")


@pytest.fixture
def pets_folder(tmp_path: Path) -> Path:
    """One folder of three class folders of JPEG and PNG files of varying sizes."""
    folder = tmp_path / "pets"
    write_class_folders(folder, {"cat": 6, "dog": 5, "fish": 4})
    return folder
