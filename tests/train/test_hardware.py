"""Peak memory is a trial's own, even when its process ran a bigger trial before."""

from __future__ import annotations

import sys

import pytest
import torch

from benchmark.train.hardware import peak_memory_mb, reset_peak_memory


@pytest.mark.skipif(sys.platform != "linux", reason="the resident-set peak resets on Linux")
def test_the_cpu_peak_restarts_from_the_current_resident_set():
    cpu = torch.device("cpu")
    big = torch.ones(64 * 2**20)  # 256 MiB, touched
    peak_with_it = peak_memory_mb(cpu)
    del big
    reset_peak_memory(cpu)
    assert peak_memory_mb(cpu) < peak_with_it - 200
