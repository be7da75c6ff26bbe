"""Ray Train worker groups that outlive a trial: each runs trial after trial, kept warm.

Starting a Ray Train job's worker group costs tens of seconds per trial here, far more than
the studies' small networks take to train. With ``resources.execution: pooled`` (the
default) a sweep starts one Ray Train job per trial it runs at once (a *lane*, sized like
one trial: its workers, CPUs and GPUs) and keeps it for the whole sweep. Every lane worker
runs ``serve_trials``: it takes the next trial from the sweep's ``TrialBroker``, runs the same
per-worker loop a one-trial job runs (``run_trial``, DDP included), and takes the next.

The broker (a Ray actor) is where the two sides meet. Each Tune trial ``submit``s its
config and then waits on ``events``: the lane's epoch reports, which the trial hands to
Tune as its own, so schedulers and records work as for a one-trial job. Checkpoints do not
travel: the lane writes them into the trial's own folder (``TrialCheckpoints``), where a
Ray Train job of the trial would, and a trial run again resumes from there. Tune's decision
to stop a trial reaches the lane through ``cancel``: the lane drops the trial at its next
report and takes another. A lane whose workers die is restarted by Ray Train (its
``FailureConfig``); the trial it was running is queued again, to go on from its newest
checkpoint, up to the sweep's ``max_failures`` times, and then reported as failed.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import dataclasses
import os
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from benchmark.train.checkpoints import TrialCheckpoints
from benchmark.train.job import STATUS_FAILED, describe_failure
from benchmark.train.resources import WorkerResources
from benchmark.train.trainers import ray_train_job, trainer_class

if TYPE_CHECKING:
    from benchmark.train.runtime import RayTrainRuntime


class TrialCancelled(Exception):
    """Raised inside a lane's loop when Tune has stopped the trial it is running."""


@dataclasses.dataclass
class Assignment:
    """One trial handed to a lane: its config and the folder of its checkpoints (on the
    sweep's shared results directory)."""

    trial_id: str
    config: dict[str, Any]
    checkpoints: str
    attempt: int = 0
    #: What each rank raised in this attempt (a lane of several workers).
    errors: dict[int, str] = dataclasses.field(default_factory=dict)
    submitted_at: float = dataclasses.field(default_factory=time.time)


