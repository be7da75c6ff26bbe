"""Datasets by name, with one interface: ``get_dataset`` → ``DatasetBundle`` → ``make_loader``.

```python
bundle = get_dataset("cifar10", "data", val_fraction=0.1, split_seed=0)
loader = make_loader(bundle, "train", batch_size=128, augment="standard", device=device)
for epoch in range(epochs):
    loader.set_epoch(epoch)
    for images, labels in loader:  # float32 (B, C, H, W) normalised, int64 (B,), on device
        ...
```

``list_datasets``/``describe_datasets`` make the registry discoverable (``bench
datasets``), ``fetch_dataset`` downloads ahead of time (``bench data fetch``). Nothing here
imports Ray: the training loop hands in its rank, world size and device.

Importing the package does not import torch: a sweep's driver checks a sweep file against
the registry, and never trains. The modules import it where they make tensors, and the
package's names that need it at once (augmentation, loaders) are imported on first use.
"""

from __future__ import annotations

from benchmark.data import sources as _sources  # noqa: F401  (registers every dataset)
from benchmark.data.bundle import DatasetBundle, FileSplit, ImageSplit, SourceData, TensorSplit
from benchmark.data.download import OFFLINE_ENV, offline_requested
from benchmark.data.registry import (
    DatasetSummary,
    FetchResult,
    dataset_defaults,
    dataset_entry,
    describe_datasets,
    fetch_dataset,
    get_dataset,
    keep_datasets,
    list_datasets,
    register_dataset,
)
from benchmark.data.sharding import ShardPlan
from benchmark.data.sources.caltech import S2_CLASSES
from benchmark.lazy import on_first_use

#: The package's names that need torch, and the module each comes from (``benchmark.lazy``).
_TORCH_NAMES = {
    "PRESETS": "augment",
    "AugmentConfig": "augment",
    "resolve_augment": "augment",
    "BatchLoader": "loader",
    "make_loader": "loader",
}

__getattr__ = on_first_use(__name__, _TORCH_NAMES)

__all__ = [
    "OFFLINE_ENV",
    "PRESETS",
    "S2_CLASSES",
    "AugmentConfig",
    "BatchLoader",
    "DatasetBundle",
    "DatasetSummary",
    "FetchResult",
    "FileSplit",
    "ImageSplit",
    "ShardPlan",
    "SourceData",
    "TensorSplit",
    "dataset_defaults",
    "dataset_entry",
    "describe_datasets",
    "fetch_dataset",
    "get_dataset",
    "keep_datasets",
    "list_datasets",
    "make_loader",
    "offline_requested",
    "register_dataset",
    "resolve_augment",
]
