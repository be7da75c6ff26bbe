"""Where the per-worker loop meets Ray Train, and the stand-in for running it directly.

The loop asks its runtime for rank, world size and device, hands it the model to wrap for
DDP, and gives it each epoch's metrics and checkpoint. ``RayTrainRuntime`` forwards these to
``ray.train``; ``TuneTrialRuntime`` (an inline trial) reports to ``ray.tune`` and writes
checkpoints into the trial's folder; ``LocalRuntime`` keeps them in memory so that the same
loop runs in a plain process (benchmarks, notebooks, tests of the loop itself). A lane's
runtime is ``benchmark.train.pool.PooledRuntime``.
"""

from __future__ import annotations

import copy
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import torch

from benchmark.train.checkpoints import TrialCheckpoints, load_state, save_state


class WorkerRuntime(Protocol):
    rank: int
    world_size: int
    device: torch.device
    node_id: str | None
    #: The fraction of its GPU this worker holds when it is less than one (Ray's
    #: fractional GPUs: other trials share the rest); None for a whole GPU or none.
    gpu_share: float | None

    def prepare_model(self, model: torch.nn.Module) -> torch.nn.Module: ...

    def report(self, metrics: dict[str, Any], state: dict[str, Any] | None) -> None: ...

    def restored_state(self) -> dict[str, Any] | None: ...

    def flush_reports(self) -> None: ...


def assigned_share(resource: str = "GPU") -> float | None:
    """The fraction of ``resource`` Ray assigned to this worker, if it is a fraction."""
    import ray

    share = ray.get_runtime_context().get_assigned_resources().get(resource)
    return share if share and share < 1 else None


def report_to_train(metrics: dict[str, Any], state: dict[str, Any] | None) -> None:
    """Report ``metrics`` to Ray Train, with ``state`` as a checkpoint if any (Ray Train
    copies it into the job's storage)."""
    import ray.train

    if state is None:
        ray.train.report(metrics)
        return
    with tempfile.TemporaryDirectory(prefix="bench-checkpoint-") as directory:
        save_state(Path(directory), state)
        ray.train.report(metrics, checkpoint=ray.train.Checkpoint.from_directory(directory))


def state_of(checkpoint: Any) -> dict[str, Any] | None:
    """The loop state a Ray checkpoint holds, or ``None`` when there is no checkpoint."""
    if checkpoint is None:
        return None
    with checkpoint.as_directory() as directory:
        return load_state(Path(directory))


class RayTrainRuntime:
    """The runtime inside a Ray Train worker: DDP via Ray's helpers, reports to Ray Train."""

    def __init__(self) -> None:
        import ray.train
        import ray.train.torch

        context = ray.train.get_context()
        self.rank = context.get_world_rank()
        self.world_size = context.get_world_size()
        self.device = ray.train.torch.get_device()
        if self.device.type == "cuda":
            # The default CUDA device (TorchTrainer's backend sets it; a one-worker job's
            # trainer has no torch backend): kernels and allocations go to this rank's GPU.
            torch.cuda.set_device(self.device)
        # The Ray node this rank runs on: where a trial's figures were measured.
        self.node_id = ray.get_runtime_context().get_node_id()
        self.gpu_share = assigned_share()  # device_name ignores it for a CPU

    def prepare_model(self, model: torch.nn.Module) -> torch.nn.Module:
        if self.world_size == 1:
            # A single worker needs no process-group collectives: skip the DDP wrapper.
            return model.to(self.device)
        import ray.train.torch

        return ray.train.torch.prepare_model(model, move_to_device=self.device)

    def report(self, metrics: dict[str, Any], state: dict[str, Any] | None) -> None:
        report_to_train(metrics, state)

    def restored_state(self) -> dict[str, Any] | None:
        import ray.train

        return state_of(ray.train.get_checkpoint())

    def flush_reports(self) -> None:
        """Block until Ray Train has registered every report (and checkpoint) sent so far."""
        import ray.train

        ray.train.get_all_reported_checkpoints(timeout_s=120)


class TuneTrialRuntime:
    """The runtime of an inline trial: the loop runs in the Tune trial's process, one worker.

    Reports go straight to Tune (``ray.tune.report``) and checkpoints into the trial's
    folder (``TrialCheckpoints``), from which a resumed sweep restores the trial as a Ray
    Train job of its own would. The device is the GPU Tune assigned to the trial, if any.
    """

    rank = 0
    world_size = 1

    def __init__(self, checkpoints: Path) -> None:
        import ray

        gpu_ids = ray.get_gpu_ids()
        self.device = (
            torch.device("cuda", 0)
            if gpu_ids and torch.cuda.is_available()
            else (torch.device("cpu"))
        )
        self.node_id = ray.get_runtime_context().get_node_id()
        self.gpu_share = assigned_share()  # device_name ignores it for a CPU
        self._checkpoints = TrialCheckpoints(checkpoints)

    def prepare_model(self, model: torch.nn.Module) -> torch.nn.Module:
        return model.to(self.device)

    def report(self, metrics: dict[str, Any], state: dict[str, Any] | None) -> None:
        import ray.tune

        if state is not None:
            self._checkpoints.save(state)
        ray.tune.report(metrics)

    def restored_state(self) -> dict[str, Any] | None:
        return self._checkpoints.resume_state()

    def flush_reports(self) -> None:
        """``ray.tune.report`` returns once Tune holds the report: nothing is in flight."""


@dataclass
class LocalRuntime:
    """Runs the loop in this process: one worker, reports and checkpoints kept in memory."""

    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    resume_from: dict[str, Any] | None = None
    rank: int = 0
    world_size: int = 1
    node_id: str | None = None
    gpu_share: float | None = None
    reports: list[dict[str, Any]] = field(default_factory=list)
    states: dict[int | str, dict[str, Any]] = field(default_factory=dict)

    def prepare_model(self, model: torch.nn.Module) -> torch.nn.Module:
        return model.to(self.device)

    def report(self, metrics: dict[str, Any], state: dict[str, Any] | None) -> None:
        self.reports.append(dict(metrics))
        if state is not None:
            key = "final" if state.get("final") else state["epoch"]
            self.states[key] = copy.deepcopy(state)

    def restored_state(self) -> dict[str, Any] | None:
        return self.resume_from

    def flush_reports(self) -> None:
        """Reports are kept in memory as they are made: nothing is in flight."""
