"""The hand-written CNNs of the studies, layer by layer, with their knobs as hyperparameters.

All of them are convolution stages (``layers.conv_stage``) followed by a dense head
(``layers.dense_head``), built by one function, so that each public builder states only
what its study says. Every convolution is 3×3 (unless ``kernel_size`` says otherwise) with
'same' padding, and every activation is ReLU.

Registered names:

- ``simple_cnn`` (S3): [conv 32 → ReLU → max-pool 2], [conv 64 → ReLU → max-pool 2],
  flatten, dense 512 → ReLU, dense classes.
- ``simple_cnn_linear`` (S5 model 1): the same without the hidden dense layer.
- ``improved_cnn`` (S3): the simple CNN with batch norm after each convolution, dropout 0.25
  after each pooling and 0.5 before the last dense layer (L2 is an optimiser setting).
- ``deeper_cnn`` (S5 model 2): [conv 32, conv 32, max-pool, dropout 0.25], [conv 64, conv 64,
  max-pool, dropout 0.25], [conv 128, max-pool, dropout 0.25], flatten, dense 256 → ReLU,
  dropout 0.5, dense classes.
- ``standard_cnn`` / ``separable_cnn`` (S1): ``depth`` stages of one convolution each, widths
  doubling from ``width``, each followed by (batch norm), ReLU, 2×2 pooling and (dropout);
  then global average pooling and one dense layer. The two differ only in the convolution:
  standard k×k, or depthwise k×k + pointwise 1×1. The head is global pooling rather than a
  large dense layer so that the parameter count compares the convolutions, not the head.

Registering the names needs no torch (see ``registry``): ``stacked_cnn``, which every
builder ends in, imports it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from benchmark.models import hparams
from benchmark.models.registry import register_model

if TYPE_CHECKING:
    from benchmark.models.classifier import ImageClassifier


def stacked_cnn(
    num_classes: int,
    in_channels: int,
    image_size: tuple[int, int],
    *,
    stages: Sequence[tuple[int, int]],
    hidden_sizes: Sequence[int] = (),
    kernel_size: int = 3,
    conv: str = "standard",
    norm: str = "none",
    pooling: str = "max",
    conv_dropout: float = 0.0,
    dense_dropout: float = 0.0,
    global_pool: bool = False,
) -> ImageClassifier:
    """Convolution stages, one (channels, convolutions) pair each, then a dense head.

    Each stage ends in a 2×2 pooling, so the flattened size is known without running the
    network, and an image too small for the stages is a ``ModelConfigError`` at build time.
    """
    from torch import nn

    from benchmark.models.classifier import ImageClassifier
    from benchmark.models.layers import (
        CONV_TYPES,
        NORMS,
        POOLINGS,
        conv_stage,
        dense_head,
        pooled_size,
    )

    conv = hparams.choice("conv", conv, CONV_TYPES)
    norm = hparams.choice("norm", norm, NORMS)
    pooling = hparams.choice("pooling", pooling, POOLINGS)
    height, width = pooled_size(image_size, len(stages))
    blocks: list[nn.Module] = []
    channels = in_channels
    for out_channels, convs in stages:
        blocks.append(
            conv_stage(
                channels,
                out_channels,
                convs=convs,
                kernel_size=kernel_size,
                conv=conv,
                norm=norm,
                pooling=pooling,
                dropout=conv_dropout,
            )
        )
        channels = out_channels
    flat_features = channels if global_pool else channels * height * width
    if global_pool:
        blocks.append(nn.AdaptiveAvgPool2d(1))
    head = dense_head(flat_features, hidden_sizes, num_classes, dropout=dense_dropout)
    last_stage = f"features.{len(stages) - 1}"
    return ImageClassifier(nn.Sequential(*blocks), head, last_stage=(last_stage,))


@register_model
def simple_cnn(
    num_classes: int,
    in_channels: int,
    image_size: tuple[int, int],
    *,
    width: int = 32,
    hidden_units: int = 512,
) -> ImageClassifier:
    """S3 simple CNN: conv 32, conv 64 (each ReLU + max-pool 2), dense 512, dense classes.

    ``width`` is the first convolution's channels (the second has twice as many);
    ``hidden_units=0`` drops the hidden dense layer (S5 model 1, ``simple_cnn_linear``).
    """
    width = hparams.integer("width", width)
    hidden_units = hparams.integer("hidden_units", hidden_units, minimum=0)
    return stacked_cnn(
        num_classes,
        in_channels,
        image_size,
        stages=[(width, 1), (2 * width, 1)],
        hidden_sizes=[hidden_units] if hidden_units else [],
    )


register_model(
    simple_cnn,
    name="simple_cnn_linear",
    fixed={"hidden_units": 0},
    description="S5 model 1: conv 32, conv 64 (each ReLU + max-pool 2), flatten, dense classes",
)


@register_model
def improved_cnn(
    num_classes: int,
    in_channels: int,
    image_size: tuple[int, int],
    *,
    width: int = 32,
    hidden_units: int = 512,
    conv_dropout: float = 0.25,
    dense_dropout: float = 0.5,
) -> ImageClassifier:
    """S3 improved CNN: the simple CNN with batch norm after each conv, and dropout."""
    width = hparams.integer("width", width)
    return stacked_cnn(
        num_classes,
        in_channels,
        image_size,
        stages=[(width, 1), (2 * width, 1)],
        hidden_sizes=[hparams.integer("hidden_units", hidden_units)],
        norm="batch",
        conv_dropout=hparams.probability("conv_dropout", conv_dropout),
        dense_dropout=hparams.probability("dense_dropout", dense_dropout),
    )


@register_model
def deeper_cnn(
    num_classes: int,
    in_channels: int,
    image_size: tuple[int, int],
    *,
    width: int = 32,
    hidden_units: int = 256,
    conv_dropout: float = 0.25,
    dense_dropout: float = 0.5,
) -> ImageClassifier:
    """S5 model 2: [conv 32 ×2], [conv 64 ×2], [conv 128], each max-pool + dropout; dense 256."""
    width = hparams.integer("width", width)
    return stacked_cnn(
        num_classes,
        in_channels,
        image_size,
        stages=[(width, 2), (2 * width, 2), (4 * width, 1)],
        hidden_sizes=[hparams.integer("hidden_units", hidden_units)],
        conv_dropout=hparams.probability("conv_dropout", conv_dropout),
        dense_dropout=hparams.probability("dense_dropout", dense_dropout),
    )


@register_model(
    name="separable_cnn",
    fixed={"conv": "separable"},
    description="S1: depthwise-separable CNN (depthwise k×k + pointwise 1×1), else as standard",
)
@register_model(
    name="standard_cnn",
    fixed={"conv": "standard"},
    description="S1: plain CNN, `depth` conv stages with doubling widths, global pool, dense",
)
def standard_or_separable_cnn(
    num_classes: int,
    in_channels: int,
    image_size: tuple[int, int],
    *,
    conv: str,
    width: int = 32,
    depth: int = 3,
    kernel_size: int = 3,
    dropout: float = 0.0,
    norm: str = "batch",
    pooling: str = "max",
) -> ImageClassifier:
    """S1's pair: identical CNNs but for the convolution type (registered twice, conv pinned)."""
    width = hparams.integer("width", width)
    return stacked_cnn(
        num_classes,
        in_channels,
        image_size,
        stages=[(width * 2**stage, 1) for stage in range(hparams.integer("depth", depth))],
        kernel_size=hparams.odd_integer("kernel_size", kernel_size),
        conv=conv,
        norm=norm,
        pooling=pooling,
        conv_dropout=hparams.probability("dropout", dropout),
        global_pool=True,
    )
