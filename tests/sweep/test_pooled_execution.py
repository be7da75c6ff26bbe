"""``resources.execution: pooled``: every trial runs on a warm Ray Train job (a lane).

One real sweep: two trials of two DDP workers each, run one after the other by the same
lane (a ``TorchTrainer`` started once). A worker of each trial dies at its third epoch:
Ray Train restarts the lane's workers, and the trial goes on from the last checkpoint the
lane wrote into the trial's folder, every epoch reported once. How the broker hands trials
out is tested in ``tests/train/test_pool.py``; a pooled sweep killed and resumed in
``tests/faults/test_driver_killed.py``.
"""

from __future__ import annotations

import pytest

from benchmark.results.parquet import read_table
from benchmark.train.checkpoints import CHECKPOINTS_KEPT, TrialCheckpoints, load_state

SWEEP = """
name: pooled
architectures: [mlp]
datasets: [digits]
search: {algorithm: random, trials_per_cell: 2, max_concurrent: 1, seed: 3}
space:
  lr: {type: loguniform, low: 1.0e-3, high: 1.0e-2}
fixed: {epochs: 3, batch_size: 64, measure_inference: false, crash_at_epoch: 3, crash_rank: 1,
        checkpoint_interval_s: 0}
resources: {execution: pooled, workers: 2}
"""


@pytest.fixture(scope="module")
def sweep(run_sweep):
    return run_sweep(SWEEP, "pooled")


def test_pooled_trials_complete_on_two_ddp_workers(sweep):
    assert sweep.directory.state()["state"] == "finished"
    assert [r["status"] for r in sweep.records] == ["completed", "completed"]
    for record in sweep.records:
        metrics = record["metrics"]
        assert metrics["num_workers"] == 2
        assert metrics["ranks_in_sync"] is True
        assert metrics["test_accuracy"] > 0.5


def test_a_dead_worker_costs_its_trial_one_restart_from_the_last_checkpoint(sweep):
    for record in sweep.records:
        assert record["metrics"]["resumed_from_epoch"] == 2
        assert [epoch["epoch"] for epoch in record["history"]] == [1, 2, 3]
    epochs = read_table(sweep.directory.path, "epochs").to_pandas()
    assert sorted(epochs.groupby("trial_id")["epoch"].apply(list).map(sorted)) == [[1, 2, 3]] * 2


def test_every_trial_ran_on_the_one_lane_and_checkpointed_into_a_folder_of_its_own(sweep):
    # One Ray Train run for the whole sweep, not one per trial ...
    trial_ids = sorted(record["trial_id"] for record in sweep.records)
    folders = sorted(path.name for path in sweep.directory.train_dir.iterdir())
    assert folders == sorted(["lane-0", *trial_ids])
    # ... and each trial's folder holds its checkpoints, written there by the lane: the
    # last epoch's and the final one.
    for trial_id in trial_ids:
        folder = sweep.directory.checkpoint_dir(trial_id)
        checkpoints = TrialCheckpoints(folder).paths()
        assert sorted(folder.iterdir()) == checkpoints
        assert len(checkpoints) == CHECKPOINTS_KEPT
        assert [load_state(path).get("final", False) for path in checkpoints] == [False, True]
        assert load_state(checkpoints[0])["epoch"] == 3


def test_the_processes_that_only_relay_trials_never_import_torch(tmp_path):
    """A Tune trial of a pooled sweep only relays its lane's reports, and the broker and a
    lane's Train controller only hand trials on: what they import and unpickle (the
    trainable, the cells, the resources, the sweep folder; the pool's module, whose
    ``serve_trials`` is the lane's loop) leaves torch out, which would cost each of those
    processes seconds and hundreds of MB while the lanes start."""
    import pickle
    import subprocess
    import sys
    from pathlib import Path

    from benchmark.spec import load_sweep
    from benchmark.sweep.cells import plan_sweep
    from benchmark.sweep.store import SweepDirectory
    from benchmark.train.resources import WorkerResources

    sweep_file = Path(__file__).resolve().parents[2] / "sweeps" / "quickstart.yaml"
    plan = plan_sweep(load_sweep(sweep_file), source=sweep_file)
    parameters = tmp_path / "parameters.pickle"
    parameters.write_bytes(
        pickle.dumps(
            {
                "cells": {cell.key: cell for cell in plan.cells},
                "resources": WorkerResources(1, 1.0),
                "directory": SweepDirectory(tmp_path / "sweep"),
            }
        )
    )
    code = (
        "import pickle, sys, ray.tune, benchmark.sweep.trainable, benchmark.train.pool; "
        f"pickle.loads(open({str(parameters)!r}, 'rb').read()); "
        "print(sorted({n.split('.')[0] for n in sys.modules} & {'torch', 'torchvision'}))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert result.stdout.strip() == "[]"


def test_a_lane_whose_controller_dies_alone_gives_its_cpus_back(tmp_path, local_ray_address):
    """A lane's job runs without Ray Train's placement-group cleaner (a process per job):
    its controller is owned by the sweep's driver. If the controller dies on its own, its
    workers' placement group would stay reserved until the driver's end: the lane's thread
    frees it, and the trial the lane was running fails with the reason."""
    import os
    import signal
    from pathlib import Path

    import ray
    from ray.util.state import list_actors

    from benchmark.train.pool import HEALTH_CHECK_INTERVAL_VARIABLE, TrainPool
    from benchmark.train.resources import WorkerResources

    def actors(class_name: str) -> dict[str, object]:
        """The cluster's actors of ``class_name`` by id, alive or not (earlier tests' too)."""
        found = list_actors(local_ray_address, filters=[("class_name", "=", class_name)],
                            detail=True, limit=10_000)  # fmt: skip
        return {actor.actor_id: actor for actor in found}

    earlier = set(actors("PlacementGroupCleaner")) | set(actors("TrainController"))
    pool = TrainPool.start(
        1, WorkerResources(1, 1.0), tmp_path / "train", 0, trials=1, epoch_decisions=True
    )
    config = {"architecture": "mlp", "dataset": "digits", "epochs": 2, "batch_size": 64,
              "measure_inference": False}  # fmt: skip
    ray.get(pool.broker.submit.remote("a", config, str(tmp_path / "a")))
    [first] = ray.get(pool.broker.events.remote("a", 0))  # the lane waits for Tune's word
    assert first["epoch"] == 1
    placement_group = ray.get(pool.broker.placement_group.remote(0))
    assert ray.util.placement_group_table(placement_group)["state"] == "CREATED"
    assert not set(actors("PlacementGroupCleaner")) - earlier  # the lane started none

    [controller] = [a for i, a in actors("TrainController").items() if i not in earlier]
    # The lane's controller checks on its workers every LANE_HEALTH_CHECK_INTERVAL_S.
    environment = Path(f"/proc/{controller.pid}/environ").read_bytes().split(b"\0")
    assert f"{HEALTH_CHECK_INTERVAL_VARIABLE}=0.5".encode() in environment
    os.kill(controller.pid, signal.SIGKILL)
    pool.lanes[0].join(timeout=120)

    assert not pool.lanes[0].is_alive()
    assert ray.util.placement_group_table(placement_group)["state"] == "REMOVED"
    [final] = ray.get(pool.broker.events.remote("a", 1))
    assert final["status"] == "failed"
    assert final["error"].startswith("lane 0 ended: ")
    pool.close()
    assert HEALTH_CHECK_INTERVAL_VARIABLE not in os.environ  # the driver's, as it was
