"""The sweep file's schema: what a study may say, checked before anything starts.

A sweep file names the architectures and datasets to compare (their product is the set of
*cells*), how each cell is searched (algorithm, objectives, budget), the distributions of
the searched hyperparameters, the hyperparameters held fixed, early stopping, the resources
of each trial, and how the best configuration of each cell is re-run with new seeds.
Every model forbids unknown keys so that a typo is an error, not a silently ignored key.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

# Final metrics a trial reports that a search may optimise, with the natural direction.
OBJECTIVE_METRICS: dict[str, Literal["max", "min"]] = {
    "best_val_accuracy": "max",
    "final_val_accuracy": "max",
    "test_accuracy": "max",
    "test_loss": "min",
    "precision_macro": "max",
    "recall_macro": "max",
    "f1_macro": "max",
    "train_val_gap": "min",
    "train_time_s": "min",
    "eval_time_s": "min",
    "wall_time_s": "min",
    "params_total": "min",
    "params_trainable": "min",
    "macs_per_image": "min",
    "inference_latency_ms": "min",
    "inference_throughput": "max",
    "peak_memory_mb": "min",
}

# Metrics every epoch reports: what an early-stopping scheduler may compare.
EPOCH_METRICS: dict[str, Literal["max", "min"]] = {
    "val_accuracy": "max",
    "val_loss": "min",
    "train_accuracy": "max",
    "train_loss": "min",
}

ALGORITHMS = ("optuna-tpe", "optuna-nsga2", "random", "grid")


class KeyedValueError(ValueError):
    """A model-level mistake that belongs to one of the model's keys (``key``, relative).

    Pydantic reports a model validator's error at the model itself; the loader appends
    ``key`` so the message names the entry that is wrong (``architectures[1]``).
    """

    def __init__(self, key: tuple[str | int, ...], problem: str) -> None:
        super().__init__(problem)
        self.key = key


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Uniform(_Strict):
    """A float drawn uniformly from [low, high]."""

    type: Literal["uniform"]
    low: float
    high: float

    def describe(self) -> str:
        return f"uniform [{self.low:g}, {self.high:g}]"

    @model_validator(mode="after")
    def _ordered(self) -> Uniform:
        _check_ordered(self.low, self.high)
        return self


class LogUniform(_Strict):
    """A positive float whose logarithm is uniform on [log low, log high] (learning rates)."""

    type: Literal["loguniform"]
    low: float = Field(gt=0)
    high: float = Field(gt=0)

    def describe(self) -> str:
        return f"log-uniform [{self.low:g}, {self.high:g}]"

    @model_validator(mode="after")
    def _ordered(self) -> LogUniform:
        _check_ordered(self.low, self.high)
        return self


class IntRange(_Strict):
    """An integer in [low, high] (both included), every ``step``, optionally log-scaled."""

    type: Literal["int"]
    low: int
    high: int
    step: int = Field(1, ge=1)
    log: bool = False

    def describe(self) -> str:
        step = f" step {self.step}" if self.step != 1 else ""
        return f"{'log-' if self.log else ''}int [{self.low}, {self.high}]{step}"

    @model_validator(mode="after")
    def _ordered(self) -> IntRange:
        _check_ordered(self.low, self.high)
        if self.log and self.low < 1:
            raise ValueError("log=true needs low >= 1")
        return self


class Choice(_Strict):
    """One of a list of values (numbers, strings, booleans or lists)."""

    type: Literal["choice"]
    values: list[Any] = Field(min_length=1)

    def describe(self) -> str:
        return "one of " + ", ".join(str(value) for value in self.values)


Distribution = Annotated[Uniform | LogUniform | IntRange | Choice, Field(discriminator="type")]
SearchSpace = dict[str, Distribution]


def _check_ordered(low: float, high: float) -> None:
    if low >= high:
        raise ValueError(f"low ({low}) must be below high ({high})")


class ArchitectureEntry(_Strict):
    """One architecture of the study, with what is fixed or searched for it alone.

    ``label`` tells two entries of the same architecture apart (e.g. ResNet50 frozen and
    fine-tuned); it defaults to the architecture's name.
    """

    architecture: str
    label: str | None = None
    fixed: dict[str, Any] = Field(default_factory=dict)
    space: SearchSpace = Field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.label or self.architecture


class DatasetEntry(_Strict):
    """One dataset of the study, with its options (e.g. Caltech101's class subset)."""

    dataset: str
    label: str | None = None
    options: dict[str, Any] = Field(default_factory=dict)
    fixed: dict[str, Any] = Field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.label or self.dataset


class Objective(_Strict):
    metric: str
    mode: Literal["max", "min"] | None = None

    @field_validator("metric")
    @classmethod
    def _known_metric(cls, metric: str) -> str:
        if metric not in OBJECTIVE_METRICS:
            raise ValueError(_unknown(metric, OBJECTIVE_METRICS, "objective metric"))
        return metric

    @property
    def direction(self) -> Literal["max", "min"]:
        return self.mode or OBJECTIVE_METRICS[self.metric]


class Search(_Strict):
    """How each cell is searched; every cell gets the same budget and its own study."""

    algorithm: Literal["optuna-tpe", "optuna-nsga2", "random", "grid"] = "optuna-tpe"
    objectives: list[Objective] = Field(
        default_factory=lambda: [Objective(metric="best_val_accuracy")], min_length=1
    )
    trials_per_cell: int | None = Field(None, ge=1)
    max_concurrent: int | None = Field(None, ge=1)
    seed: int = 0

    @model_validator(mode="after")
    def _objectives_fit_algorithm(self) -> Search:
        metrics = [objective.metric for objective in self.objectives]
        for index, metric in enumerate(metrics):
            if metric in metrics[:index]:
                raise KeyedValueError(
                    ("objectives", index), f"'{metric}' is already an objective; list it once"
                )
        if len(self.objectives) > 1 and self.algorithm == "optuna-tpe":
            # TPE in Optuna handles several objectives too, but NSGA-II is the standard
            # choice; saying so here avoids a silent, surprising sampler.
            raise KeyedValueError(
                ("objectives",),
                "optuna-tpe optimises one objective; use algorithm: optuna-nsga2 for several",
            )
        return self


class Scheduler(_Strict):
    """Early stopping of weak trials, comparing a trial only with trials of its own cell."""

    type: Literal["none", "asha", "median"] = "none"
    metric: str = "val_accuracy"
    mode: Literal["max", "min"] | None = None
    grace_period: int = Field(1, ge=1)
    reduction_factor: float = Field(2.0, gt=1.0)
    max_epochs: int | None = Field(None, ge=1)
    min_samples_required: int = Field(3, ge=1)

    @field_validator("metric")
    @classmethod
    def _epoch_metric(cls, metric: str) -> str:
        if metric not in EPOCH_METRICS:
            raise ValueError(_unknown(metric, EPOCH_METRICS, "per-epoch metric"))
        return metric

    @property
    def direction(self) -> Literal["max", "min"]:
        return self.mode or EPOCH_METRICS[self.metric]


class Resources(_Strict):
    """What one trial asks of the cluster: Ray Train workers (DDP ranks) and their share.

    ``execution`` says how a trial's Ray Train work is started. ``pooled`` (the default)
    starts one Ray Train job per trial that runs at once and keeps it for the sweep: each
    runs trial after trial (``benchmark.train.pool``) with the same per-worker loop, DDP,
    checkpoints and worker restarts, at under a second of fixed cost per trial instead of
    tens of seconds. ``train`` starts a Ray Train job of its own for every trial. ``inline``
    runs the loop inside the Tune trial's own process, one worker and no Ray Train; a dead
    worker is then not restarted from its checkpoint.

    ``memory_per_worker_gb`` is reserved from Ray for each worker (so trials are not packed
    onto a node beyond its memory) and is the most each worker's trial may allocate: past
    it the trial fails as ``out_of_memory`` and the sweep goes on (Linux).
    """

    workers: int = Field(1, ge=1)
    cpus_per_worker: float = Field(1.0, gt=0)
    gpus_per_worker: float = Field(0.0, ge=0)
    memory_per_worker_gb: float | None = Field(None, gt=0)
    execution: Literal["pooled", "train", "inline"] = "pooled"

    @model_validator(mode="after")
    def _inline_is_one_worker(self) -> Resources:
        if self.execution == "inline" and self.workers != 1:
            raise KeyedValueError(
                ("workers",),
                "inline execution runs one worker; set workers: 1 or execution: pooled",
            )
        return self

    @field_validator("gpus_per_worker")
    @classmethod
    def _whole_or_fraction(cls, gpus: float) -> float:
        if gpus > 1 and gpus != int(gpus):
            raise ValueError("more than one GPU per worker must be a whole number")
        return gpus


class Stop(_Strict):
    """When the whole sweep stops: a wall-clock budget (unfinished trials are stopped)."""

    time_budget_s: float | None = Field(None, gt=0)


class SweepSpec(_Strict):
    """A whole study: cells = architectures × datasets, each searched with the same budget."""

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    description: str = ""
    architectures: list[ArchitectureEntry] = Field(min_length=1)
    datasets: list[DatasetEntry] = Field(min_length=1)
    search: Search = Field(default_factory=Search)
    space: SearchSpace = Field(default_factory=dict)
    fixed: dict[str, Any] = Field(default_factory=dict)
    scheduler: Scheduler = Field(default_factory=Scheduler)
    resources: Resources = Field(default_factory=Resources)
    repeats: int = Field(0, ge=0)
    targets: list[float] = Field(default_factory=list)
    stop: Stop = Field(default_factory=Stop)
    max_failures: int = Field(1, ge=0)
    # Log each trial's final checkpoint to MLflow as an artifact (it can be large).
    log_models: bool = False
    data_dir: str = "data"
    offline: bool = False
    # The smoke profile (``benchmark.spec.smoke``): every path of the sweep in minutes.
    smoke: bool = False

    @field_validator("architectures", mode="before")
    @classmethod
    def _architecture_shorthand(cls, entries: Any) -> Any:
        return _shorthand(entries, "architecture")

    @field_validator("datasets", mode="before")
    @classmethod
    def _dataset_shorthand(cls, entries: Any) -> Any:
        return _shorthand(entries, "dataset")

    @field_validator("targets")
    @classmethod
    def _accuracies(cls, targets: list[float]) -> list[float]:
        for target in targets:
            if not 0.0 < target <= 1.0:
                raise ValueError(f"{target} is not an accuracy in (0, 1]")
        return targets

    @model_validator(mode="after")
    def _unique_labels(self) -> SweepSpec:
        for kind, entries in (("architectures", self.architectures), ("datasets", self.datasets)):
            names = [entry.name for entry in entries]
            for index, name in enumerate(names):
                if name in names[:index]:
                    raise KeyedValueError(
                        (kind, index),
                        f"'{name}' repeats {kind}[{names.index(name)}]; "
                        "give one of them a distinct label",
                    )
        return self

    @property
    def objectives(self) -> list[Objective]:
        return self.search.objectives


def _shorthand(entries: Any, key: str) -> Any:
    """Accept ``- resnet18`` for ``- {architecture: resnet18}`` (and likewise datasets)."""
    if not isinstance(entries, list):
        return entries
    return [{key: entry} if isinstance(entry, str) else entry for entry in entries]


def _unknown(name: str, known: dict[str, Any], kind: str) -> str:
    from benchmark.errors import close_matches

    matches = close_matches(name, known)
    hint = f"did you mean {', '.join(matches)}?" if matches else f"one of {', '.join(known)}"
    return f"unknown {kind} '{name}'; {hint}"
