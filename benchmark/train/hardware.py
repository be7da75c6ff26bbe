"""What a figure was measured on, and the measurements that depend on the device."""

from __future__ import annotations

import contextlib
import platform
import resource
import sys
from collections.abc import Iterator

import torch


def synchronize(device: torch.device) -> None:
    """Wait for queued GPU work, so a wall-clock reading covers the work it times."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def device_name(device: torch.device, gpu_share: float | None = None) -> str:
    """A readable name of the device, stored beside every time it measured.

    A trial that held a share of its GPU (``gpus_per_worker: 0.25``) shared it with other
    trials and trained more slowly than on the whole GPU, so the share is part of the name:
    reports then never rank its times with those of whole GPUs.
    """
    if device.type == "cuda":
        name = f"cuda:{torch.cuda.get_device_name(device)}"
        return name if gpu_share is None else f"{name} ({gpu_share:g} GPU)"
    return f"cpu:{platform.processor() or platform.machine()}"


def reset_peak_memory(device: torch.device) -> None:
    """Start a trial's peak-memory measurement afresh.

    A process may run several trials one after another (Tune reuses a trial's process), so
    the peak must be the trial's, not the process's. On Linux the resident-set peak is
    reset through ``/proc/self/clear_refs``; elsewhere the CPU figure stays the process's.
    """
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
        return
    try:
        with open("/proc/self/clear_refs", "w") as clear_refs:
            clear_refs.write("5")
    except OSError:
        pass


def peak_memory_mb(device: torch.device) -> float:
    """Peak CUDA memory allocated on a GPU; peak resident set size of the process on CPU
    (since ``reset_peak_memory`` on Linux)."""
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    peak_kb = _process_status_kb("VmHWM")
    if peak_kb is not None:
        return peak_kb / 2**10
    max_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # ru_maxrss is in kilobytes on Linux and in bytes on macOS.
    return max_rss / 2**20 if sys.platform == "darwin" else max_rss / 2**10


@contextlib.contextmanager
def memory_limit(limit_mb: float | None) -> Iterator[None]:
    """Let this process allocate at most ``limit_mb`` more memory while the block runs.

    Linux only (``RLIMIT_DATA``, counted from the process's data size at entry, so a reused
    process is not charged for what it held before); restored on exit. An allocation past
    the limit fails in PyTorch as "can't allocate memory", which the trial reports as
    ``out_of_memory``, where without a limit the kernel's OOM killer (or swap) would hit
    whatever runs on the node.
    """
    held_kb = _process_status_kb("VmData") if limit_mb is not None else None
    if held_kb is None:
        yield
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_DATA)
    wanted = held_kb * 1024 + int(limit_mb * 2**20)
    if hard != resource.RLIM_INFINITY:
        wanted = min(wanted, hard)
    resource.setrlimit(resource.RLIMIT_DATA, (wanted, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_DATA, (soft, hard))


def _process_status_kb(field: str) -> int | None:
    """A kB figure of ``/proc/self/status`` (``VmHWM``: peak resident set; ``VmData``: data
    size, what ``RLIMIT_DATA`` counts), or None off Linux."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith(f"{field}:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None
