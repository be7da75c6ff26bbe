"""Where the per-worker loop meets Ray Train, and the stand-in for running it directly.

The loop asks its runtime for rank, world size and device, hands it the model to wrap for
DDP, and gives it each epoch's metrics and checkpoint. ``RayTrainRuntime`` forwards these to
``ray.train``; ``LocalRuntime`` keeps them in memory so that the same loop runs in a plain
process (benchmarks, notebooks, tests of the loop itself). Nothing here knows about Tune.
"""

from __future__ import annotations

import copy
import io
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import torch

STATE_FILE = "state.pt"


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


def save_state(directory: Path, state: dict[str, Any] | bytes) -> Path:
    """Write a checkpoint's training state (or its ``state_bytes``); the file holds only
    tensors and plain data."""
    path = directory / STATE_FILE
    path.write_bytes(state if isinstance(state, bytes) else state_bytes(state))
    return path


def load_state(directory: Path) -> dict[str, Any]:
    """Read a checkpoint written by ``save_state``; refuses pickled code (weights_only)."""
    return state_from_bytes((directory / STATE_FILE).read_bytes())


def state_bytes(state: dict[str, Any]) -> bytes:
    """A training state as a checkpoint file's bytes: how it travels between processes
    (Ray Train's workers pickle tensors their own way, which other processes cannot read)."""
    buffer = io.BytesIO()
    torch.save(state, buffer)
    return buffer.getvalue()


def state_from_bytes(data: bytes) -> dict[str, Any]:
    """The training state in ``data`` (``state_bytes``); refuses pickled code (weights_only)."""
    return torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)


def report_with_state(
    ray_module: Any, metrics: dict[str, Any], state: dict[str, Any] | bytes | None
) -> None:
    """Report ``metrics`` through ``ray_module`` (``ray.train`` or ``ray.tune``: each takes
    its own ``Checkpoint`` class), with ``state`` as a checkpoint if any."""
    if state is None:
        ray_module.report(metrics)
        return
    with tempfile.TemporaryDirectory(prefix="bench-checkpoint-") as directory:
        save_state(Path(directory), state)
        checkpoint = ray_module.Checkpoint.from_directory(directory)
        ray_module.report(metrics, checkpoint=checkpoint)


def state_of(checkpoint: Any) -> dict[str, Any] | None:
    """The loop state a Ray checkpoint holds, or ``None`` when there is no checkpoint."""
    data = state_bytes_of(checkpoint)
    return None if data is None else state_from_bytes(data)


def state_bytes_of(checkpoint: Any) -> bytes | None:
    """The state file of a Ray checkpoint as bytes, or ``None`` when there is no checkpoint."""
    if checkpoint is None:
        return None
    with checkpoint.as_directory() as directory:
        return (Path(directory) / STATE_FILE).read_bytes()


class RayTrainRuntime:
    """The runtime inside a Ray Train worker: DDP via Ray's helpers, reports to Ray Train."""

    def __init__(self) -> None:
        import ray.train
        import ray.train.torch

        context = ray.train.get_context()
        self.rank = context.get_world_rank()
        self.world_size = context.get_world_size()
        self.device = ray.train.torch.get_device()
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
        import ray.train

        report_with_state(ray.train, metrics, state)

    def restored_state(self) -> dict[str, Any] | None:
        import ray.train

        return state_of(ray.train.get_checkpoint())

    def flush_reports(self) -> None:
        """Block until Ray Train has registered every report (and checkpoint) sent so far."""
        import ray.train

        ray.train.get_all_reported_checkpoints(timeout_s=120)


class TuneTrialRuntime:
    """The runtime of an inline trial: the loop runs in the Tune trial's process, one worker.

    Reports and checkpoints go straight to Tune (``ray.tune.report``), so a resumed sweep
    restores the trial from its last checkpoint as a Ray Train job would. The device is the
    GPU Tune assigned to the trial, if any.
    """

    rank = 0
    world_size = 1

    def __init__(self) -> None:
        import ray

        gpu_ids = ray.get_gpu_ids()
        self.device = (
            torch.device("cuda", 0)
            if gpu_ids and torch.cuda.is_available()
            else (torch.device("cpu"))
        )
        self.node_id = ray.get_runtime_context().get_node_id()
        self.gpu_share = assigned_share()  # device_name ignores it for a CPU

    def prepare_model(self, model: torch.nn.Module) -> torch.nn.Module:
        return model.to(self.device)

    def report(self, metrics: dict[str, Any], state: dict[str, Any] | None) -> None:
        import ray.tune

        report_with_state(ray.tune, metrics, state)

    def restored_state(self) -> dict[str, Any] | None:
        import ray.tune

        return state_of(ray.tune.get_checkpoint())

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
