"""Peak memory is a trial's own, even when its process ran a bigger trial before."""

from __future__ import annotations

import sys

import pytest
import torch

from benchmark.train.hardware import device_name, peak_memory_mb, reset_peak_memory
from benchmark.train.runtime import assigned_share


@pytest.mark.skipif(sys.platform != "linux", reason="the resident-set peak resets on Linux")
def test_the_cpu_peak_restarts_from_the_current_resident_set():
    cpu = torch.device("cpu")
    big = torch.ones(64 * 2**20)  # 256 MiB, touched
    peak_with_it = peak_memory_mb(cpu)
    del big
    reset_peak_memory(cpu)
    assert peak_memory_mb(cpu) < peak_with_it - 200


def test_a_shared_gpu_is_named_with_its_share_so_reports_keep_its_times_apart(monkeypatch):
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda device=None: "NVIDIA H100")
    cuda = torch.device("cuda", 0)

    assert device_name(cuda) == "cuda:NVIDIA H100"
    assert device_name(cuda, 0.25) == "cuda:NVIDIA H100 (0.25 GPU)"
    assert device_name(torch.device("cpu"), 0.25).startswith("cpu:")
    assert "GPU" not in device_name(torch.device("cpu"), 0.25)


def test_a_worker_reads_the_fraction_ray_assigned_it(local_ray):
    """The share comes from Ray's own accounting (CPUs here, GPUs on a GPU machine)."""
    ray = local_ray

    @ray.remote
    def share_of_cpu():
        return assigned_share("CPU")

    fractional = share_of_cpu.options(num_cpus=0.5).remote()
    whole = share_of_cpu.options(num_cpus=1).remote()
    assert ray.get([fractional, whole]) == [0.5, None]
