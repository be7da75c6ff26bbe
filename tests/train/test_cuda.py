"""The CUDA paths: mixed precision, channels-last, GPU timing and memory, and fractional GPUs.

These need an NVIDIA GPU and run where there is one; without one they are skipped, since
their every assertion is about the GPU (the CPU paths of the same code are tested by the
rest of the suite).
"""

from __future__ import annotations

import math

import pytest
import torch

from benchmark.train.loop import run_locally

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


@pytest.mark.parametrize(
    ("amp", "channels_last", "compile_model", "grad_clip_norm"),
    [
        ("none", False, False, None),
        ("bf16", True, False, None),
        ("fp16", False, False, None),
        # fp16's scaler unscales the gradients for clipping before the fused optimiser steps.
        ("fp16", False, False, 1.0),
        ("bf16", True, True, None),
    ],
)
def test_a_trial_trains_on_the_gpu_at_each_precision(
    amp, channels_last, compile_model, grad_clip_norm, tmp_path
):
    config = {
        "architecture": "standard_cnn", "dataset": "digits", "data_dir": str(tmp_path),
        "epochs": 3, "batch_size": 64, "lr": 3e-3, "amp": amp, "channels_last": channels_last,
        "compile": compile_model, "measure_inference": True, "checkpoint_every": 0,
        "grad_clip_norm": grad_clip_norm,
    }  # fmt: skip

    final = run_locally(config, device="cuda").reports[-1]

    assert final["status"] == "completed"
    assert final["device"] == f"cuda:{torch.cuda.get_device_name(0)}"
    assert final["peak_memory_mb"] > 0  # read from the CUDA allocator, not the process RSS
    assert all(math.isfinite(r["train_loss"]) for r in final["history"])
    assert final["best_val_accuracy"] > 0.5  # ten classes: chance is 0.1
    assert final["train_time_s"] > 0 and final["eval_time_s"] > 0
    assert final["inference_latency_ms"] > 0 and final["inference_throughput"] > 0


FRACTIONAL_SWEEP = """
name: quarter-gpus
architectures: [standard_cnn]
datasets: [digits]
search: {algorithm: random, trials_per_cell: 4, max_concurrent: 4, seed: 0}
space:
  lr: {type: loguniform, low: 1.0e-3, high: 1.0e-2}
fixed: {epochs: 4, batch_size: 64, measure_inference: false}
resources: {execution: pooled, cpus_per_worker: 0.5, gpus_per_worker: 0.25}
"""


def test_four_trials_share_one_gpu_at_a_quarter_each(run_sweep):
    outcome = run_sweep(FRACTIONAL_SWEEP, "quarter-gpus")

    records = outcome.records
    assert [r["status"] for r in records] == ["completed"] * 4
    # A packed trial's times are those of a shared GPU: its device says so.
    shared = f"cuda:{torch.cuda.get_device_name(0)} (0.25 GPU)"
    assert {r["metrics"]["device"] for r in records} == {shared}
    # Packed: one lane per quarter of the GPU, four for the sweep, all on the one device;
    # beside them, each trial's own checkpoint folder.
    folders = {path.name for path in outcome.directory.train_dir.iterdir()}
    lanes = {f"lane-{lane}" for lane in range(4)}
    assert folders == lanes | {r["trial_id"] for r in records}
