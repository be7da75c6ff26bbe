"""Running a sweep on Ray Tune, fresh or resumed, and checking it fits the cluster first.

One Tune experiment runs every trial of every cell: ``CellSearcher`` gives each cell its
own Optuna study and budget, ``CellScheduler`` its own early-stopping rule, and as many
trials run at once as the cluster can hold (capped by ``search.max_concurrent``). Each
trial is a light Tune driver around Ray Train work (``trainable``): by default one of the
sweep's warm Train lanes, started here (``TrainPool``) and closed when Tune is done. Its
record is written by ``TrialRecorder`` the moment it finishes, so an interrupted sweep loses
no finished work and ``resume_sweep`` continues the same experiment with the same sweep id.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.markup import escape

from benchmark.cluster import RayConnection, connect_ray, prepare_ray
from benchmark.files import check_writable_dir
from benchmark.results.environment import write_environment
from benchmark.spec import SweepFileError, load_sweep
from benchmark.spec.schema import Resources
from benchmark.sweep.cells import SweepPlan, plan_sweep
from benchmark.sweep.preflight import check_inputs
from benchmark.sweep.publish import TrialPublisher, compact_tables, discard_unrecorded
from benchmark.sweep.store import SweepDirectory, new_sweep_id
from benchmark.train.pool import TrainPool
from benchmark.train.resources import WorkerResources
from benchmark.train.trainers import import_train_start, prepare_train_start

if TYPE_CHECKING:
    from benchmark.results.tracking import MlflowTracker

TRIAL_DRIVER_MEMORY_BYTES = 64 * 1024**2


@dataclass(frozen=True)
class SweepOutcome:
    directory: SweepDirectory
    records: list[dict[str, Any]]
    interrupted: bool = False

    def counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for record in self.records:
            counts[record["status"]] = counts.get(record["status"], 0) + 1
        return counts


def start_sweep(
    sweep_file: str | Path,
    overrides: tuple[str, ...] = (),
    results_dir: str | Path = "results",
    sweep_id: str | None = None,
    address: str | None = None,
    console: Console | None = None,
    quiet: bool = False,
    mlflow_uri: str | None = None,
) -> SweepOutcome:
    """Validate ``sweep_file``, create its directory, and run it to the end."""
    spec = load_sweep(sweep_file, overrides)
    plan = plan_sweep(spec, source=sweep_file)
    check_writable_dir(Path(results_dir))
    console = console or Console(stderr=True)
    check_inputs(plan, sweep_file, warn=_warner(console))  # data and weights, before Ray
    # A cluster that cannot be reached, or never fits a trial, fails before a sweep folder is
    # written; so does a tracking server that does not answer.
    started = _start_ray_and_tracking(plan, address, sweep_file, mlflow_uri, Path(results_dir))
    # Trials run in other processes and directories: pin the data directory absolutely.
    spec = spec.model_copy(update={"data_dir": plan.cells[0].base_config["data_dir"]})
    directory = SweepDirectory.create(Path(results_dir), spec, sweep_id or new_sweep_id())
    return _run(plan, directory, sweep_file, started, console, quiet, resume=False)


def resume_sweep(
    sweep_id: str,
    results_dir: str | Path = "results",
    address: str | None = None,
    console: Console | None = None,
    quiet: bool = False,
    mlflow_uri: str | None = None,
) -> SweepOutcome:
    """Continue sweep ``sweep_id``: finished trials kept, unfinished ones restarted."""
    directory = SweepDirectory.find(Path(results_dir), sweep_id)
    plan = plan_sweep(load_sweep(directory.spec_file), source=directory.spec_file)
    check_writable_dir(directory.path)
    console = console or Console(stderr=True)
    check_inputs(plan, directory.spec_file, warn=_warner(console))
    started = _start_ray_and_tracking(
        plan, address, directory.spec_file, mlflow_uri, Path(results_dir)
    )
    return _run(plan, directory, directory.spec_file, started, console, quiet, resume=True)


def _run(
    plan: SweepPlan,
    directory: SweepDirectory,
    source: str | Path,
    started: _Started,
    console: Console | None,
    quiet: bool,
    resume: bool,
) -> SweepOutcome:
    console = console or Console(stderr=True)
    connection, concurrency, tracker = started.connection, started.concurrency, started.tracker
    # A tracking server that goes away mid-sweep should cost seconds per trial, not
    # MLflow's default minutes of retries (the trial's Parquet rows are written anyway).
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "2")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "20")
    environment = write_environment(directory.env_file, connection.resources)
    spec_values = plan.spec.model_dump(mode="json", exclude_none=True)
    tracker.start_sweep(
        directory.sweep_id,
        plan.spec.name,
        plan.spec.description,
        spec_values,
        environment,
        sweep_dir=directory.path,
    )
    if not quiet:
        where = connection.dashboard_url or escape("no dashboard (install ray[default] for one)")
        console.print(
            f"sweep [bold]{plan.spec.name}[/] id [bold]{directory.sweep_id}[/]: "
            f"{len(plan.cells)} cells × {plan.trials_per_cell} trials"
            f"{f' + {plan.spec.repeats} repeats' if plan.spec.repeats else ''}, "
            f"{concurrency} at once; dashboard: {where}"
        )
    if resume:
        discard_unrecorded(directory, tracker)
    directory.write_state("running", resumed=resume)
    pool = _start_pool(plan, directory, concurrency)
    try:
        recorded = directory.records() if resume else []  # finished before the resume
        tuner, scheduler = _tuner(plan, directory, concurrency, recorded, resume, pool)
        publisher = _attach_callbacks(
            tuner, plan, directory, scheduler, tracker, console, quiet, pool, recorded
        )
        started = time.monotonic()
        # Tune answers a first Ctrl-C by stopping its trials cleanly; a second one lands here.
        with contextlib.suppress(KeyboardInterrupt):
            tuner.fit()
    finally:
        if pool is not None:  # its lanes hold the cluster's CPUs and GPUs until closed
            pool.close()
    publisher.close()  # every finished trial's MLflow run logged, or warned about
    records = directory.records()
    budget = plan.spec.stop.time_budget_s
    out_of_time = budget is not None and time.monotonic() - started >= budget
    # Ctrl-C makes Tune stop and return early: the sweep is then unfinished, resumable.
    interrupted = len(records) < plan.total_trials and not out_of_time
    state = "interrupted" if interrupted else "finished"
    directory.write_state(state)
    _close_tracking(publisher, records, tracker, directory, state, console)
    compact_tables(directory, warn=_warner(console))
    return SweepOutcome(directory, records, interrupted)


@dataclass(frozen=True)
class _Started:
    """What a sweep starts before its folder: Ray, how many trials fit at once, MLflow."""

    connection: RayConnection
    concurrency: int
    tracker: MlflowTracker


def _start_ray_and_tracking(
    plan: SweepPlan,
    address: str | None,
    source: str | Path,
    mlflow_uri: str | None,
    results_dir: Path,
) -> _Started:
    """Start or join Ray and check that a trial fits, while MLflow opens in a thread beside.

    Each takes seconds on a small machine, mostly waiting on other processes or on imports:
    Ray's start about 5 s on 2 cores; MLflow's import and a new store's schema about 4 s
    more. The thread then imports what a Ray Train job's start needs in this process (about
    a second), which the lanes would otherwise wait for. An address that nothing answers at
    fails before either begins. When one side fails, the other is waited for first, so
    nothing is left half-made; a new local MLflow store may then exist, empty, beside the
    results.
    """
    prepare_ray(address)  # before the thread: both sides import shared packages
    execution, workers = plan.spec.resources.execution, plan.spec.resources.workers
    with concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="bench-mlflow") as opening:
        tracking = opening.submit(_connect_tracker, mlflow_uri, results_dir)
        if execution != "inline":  # then, in the same thread, Ray Train's modules
            opening.submit(import_train_start, workers if execution == "pooled" else None)
        connection = connect_ray(address=address)
        concurrency = trials_at_once(plan, connection.resources, source)
        tracker = tracking.result()  # a server that does not answer: fails now
    if execution != "inline":
        prepare_train_start()  # Ray Train's first job starts sooner
    return _Started(connection, concurrency, tracker)


def _connect_tracker(mlflow_uri: str | None, results_dir: Path) -> MlflowTracker:
    """The sweep's tracker; MLflow (seconds of imports) is imported here, in its thread."""
    from benchmark.results.tracking import MlflowTracker

    return MlflowTracker.connect(mlflow_uri, results_dir)


