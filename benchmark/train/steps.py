"""One training pass and one evaluation pass over a loader, as plain loops.

Both return sums (loss, correct, count) rather than means so that shards of several DDP
workers combine exactly. Losses and correct counts are accumulated on the device and read
once per pass: a ``.item()`` per batch would synchronise the GPU every step.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import torch

from benchmark.train.collectives import sum_across_ranks
from benchmark.train.config import TrialConfig
from benchmark.train.optim import LearningRateSchedule
from benchmark.train.speed import SpeedOptions


@dataclass(frozen=True)
class PassTotals:
    """Sums over one pass of a loader, before dividing by the sample count."""

    loss_sum: float
    correct: int
    count: int

    @property
    def loss(self) -> float:
        return self.loss_sum / self.count if self.count else float("nan")

    @property
    def accuracy(self) -> float:
        return self.correct / self.count if self.count else float("nan")


def train_one_epoch(
    model: torch.nn.Module,
    loader: Iterable[tuple[torch.Tensor, torch.Tensor]],
    optimizer: torch.optim.Optimizer,
    schedule: LearningRateSchedule,
    scaler: torch.amp.GradScaler,
    loss_fn: torch.nn.Module,
    speed: SpeedOptions,
    config: TrialConfig,
) -> PassTotals:
    model.train()
    loss_sum, correct, count = _zeros(model)
    for images, labels in loader:
        images = images.contiguous(memory_format=speed.memory_format)
        with speed.autocast():
            logits = model(images)
            loss = loss_fn(logits, labels)
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        if config.grad_clip_norm is not None:
            scaler.unscale_(optimizer)
            torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip_norm)
        scaler.step(optimizer)
        scaler.update()
        schedule.after_batch()
        loss_sum.add_(loss.detach().float(), alpha=labels.numel())
        correct += (logits.detach().argmax(dim=1) == labels).sum()
        count += labels.numel()
    return PassTotals(float(loss_sum), int(correct), int(count))


@torch.no_grad()
def evaluate(
    model: torch.nn.Module,
    loader: Iterable[tuple[torch.Tensor, torch.Tensor]],
    loss_fn: torch.nn.Module,
    speed: SpeedOptions,
) -> PassTotals:
    totals, _, _ = evaluate_with_predictions(model, loader, loss_fn, speed)
    return totals


@torch.no_grad()
def evaluate_with_predictions(
    model: torch.nn.Module,
    loader: Iterable[tuple[torch.Tensor, torch.Tensor]],
    loss_fn: torch.nn.Module,
    speed: SpeedOptions,
) -> tuple[PassTotals, np.ndarray, np.ndarray]:
    """Totals plus the labels and predicted classes, in loader order (this rank's shard)."""
    model.eval()
    loss_sum, correct, count = _zeros(model)
    all_labels, all_predictions = [], []
    for images, labels in loader:
        images = images.contiguous(memory_format=speed.memory_format)
        with speed.autocast():
            logits = model(images)
            loss = loss_fn(logits, labels)
        predictions = logits.argmax(dim=1)
        loss_sum += loss.float() * labels.numel()
        correct += (predictions == labels).sum()
        count += labels.numel()
        all_labels.append(labels)
        all_predictions.append(predictions)
    as_array = lambda parts: torch.cat(parts).cpu().numpy() if parts else np.zeros(0, np.int64)  # noqa: E731
    totals = PassTotals(float(loss_sum), int(correct), int(count))
    return totals, as_array(all_labels), as_array(all_predictions)


def reduce_totals(totals: PassTotals, device: torch.device) -> PassTotals:
    """The totals of all ranks' shards together."""
    loss_sum, correct, count = sum_across_ranks(
        [totals.loss_sum, totals.correct, totals.count], device
    )
    return PassTotals(loss_sum, int(correct), int(count))


def _zeros(model: torch.nn.Module) -> tuple[torch.Tensor, torch.Tensor, int]:
    device = next(model.parameters()).device
    return torch.zeros((), device=device), torch.zeros((), dtype=torch.long, device=device), 0
