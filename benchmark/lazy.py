"""Package names imported on first use, for packages whose import must stay light.

A sweep's driver imports the dataset and model registries to check a sweep file, and never
trains: it must not pay torch's import (seconds, and hundreds of megabytes) for names of
those packages it does not use. Their ``__init__`` sets ``__getattr__ = on_first_use(...)``
(PEP 562) for the names that need torch.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable
from typing import Any


def on_first_use(package: str, sources: dict[str, str]) -> Callable[[str], Any]:
    """A module ``__getattr__`` for ``package`` that imports ``name`` from the submodule
    ``sources[name]`` when it is first asked for, and keeps it in the package from then on."""

    def __getattr__(name: str) -> Any:
        if name not in sources:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        module = importlib.import_module(f"{package}.{sources[name]}")
        value = getattr(module, name)
        setattr(sys.modules[package], name, value)  # later lookups find it directly
        return value

    return __getattr__