def _start_pool(plan: SweepPlan, directory: SweepDirectory, lanes: int) -> TrainPool | None:
    """With ``execution: pooled``, one warm Train lane per trial that runs at once."""
    if plan.spec.resources.execution != "pooled":
        return None
    return TrainPool.start(
        lanes,
        _worker_resources(plan.spec.resources),
        directory.train_dir,
        max_failures=plan.spec.max_failures,
        trials=plan.total_trials,
        epoch_decisions=plan.spec.scheduler.type != "none",  # early stopping may stop one
    )


def _worker_resources(resources: Resources) -> WorkerResources:
    return WorkerResources(
        resources.workers,
        resources.cpus_per_worker,
        resources.gpus_per_worker,
        resources.memory_per_worker_gb,
    )


def _close_tracking(publisher, records, tracker, directory, state: str, console: Console) -> None:
    """Log what MLflow missed while it was away, then close the sweep's run; never raise.

    The sweep's results are already in Parquet: a tracking server that is still down only
    leaves a warning and the command that logs the rest later.
    """
    missing = len(publisher.sync(records).missing)
    try:
        tracker.end_sweep(state)
        closed = True
    except Exception:  # server down: bench sync-mlflow closes it later
        closed = False
    if missing or not closed:
        console.print(
            f"[yellow]warning:[/] MLflow did not answer: {missing} trial(s) not logged"
            f"{'' if closed else ' and the sweep run not closed'}; the results are complete "
            f"in Parquet; log the rest with: bench sync-mlflow {directory.sweep_id}"
        )


