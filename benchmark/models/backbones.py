"""torchvision networks for transfer learning (S2, S3, S4, S5), fitted to any dataset.

Each is an ``ImageClassifier``: an input adapter (a learned 1×1 convolution to 3 channels
when the images are not RGB; a resize up to the smallest size the network works on), the
torchvision network with its last layer taken off as ``features``, and a new last layer with
``num_classes`` outputs as ``head``.

Registered names:

- ``resnet18``, ``resnet50``, ``alexnet``, ``googlenet``: the torchvision network with its
  last fully connected layer replaced. GoogLeNet is built without its auxiliary classifiers,
  so its output is a plain tensor in training mode too.
- ``vgg16_flat`` (S3): VGG16's 13-convolution feature extractor applied to the image as is
  (32×32 gives 1×1×512), flatten, one dense layer to the classes.
- ``vgg16_96`` (S5 models 3 and 4): the image resized to 96×96, VGG16's feature extractor
  (3×3×512), flatten, dense 256 → ReLU, dropout 0.5, dense classes.

Minimum sizes are torchvision's own (``weights.meta["min_size"]``): below them a pooling
layer's output is empty. AlexNet needs 63×63, GoogLeNet 15×15, the VGG16 feature extractor
32×32 (five 2×2 poolings); ResNets work down to 1×1, so they are never resized. Smaller
images are upscaled bilinearly inside the model, keeping their aspect ratio.

torchvision is imported inside the builders: importing it costs about 8 s here (it pulls in
torch._dynamo), which a trial of a hand-written CNN should not pay. So is torch, as in every
architecture's module: registering the names needs none (see ``registry``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from benchmark.models import hparams
from benchmark.models.registry import register_model

if TYPE_CHECKING:
    from torch import nn

    from benchmark.models.classifier import ImageClassifier


@dataclass(frozen=True)
class TorchvisionNetwork:
    """What the zoo needs to know about one torchvision classifier."""

    #: Dotted name of the last layer, replaced by one with ``num_classes`` outputs.
    last_layer: str
    #: Modules ``freeze='all_but_last_stage'`` leaves trainable, relative to the network.
    last_stage: tuple[str, ...]
    #: Smallest input side the network works on (torchvision's ``meta["min_size"]``).
    min_size: int
    #: Extra arguments to the torchvision builder, always / only with ImageNet weights.
    arguments: dict[str, Any] = field(default_factory=dict)
    pretrained_arguments: dict[str, Any] = field(default_factory=dict)
    #: Checkpoint keys of modules the zoo does not build.
    unused_keys: tuple[str, ...] = ()


TORCHVISION_NETWORKS = {
    "resnet18": TorchvisionNetwork("fc", ("layer4",), min_size=1),
    "resnet50": TorchvisionNetwork("fc", ("layer4",), min_size=1),
    # AlexNet's last stage is its pretrained dense pair fc6, fc7 (the replaced fc8 is head).
    "alexnet": TorchvisionNetwork("classifier.6", ("classifier",), min_size=63),
    "googlenet": TorchvisionNetwork(
        "fc",
        ("inception5a", "inception5b"),
        min_size=15,
        arguments={"aux_logits": False, "init_weights": True},
        # The ImageNet weights expect torchvision's input transform, as in torchvision.
        pretrained_arguments={"transform_input": True},
        unused_keys=("aux1.", "aux2."),
    ),
}

#: VGG16's feature extractor: five 2×2 poolings, so 32×32 is the least that leaves 1×1.
VGG16_MIN_SIZE = 32
VGG16_CHANNELS = 512
VGG16_POOLINGS = 5


def torchvision_classifier(
    num_classes: int,
    in_channels: int,
    image_size: tuple[int, int],
    *,
    arch: str,
    pretrained: bool = False,
) -> ImageClassifier:
    """A torchvision classifier with its last layer replaced (registered once per ``arch``)."""
    import torchvision
    from torch import nn

    from benchmark.models.classifier import ImageClassifier
    from benchmark.models.layers import input_adapter, upscaled_size
    from benchmark.models.weights import load_imagenet_weights

    spec = TORCHVISION_NETWORKS[arch]
    arguments = {**spec.arguments, **(spec.pretrained_arguments if pretrained else {})}
    network = torchvision.models.get_model(arch, weights=None, **arguments)
    if pretrained:
        load_imagenet_weights(network, arch, ignore=spec.unused_keys)
    parent_name, _, attribute = spec.last_layer.rpartition(".")
    parent = network.get_submodule(parent_name)
    in_features = getattr(parent, attribute).in_features
    setattr(parent, attribute, nn.Identity())  # features now end in the pooled vector
    adapter = input_adapter(in_channels, image_size, upscaled_size(image_size, spec.min_size))
    return ImageClassifier(
        network,
        nn.Linear(in_features, num_classes),
        adapter=adapter,
        last_stage=[f"features.{name}" for name in spec.last_stage],
    )


for _arch, _description in (
    ("resnet18", "torchvision ResNet18, last layer replaced (S2)"),
    ("resnet50", "torchvision ResNet50, last layer replaced (S3)"),
    ("alexnet", "torchvision AlexNet, last layer replaced (S4)"),
    ("googlenet", "torchvision GoogLeNet without aux classifiers, last layer replaced (S4)"),
):
    register_model(
        torchvision_classifier, name=_arch, fixed={"arch": _arch}, description=_description
    )


def vgg16_features(pretrained: bool) -> nn.Sequential:
    """VGG16's 13 convolutions (each ReLU) and 5 max-poolings, without its classifier.

    Built alone rather than cut from ``torchvision.models.vgg16()``, whose 120 M-parameter
    classifier would take seconds to initialise only to be thrown away. Untrained, it gets
    the initialisation torchvision's VGG gives its convolutions.
    """
    from torch import nn
    from torchvision.models.vgg import cfgs, make_layers

    from benchmark.models.weights import load_imagenet_weights

    features = make_layers(cfgs["D"])
    if pretrained:
        load_imagenet_weights(features, "vgg16", prefix="features.")
        return features
    for module in features.modules():
        if isinstance(module, nn.Conv2d):
            nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
            nn.init.zeros_(module.bias)
    return features


def vgg16_classifier(
    num_classes: int,
    in_channels: int,
    image_size: tuple[int, int],
    *,
    target_size: tuple[int, int],
    hidden_sizes: tuple[int, ...] = (),
    dropout: float = 0.0,
    pretrained: bool,
) -> ImageClassifier:
    """Adapter to ``target_size``, VGG16 features, flatten, dense head (both VGG16 models)."""
    from benchmark.models.classifier import ImageClassifier
    from benchmark.models.layers import dense_head, input_adapter, pooled_size

    height, width = pooled_size(target_size, VGG16_POOLINGS)
    head = dense_head(VGG16_CHANNELS * height * width, hidden_sizes, num_classes, dropout=dropout)
    return ImageClassifier(
        vgg16_features(pretrained),
        head,
        adapter=input_adapter(in_channels, image_size, target_size),
        last_stage=[f"features.{index}" for index in range(24, 31)],  # conv5_1 .. pool5
    )


@register_model
def vgg16_flat(
    num_classes: int,
    in_channels: int,
    image_size: tuple[int, int],
    *,
    pretrained: bool = False,
) -> ImageClassifier:
    """S3 VGG16 transfer: VGG16 features on the image as is, flatten, dense classes."""
    from benchmark.models.layers import upscaled_size

    return vgg16_classifier(
        num_classes,
        in_channels,
        image_size,
        target_size=upscaled_size(image_size, VGG16_MIN_SIZE),
        pretrained=pretrained,
    )


@register_model
def vgg16_96(
    num_classes: int,
    in_channels: int,
    image_size: tuple[int, int],
    *,
    input_size: int = 96,
    hidden_units: int = 256,
    dropout: float = 0.5,
    pretrained: bool = False,
) -> ImageClassifier:
    """S5 VGG16: resize to 96×96, 1×1 conv to RGB, VGG16 features, dense 256, dropout, dense."""
    input_size = hparams.integer("input_size", input_size, minimum=VGG16_MIN_SIZE)
    return vgg16_classifier(
        num_classes,
        in_channels,
        image_size,
        target_size=(input_size, input_size),
        hidden_sizes=(hparams.integer("hidden_units", hidden_units),),
        dropout=hparams.probability("dropout", dropout),
        pretrained=pretrained,
    )
