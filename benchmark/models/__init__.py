"""The architecture zoo: a registry of builders, the studies' networks, and their profiling.

``create_model(name, num_classes, in_channels, image_size, **hparams)`` is the one way to
build a network; ``list_models()`` and ``model_defaults(name)`` say what exists and what can
be tuned. The architectures register themselves when their modules are imported below.
This package never imports Ray: a model is plain PyTorch.
"""

from __future__ import annotations

from benchmark.models import backbones, cnn, mlp  # noqa: F401  (registers the architectures)
from benchmark.models.classifier import FREEZE_MODES, ImageClassifier, freeze_parameters
from benchmark.models.profile import count_parameters, macs_per_image, measure_inference
from benchmark.models.registry import (
    create_model,
    list_models,
    model_defaults,
    model_entry,
    register_model,
)
from benchmark.models.summary import (
    ModelProfile,
    ModelSummary,
    parse_input_shape,
    profile_models,
    summarize_model,
)
from benchmark.models.weights import WeightsChoice

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
