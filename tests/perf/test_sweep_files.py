"""The sweep file benchmark 3 submits asks for what its options say: ``--packing`` trials at
once on each of ``--devices`` GPUs, together filling every one of them."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "perf"))

from sweep_vs_optuna import SIZES, sweep_yaml

from benchmark.spec import load_sweep
from benchmark.sweep.cells import plan_sweep
from benchmark.sweep.run import trials_at_once


@pytest.mark.parametrize(("devices", "packing"), [(1, 1), (1, 4), (2, 1), (2, 4)])
def test_each_gpu_of_the_cluster_gets_the_packing_levels_trials(tmp_path, devices, packing):
    sweep_file = tmp_path / "sweep.yaml"
    sweep_file.write_text(
        sweep_yaml(tmp_path, SIZES["full", "cuda"], 24, "pooled", "cuda", packing, devices)
    )
    plan = plan_sweep(load_sweep(sweep_file), source=sweep_file)

    at_once = trials_at_once(plan, {"CPU": 16.0, "GPU": float(devices)}, sweep_file)

    assert at_once == packing * devices
    assert at_once * plan.spec.resources.gpus_per_worker == pytest.approx(devices)
