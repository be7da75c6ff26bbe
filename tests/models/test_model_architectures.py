"""Every architecture builds, runs and learns at every dataset shape, layer by layer as specified.

Shapes are those the datasets produce: 1×8×8 (digits), 1×28×28 (MNIST, Fashion-MNIST),
3×32×32 (CIFAR-10) and 3×224×224 (ImageFolder data such as Caltech101). The 224 case runs
once per architecture; batches are 2 images.
"""

from __future__ import annotations

import pytest
import torch

from benchmark.models import create_model, list_models
from benchmark.models.summary import layer_summaries

SMALL_SHAPES = [(1, 8, 8), (1, 28, 28), (3, 32, 32)]
LARGE_SHAPE = (3, 224, 224)
NUM_CLASSES = 10


def forward_and_backward(name: str, shape: tuple[int, int, int]) -> None:
    torch.manual_seed(0)
    model = create_model(name, NUM_CLASSES, shape[0], shape[1:])
    model.train()
    logits = model(torch.randn(2, *shape))
    assert isinstance(logits, torch.Tensor)  # GoogLeNet too: no auxiliary outputs
    assert logits.shape == (2, NUM_CLASSES)
    torch.nn.functional.cross_entropy(logits, torch.tensor([0, 1])).backward()
    for parameter_name, parameter in model.named_parameters():
        assert parameter.grad is not None, f"{parameter_name} got no gradient"
        assert torch.isfinite(parameter.grad).all(), parameter_name


@pytest.mark.parametrize("shape", SMALL_SHAPES, ids=lambda shape: "x".join(map(str, shape)))
@pytest.mark.parametrize("name", list_models())
def test_every_architecture_trains_on_small_dataset_shapes(name, shape):
    forward_and_backward(name, shape)


@pytest.mark.parametrize("name", list_models())
def test_every_architecture_trains_on_224_pixel_rgb_images(name):
    forward_and_backward(name, LARGE_SHAPE)


def layers(name: str, shape: tuple[int, int, int], **hparams) -> list[tuple[str, tuple]]:
    """(type, output shape per image) of every layer the forward pass runs.

    Built and run on the meta device: shapes are computed, no memory or time is spent.
    """
    with torch.device("meta"):
        model = create_model(name, NUM_CLASSES, shape[0], shape[1:], **hparams)
    return [(row.kind, row.output_shape) for row in layer_summaries(model, shape)]


def test_simple_cnn_is_two_conv_relu_pool_stages_then_dense_512_and_dense_classes():
    assert layers("simple_cnn", (3, 32, 32)) == [
        ("Conv2d", (32, 32, 32)),
        ("ReLU", (32, 32, 32)),
        ("MaxPool2d", (32, 16, 16)),
        ("Conv2d", (64, 16, 16)),
        ("ReLU", (64, 16, 16)),
        ("MaxPool2d", (64, 8, 8)),
        ("Flatten", (4096,)),
        ("Linear", (512,)),
        ("ReLU", (512,)),
        ("Linear", (10,)),
    ]


def test_simple_cnn_linear_flattens_straight_into_the_class_layer():
    assert layers("simple_cnn_linear", (1, 28, 28))[-3:] == [
        ("MaxPool2d", (64, 7, 7)),
        ("Flatten", (3136,)),
        ("Linear", (10,)),
    ]


def test_improved_cnn_adds_batch_norm_after_each_conv_and_dropout():
    assert [kind for kind, _ in layers("improved_cnn", (3, 32, 32))] == [
        *["Conv2d", "BatchNorm2d", "ReLU", "MaxPool2d", "Dropout"] * 2,
        *["Flatten", "Linear", "ReLU", "Dropout", "Linear"],
    ]


def test_deeper_cnn_follows_s5_model_2_and_floors_odd_sizes_when_pooling():
    assert layers("deeper_cnn", (1, 28, 28)) == [
        ("Conv2d", (32, 28, 28)),
        ("ReLU", (32, 28, 28)),
        ("Conv2d", (32, 28, 28)),
        ("ReLU", (32, 28, 28)),
        ("MaxPool2d", (32, 14, 14)),
        ("Dropout", (32, 14, 14)),
        ("Conv2d", (64, 14, 14)),
        ("ReLU", (64, 14, 14)),
        ("Conv2d", (64, 14, 14)),
        ("ReLU", (64, 14, 14)),
        ("MaxPool2d", (64, 7, 7)),
        ("Dropout", (64, 7, 7)),
        ("Conv2d", (128, 7, 7)),
        ("ReLU", (128, 7, 7)),
        ("MaxPool2d", (128, 3, 3)),  # 7 → 3: floor
        ("Dropout", (128, 3, 3)),
        ("Flatten", (1152,)),
        ("Linear", (256,)),
        ("ReLU", (256,)),
        ("Dropout", (256,)),
        ("Linear", (10,)),
    ]