class TrialBroker:
    """The meeting point of a sweep's Tune trials and its lanes (run as an async Ray actor).

    Every method returns at once except ``next_assignment`` (a lane waits for work) and
    ``events`` (a trial waits for its lane's next report).
    """

    def __init__(self, lanes: int, max_failures: int, epoch_decisions: bool = True) -> None:
        self._max_failures = max_failures
        self._epoch_decisions = epoch_decisions
        self._pending: collections.deque[Assignment] = collections.deque()
        self._submitted: dict[str, Assignment] = {}
        self._events: dict[str, list[dict[str, Any]]] = {}  # each trial's reports
        self._taken: dict[str, int] = {}  # how many of its reports each trial handed to Tune
        self._ended: set[str] = set()
        self._cancelled: set[str] = set()
        self._running: dict[int, Assignment] = {}
        self._lanes_alive = set(range(lanes))
        self._placement_groups: dict[int, Any] = {}  # each lane's, as its workers last started
        self._lost_reason: str | None = None
        self._closed = False
        self._changed: asyncio.Condition | None = None

    def _condition(self) -> asyncio.Condition:
        if self._changed is None:  # made on the actor's event loop, at first use
            self._changed = asyncio.Condition()
        return self._changed

    async def _notify(self) -> None:
        async with self._condition():
            self._condition().notify_all()

    async def _wait_until(self, ready) -> None:
        async with self._condition():
            await self._condition().wait_for(ready)

    # The Tune trial's side.
    async def submit(self, trial_id: str, config: dict[str, Any], checkpoints: str) -> None:
        """Queue ``trial_id`` for the next free lane (again, if its trial process restarted:
        it goes on from the newest checkpoint in ``checkpoints``)."""
        assignment = Assignment(trial_id, config, checkpoints)
        self._submitted[trial_id] = assignment
        self._events[trial_id] = []
        self._taken[trial_id] = 0
        self._ended.discard(trial_id)
        if self._lost_reason is not None:
            self._end(trial_id, _failure(f"no Train workers left: {self._lost_reason}", 0.0))
        else:
            self._pending.append(assignment)
        await self._notify()

    async def events(self, trial_id: str, since: int) -> list[dict[str, Any]] | None:
        """The trial's reports after the first ``since``; ``None`` once it is cancelled.

        Asking from ``since`` says that Tune has taken the first ``since`` reports and wants
        the next one: that lets the lane go on (see ``report``).
        """
        if since > self._taken.get(trial_id, 0):
            self._taken[trial_id] = since
            await self._notify()
        await self._wait_until(
            lambda: len(self._events.get(trial_id, ())) > since or trial_id in self._cancelled
        )
        if trial_id in self._cancelled:
            return None
        return self._events[trial_id][since:]

    async def cancel(self, trial_id: str) -> None:
        """Tune is done with ``trial_id``: drop it from the queue, or stop it on its lane."""
        if trial_id in self._submitted and trial_id not in self._ended:
            self._cancelled.add(trial_id)
            self._ended.add(trial_id)
            self._pending = collections.deque(
                item for item in self._pending if item.trial_id != trial_id
            )
            await self._notify()

    # The lanes' side.
    async def next_assignment(self, lane: int) -> Assignment | None:
        """The next queued trial for ``lane``; ``None`` when the sweep is over."""
        await self._wait_until(lambda: self._pending or self._closed)
        if self._closed:
            return None
        assignment = self._pending.popleft()
        self._running[lane] = assignment
        return dataclasses.replace(assignment)  # what the lane holds, as Ray would copy it

    async def report(self, lane: int, trial_id: str, metrics: dict[str, Any]) -> bool:
        """Pass one report on to the trial; True when the lane should drop the trial.

        With ``epoch_decisions`` (a sweep whose scheduler may stop trials early), an
        epoch's report returns once Tune has taken it and asked for the next (as a report
        from a trial's own process does), or has stopped the trial: a scheduler's decision
        at an epoch is made before the lane trains another. Without, it returns at once:
        no decision but going on can come, and a trial that Tune stops for another reason
        (the time budget, Ctrl-C) is dropped at the lane's next report.
        """
        if trial_id in self._ended:
            self._running.pop(lane, None)
            return True
        if metrics.get("is_final"):
            self._running.pop(lane, None)
            self._end(trial_id, metrics)
            await self._notify()
            return False
        events = self._events[trial_id]
        events.append(metrics)
        await self._notify()
        if not self._epoch_decisions:
            return False
        count = len(events)
        await self._wait_until(
            lambda: self._taken.get(trial_id, 0) >= count or trial_id in self._ended
        )
        if trial_id in self._ended:
            self._running.pop(lane, None)
            return True
        return False

    async def fail(self, lane: int, trial_id: str, error: str, wall_time_s: float) -> None:
        """The trial raised on ``lane``: it ends as failed, with its reason."""
        self._running.pop(lane, None)
        if trial_id not in self._ended:
            self._end(trial_id, _failure(error, wall_time_s))
        await self._notify()

    async def note_failure(self, trial_id: str, rank: int, reason: str) -> None:
        """Rank ``rank`` of a several-worker lane raised ``reason`` in ``trial_id``."""
        if trial_id in self._submitted:
            self._submitted[trial_id].errors.setdefault(rank, reason)

    async def lane_started(self, lane: int, placement_group: Any = None) -> None:
        """``lane``'s workers (re)started in ``placement_group``: a trial they were running
        died with them."""
        self._placement_groups[lane] = placement_group
        assignment = self._running.pop(lane, None)
        if assignment is None or assignment.trial_id in self._ended:
            return
        assignment.attempt += 1
        if assignment.attempt > self._max_failures:
            wall_time_s = time.time() - assignment.submitted_at
            self._end(assignment.trial_id, _failure(_why_it_died(assignment), wall_time_s))
        else:
            assignment.errors = {}
            self._pending.appendleft(assignment)  # from its newest checkpoint
        await self._notify()

    async def lane_lost(self, lane: int, reason: str) -> None:
        """``lane`` is gone for good; with no lane left, every waiting trial fails."""
        self._lanes_alive.discard(lane)
        assignment = self._running.pop(lane, None)
        if assignment is not None and assignment.trial_id not in self._ended:
            self._end(assignment.trial_id, _failure(reason, 0.0))
        if not self._lanes_alive:
            self._lost_reason = reason
            while self._pending:
                self._end(self._pending.popleft().trial_id, _failure(reason, 0.0))
        await self._notify()

    def placement_group(self, lane: int) -> Any:
        """The placement group ``lane``'s workers last started in (``None`` before that)."""
        return self._placement_groups.get(lane)

    async def close(self) -> None:
        """The sweep is over: trials still running stop at their next report, and every
        lane's loop returns."""
        self._closed = True
        for trial_id in set(self._submitted) - self._ended:
            self._cancelled.add(trial_id)
            self._ended.add(trial_id)
        self._pending.clear()
        await self._notify()

    def _end(self, trial_id: str, final_metrics: dict[str, Any]) -> None:
        self._ended.add(trial_id)
        self._events.setdefault(trial_id, []).append(final_metrics)


