"""uint8 batch → normalised float batch: the one step both loader paths share.

Batches travel as uint8 (a quarter of float32's bytes over PCIe) and become float on the
training device; augmentation runs on the 0..1 scale, before normalisation, so padding and
rotation fill with black whatever the dataset's mean.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from benchmark.data.augment import AugmentConfig, augment_batch


def to_model_input(
    images: torch.Tensor,
    mean: Sequence[float],
    std: Sequence[float],
    augment: AugmentConfig | None = None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """uint8 (B, C, H, W) → float32 ``(x / 255 - mean) / std``, augmented if asked."""
    if images.dtype != torch.uint8:
        raise ValueError(f"expected a uint8 batch; got {images.dtype}")
    batch = images.to(torch.float32).div_(255.0)
    if augment is not None and not augment.is_identity:
        if generator is None:
            raise ValueError("augmentation needs a generator, so that a seed fixes its draws")
        batch = augment_batch(batch, augment, generator)
    mean_tensor = torch.tensor(mean, dtype=torch.float32, device=batch.device)[None, :, None, None]
    std_tensor = torch.tensor(std, dtype=torch.float32, device=batch.device)[None, :, None, None]
    return batch.sub_(mean_tensor).div_(std_tensor)