def test_s1_cnn_knobs_change_depth_width_kernel_norm_and_pooling():
    standard = layers(
        "standard_cnn", (3, 32, 32), width=8, depth=2, kernel_size=5, norm="none", pooling="avg"
    )
    assert standard == [
        ("Conv2d", (8, 32, 32)),
        ("ReLU", (8, 32, 32)),
        ("AvgPool2d", (8, 16, 16)),
        ("Conv2d", (16, 16, 16)),
        ("ReLU", (16, 16, 16)),
        ("AvgPool2d", (16, 8, 8)),
        ("AdaptiveAvgPool2d", (16, 1, 1)),
        ("Flatten", (16,)),
        ("Linear", (10,)),
    ]
    model = create_model("standard_cnn", 10, 3, 32, kernel_size=5, dropout=0.3)
    assert model.features[0][0].kernel_size == (5, 5)
    assert [m.p for m in model.modules() if isinstance(m, torch.nn.Dropout)] == [0.3] * 3


def test_separable_cnn_replaces_each_conv_by_depthwise_then_pointwise():
    model = create_model("separable_cnn", 10, 3, 32, width=16, depth=1)
    depthwise, pointwise = model.features[0][0]
    assert (depthwise.in_channels, depthwise.out_channels, depthwise.groups) == (3, 3, 3)
    assert depthwise.kernel_size == (3, 3)
    assert (pointwise.in_channels, pointwise.out_channels) == (3, 16)
    assert pointwise.kernel_size == (1, 1)


def test_mlp_is_flatten_then_hidden_dense_relu_layers_then_dense_classes():
    assert layers("mlp_512_256_128", (1, 28, 28)) == [
        ("Flatten", (784,)),
        ("Linear", (512,)),
        ("ReLU", (512,)),
        ("Linear", (256,)),
        ("ReLU", (256,)),
        ("Linear", (128,)),
        ("ReLU", (128,)),
        ("Linear", (10,)),
    ]
    assert [kind for kind, _ in layers("mlp", (1, 8, 8), hidden_sizes=[32], dropout=0.2)] == [
        "Flatten",
        "Linear",
        "ReLU",
        "Dropout",
        "Linear",
    ]


def test_vgg16_flat_applies_the_13_conv_extractor_to_32_pixels_as_is():
    rows = layers("vgg16_flat", (3, 32, 32))
    assert [kind for kind, _ in rows].count("Conv2d") == 13
    assert [kind for kind, _ in rows].count("MaxPool2d") == 5
    assert rows[0] == ("Conv2d", (64, 32, 32))  # no adapter: RGB at VGG's minimum size
    assert rows[-3:] == [("MaxPool2d", (512, 1, 1)), ("Flatten", (512,)), ("Linear", (10,))]


def test_vgg16_96_resizes_to_96_adds_a_1x1_rgb_conv_and_the_s5_dense_head():
    rows = layers("vgg16_96", (1, 28, 28))
    assert rows[:3] == [("Conv2d", (3, 28, 28)), ("Resize", (3, 96, 96)), ("Conv2d", (64, 96, 96))]
    assert rows[-6:] == [
        ("MaxPool2d", (512, 3, 3)),
        ("Flatten", (4608,)),
        ("Linear", (256,)),
        ("ReLU", (256,)),
        ("Dropout", (256,)),
        ("Linear", (10,)),
    ]
    rgb = layers("vgg16_96", (3, 224, 224))
    assert rgb[0] == ("Resize", (3, 96, 96))  # RGB input: no channel adapter, only the resize


@pytest.mark.parametrize(
    ("name", "shape", "resized_to"),
    [
        ("alexnet", (1, 8, 8), (3, 63, 63)),
        ("alexnet", (3, 32, 48), (3, 63, 95)),  # aspect ratio kept, shorter side 63
        ("googlenet", (1, 8, 8), (3, 15, 15)),
        ("vgg16_flat", (1, 28, 28), (3, 32, 32)),
    ],
)
def test_small_images_are_upscaled_inside_the_model_to_the_networks_minimum(
    name, shape, resized_to
):
    rows = layers(name, shape)
    assert ("Resize", resized_to) in rows


@pytest.mark.parametrize(
    ("name", "last_layer_inputs"),
    [("resnet18", 512), ("resnet50", 2048), ("alexnet", 4096), ("googlenet", 1024)],
)
def test_torchvision_networks_end_in_a_new_layer_with_num_classes_outputs(name, last_layer_inputs):
    with torch.device("meta"):
        model = create_model(name, 6, 3, 64)
    assert isinstance(model.adapter, torch.nn.Identity)  # RGB, big enough: nothing to adapt
    assert isinstance(model.head, torch.nn.Linear)
    assert (model.head.in_features, model.head.out_features) == (last_layer_inputs, 6)


def test_resnets_run_tiny_images_without_resizing():
    rows = layers("resnet18", (1, 8, 8))
    assert rows[0] == ("Conv2d", (3, 8, 8))  # only the channel adapter
    assert "Resize" not in [kind for kind, _ in rows]
