"""The Ray Train job that runs a trial (or a lane of trials), sized to its workers.

Several workers train with DDP, so their job is a ``TorchTrainer``: it sets up torch's
process group (gloo, or NCCL on GPUs) before the loop starts. One worker has no peer to
talk to, and the loop's collectives are no-ops without a group, so its job is Ray Train's
``DataParallelTrainer`` with the default backend: the same controller, worker group,
reports, checkpoints and failure handling, without a process group to set up and without
``ray.train.torch``'s import of torch in the job's controller. Measured on a 2-core CPU
machine, importing ``ray.train.torch`` there took 3.7 s (torch 2.1 s of it), on the path
between a job's submission and its loop.

Either way the trainer leaves out Ray Train's datasets callback: it starts an actor per job
(a ``DatasetManager``, to shard Ray Datasets among the workers) even for a job given none,
and the platform's jobs load their data themselves. Each such actor is a process of its
own: about 115 MB (PSS), and 2.5 CPU-seconds of imports on the path to the loop on a 2-core
machine.

A lane's job (``pool``) also leaves out Ray Train's placement-group cleaner: a detached
actor per job that asks the state API every second whether the job's controller is alive,
and frees the job's placement group if it died (Ray frees a placement group with the job
that made it, not with the actor). A trial's job needs it: Tune kills the process that
owns the controller when it stops the trial. A lane's controller is owned by the sweep's
driver, which frees the lane's placement group itself if the controller dies alone
(``pool.run_lane``). Measured on a 2-core machine, the cleaner's start took 3 CPU-seconds
while the lane's worker imported, and its first start was waited for before the lane's
loop: 2 to 3 s of the lane's start, then half a CPU-second every 30 s beside the training.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from benchmark.train.resources import WorkerResources


def ray_train_job(
    train_fn: Callable[[dict[str, Any]], None],
    config: dict[str, Any],
    resources: WorkerResources,
    run_config: Any,
    lane: bool = False,
) -> Any:
    """A Ray Train trainer running ``train_fn(config)`` on ``resources.workers`` workers;
    with ``lane``, without the placement-group cleaner (its caller frees the group)."""
    import ray.train

    return trainer_class(resources.workers, lane)(
        train_fn,
        train_loop_config=config,
        scaling_config=ray.train.ScalingConfig(
            num_workers=resources.workers,
            use_gpu=resources.use_gpu,
            resources_per_worker=resources.per_worker(),
        ),
        run_config=run_config,
    )


def trainer_class(workers: int, lane: bool = False) -> type:
    """``TorchTrainer`` for several workers, ``DataParallelTrainer`` for one (imported here),
    without the datasets callback, and for a ``lane`` without the placement-group cleaner."""
    return _trainer_class(ddp=workers > 1, lane=lane)


@functools.cache
def _trainer_class(ddp: bool, lane: bool) -> type:
    from ray.train.v2._internal.callbacks.datasets import DatasetsCallback
    from ray.train.v2._internal.callbacks.placement_group_callback import (
        PlacementGroupCleanerCallback,
    )

    if ddp:
        from ray.train.torch import TorchTrainer as base
    else:
        from ray.train.v2.api.data_parallel_trainer import DataParallelTrainer as base
    left_out = (PlacementGroupCleanerCallback,) if lane else ()

    class Trainer(base):
        def _create_default_callbacks(self):  # Ray's, private; the lock file pins Ray
            unused = left_out if self.datasets else (*left_out, DatasetsCallback)
            callbacks = super()._create_default_callbacks()
            return [each for each in callbacks if not isinstance(each, unused)]

    Trainer.__name__ = Trainer.__qualname__ = f"Bench{'Lane' if lane else ''}{base.__name__}"
    return Trainer


def import_train_start(lane_workers: int | None) -> None:
    """Import what ``prepare_train_start`` and, with ``lane_workers``, a lane's trainer need:
    about a second on a 2-core machine, which a caller can spend while Ray starts."""
    from ray.data._internal.cluster_autoscaler import default_autoscaling_coordinator  # noqa: F401

    if lane_workers is not None:
        trainer_class(lane_workers, lane=True)


def prepare_train_start() -> None:
    """Create Ray Train's autoscaling coordinator now, beside the caller's other start-up.

    A job's controller gets or creates this actor (Ray Data's, detached, one per cluster)
    inside its own start and waits for it: 1.9 s on the first job's path on a 2-core machine.
    Asked for right after Ray's start, it is ready by the time the first job needs it: the
    same named actor, made earlier. (The function is Ray's own; the lock file pins the Ray
    it is found in.)
    """
    from ray.data._internal.cluster_autoscaler.default_autoscaling_coordinator import (
        get_or_create_autoscaling_coordinator,
    )

    get_or_create_autoscaling_coordinator()
