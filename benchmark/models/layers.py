"""The building blocks the architectures share: convolution stages, dense heads, input adapters.

Each piece lives here once, so that two architectures that differ in one respect (standard
vs separable convolutions, batch norm or not) differ in exactly that respect.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from benchmark.errors import ModelConfigError

CONV_TYPES = ("standard", "separable")
NORMS = ("batch", "none")
POOLINGS = ("max", "avg")

#: Output channels of the channel adapter: what ImageNet networks expect.
RGB_CHANNELS = 3


class SeparableConv2d(nn.Sequential):
    """A depthwise-separable stand-in for ``nn.Conv2d(in, out, k, padding=k // 2)``.

    A depthwise k×k convolution (``groups=in_channels``: one filter per input channel) then a
    pointwise 1×1 convolution mixing channels: k·k·C_in + C_in·C_out weights instead of
    k·k·C_in·C_out. The depthwise convolution has no bias: the pointwise convolution is linear,
    so a bias before it would fold into the pointwise bias and only add parameters.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, bias: bool) -> None:
        depthwise = nn.Conv2d(
            in_channels,
            in_channels,
            kernel_size,
            padding=kernel_size // 2,
            groups=in_channels,
            bias=False,
        )
        pointwise = nn.Conv2d(in_channels, out_channels, 1, bias=bias)
        super().__init__(OrderedDict(depthwise=depthwise, pointwise=pointwise))


def conv2d(
    in_channels: int, out_channels: int, kernel_size: int, *, conv: str, bias: bool
) -> nn.Module:
    """A stride-1 'same' k×k convolution, standard or depthwise-separable."""
    if conv == "separable":
        return SeparableConv2d(in_channels, out_channels, kernel_size, bias)
    return nn.Conv2d(in_channels, out_channels, kernel_size, padding=kernel_size // 2, bias=bias)


def conv_stage(
    in_channels: int,
    out_channels: int,
    *,
    convs: int = 1,
    kernel_size: int = 3,
    conv: str = "standard",
    norm: str = "none",
    pooling: str = "max",
    dropout: float = 0.0,
) -> nn.Sequential:
    """``convs`` × [conv k×k same → (batch norm) → ReLU], then 2×2 pooling, then (dropout).

    A convolution followed by batch norm has no bias: the norm's shift replaces it. Pooling
    floors odd sizes (7 → 3), as Keras' ``MaxPooling2D`` does.
    """
    layers: list[nn.Module] = []
    for index in range(convs):
        source = in_channels if index == 0 else out_channels
        layers.append(conv2d(source, out_channels, kernel_size, conv=conv, bias=norm == "none"))
        if norm == "batch":
            layers.append(nn.BatchNorm2d(out_channels))
        layers.append(nn.ReLU(inplace=True))
    layers.append(nn.MaxPool2d(2) if pooling == "max" else nn.AvgPool2d(2))
    if dropout > 0:
        layers.append(nn.Dropout(dropout))
    return nn.Sequential(*layers)


def dense_head(
    in_features: int, hidden_sizes: Sequence[int], num_classes: int, *, dropout: float = 0.0
) -> nn.Sequential:
    """flatten → [dense h → ReLU → (dropout)] for each h in ``hidden_sizes`` → dense classes."""
    layers: list[nn.Module] = [nn.Flatten()]
    for size in hidden_sizes:
        layers += [nn.Linear(in_features, size), nn.ReLU(inplace=True)]
        if dropout > 0:
            layers.append(nn.Dropout(dropout))
        in_features = size
    layers.append(nn.Linear(in_features, num_classes))
    return nn.Sequential(*layers)


def pooled_size(image_size: tuple[int, int], halvings: int) -> tuple[int, int]:
    """(H, W) after ``halvings`` floor-halvings; ``ModelConfigError`` if that leaves nothing."""
    height, width = image_size
    pooled = (height >> halvings, width >> halvings)
    if min(pooled) < 1:
        raise ModelConfigError(
            f"{height}×{width} images are too small for {halvings} 2×2 poolings (at most "
            f"{min(height, width).bit_length() - 1})"
        )
    return pooled


class Resize(nn.Module):
    """Bilinear resize to a fixed (H, W), inside the model so every data pipeline agrees.

    Antialiased when shrinking (plain bilinear sampling would alias); a no-op when the input
    already has the size.
    """

    def __init__(self, size: tuple[int, int]) -> None:
        super().__init__()
        self.size = tuple(size)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        if tuple(images.shape[-2:]) == self.size:
            return images
        shrinking = images.shape[-2] > self.size[0] or images.shape[-1] > self.size[1]
        return F.interpolate(
            images, size=self.size, mode="bilinear", align_corners=False, antialias=shrinking
        )

    def extra_repr(self) -> str:
        return f"size={self.size}"


def upscaled_size(image_size: tuple[int, int], min_size: int) -> tuple[int, int]:
    """``image_size`` scaled up, aspect ratio kept, until its shorter side is ``min_size``."""
    height, width = image_size
    shorter = min(height, width)
    if shorter >= min_size:
        return image_size
    return (-(-height * min_size // shorter), -(-width * min_size // shorter))  # ceil


def input_adapter(
    in_channels: int, image_size: tuple[int, int], target_size: tuple[int, int]
) -> nn.Module:
    """What makes (in_channels, *image_size) images fit an RGB network that wants target_size.

    A learned 1×1 convolution maps the channels to 3 when they are not 3 (grey images into an
    ImageNet network); a resize follows when the size differs. Both are linear and commute,
    so the convolution goes first, where it costs fewer multiply-adds on a small image.
    Returns ``nn.Identity`` when the input already fits.
    """
    parts: OrderedDict[str, nn.Module] = OrderedDict()
    if in_channels != RGB_CHANNELS:
        parts["channels"] = nn.Conv2d(in_channels, RGB_CHANNELS, kernel_size=1)
    if tuple(target_size) != tuple(image_size):
        parts["resize"] = Resize(target_size)
    return nn.Sequential(parts) if parts else nn.Identity()
