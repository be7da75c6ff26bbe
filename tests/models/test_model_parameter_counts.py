"""Parameter counts equal the counts worked out by hand from the layer sizes.

A convolution k×k C_in → C_out has k·k·C_in·C_out weights (+ C_out biases); a dense layer
n → m has n·m weights + m biases; a batch norm over C channels has 2·C (scale and shift; its
running statistics are buffers). A convolution followed by batch norm has no bias.
"""

from __future__ import annotations

import pytest
import torch
from torchvision.models import get_model_weights

from benchmark.models import count_parameters, create_model
from benchmark.models.layers import SeparableConv2d, conv2d
from benchmark.models.summary import layer_summaries

VGG16_CONVS = (
    (3 * 3 * 3 * 64 + 64)  # conv1_1
    + (3 * 3 * 64 * 64 + 64)  # conv1_2
    + (3 * 3 * 64 * 128 + 128)  # conv2_1
    + (3 * 3 * 128 * 128 + 128)  # conv2_2
    + (3 * 3 * 128 * 256 + 256)  # conv3_1
    + 2 * (3 * 3 * 256 * 256 + 256)  # conv3_2, conv3_3
    + (3 * 3 * 256 * 512 + 512)  # conv4_1
    + 5 * (3 * 3 * 512 * 512 + 512)  # conv4_2, conv4_3, conv5_1 .. conv5_3
)  # = 14,714,688

HAND_COUNTS = {
    ("simple_cnn", (3, 32, 32)): (
        (3 * 3 * 3 * 32 + 32)  # conv 3→32
        + (3 * 3 * 32 * 64 + 64)  # conv 32→64
        + (64 * 8 * 8 * 512 + 512)  # dense: 32 → 16 → 8 after two poolings
        + (512 * 10 + 10)  # dense to classes
    ),  # = 2,122,186
    ("simple_cnn_linear", (1, 28, 28)): (
        (3 * 3 * 1 * 32 + 32) + (3 * 3 * 32 * 64 + 64) + (64 * 7 * 7 * 10 + 10)
    ),  # = 50,186
    ("improved_cnn", (3, 32, 32)): (
        (3 * 3 * 3 * 32)
        + 2 * 32  # conv without bias, batch norm
        + (3 * 3 * 32 * 64)
        + 2 * 64
        + (64 * 8 * 8 * 512 + 512)
        + (512 * 10 + 10)
    ),  # = 2,122,282
    ("deeper_cnn", (1, 28, 28)): (
        (3 * 3 * 1 * 32 + 32)
        + (3 * 3 * 32 * 32 + 32)
        + (3 * 3 * 32 * 64 + 64)
        + (3 * 3 * 64 * 64 + 64)
        + (3 * 3 * 64 * 128 + 128)
        + (128 * 3 * 3 * 256 + 256)  # 28 → 14 → 7 → 3
        + (256 * 10 + 10)
    ),  # = 436,586
    ("standard_cnn", (3, 32, 32)): (
        (3 * 3 * 3 * 32)
        + 2 * 32
        + (3 * 3 * 32 * 64)
        + 2 * 64
        + (3 * 3 * 64 * 128)
        + 2 * 128
        + (128 * 10 + 10)  # global average pooling, then dense
    ),  # = 94,762
    ("separable_cnn", (3, 32, 32)): (
        (3 * 3 * 3 + 3 * 32)
        + 2 * 32  # depthwise 3×3 on 3 channels, pointwise 3→32
        + (3 * 3 * 32 + 32 * 64)
        + 2 * 64
        + (3 * 3 * 64 + 64 * 128)
        + 2 * 128
        + (128 * 10 + 10)
    ),  # = 12,965
    ("mlp", (1, 28, 28)): (784 * 256 + 256) + (256 * 128 + 128) + (128 * 10 + 10),
    ("mlp_256_128", (1, 28, 28)): (784 * 256 + 256) + (256 * 128 + 128) + (128 * 10 + 10),
    ("mlp_128_64", (1, 28, 28)): (784 * 128 + 128) + (128 * 64 + 64) + (64 * 10 + 10),
    ("mlp_512_256_128", (1, 28, 28)): (
        (784 * 512 + 512) + (512 * 256 + 256) + (256 * 128 + 128) + (128 * 10 + 10)
    ),
    ("vgg16_flat", (3, 32, 32)): VGG16_CONVS + (512 * 1 * 1 * 10 + 10),
    ("vgg16_96", (1, 28, 28)): (
        (1 * 3 + 3)  # 1×1 conv, 1 → 3 channels
        + VGG16_CONVS
        + (512 * 3 * 3 * 256 + 256)  # 96 → 3 after five poolings
        + (256 * 10 + 10)
    ),
}


@pytest.mark.parametrize(("name", "shape"), list(HAND_COUNTS), ids=lambda key: str(key))
def test_hand_written_and_vgg_models_have_the_parameter_count_worked_out_by_hand(name, shape):
    with torch.device("meta"):  # counting needs shapes only
        model = create_model(name, 10, shape[0], shape[1:])
    assert count_parameters(model) == (HAND_COUNTS[name, shape],) * 2


