"""The architecture registry: one name, one builder; ``create_model`` is the one way in.

Shaped like timm's: a builder is a function
``builder(num_classes, in_channels, image_size, *, knob=default, ...) -> ImageClassifier``
behind ``@register_model``. Every keyword-only argument is a hyperparameter a sweep may set,
and its default reproduces the study the architecture comes from. One builder may stand
behind several names: ``fixed`` pins some of its arguments for a name, and those are then no
longer hyperparameters of that name (``separable_cnn`` cannot be asked for standard
convolutions; a sweep that compares the two uses the two names).

Two hyperparameters belong to every architecture and are resolved here, once, instead of
in each builder: ``weights`` (``none``, ``imagenet`` or the path of a state-dict file) and
``freeze`` (``none``, ``backbone``, ``all_but_last_stage``). ImageNet weights need the
builder's help, since they load into the torchvision network before its head is replaced;
a builder that can do that says so by taking ``pretrained: bool``.

Registering and looking up need no torch, so that a sweep's driver, which never trains,
checks a sweep file against the registry without importing it (seconds, and hundreds of
megabytes): the architectures' modules import torch in the functions that build.
"""

from __future__ import annotations

import fnmatch
import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from benchmark.errors import ModelConfigError, UnknownModelError, WeightsError, close_matches
from benchmark.models.hparams import choice, is_integer
from benchmark.models.weights import WeightsChoice

if TYPE_CHECKING:
    from torch import nn

ModelBuilder = Callable[..., "nn.Module"]

#: Hyperparameters every architecture takes, with their defaults.
COMMON_DEFAULTS: dict[str, Any] = {"weights": "none", "freeze": "none"}
#: What ``freeze`` accepts (``classifier.freeze_parameters`` says what each one trains).
FREEZE_MODES = ("none", "backbone", "all_but_last_stage")

_INPUT_ARGUMENTS = ("num_classes", "in_channels", "image_size")
_PRETRAINED_FLAG = "pretrained"


@dataclass(frozen=True)
class ModelEntry:
    """One registered name: its builder, the arguments the name pins, a one-line description."""

    name: str
    builder: ModelBuilder
    description: str
    fixed: Mapping[str, Any] = field(default_factory=dict)

    def defaults(self) -> dict[str, Any]:
        """The hyperparameters of this name with their defaults, builder's own first."""
        own = {
            parameter.name: parameter.default
            for parameter in inspect.signature(self.builder).parameters.values()
            if parameter.kind is inspect.Parameter.KEYWORD_ONLY
            and parameter.name not in self.fixed
            and parameter.name != _PRETRAINED_FLAG
        }
        return {**own, **COMMON_DEFAULTS}

    @property
    def takes_imagenet_weights(self) -> bool:
        return _PRETRAINED_FLAG in inspect.signature(self.builder).parameters


_REGISTRY: dict[str, ModelEntry] = {}


def register_model(
    builder: ModelBuilder | None = None,
    *,
    name: str | None = None,
    description: str | None = None,
    fixed: Mapping[str, Any] | None = None,
) -> Any:
    """Register ``builder`` under ``name`` (default: the function's name).

    Use it bare as a decorator (``@register_model``), with arguments as a decorator, or as a
    call (``register_model(mlp, name="mlp_128_64", fixed={"hidden_sizes": (128, 64)})``).
    It returns the builder unchanged, so decorators stack. The description defaults to the
    first line of the builder's docstring.
    """

    def register(function: ModelBuilder) -> ModelBuilder:
        entry_name = name or function.__name__
        if entry_name in _REGISTRY:
            raise ValueError(f"architecture {entry_name!r} is registered twice")
        pinned = dict(fixed or {})
        _check_builder(function, pinned)
        summary = description or (inspect.getdoc(function) or entry_name).splitlines()[0]
        _REGISTRY[entry_name] = ModelEntry(entry_name, function, summary, pinned)
        return function

    return register if builder is None else register(builder)


