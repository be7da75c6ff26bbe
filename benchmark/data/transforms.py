"""uint8 batch → normalised float batch: the one step both loader paths share.

Batches travel as uint8 (a quarter of float32's bytes over PCIe) and become float on the
training device; augmentation runs on the 0..1 scale, before normalisation, so padding and
rotation fill with black whatever the dataset's mean.
"""

from __future__ import annotations

import functools
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
    mean_tensor, std_tensor = _channel_constants(tuple(mean), tuple(std), batch.device)
    return batch.sub_(mean_tensor).div_(std_tensor)


@functools.lru_cache(maxsize=32)
def _channel_constants(
    mean: tuple[float, ...], std: tuple[float, ...], device: torch.device
) -> tuple[torch.Tensor, torch.Tensor]:
    """The mean and std as (1, C, 1, 1) tensors on ``device``, made once.

    Made per batch, each is a host-to-device copy that waits for the GPU to drain its queue:
    two stalls per step, which cost a small model on a GPU a large share of its speed.
    """

    def per_channel(values: tuple[float, ...]) -> torch.Tensor:
        return torch.tensor(values, dtype=torch.float32, device=device).view(1, -1, 1, 1)

    return per_channel(mean), per_channel(std)
