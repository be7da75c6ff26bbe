"""Seeded, stratified carving of one split out of another (validation, or a missing test set).

The carved part holds ``round(fraction × N)`` images (at least one), shared out among the
classes in proportion to their sizes (largest remainders get the leftover places), so a
rare class keeps its share in both parts. The same labels, fraction and seed always carve
the same indices, on any machine: the seed is recorded with every result.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from benchmark.errors import DatasetError

if TYPE_CHECKING:
    import torch

    from benchmark.data.bundle import ImageSplit


def stratified_split(
    labels: torch.Tensor | np.ndarray, fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """(kept, carved) index arrays, each ascending, that partition ``range(len(labels))``."""
    labels = np.asarray(labels, dtype=np.int64)
    total = len(labels)
    if not 0.0 < fraction < 1.0:
        raise DatasetError(f"a split fraction must be between 0 and 1 (exclusive); got {fraction}")
    carved_total = max(1, round(fraction * total))
    if carved_total >= total:
        raise DatasetError(
            f"cannot carve {fraction:.0%} out of {total} images and keep any: too few images"
        )
    classes, counts = np.unique(labels, return_counts=True)
    quotas = _proportional_quotas(counts, carved_total)
    rng = np.random.default_rng(seed)
    carved_parts = []
    for label, quota in zip(classes, quotas, strict=True):
        members = np.flatnonzero(labels == label)
        carved_parts.append(rng.permutation(members)[:quota])
    carved = np.sort(np.concatenate(carved_parts)) if carved_parts else np.zeros(0, np.int64)
    kept = np.setdiff1d(np.arange(total), carved, assume_unique=True)
    return kept, carved


def split_off(split: ImageSplit, fraction: float, seed: int) -> tuple[ImageSplit, ImageSplit]:
    """(rest, carved) splits of ``split``; see ``stratified_split``."""
    kept, carved = stratified_split(split.labels, fraction, seed)
    return split.subset(kept), split.subset(carved)


def _proportional_quotas(counts: np.ndarray, total: int) -> np.ndarray:
    """Integers proportional to ``counts`` summing to ``total`` (largest-remainder method)."""
    exact = counts * (total / counts.sum())
    quotas = np.floor(exact).astype(np.int64)
    leftover = total - int(quotas.sum())
    # Stable sort on the negated remainders: ties go to the lower class index.
    order = np.argsort(-(exact - quotas), kind="stable")
    quotas[order[:leftover]] += 1
    return quotas  # never above counts: total < counts.sum(), so exact < counts
