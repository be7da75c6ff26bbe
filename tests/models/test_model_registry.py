"""The registry: names, defaults, and the errors a user sees for a wrong name or value."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch

from benchmark.errors import ModelConfigError, UnknownModelError
from benchmark.models import create_model, list_models, model_defaults, register_model
from benchmark.models.cnn import simple_cnn

ALL_ARCHITECTURES = {
    "simple_cnn",
    "simple_cnn_linear",
    "improved_cnn",
    "deeper_cnn",
    "standard_cnn",
    "separable_cnn",
    "mlp",
    "mlp_256_128",
    "mlp_128_64",
    "mlp_512_256_128",
    "vgg16_flat",
    "vgg16_96",
    "resnet18",
    "resnet50",
    "alexnet",
    "googlenet",
}


def test_every_study_architecture_is_registered_under_its_documented_name():
    assert set(list_models()) == ALL_ARCHITECTURES
    assert list_models() == sorted(list_models())


def test_list_models_filters_by_a_case_insensitive_shell_pattern():
    assert list_models("mlp*") == ["mlp", "mlp_128_64", "mlp_256_128", "mlp_512_256_128"]
    assert list_models("RESNET*") == ["resnet18", "resnet50"]
    assert list_models("nothing*") == []


def test_model_defaults_are_the_builders_keyword_defaults_plus_weights_and_freeze():
    assert model_defaults("simple_cnn") == {
        "width": 32,
        "hidden_units": 512,
        "weights": "none",
        "freeze": "none",
    }
    assert model_defaults("deeper_cnn")["conv_dropout"] == 0.25
    assert model_defaults("mlp")["hidden_sizes"] == (256, 128)


def test_a_name_that_pins_an_argument_does_not_offer_it_as_a_hyperparameter():
    assert "conv" not in model_defaults("separable_cnn")
    assert "hidden_units" not in model_defaults("simple_cnn_linear")
    assert "hidden_sizes" not in model_defaults("mlp_128_64")
    with pytest.raises(ModelConfigError, match=r"separable_cnn: .*'conv'.*pins conv='separable'"):
        create_model("separable_cnn", 10, 3, 32, conv="standard")


def test_an_unknown_name_suggests_close_matches():
    with pytest.raises(UnknownModelError, match=r"unknown architecture 'simpel_cnn'.*simple_cnn"):
        create_model("simpel_cnn", 10, 3, 32)
    with pytest.raises(UnknownModelError):
        model_defaults("resnet19")


def test_an_unknown_hyperparameter_names_architecture_key_and_allowed_keys():
    with pytest.raises(ModelConfigError) as raised:
        create_model("simple_cnn", 10, 3, 32, widht=64)
    message = str(raised.value)
    assert message.startswith("simple_cnn: unknown hyperparameter 'widht'")
    assert "did you mean 'width'" in message
    assert "allowed: width, hidden_units, weights, freeze" in message
    assert "\n" not in message


@pytest.mark.parametrize(
    ("name", "hparams", "expected"),
    [
        ("standard_cnn", {"norm": "layer"}, r"standard_cnn: .*'norm' must be one of batch, none"),
        ("standard_cnn", {"kernel_size": 4}, r"'kernel_size' must be an odd integer"),
        ("standard_cnn", {"pooling": "max3"}, r"'pooling' must be one of max, avg"),
        ("standard_cnn", {"depth": 4}, r"8×8 images are too small for 4 2×2 poolings \(at most 3"),
        ("separable_cnn", {"width": 0}, r"'width' must be an integer >= 1; got 0"),
        ("separable_cnn", {"width": True}, r"'width' must be an integer"),
        ("deeper_cnn", {"conv_dropout": 1.0}, r"'conv_dropout' must be a number in \[0, 1\)"),
        ("mlp", {"hidden_sizes": [128, 0]}, r"'hidden_sizes' must be an integer >= 1"),
        ("mlp", {"hidden_sizes": "128"}, r"'hidden_sizes' must be a list of integers"),
        ("vgg16_96", {"input_size": 16}, r"'input_size' must be an integer >= 32"),
        ("resnet18", {"freeze": "everything"}, r"'freeze' must be one of none, backbone"),
        ("mlp", {"freeze": "backbone"}, r"mlp: .*would freeze nothing"),
        ("mlp", {"freeze": "all_but_last_stage"}, r"no stages"),
    ],
)
def test_an_impossible_value_is_a_one_line_model_config_error(name, hparams, expected):
    with pytest.raises(ModelConfigError, match=expected) as raised:
        create_model(name, 10, 1, 8, **hparams)
    assert "\n" not in str(raised.value)


def test_imagenet_weights_asked_of_a_hand_written_cnn_are_a_model_config_error():
    with pytest.raises(ModelConfigError, match=r"simple_cnn: .*only for .*resnet18.*vgg16_96"):
        create_model("simple_cnn", 10, 3, 32, weights="imagenet")


def test_bad_input_arguments_are_model_config_errors():
    with pytest.raises(ModelConfigError, match="num_classes must be an integer >= 1"):
        create_model("mlp", 0, 3, 32)
    with pytest.raises(ModelConfigError, match="image_size must be an int or"):
        create_model("mlp", 10, 3, (32, 32, 3))


def test_image_size_may_be_an_int_or_a_height_width_pair():
    torch.manual_seed(0)
    square = create_model("simple_cnn", 10, 3, 16)
    torch.manual_seed(0)
    pair = create_model("simple_cnn", 10, 3, (16, 16))
    assert [p.shape for p in square.parameters()] == [p.shape for p in pair.parameters()]
    wide = create_model("simple_cnn", 10, 3, (16, 24))
    assert wide(torch.zeros(2, 3, 16, 24)).shape == (2, 10)


def test_registering_a_name_twice_is_refused():
    with pytest.raises(ValueError, match="registered twice"):
        register_model(simple_cnn)
    assert model_defaults("simple_cnn")["hidden_units"] == 512


def test_importing_the_models_package_imports_neither_ray_nor_torchvision():
    """Ray stays out of models (DESIGN); torchvision is imported only by builders that use it,
    so a trial of a hand-written CNN does not pay seconds of import time."""
    code = (
        "import sys, benchmark.models as m; m.create_model('simple_cnn', 10, 3, 32); "
        "print(sorted({n.split('.')[0] for n in sys.modules} & {'ray', 'torchvision'}))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert result.stdout.strip() == "[]"


def test_numpy_integers_from_a_grid_are_accepted_as_integers():
    model = create_model("standard_cnn", np.int64(6), 3, np.int64(16), width=np.int64(8))
    assert model(torch.zeros(2, 3, 16, 16)).shape == (2, 6)


def test_simple_cnn_without_hidden_units_is_the_registered_linear_variant():
    torch.manual_seed(0)
    variant = create_model("simple_cnn_linear", 10, 1, 28)
    torch.manual_seed(0)
    configured = create_model("simple_cnn", 10, 1, 28, hidden_units=0)
    assert str(variant) == str(configured)
    images = torch.randn(2, 1, 28, 28)
    assert torch.equal(variant(images), configured(images))
