"""What a model costs: parameters, multiply-accumulates per image, inference speed.

These are the figures every study reports next to accuracy. Parameters and MACs depend
only on the model and the input shape, so they can be taken anywhere (even on the meta
device, without memory); inference speed depends on the device and is measured on it.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Sequence

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode


def count_parameters(model: nn.Module) -> tuple[int, int]:
    """(total, trainable) parameter counts; shared parameters count once.

    Trainable means ``requires_grad``, so take the counts after freezing.
    """
    parameters = list(model.parameters())
    total = sum(parameter.numel() for parameter in parameters)
    trainable = sum(parameter.numel() for parameter in parameters if parameter.requires_grad)
    return total, trainable


def _device_of(model: nn.Module) -> torch.device:
    parameter = next(model.parameters(), None)
    return parameter.device if parameter is not None else torch.device("cpu")


def macs_per_image(model: nn.Module, input_shape: Sequence[int]) -> int:
    """Multiply-accumulates of one forward pass on one (C, H, W) image, in eval mode.

    Counted by ``torch.utils.flop_counter.FlopCounterMode`` from the operators that run
    (convolutions, matrix products), which reports 2 FLOPs per MAC. Element-wise work (ReLU,
    batch norm, pooling, resize, biases) is not counted, as in the usual MAC figures of
    papers. The model's training mode is restored afterwards.
    """
    was_training = model.training
    model.eval()
    try:
        images = torch.zeros(1, *input_shape, device=_device_of(model))
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            model(images)
    finally:
        model.train(was_training)
    return counter.get_total_flops() // 2


def measure_inference(
    model: nn.Module,
    input_shape: Sequence[int],
    device: torch.device | str,
    batch_size_latency: int = 1,
    batch_size_throughput: int = 64,
    warmup: int = 3,
    iters: int = 10,
) -> tuple[float, float]:
    """(latency_ms, images_per_s) of ``model`` on ``device``, in eval mode without gradients.

    Latency is the median time of one batch of ``batch_size_latency`` images (the median
    ignores the odd interruption); throughput is images per second over ``iters`` batches of
    ``batch_size_throughput``. Each measurement follows ``warmup`` untimed batches (cuDNN
    autotuning, allocator growth, lazy initialisation), and CUDA is synchronised around
    every timed region, since kernels run asynchronously. Inputs are random tensors already
    on the device: the figure is the model's, not the data pipeline's. The model's training
    mode is restored afterwards; it is not moved, so it must already be on ``device``.
    """
    device = torch.device(device)
    was_training = model.training
    model.eval()

    def synchronize() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    def timed_batches(batch_size: int) -> list[float]:
        images = torch.randn(batch_size, *input_shape, device=device)
        for _ in range(warmup):
            model(images)
        durations = []
        for _ in range(iters):
            synchronize()
            start = time.perf_counter()
            model(images)
            synchronize()
            durations.append(time.perf_counter() - start)
        return durations

    try:
        with torch.inference_mode():
            latency_ms = statistics.median(timed_batches(batch_size_latency)) * 1000
            throughput = batch_size_throughput * iters / sum(timed_batches(batch_size_throughput))
    finally:
        model.train(was_training)
    return latency_ms, throughput
