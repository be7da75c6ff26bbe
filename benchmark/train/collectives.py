"""Combining per-rank figures into whole-dataset figures under DDP.

Every rank evaluates only its shard; these helpers sum counts and gather predictions so that
every rank ends an epoch with the same metrics, and therefore takes the same decisions
(early stopping, divergence) without extra messages. With one worker they do nothing.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.distributed as dist


def _distributed() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def sum_across_ranks(values: list[float], device: torch.device) -> list[float]:
    """Element-wise sum of ``values`` over all ranks."""
    if not _distributed():
        return list(values)
    tensor = torch.tensor(values, dtype=torch.float64, device=device)
    dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
    return tensor.tolist()


def max_across_ranks(value: float, device: torch.device) -> float:
    if not _distributed():
        return value
    tensor = torch.tensor([value], dtype=torch.float64, device=device)
    dist.all_reduce(tensor, op=dist.ReduceOp.MAX)
    return float(tensor.item())


def gather_arrays(array: np.ndarray) -> np.ndarray:
    """Concatenate each rank's ``array`` in rank order."""
    if not _distributed():
        return array
    parts: list[np.ndarray | None] = [None] * dist.get_world_size()
    dist.all_gather_object(parts, array)
    return np.concatenate(parts)


def ranks_hold_same_weights(model: torch.nn.Module, device: torch.device) -> bool:
    """True when every rank's parameters are identical (what DDP promises after a step)."""
    if not _distributed():
        return True
    flat = torch.cat([p.detach().reshape(-1).double() for p in model.parameters()]).to(device)
    lowest, highest = flat.clone(), flat.clone()
    dist.all_reduce(lowest, op=dist.ReduceOp.MIN)
    dist.all_reduce(highest, op=dist.ReduceOp.MAX)
    return bool(torch.equal(lowest, highest))
