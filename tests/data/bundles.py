"""Hand-made bundles whose pixels say which sample they are, and helpers to read loaders."""

from __future__ import annotations

import numpy as np
import torch

from benchmark.data import DatasetBundle, TensorSplit


def indexed_bundle(
    count: int, shape: tuple[int, int, int] = (1, 4, 4), flip_ok: bool = True
) -> DatasetBundle:
    """A bundle whose image i has every pixel equal to i (count ≤ 256) in all three splits.

    Normalisation is the identity on the 0..255 scale (mean 0, std 1/255), so a loaded
    pixel value is the sample's index: tests can see which samples a loader yielded.
    """
    values = torch.arange(count, dtype=torch.uint8)
    images = values[:, None, None, None].expand(count, *shape).contiguous()
    split = TensorSplit(images, torch.arange(count, dtype=torch.int64) % 3)
    return DatasetBundle(
        name="indexed",
        train=split,
        val=split,
        test=split,
        class_names=["a", "b", "c"],
        mean=(0.0,) * shape[0],
        std=(1 / 255,) * shape[0],
        flip_ok=flip_ok,
        val_fraction=0.1,
        split_seed=0,
    )


def yielded_indices(loader) -> list[int]:
    """The sample indices an ``indexed_bundle`` loader yielded, in order."""
    return [round(v) for images, _ in loader for v in images[:, 0, 0, 0].tolist()]


def as_uint8(images: torch.Tensor, mean: float, std: float) -> np.ndarray:
    """Undo a loader's normalisation of a single-channel batch (for pixel comparisons)."""
    return np.rint((images * std + mean).numpy() * 255).astype(np.uint8)
