"""The architecture zoo: a registry of builders, the studies' networks, and their profiling.

``create_model(name, num_classes, in_channels, image_size, **hparams)`` is the one way to
build a network; ``list_models()`` and ``model_defaults(name)`` say what exists and what can
be tuned. The architectures register themselves when their modules are imported below.
This package never imports Ray: a model is plain PyTorch.

Importing the package does not import torch: a sweep's driver checks a sweep file against
the registry, and never trains. The names below that need torch (the classifier, profiling,
summaries) are imported from their modules on first use.
"""

from __future__ import annotations

from benchmark.lazy import on_first_use
from benchmark.models import backbones, cnn, mlp  # noqa: F401  (registers the architectures)
from benchmark.models.registry import (
    FREEZE_MODES,
    create_model,
    list_models,
    model_defaults,
    model_entry,
    register_model,
)
from benchmark.models.weights import WeightsChoice

#: The package's names that need torch, and the module each comes from (``benchmark.lazy``).
_TORCH_NAMES = {
    "ImageClassifier": "classifier",
    "freeze_parameters": "classifier",
    "count_parameters": "profile",
    "macs_per_image": "profile",
    "measure_inference": "profile",
    "ModelProfile": "summary",
    "ModelSummary": "summary",
    "parse_input_shape": "summary",
    "profile_models": "summary",
    "summarize_model": "summary",
}

__getattr__ = on_first_use(__name__, _TORCH_NAMES)


__all__ = [
    "FREEZE_MODES",
    "ImageClassifier",
    "ModelProfile",
    "ModelSummary",
    "WeightsChoice",
    "count_parameters",
    "create_model",
    "freeze_parameters",
    "list_models",
    "macs_per_image",
    "measure_inference",
    "model_defaults",
    "model_entry",
    "parse_input_shape",
    "profile_models",
    "register_model",
    "summarize_model",
]