def _why_it_died(assignment: Assignment) -> str:
    """The lowest rank's error, as a failed Ray Train job names it; else the restarts."""
    if assignment.errors:
        rank = min(assignment.errors)
        return f"worker {rank}: {assignment.errors[rank]}"
    return f"its Train workers died {assignment.attempt} times"


def _failure(error: str, wall_time_s: float) -> dict[str, Any]:
    return {
        "is_final": True,
        "status": STATUS_FAILED,
        "error": error,
        "job_wall_time_s": wall_time_s,
    }


class PooledRuntime:
    """A lane worker's runtime for one trial: reports go to the broker, not to Ray Train,
    and checkpoints into the trial's folder.

    Rank 0 writes checkpoints and talks to the broker; when it learns that Tune stopped the
    trial, every rank hears it (a broadcast), so all ranks leave the trial at the same epoch.
    """

    def __init__(self, worker: RayTrainRuntime, broker: Any, lane: int, assignment: Assignment):
        self.rank = worker.rank
        self.world_size = worker.world_size
        self.device = worker.device
        self.node_id = worker.node_id
        self.gpu_share = worker.gpu_share
        self._worker = worker
        self._broker = broker
        self._lane = lane
        self._assignment = assignment
        self._checkpoints = TrialCheckpoints(Path(assignment.checkpoints))

    def prepare_model(self, model):
        return self._worker.prepare_model(model)

    def report(self, metrics: dict[str, Any], state: dict[str, Any] | None) -> None:
        import ray

        stop = False
        if self.rank == 0:
            if state is not None:
                self._checkpoints.save(state)
            stop = ray.get(
                self._broker.report.remote(self._lane, self._assignment.trial_id, metrics)
            )
        if not metrics.get("is_final") and _from_rank_zero(stop, self.world_size):
            raise TrialCancelled(self._assignment.trial_id)

    def restored_state(self) -> dict[str, Any] | None:
        return self._checkpoints.resume_state()

    def flush_reports(self) -> None:
        """Each report returns once the broker holds it and its checkpoint is on disk."""


def _from_rank_zero(value: Any, world_size: int) -> Any:
    """Rank 0's ``value`` on every rank (a broadcast; nothing to do for one worker)."""
    if world_size == 1:
        return value
    import torch.distributed as dist

    holder = [value]
    dist.broadcast_object_list(holder, src=0)
    return holder[0]


def serve_trials(lane_config: dict[str, Any]) -> None:
    """What each worker of a lane runs (Ray Train's ``train_loop_per_worker``): trial after
    trial from the broker, until the sweep closes it.

    A trial that raises on a one-worker lane ends as failed at once (as an inline trial
    does) and the lane goes on. On a lane of several workers the rank that raised notes its
    reason and the lane's workers are restarted instead: the other ranks may be waiting in
    a collective for it, or may have raised only because a peer died. The trial then runs
    again from its last checkpoint, as a Ray Train job's would, up to ``max_failures``.
    """
    import ray

    # Imported here, in the lane's workers: the broker's process and the lane's Train
    # controller load this module too, and never train.
    from benchmark.data.registry import keep_datasets
    from benchmark.train.loop import run_trial
    from benchmark.train.runtime import RayTrainRuntime

    broker, lane = lane_config["broker"], lane_config["lane"]
    worker = RayTrainRuntime()
    if worker.rank == 0:
        ray.get(broker.lane_started.remote(lane, ray.util.get_current_placement_group()))
    # Each dataset is decoded once per lane, not once per trial.
    with keep_datasets():
        while True:
            assignment = None
            if worker.rank == 0:
                assignment = ray.get(broker.next_assignment.remote(lane))
            assignment = _from_rank_zero(assignment, worker.world_size)
            if assignment is None:
                return
            started = time.perf_counter()
            try:
                run_trial(assignment.config, PooledRuntime(worker, broker, lane, assignment))
            except TrialCancelled:
                continue
            except Exception as error:  # the trial's failure is its result, not the lane's
                reason = describe_failure(error)
                if worker.world_size > 1:
                    ray.get(broker.note_failure.remote(assignment.trial_id, worker.rank, reason))
                    raise
                elapsed = time.perf_counter() - started
                ray.get(broker.fail.remote(lane, assignment.trial_id, reason, elapsed))