def _warner(console: Console):
    return lambda message: console.print(f"[yellow]warning:[/] {escape(message)}", soft_wrap=True)


def trials_at_once(plan: SweepPlan, cluster: dict[str, float], source: str | Path) -> int:
    """How many trials fit on the cluster at once; a trial that never fits is an error."""
    resources = plan.spec.resources
    cpus, gpus = resources.workers * resources.cpus_per_worker, _trial_gpus(resources)
    have_cpus, have_gpus = cluster.get("CPU", 0.0), cluster.get("GPU", 0.0)
    if cpus > have_cpus:
        raise SweepFileError(
            source,
            "resources",
            f"a trial needs {cpus:g} CPUs ({resources.workers} workers × "
            f"{resources.cpus_per_worker:g}) but the cluster has {have_cpus:g}; "
            "lower resources.workers or resources.cpus_per_worker",
        )
    if gpus > have_gpus:
        raise SweepFileError(
            source,
            "resources.gpus_per_worker",
            f"a trial needs {gpus:g} GPUs but the cluster has {have_gpus:g}; "
            "set resources.gpus_per_worker: 0 to train on CPUs",
        )
    fit = math.floor(have_cpus / cpus)
    if gpus > 0:
        fit = min(fit, math.floor(have_gpus / gpus + 1e-9))
    if resources.memory_per_worker_gb is not None:
        memory = resources.workers * resources.memory_per_worker_gb * 2**30
        have_memory = cluster.get("memory", 0.0)
        if memory > have_memory:
            raise SweepFileError(
                source,
                "resources.memory_per_worker_gb",
                f"a trial needs {memory / 2**30:.3g} GiB but Ray offers {have_memory / 2**30:.3g}"
                " GiB of memory; lower resources.memory_per_worker_gb",
            )
        fit = min(fit, math.floor(have_memory / memory))
    wanted = plan.spec.search.max_concurrent or plan.total_trials
    return max(1, min(fit, wanted, plan.total_trials))


def _trial_gpus(resources: Resources) -> float:
    return resources.workers * resources.gpus_per_worker


def _quiet_tune() -> None:
    """Keep Tune's and Optuna's own output off the terminal: the live view replaces it.

    Tune's automatic loggers are off too (TensorBoard cannot log a trial's nested reports);
    its JSON log is added back explicitly, so each trial keeps Tune's own ``result.json``.
    """
    import optuna

    os.environ.setdefault("TUNE_DISABLE_AUTO_CALLBACK_LOGGERS", "1")
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
    optuna.logging.set_verbosity(optuna.logging.WARNING)


