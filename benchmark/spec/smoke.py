"""The smoke profile: any sweep shrunk to a run of minutes that still takes every path.

``bench submit --smoke`` (the sweep key ``smoke: true``) keeps the sweep's cells, search
algorithm, space and resources, and cuts what only costs time: one trial per cell, no
repeats, no early-stopping scheduler, one epoch, at most ``SAMPLE_LIMIT`` images per split
and images no larger than ``IMAGE_SIZE`` pixels where the dataset has a size option. Its
results go under ``<name>-smoke`` so they never mix with the real sweep's.
"""

from __future__ import annotations

from typing import Any

from benchmark.spec.schema import Scheduler, SweepSpec

SUFFIX = "-smoke"
SAMPLE_LIMIT = 64
IMAGE_SIZE = 64
EPOCHS = 1


def smoke_spec(spec: SweepSpec) -> SweepSpec:
    """``spec`` with the smoke profile's sweep-level cuts (idempotent)."""
    name = spec.name if spec.name.endswith(SUFFIX) else f"{spec.name}{SUFFIX}"
    search = spec.search.model_copy(update={"trials_per_cell": 1})
    return spec.model_copy(
        update={
            "name": name,
            "smoke": True,
            "search": search,
            "repeats": 0,
            "scheduler": Scheduler(),
        }
    )


def smoke_trial_caps(config: dict[str, Any], dataset_options: dict[str, Any]) -> dict[str, Any]:
    """The values a smoke trial sets last, over its sampled ones.

    ``dataset_options`` are the dataset's options with defaults filled in: an image size is
    capped only where the dataset has one.
    """
    caps: dict[str, Any] = {"epochs": EPOCHS, "sample_limit": SAMPLE_LIMIT}
    if config.get("early_stopping"):
        caps["early_stopping"] = None
    if config.get("warmup_epochs"):
        caps["warmup_epochs"] = 0.0
    size = dataset_options.get("image_size")
    if isinstance(size, int) and size > IMAGE_SIZE:
        caps["dataset_options"] = {"image_size": IMAGE_SIZE}
    return caps