def run_lane(
    broker: Any,
    lane: int,
    resources: WorkerResources,
    storage_path: str,
    max_restarts: int,
) -> None:
    """Run lane ``lane`` as one Ray Train job until the broker closes; tell the broker
    if the job ends for good before that (or never starts).

    A job whose controller died on its own leaves its workers' placement group behind
    (Ray frees it only with this process's job): it is freed here, so the lane's CPUs and
    GPUs go back to the cluster (see ``trainers``: the lane has no cleaner of Ray Train's).
    """
    import ray
    import ray.train

    try:
        ray_train_job(
            serve_trials,
            {"broker": broker, "lane": lane},
            resources,
            ray.train.RunConfig(
                name=f"lane-{lane}",
                storage_path=storage_path,
                failure_config=ray.train.FailureConfig(max_failures=max_restarts),
            ),
            lane=True,
        ).fit()
    except Exception as error:  # whatever ended the job, its waiting trials must hear
        reason = f"lane {lane} ended: {describe_failure(error)}"
        with contextlib.suppress(ray.exceptions.RayError):  # no broker: the sweep is over
            ray.get(broker.lane_lost.remote(lane, reason))
            placement_group = ray.get(broker.placement_group.remote(lane))
            if placement_group is not None:  # already freed if the controller ended well
                ray.util.remove_placement_group(placement_group)


#: Ray Train's variable for how often a job's controller checks on its workers, which Ray
#: Train passes from the process that starts the job to its controller.
HEALTH_CHECK_INTERVAL_VARIABLE = "RAY_TRAIN_HEALTH_CHECK_INTERVAL_S"

#: A lane's controller checks its workers this often (Ray Train's default is every 2 s). A
#: lane's loop returns when the sweep ends, and its job ends at the controller's next check:
#: on a 2-core machine a sweep's close took 0.3 to 1.1 s with the default, 0.1 to 0.3 s
#: with this, and the training no slower. A dead worker is noticed sooner too.
LANE_HEALTH_CHECK_INTERVAL_S = 0.5


@dataclasses.dataclass
class TrainPool:
    """A sweep's broker and its running lanes (driver side).

    Each lane's trainer's ``fit()`` runs in a thread of the sweep's driver, as a Train
    job started from a script does: its controller lives beside the driver and dies with
    it. (Run as a Ray task instead, each lane first paid a process of its own and its
    imports: 2 to 3 s more before its first trial on a 2-core machine.) While the pool
    runs, the driver's environment sets the lanes' health-check interval, unless its user
    set it; ``close`` puts it back.
    """

    broker: Any
    lanes: list[threading.Thread]
    set_interval: bool = False

    @classmethod
    def start(
        cls,
        lanes: int,
        resources: WorkerResources,
        storage_path: str | Path,
        max_failures: int,
        trials: int,
        epoch_decisions: bool,
    ) -> TrainPool:
        """Start ``lanes`` lanes; each may restart its workers once per trial and failure.
        With ``epoch_decisions``, a lane waits for Tune's decision on each epoch's report
        (see ``TrialBroker.report``)."""
        import ray

        # Imported here: by several threads at once, it fails.
        trainer_class(resources.workers, lane=True)

        broker = ray.remote(num_cpus=0, max_concurrency=1000)(TrialBroker).remote(
            lanes, max_failures, epoch_decisions
        )
        restarts = (max_failures + 1) * max(trials, 1)
        set_interval = HEALTH_CHECK_INTERVAL_VARIABLE not in os.environ
        if set_interval:  # read by each lane's trainer as its thread starts the job
            os.environ[HEALTH_CHECK_INTERVAL_VARIABLE] = str(LANE_HEALTH_CHECK_INTERVAL_S)
        threads = [
            threading.Thread(
                target=run_lane,
                args=(broker, lane, resources, str(storage_path), restarts),
                name=f"bench-lane-{lane}",
                daemon=True,  # a lane still in a trial's epoch never holds the process up
            )
            for lane in range(lanes)
        ]
        for thread in threads:
            thread.start()
        return cls(broker, threads, set_interval)

    def close(self, timeout_s: float = 120.0) -> None:
        """Let every lane finish its loop and its job, waiting up to ``timeout_s`` in all.

        A lane still inside a trial's epoch leaves it at the epoch's end (its trial was
        cancelled); its thread is not waited for past the timeout, and its job ends with
        this process if not before.
        """
        import ray

        ray.get(self.broker.close.remote())
        deadline = time.monotonic() + timeout_s
        for thread in self.lanes:
            thread.join(max(0.0, deadline - time.monotonic()))
        if not any(thread.is_alive() for thread in self.lanes):
            ray.kill(self.broker)
        if self.set_interval:
            os.environ.pop(HEALTH_CHECK_INTERVAL_VARIABLE, None)
