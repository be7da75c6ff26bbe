"""The configuration of one trial: what the per-worker loop trains, and how.

A trial's config travels as a plain dict (it crosses Ray Tune and Ray Train, which pickle
it); ``TrialConfig.from_dict`` validates it once at the top of the loop so that a typo in a
sweep file is a clear error, not a silently ignored key. Every field's default reproduces a
plain Adam recipe; the studies' recipes are set by the sweep files.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from benchmark.errors import BenchError


class TrialConfigError(BenchError):
    """A trial configuration that cannot be trained (unknown key, wrong type, bad value)."""


class EarlyStoppingConfig(BaseModel):
    """Stop when ``metric`` has not improved by ``min_delta`` for ``patience`` epochs."""

    model_config = ConfigDict(extra="forbid")

    metric: Literal["val_accuracy", "val_loss"] = "val_accuracy"
    patience: int = Field(5, ge=1)
    min_delta: float = Field(0.0, ge=0.0)
    restore_best: bool = True

    @property
    def mode(self) -> Literal["max", "min"]:
        return "max" if self.metric.endswith("accuracy") else "min"


class DivergenceConfig(BaseModel):
    """When a trial counts as diverged: a non-finite loss, or accuracy stuck at chance."""

    model_config = ConfigDict(extra="forbid")

    chance_epochs: int = Field(5, ge=1)
    # Accuracy within this margin above 1/num_classes counts as "at chance".
    chance_margin: float = Field(0.02, ge=0.0)


class TrialConfig(BaseModel):
    """Everything the per-worker loop needs to train and evaluate one model."""

    model_config = ConfigDict(extra="forbid")

    # What to train on.
    architecture: str
    dataset: str
    data_dir: str = "data"
    offline: bool = False
    dataset_options: dict[str, Any] = Field(default_factory=dict)
    val_fraction: float = Field(0.1, gt=0.0, lt=1.0)
    # At most this many images of each split, drawn with split_seed (smoke runs).
    sample_limit: int | None = Field(None, ge=1)
    split_seed: int = 0
    model: dict[str, Any] = Field(default_factory=dict)
    augment: str | dict[str, Any] = "none"

    # Optimisation.
    optimizer: Literal["adam", "adamw", "sgd"] = "adam"
    lr: float = Field(1e-3, gt=0.0)
    weight_decay: float = Field(0.0, ge=0.0)
    momentum: float = Field(0.9, ge=0.0, lt=1.0)
    nesterov: bool = False
    batch_size: int = Field(128, ge=1)
    epochs: int = Field(10, ge=1)
    label_smoothing: float = Field(0.0, ge=0.0, lt=1.0)
    lr_schedule: Literal["none", "cosine", "onecycle", "step", "plateau"] = "none"
    warmup_epochs: float = Field(0.0, ge=0.0)
    step_size_epochs: int = Field(10, ge=1)
    gamma: float = Field(0.1, gt=0.0, le=1.0)
    plateau_patience: int = Field(2, ge=0)
    plateau_factor: float = Field(0.1, gt=0.0, lt=1.0)
    grad_clip_norm: float | None = Field(None, gt=0.0)
    early_stopping: EarlyStoppingConfig | None = None
    divergence: DivergenceConfig = Field(default_factory=DivergenceConfig)
    seed: int = 0

    # GPU-only speed options; on CPU they are ignored with one log line.
    amp: Literal["none", "bf16", "fp16"] = "none"
    channels_last: bool = False
    compile: bool = False

    # What to report.
    checkpoint_every: int = Field(1, ge=0)
    # Epoch checkpoints come at least this many seconds apart, counted from the trial's
    # start: a trial shorter than that keeps only its final one. Writing a small network's
    # state each epoch (weights, optimizer moments, best weights) slowed short trials' own
    # training on a 2-core machine; a worker that dies loses at most this much and an epoch.
    checkpoint_interval_s: float = Field(30.0, ge=0.0)
    targets: list[float] = Field(default_factory=list)
    overfit_gap: float = Field(0.1, ge=0.0)
    measure_inference: bool = True
    inference_batch_size: int = Field(256, ge=1)

    # The memory this trial's process may add (``resources.memory_per_worker_gb``): an
    # allocation past it fails as out of memory instead of pushing the node into swap.
    memory_limit_mb: float | None = Field(None, gt=0)

    # Fault injection for tests: the worker process of the given rank exits at the start of
    # this epoch when it was not restored from a checkpoint (i.e. on its first attempt).
    crash_at_epoch: int | None = Field(None, ge=1)
    crash_rank: int = 0

    @model_validator(mode="after")
    def _check_targets(self) -> TrialConfig:
        for target in self.targets:
            if not 0.0 < target <= 1.0:
                raise ValueError(f"targets: {target} is not an accuracy in (0, 1]")
        if self.warmup_epochs >= self.epochs and self.warmup_epochs > 0:
            raise ValueError(
                f"warmup_epochs ({self.warmup_epochs}) must be below epochs ({self.epochs})"
            )
        return self

    @classmethod
    def from_dict(cls, values: dict[str, Any], source: str = "trial config") -> TrialConfig:
        """Validate ``values``; a mistake raises ``TrialConfigError`` naming the key."""
        try:
            return cls.model_validate(values)
        except ValidationError as error:
            first = error.errors()[0]
            key = ".".join(str(part) for part in first["loc"]) or "(root)"
            message = first["msg"]
            if first["type"] == "extra_forbidden":
                from benchmark.errors import close_matches

                known = close_matches(str(first["loc"][-1]), cls._known_keys(first["loc"]))
                hint = f"; did you mean {', '.join(known)}?" if known else ""
                message = f"unknown key{hint}"
            raise TrialConfigError(f"{source}: {key}: {message}") from None

    @classmethod
    def _known_keys(cls, location: tuple) -> list[str]:
        model: type[BaseModel] = cls
        for part in location[:-1]:
            annotation = model.model_fields[str(part)].annotation
            nested = [a for a in getattr(annotation, "__args__", (annotation,)) if _is_model(a)]
            if not nested:
                return []
            model = nested[0]
        return list(model.model_fields)


def _is_model(annotation: Any) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)
