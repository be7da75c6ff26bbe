"""Early stopping and divergence detection: the two reasons a trial ends before its budget."""

from __future__ import annotations

import copy
import math

import torch

from benchmark.train.config import DivergenceConfig, EarlyStoppingConfig


class EarlyStopping:
    """Tracks the best epoch of a validation metric and keeps a copy of its weights."""

    def __init__(self, config: EarlyStoppingConfig | None) -> None:
        self.config = config
        self.mode = config.mode if config else "max"
        self.best_value: float | None = None
        self.best_epoch: int | None = None
        self.best_state: dict[str, torch.Tensor] | None = None
        self.bad_epochs = 0

    def update(self, epoch: int, value: float, model: torch.nn.Module) -> bool:
        """Record ``epoch``; returns True when training should stop."""
        min_delta = self.config.min_delta if self.config else 0.0
        if self.best_value is None or self._improves(value, min_delta):
            self.best_value, self.best_epoch, self.bad_epochs = value, epoch, 0
            self.best_state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
            return False
        self.bad_epochs += 1
        return self.config is not None and self.bad_epochs >= self.config.patience

    def _improves(self, value: float, min_delta: float) -> bool:
        if math.isnan(value):
            return False
        if self.mode == "max":
            return value > self.best_value + min_delta
        return value < self.best_value - min_delta

    def state_dict(self) -> dict:
        return {
            "best_value": self.best_value,
            "best_epoch": self.best_epoch,
            "best_state": self.best_state,
            "bad_epochs": self.bad_epochs,
        }

    def load_state_dict(self, state: dict) -> None:
        self.best_value = state["best_value"]
        self.best_epoch = state["best_epoch"]
        self.best_state = copy.deepcopy(state["best_state"])
        self.bad_epochs = state["bad_epochs"]


class DivergenceMonitor:
    """Says why a trial diverged: a non-finite loss, or accuracy stuck at chance."""

    def __init__(self, config: DivergenceConfig, num_classes: int) -> None:
        self.config = config
        self.chance_accuracy = 1.0 / num_classes
        self.epochs_at_chance = 0

    def check(self, train_loss: float, val_accuracy: float) -> str | None:
        """The divergence reason after an epoch, or None while training is healthy."""
        if not math.isfinite(train_loss):
            return f"non-finite training loss ({train_loss})"
        if val_accuracy <= self.chance_accuracy + self.config.chance_margin:
            self.epochs_at_chance += 1
        else:
            self.epochs_at_chance = 0
        if self.epochs_at_chance >= self.config.chance_epochs:
            return (
                f"validation accuracy stuck at chance ({self.chance_accuracy:.3f}) for "
                f"{self.epochs_at_chance} epochs"
            )
        return None

    def state_dict(self) -> dict:
        return {"epochs_at_chance": self.epochs_at_chance}

    def load_state_dict(self, state: dict) -> None:
        self.epochs_at_chance = state["epochs_at_chance"]