@pytest.mark.parametrize(
    ("name", "last_layer_inputs"),
    [("resnet18", 512), ("resnet50", 2048), ("alexnet", 4096), ("googlenet", 1024)],
)
def test_torchvision_models_count_torchvisions_params_with_the_last_layer_replaced(
    name, last_layer_inputs
):
    imagenet_params = get_model_weights(name).IMAGENET1K_V1.meta["num_params"]
    with torch.device("meta"):
        model = create_model(name, 6, 1, 64)
    expected = (
        imagenet_params
        - (last_layer_inputs * 1000 + 1000)  # ImageNet's 1000-class layer out
        + (last_layer_inputs * 6 + 6)  # a 6-class layer in
        + (1 * 3 + 3)  # 1×1 conv adapting 1 channel to 3
    )
    assert count_parameters(model) == (expected, expected)


@pytest.mark.parametrize("norm", ["none", "batch"])
def test_a_separable_layer_has_depthwise_plus_pointwise_parameters(norm):
    k, c_in, c_out = 5, 16, 24
    bias = norm == "none"
    separable = conv2d(c_in, c_out, k, conv="separable", bias=bias)
    standard = conv2d(c_in, c_out, k, conv="standard", bias=bias)
    assert isinstance(separable, SeparableConv2d)
    assert count_parameters(separable)[0] == k * k * c_in + c_in * c_out + (c_out if bias else 0)
    assert count_parameters(standard)[0] == k * k * c_in * c_out + (c_out if bias else 0)


@pytest.mark.parametrize("hparams", [{}, {"norm": "none", "depth": 2, "dropout": 0.2}])
def test_standard_and_separable_cnns_differ_only_in_their_convolutions(hparams):
    standard = create_model("standard_cnn", 10, 3, 32, **hparams)
    separable = create_model("separable_cnn", 10, 3, 32, **hparams)
    rows_standard = layer_summaries(standard, (3, 32, 32))
    rows_separable = layer_summaries(separable, (3, 32, 32))

    def without_convs(rows):
        return [row for row in rows if row.kind != "Conv2d"]

    assert without_convs(rows_standard) == without_convs(rows_separable)
    # Each standard conv k×k became a depthwise k×k then a pointwise 1×1 with the same output.
    convs_standard = [row for row in rows_standard if row.kind == "Conv2d"]
    convs_separable = [row for row in rows_separable if row.kind == "Conv2d"]
    assert len(convs_separable) == 2 * len(convs_standard)
    for standard_conv, pointwise in zip(convs_standard, convs_separable[1::2], strict=True):
        assert standard_conv.output_shape == pointwise.output_shape
        assert pointwise.name == standard_conv.name + ".pointwise"


def test_freezing_the_backbone_keeps_only_adapter_and_head_trainable():
    with torch.device("meta"):
        unfrozen = create_model("resnet18", 10, 1, 28)
        frozen = create_model("resnet18", 10, 1, 28, freeze="backbone")
    total, _ = count_parameters(unfrozen)
    assert count_parameters(frozen) == (total, (1 * 3 + 3) + (512 * 10 + 10))


def test_freezing_all_but_the_last_stage_also_trains_resnet_layer4():
    layer4 = (
        (3 * 3 * 256 * 512)
        + 2 * 512  # block 1: conv1 (stride 2) + bn1
        + (3 * 3 * 512 * 512)
        + 2 * 512  # conv2 + bn2
        + (1 * 1 * 256 * 512)
        + 2 * 512  # downsample conv + bn
        + 2 * ((3 * 3 * 512 * 512) + 2 * 512)  # block 2: two convs + bns
    )  # = 8,393,728
    with torch.device("meta"):
        model = create_model("resnet18", 10, 1, 28, freeze="all_but_last_stage")
        unfrozen = create_model("resnet18", 10, 1, 28)
    total, trainable = count_parameters(model)
    assert total == count_parameters(unfrozen)[0]
    assert trainable == (1 * 3 + 3) + (512 * 10 + 10) + layer4


def test_freezing_a_vgg_backbone_leaves_the_s5_dense_head_and_adapter_trainable():
    with torch.device("meta"):
        model = create_model("vgg16_96", 10, 1, 28, freeze="backbone")
    head = (512 * 3 * 3 * 256 + 256) + (256 * 10 + 10)
    assert count_parameters(model) == (HAND_COUNTS["vgg16_96", (1, 28, 28)], (1 * 3 + 3) + head)


def test_freezing_a_hand_written_cnn_trains_only_its_dense_head():
    model = create_model("simple_cnn", 10, 3, 32, freeze="backbone")
    assert count_parameters(model) == (
        HAND_COUNTS["simple_cnn", (3, 32, 32)],
        (64 * 8 * 8 * 512 + 512) + (512 * 10 + 10),
    )
    last_stage = create_model("simple_cnn", 10, 3, 32, freeze="all_but_last_stage")
    assert count_parameters(last_stage)[1] == count_parameters(model)[1] + (3 * 3 * 32 * 64 + 64)
