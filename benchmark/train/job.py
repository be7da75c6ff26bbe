"""One trial as a Ray Train job over 1..N workers (``trainers.ray_train_job``), and its outcome.

The driver side of a trial. It sizes the worker group, asks Ray Train to restart failed
workers from their last checkpoint (``FailureConfig``), and turns what ``fit()`` returns —
or raises — into a ``TrainingJobResult``. The same function is called by ``bench train`` and
by each Tune trial of a sweep; callbacks (e.g. Tune's report forwarding) are passed in.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmark.train.checkpoints import CHECKPOINTS_KEPT
from benchmark.train.config import TrialConfig
from benchmark.train.resources import WorkerResources

STATUS_FAILED = "failed"
OUT_OF_MEMORY = "out_of_memory"


@dataclass
class TrainingJobResult:
    """The outcome of one trial: its final metrics, or the reason it failed."""

    status: str
    metrics: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    checkpoint_path: str | None = None
    job_wall_time_s: float = 0.0

    @property
    def epochs(self) -> list[dict[str, Any]]:
        return list(self.metrics.get("history", []))

    def summary(self) -> dict[str, Any]:
        """The headline figures, in the order a person reads them."""
        figures = {key: self.metrics[key] for key in SUMMARY_KEYS if key in self.metrics}
        return {
            "status": self.status,
            "error": self.error,
            **figures,
            "job_wall_time_s": self.job_wall_time_s,
            "checkpoint_path": self.checkpoint_path,
        }


SUMMARY_KEYS = (
    "architecture", "dataset", "epochs_completed", "best_epoch", "best_val_accuracy",
    "final_val_accuracy", "test_accuracy", "test_loss", "precision_macro", "recall_macro",
    "f1_macro", "train_val_gap", "overfitting", "time_to_target_s", "params_total",
    "params_trainable", "macs_per_image", "train_time_s", "eval_time_s", "wall_time_s",
    "inference_latency_ms", "inference_throughput", "peak_memory_mb", "device", "num_workers",
)  # fmt: skip


def run_training_job(
    config: dict[str, Any],
    resources: WorkerResources,
    storage_path: str | Path,
    name: str,
    max_failures: int = 1,
    callbacks: list[Any] | None = None,
) -> TrainingJobResult:
    """Run ``config`` as a Ray Train job and wait for it; never raises for a bad trial."""
    import ray.train

    from benchmark.train.loop import train_loop_per_worker  # torch: not for a relaying process
    from benchmark.train.trainers import ray_train_job

    trainer = ray_train_job(
        train_loop_per_worker,
        config,
        resources,
        ray.train.RunConfig(
            name=name,
            storage_path=str(storage_path),
            failure_config=ray.train.FailureConfig(max_failures=max_failures),
            # The newest checkpoint holds both the latest state (to resume) and the best
            # weights (inside the early-stopping state), so two are enough.
            checkpoint_config=ray.train.CheckpointConfig(num_to_keep=CHECKPOINTS_KEPT),
            callbacks=callbacks or [],
        ),
    )
    started = time.perf_counter()
    try:
        result = trainer.fit()
    except ray.train.TrainingFailedError as failure:
        return TrainingJobResult(
            status=STATUS_FAILED,
            error=describe_failure(failure),
            job_wall_time_s=time.perf_counter() - started,
        )
    metrics = dict(result.metrics or {})
    return TrainingJobResult(
        status=metrics.get("status", STATUS_FAILED),
        metrics=metrics,
        error=metrics.get("stop_reason") if metrics.get("status") != "completed" else None,
        checkpoint_path=result.checkpoint.path if result.checkpoint else None,
        job_wall_time_s=time.perf_counter() - started,
    )


def train_once(
    config: dict[str, Any],
    resources: WorkerResources,
    storage_path: str | Path,
    max_failures: int = 1,
    address: str | None = None,
) -> TrainingJobResult:
    """Validate ``config`` here (one-line errors before Ray starts), then run it as a job."""
    from benchmark.cluster import connect_ray

    validated = TrialConfig.from_dict(config)
    check_names(validated)
    connect_ray(address=address)
    name = f"{validated.architecture}-{validated.dataset}-{time.strftime('%Y%m%d-%H%M%S')}"
    return run_training_job(
        validated.model_dump(), resources, storage_path, name, max_failures=max_failures
    )


def check_names(config: TrialConfig) -> None:
    """Unknown architecture or dataset names fail here, with close-match suggestions."""
    from benchmark.data import list_datasets
    from benchmark.errors import UnknownDatasetError, UnknownModelError
    from benchmark.models import list_models

    if config.architecture not in list_models():
        raise UnknownModelError(config.architecture, list_models())
    if config.dataset not in list_datasets():
        raise UnknownDatasetError(config.dataset, list_datasets())


def describe_failure(failure: BaseException) -> str:
    """One line saying why a trial failed; out-of-memory is named as such."""
    causes = [failure]
    worker_failures = getattr(failure, "worker_failures", None) or {}
    causes.extend(worker_failures.values())
    for cause in causes:
        if _is_out_of_memory(cause):
            return f"{OUT_OF_MEMORY}: {_first_line(str(cause)) or type(cause).__name__}"
    if worker_failures:
        rank, cause = sorted(worker_failures.items())[0]
        return f"worker {rank}: {type(cause).__name__}: {_last_line(str(cause))}"
    return f"{type(failure).__name__}: {_first_line(str(failure))}"


# How running out of memory reads: CUDA's OutOfMemoryError, a CPU allocation past the
# process's limit (PyTorch's allocator, or Python's MemoryError), Ray's own OOM kill.
# ("memoryerror" also matches OutOfMemoryError.)
_OUT_OF_MEMORY_SIGNS = ("memoryerror", "out of memory", "can't allocate memory",
                        "cannot allocate memory")  # fmt: skip


def _is_out_of_memory(cause: BaseException) -> bool:
    text = f"{type(cause).__name__}: {cause}".lower()
    return any(sign in text for sign in _OUT_OF_MEMORY_SIGNS)


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else ""


def _last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1].strip() if lines else ""
