"""Profiling: MACs equal the hand-computed count; inference timing measures what it says."""

from __future__ import annotations

import time

import pytest
import torch
from torch import nn

from benchmark.models import count_parameters, create_model, macs_per_image, measure_inference
from benchmark.models.layers import conv2d


def test_macs_of_the_simple_cnn_equal_the_hand_computed_count():
    # A conv layer costs H_out·W_out·C_out·(k·k·C_in) MACs; a dense layer n → m costs n·m.
    expected = (
        8 * 8 * 32 * (3 * 3 * 1)  # conv 1→32 on 8×8
        + 4 * 4 * 64 * (3 * 3 * 32)  # conv 32→64 on 4×4, after the first pooling
        + (64 * 2 * 2) * 512  # dense from the 2×2×64 map
        + 512 * 10
    )  # = 449,536
    model = create_model("simple_cnn", 10, 1, 8)
    assert macs_per_image(model, (1, 8, 8)) == expected


def test_a_separable_conv_costs_depthwise_plus_pointwise_macs():
    k, c_in, c_out, size = 3, 8, 16, 10
    separable = conv2d(c_in, c_out, k, conv="separable", bias=True)
    standard = conv2d(c_in, c_out, k, conv="standard", bias=True)
    assert macs_per_image(separable, (c_in, size, size)) == size * size * (
        k * k * c_in + c_in * c_out
    )
    assert macs_per_image(standard, (c_in, size, size)) == size * size * k * k * c_in * c_out


def test_macs_are_counted_in_eval_mode_and_the_training_mode_is_restored():
    model = create_model("improved_cnn", 10, 1, 8).train()
    seen_modes = []
    model.register_forward_pre_hook(lambda module, _: seen_modes.append(module.training))
    macs_per_image(model, (1, 8, 8))
    assert seen_modes == [False]
    assert model.training


def test_count_parameters_counts_shared_parameters_once():
    layer = nn.Linear(4, 4)
    model = nn.Sequential(layer, nn.ReLU(), layer)
    assert count_parameters(model) == (20, 20)
    layer.bias.requires_grad_(False)
    assert count_parameters(model) == (20, 16)


class SleepingModel(nn.Module):
    """Takes a known time per batch and counts its calls: a model whose speed is known."""

    def __init__(self, seconds_per_batch: float) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.ones(1))
        self.seconds_per_batch = seconds_per_batch
        self.batch_sizes: list[int] = []

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        self.batch_sizes.append(images.shape[0])
        time.sleep(self.seconds_per_batch)
        return images.flatten(1) * self.scale


def test_measure_inference_times_single_images_and_large_batches_after_warm_up():
    model = SleepingModel(seconds_per_batch=0.02).train()
    latency_ms, images_per_s = measure_inference(
        model, (1, 4, 4), "cpu", batch_size_latency=1, batch_size_throughput=8, warmup=2, iters=3
    )
    assert model.batch_sizes == [1] * (2 + 3) + [8] * (2 + 3)
    assert 20 <= latency_ms < 100
    assert 8 / 0.1 < images_per_s <= 8 / 0.02
    assert model.training  # restored


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_measure_inference_runs_on_cuda():
    model = create_model("simple_cnn", 10, 3, 32).cuda()
    latency_ms, images_per_s = measure_inference(model, (3, 32, 32), "cuda", iters=3)
    assert latency_ms > 0 and images_per_s > 0
