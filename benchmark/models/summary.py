"""What ``bench models`` shows: one profile row per architecture, or one model layer by layer.

Both are plain data (frozen dataclasses) built here, so the command line only formats them
and a notebook can call the same functions.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from benchmark.errors import ModelConfigError
from benchmark.models.profile import count_parameters, macs_per_image
from benchmark.models.registry import COMMON_DEFAULTS, create_model, list_models, model_entry


@dataclass(frozen=True)
class ModelProfile:
    """One architecture at one input shape: its size and cost, or why it cannot be built."""

    name: str
    description: str
    defaults: dict[str, Any]
    params_total: int | None = None
    params_trainable: int | None = None
    macs_per_image: int | None = None
    error: str | None = None


@dataclass(frozen=True)
class LayerSummary:
    """One leaf module as the forward pass met it."""

    name: str
    kind: str
    output_shape: tuple[int, ...]  # per image: batch dimension left out
    params: int


@dataclass(frozen=True)
class ModelSummary:
    name: str
    description: str
    input_shape: tuple[int, int, int]
    num_classes: int
    layers: list[LayerSummary]
    params_total: int
    params_trainable: int
    macs_per_image: int

    @property
    def params_non_trainable(self) -> int:
        return self.params_total - self.params_trainable


def profile_models(
    pattern: str, input_shape: tuple[int, int, int], num_classes: int
) -> list[ModelProfile]:
    """Every architecture matching ``pattern``, with its default hyperparameters, profiled.

    Models are built on the meta device: shapes without memory or initialisation, so the
    whole zoo, 100 M-parameter networks included, profiles in a second or two. An
    architecture that cannot take ``input_shape`` gets its error instead of figures.
    """
    profiles = []
    for name in list_models(pattern):
        entry = model_entry(name)
        own_defaults = {k: v for k, v in entry.defaults().items() if k not in COMMON_DEFAULTS}
        try:
            with torch.device("meta"):
                model = create_model(name, num_classes, input_shape[0], input_shape[1:])
            total, trainable = count_parameters(model)
            macs = macs_per_image(model, input_shape)
        except ModelConfigError as error:
            profiles.append(ModelProfile(name, entry.description, own_defaults, error=str(error)))
            continue
        profiles.append(ModelProfile(name, entry.description, own_defaults, total, trainable, macs))
    return profiles


def layer_summaries(model: nn.Module, input_shape: Sequence[int]) -> list[LayerSummary]:
    """Leaf modules in the order the forward pass of one image runs them (eval mode).

    A module the forward pass calls twice (torchvision's ResNet blocks reuse one ReLU)
    gets a row per call, its parameters on the first. Identity placeholders are left out.
    """
    rows: list[LayerSummary] = []
    seen: set[str] = set()

    def record(name: str, module: nn.Module, output: Any) -> None:
        tensor = output if isinstance(output, torch.Tensor) else output[0]
        params = 0 if name in seen else sum(p.numel() for p in module.parameters())
        seen.add(name)
        rows.append(LayerSummary(name, type(module).__name__, tuple(tensor.shape[1:]), params))

    handles = [
        module.register_forward_hook(
            lambda module, _inputs, output, name=name: record(name, module, output)
        )
        for name, module in model.named_modules()
        if not list(module.children()) and not isinstance(module, nn.Identity)
    ]
    was_training = model.training
    model.eval()
    try:
        parameter = next(model.parameters())
        with torch.no_grad():
            model(torch.zeros(1, *input_shape, device=parameter.device))
    finally:
        model.train(was_training)
        for handle in handles:
            handle.remove()
    return rows


def summarize_model(
    name: str, input_shape: tuple[int, int, int], num_classes: int, **hparams: Any
) -> ModelSummary:
    """Build ``name`` (on the CPU, weights loaded, frozen as asked) and describe it."""
    model = create_model(name, num_classes, input_shape[0], input_shape[1:], **hparams)
    total, trainable = count_parameters(model)
    return ModelSummary(
        name=name,
        description=model_entry(name).description,
        input_shape=input_shape,
        num_classes=num_classes,
        layers=layer_summaries(model, input_shape),
        params_total=total,
        params_trainable=trainable,
        macs_per_image=macs_per_image(model, input_shape),
    )


def parse_input_shape(text: str) -> tuple[int, int, int]:
    """``"3x32x32"`` → (3, 32, 32): channels × height × width, as datasets report them."""
    parts = text.strip().lower().replace("×", "x").split("x")
    if len(parts) != 3 or not all(part.strip().isdigit() and int(part) > 0 for part in parts):
        raise ModelConfigError(
            f"dataset shape {text!r} is not CxHxW with positive integers, e.g. 3x32x32"
        )
    channels, height, width = (int(part) for part in parts)
    return channels, height, width
