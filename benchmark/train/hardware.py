"""What a figure was measured on, and the measurements that depend on the device."""

from __future__ import annotations

import platform
import resource
import sys

import torch


def synchronize(device: torch.device) -> None:
    """Wait for queued GPU work, so a wall-clock reading covers the work it times."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def device_name(device: torch.device) -> str:
    """A readable name of the device, stored beside every time it measured."""
    if device.type == "cuda":
        return f"cuda:{torch.cuda.get_device_name(device)}"
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
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 2**10  # kB
    except OSError:
        pass
    max_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # ru_maxrss is in kilobytes on Linux and in bytes on macOS.
    return max_rss / 2**20 if sys.platform == "darwin" else max_rss / 2**10
