"""Which samples a rank sees in an epoch, in which order, cut into which batches.

Every rank computes the same permutation of the split from ``(seed, epoch)`` and takes one
contiguous block of it, so the ranks' shards never overlap and need no communication. Two
ways of sharing out ``N`` samples among ``W`` ranks:

* ``even=False`` (exact): every sample exactly once per epoch; the first ``N mod W`` ranks
  get one sample more. Batch counts may then differ by one between ranks, harmless when no
  gradients are synchronised (validation, test): with ``shuffle=False`` the ranks' blocks
  concatenated in rank order are the split in its own order.
* ``even=True``: every rank gets ``N // W`` samples and the last ``N mod W`` samples of the
  epoch's permutation sit this epoch out (different ones each epoch when shuffled), like
  ``DistributedSampler(drop_last=True)``. Every rank then runs the same number of steps,
  which DDP training needs: a rank with an extra step would wait forever in all-reduce.

``drop_last`` additionally drops each rank's final incomplete batch.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from benchmark.errors import DatasetError


@dataclass(frozen=True)
class ShardPlan:
    """The sampling plan of one loader: ``dataset_size`` samples split among ranks."""

    dataset_size: int
    batch_size: int
    shuffle: bool = True
    seed: int = 0
    rank: int = 0
    world_size: int = 1
    even: bool = False
    drop_last: bool = False

    def __post_init__(self) -> None:
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be >= 1; got {self.batch_size}")
        if not 0 <= self.rank < self.world_size:
            raise ValueError(f"rank {self.rank} is not in [0, world_size={self.world_size})")
        if self.even and self.dataset_size < self.world_size:
            raise DatasetError(
                f"cannot give each of {self.world_size} workers the same share of "
                f"{self.dataset_size} samples: fewer samples than workers"
            )

    @property
    def shard_size(self) -> int:
        """Samples this rank is assigned per epoch (before ``drop_last``)."""
        base, remainder = divmod(self.dataset_size, self.world_size)
        if self.even:
            return base
        return base + (1 if self.rank < remainder else 0)

    @property
    def num_batches(self) -> int:
        if self.drop_last:
            return self.shard_size // self.batch_size
        return -(-self.shard_size // self.batch_size)

    @property
    def num_samples(self) -> int:
        """Samples this rank actually yields per epoch (after ``drop_last``)."""
        if self.drop_last:
            return self.num_batches * self.batch_size
        return self.shard_size

    def epoch_order(self, epoch: int) -> np.ndarray:
        """The whole split's order this epoch: a permutation seeded by (seed, epoch)."""
        if not self.shuffle:
            return np.arange(self.dataset_size)
        # A seed sequence keyed on both numbers: epochs of one seed, and seeds of one epoch,
        # get independent streams (seed + epoch would make (1, 2) and (2, 1) collide).
        return np.random.default_rng([self.seed, epoch]).permutation(self.dataset_size)

    def shard_indices(self, epoch: int) -> np.ndarray:
        """The indices this rank yields this epoch, in order."""
        base, remainder = divmod(self.dataset_size, self.world_size)
        # Exact shards: the first `remainder` ranks hold one extra sample each.
        start = self.rank * base + (0 if self.even else min(self.rank, remainder))
        shard = self.epoch_order(epoch)[start : start + self.shard_size]
        return shard[: self.num_samples]

    def batches(self, epoch: int) -> list[np.ndarray]:
        """``shard_indices(epoch)`` cut into batches of ``batch_size`` (the last may be short)."""
        indices = self.shard_indices(epoch)
        return [indices[i : i + self.batch_size] for i in range(0, len(indices), self.batch_size)]