def _check_builder(builder: ModelBuilder, fixed: Mapping[str, Any]) -> None:
    """Catch, at import time, a builder that breaks the conventions create_model relies on."""
    parameters = inspect.signature(builder).parameters
    positional = [p.name for p in parameters.values() if p.kind is not p.KEYWORD_ONLY]
    if tuple(positional) != _INPUT_ARGUMENTS:
        raise TypeError(f"{builder.__name__} must take {', '.join(_INPUT_ARGUMENTS)} first")
    undefaulted = [
        p.name
        for p in parameters.values()
        if p.kind is p.KEYWORD_ONLY and p.name not in fixed and p.default is p.empty
    ]
    if undefaulted:
        raise TypeError(f"{builder.__name__}: hyperparameters {undefaulted} need defaults")
    unknown = set(fixed) - set(parameters)
    if unknown or set(fixed) & set(COMMON_DEFAULTS):
        raise TypeError(f"{builder.__name__}: cannot pin {sorted(fixed)}")


def model_entry(name: str) -> ModelEntry:
    """The registered entry of ``name``; ``UnknownModelError`` suggests close names if none."""
    try:
        return _REGISTRY[name]
    except KeyError:
        raise UnknownModelError(name, list_models()) from None


def list_models(pattern: str = "*") -> list[str]:
    """Registered names matching the shell-style ``pattern`` (case-insensitive), sorted."""
    return sorted(name for name in _REGISTRY if fnmatch.fnmatchcase(name, pattern.lower()))


def model_defaults(name: str) -> dict[str, Any]:
    """Every hyperparameter ``name`` accepts, with the default that reproduces its study."""
    return model_entry(name).defaults()


def create_model(
    name: str,
    num_classes: int,
    in_channels: int,
    image_size: int | tuple[int, int],
    **hparams: Any,
) -> nn.Module:
    """Build architecture ``name`` for images of ``in_channels`` × ``image_size`` (an int or
    (H, W)) and ``num_classes`` classes, with ``hparams`` overriding its defaults.

    Weights are loaded and freezing applied before the model is returned, so parameter
    counts taken from it are final. Raises ``UnknownModelError`` for a name that is not
    registered, ``ModelConfigError`` for an unknown hyperparameter or an impossible value, and
    ``WeightsError`` for weights that cannot be had; each message starts with ``name``.
    """
    from benchmark.models.classifier import freeze_parameters
    from benchmark.models.weights import load_weights_file

    entry = model_entry(name)
    defaults = entry.defaults()
    unknown = [key for key in hparams if key not in defaults]
    if unknown:
        message = f"{name}: unknown hyperparameter '{unknown[0]}'"
        suggestions = close_matches(unknown[0], defaults)
        if suggestions:
            message += f" (did you mean '{suggestions[0]}'?)"
        message += f"; allowed: {', '.join(defaults)}"
        if entry.fixed:
            pins = ", ".join(f"{key}={value!r}" for key, value in entry.fixed.items())
            message += f"; {name} pins {pins}"
        raise ModelConfigError(message)
    settings = {**defaults, **hparams}
    weights_value, freeze = settings.pop("weights"), settings.pop("freeze")
    try:
        freeze = choice("freeze", freeze, FREEZE_MODES)
        weights = WeightsChoice.parse(weights_value)
        if weights.kind == "imagenet" and not entry.takes_imagenet_weights:
            raise ModelConfigError(
                f"weights 'imagenet' exist only for the torchvision-based architectures "
                f"({', '.join(_imagenet_architectures())}); this one trains from scratch "
                f"or loads a state-dict file"
            )
        if entry.takes_imagenet_weights:
            settings[_PRETRAINED_FLAG] = weights.kind == "imagenet"
        model = entry.builder(
            _integer("num_classes", num_classes),
            _integer("in_channels", in_channels),
            _image_size(image_size),
            **entry.fixed,
            **settings,
        )
        if weights.path is not None:
            load_weights_file(model, weights.path)
        freeze_parameters(model, freeze)
    except (ModelConfigError, WeightsError) as error:
        raise type(error)(f"{name}: {error}") from None
    return model


def _imagenet_architectures() -> list[str]:
    return [name for name, entry in sorted(_REGISTRY.items()) if entry.takes_imagenet_weights]


def _integer(what: str, value: object) -> int:
    if not is_integer(value) or value < 1:
        raise ModelConfigError(f"{what} must be an integer >= 1; got {value!r}")
    return int(value)


def _image_size(value: int | tuple[int, int]) -> tuple[int, int]:
    if is_integer(value):
        return (_integer("image_size", value),) * 2
    if isinstance(value, tuple | list) and len(value) == 2:
        return _integer("image height", value[0]), _integer("image width", value[1])
    raise ModelConfigError(f"image_size must be an int or (height, width); got {value!r}")