def _tuner(
    plan: SweepPlan,
    directory: SweepDirectory,
    concurrency: int,
    recorded: list[dict[str, Any]],
    resume: bool,
    pool: TrainPool | None,
):
    _quiet_tune()
    from ray import tune

    from benchmark.sweep.scheduling import CellScheduler
    from benchmark.sweep.search import CellSearcher
    from benchmark.sweep.trainable import run_sweep_trial

    resources = plan.spec.resources
    trainable = tune.with_parameters(
        run_sweep_trial,
        cells={cell.key: cell for cell in plan.cells},
        resources=_worker_resources(resources),
        directory=directory,
        max_failures=plan.spec.max_failures,
        execution=resources.execution,
        broker=pool.broker if pool is not None else None,
    )
    if resources.execution == "inline":
        # The trial's own process trains: it holds the worker's CPUs and GPU share.
        request = {"cpu": resources.cpus_per_worker, "gpu": resources.gpus_per_worker}
        if resources.memory_per_worker_gb is not None:
            request["memory"] = resources.memory_per_worker_gb * 2**30
    else:
        # The trial's driver only waits on its Train job (or its pool lane), whose workers
        # hold the CPUs and GPUs; it reserves a little memory (Tune needs a non-empty
        # request) and no CPU.
        request = {"cpu": 0, "memory": TRIAL_DRIVER_MEMORY_BYTES}
    trainable = tune.with_resources(trainable, request)
    if resume and tune.Tuner.can_restore(str(directory.tune_dir)):
        tuner = tune.Tuner.restore(
            str(directory.tune_dir), trainable, resume_unfinished=True, resume_errored=True
        )
        tune_config = tuner._local_tuner._tune_config
        # Trials recorded after Tune last saved the searcher are not handed out again.
        tune_config.search_alg.resume_with(recorded)
        return tuner, tune_config.scheduler
    scheduler = CellScheduler(plan)
    tuner = tune.Tuner(
        trainable,
        tune_config=tune.TuneConfig(
            search_alg=CellSearcher(plan),
            scheduler=scheduler,
            num_samples=plan.total_trials,
            max_concurrent_trials=concurrency,
            time_budget_s=plan.spec.stop.time_budget_s,
            # An inline or pooled trial's process is kept for the next trial: a new one
            # would re-import torch and the package (seconds per trial). A Train trial's
            # process only waits on its job, whose start dominates; it is not reused.
            reuse_actors=resources.execution in ("inline", "pooled"),
        ),
        run_config=tune.RunConfig(
            name=directory.tune_dir.name,
            storage_path=str(directory.path),
            verbose=0,
            # Ray Train retries a trial's workers (max_failures); Tune must not re-run it.
            failure_config=tune.FailureConfig(max_failures=0),
        ),
    )
    return tuner, scheduler


def _attach_callbacks(tuner, plan, directory, scheduler, tracker, console, quiet, pool, recorded):
    """Give the run this process's recorder and live view.

    Tune pickles its run config into the experiment when the tuner is built and restores
    it on resume, so the callbacks (which hold this process's console) are set after
    that, on the tuner's run config, both for a fresh and for a resumed sweep.
    """
    from ray.tune.logger import JsonLoggerCallback

    from benchmark.sweep.pooled import LaneReleaser
    from benchmark.sweep.progress import SweepProgress
    from benchmark.sweep.records import TrialRecorder

    publisher = TrialPublisher(
        directory,
        cells={cell.key: cell for cell in plan.cells},
        tracker=tracker,
        log_models=plan.spec.log_models,
        warn=lambda message: console.print(f"[yellow]warning:[/] {message}"),
    )
    tuner._local_tuner.get_run_config().callbacks = [
        JsonLoggerCallback(),  # Tune's own result.json per trial, beside the tables
        TrialRecorder(directory, scheduler.stopped, publisher),
        SweepProgress(plan, console, quiet=quiet, records=recorded),
    ]
    if pool is not None:
        tuner._local_tuner.get_run_config().callbacks.append(LaneReleaser(pool.broker))
    return publisher
