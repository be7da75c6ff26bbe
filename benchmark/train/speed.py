"""Speed options (mixed precision, channels-last, torch.compile), resolved once per trial.

Mixed precision and ``torch.compile`` are for CUDA; on a CPU worker they are switched off
with one log line rather than an error, so one sweep file runs unchanged on a laptop and
on a GPU cluster. Channels-last applies on both: on a CPU, oneDNN's convolutions take it
too, faster for some networks and slower for others (``perf/memory_format.py`` measures
which on the machine at hand).
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass

import torch

from benchmark.train.config import TrialConfig

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SpeedOptions:
    amp_dtype: torch.dtype | None
    channels_last: bool
    compile: bool

    @classmethod
    def resolve(cls, config: TrialConfig, device: torch.device) -> SpeedOptions:
        if device.type != "cuda":
            if config.amp != "none" or config.compile:
                log.info(
                    "amp=%s compile=%s ignored: they apply to CUDA only, this worker trains on %s",
                    config.amp,
                    config.compile,
                    device,
                )
            return cls(amp_dtype=None, channels_last=config.channels_last, compile=False)
        amp_dtype = {"none": None, "bf16": torch.bfloat16, "fp16": torch.float16}[config.amp]
        return cls(amp_dtype=amp_dtype, channels_last=config.channels_last, compile=config.compile)

    @property
    def memory_format(self) -> torch.memory_format:
        return torch.channels_last if self.channels_last else torch.contiguous_format

    def autocast(self) -> contextlib.AbstractContextManager:
        if self.amp_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type="cuda", dtype=self.amp_dtype)

    def grad_scaler(self) -> torch.amp.GradScaler:
        # fp16 needs loss scaling to keep small gradients from underflowing; bf16 does not.
        return torch.amp.GradScaler("cuda", enabled=self.amp_dtype == torch.float16)
