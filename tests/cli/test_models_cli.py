"""`bench models` and `bench models show`, run through Click as a user runs them."""

from __future__ import annotations

import re

import pytest
from click.testing import CliRunner

from benchmark.cli import cli
from benchmark.models import list_models


def bench(*args: str):
    return CliRunner().invoke(cli, ["models", *args], prog_name="bench")


def row_of(output: str, name: str) -> list[str]:
    """The cells of the table row that starts with ``name``."""
    for line in output.splitlines():
        cells = [cell.strip() for cell in re.split(r"[│┃]", line)[1:-1]]
        if cells and cells[0] == name:
            return cells
    raise AssertionError(f"no row for {name} in:\n{output}")


def test_bench_models_lists_every_architecture_with_params_macs_and_defaults():
    result = bench("--dataset-shape", "1x28x28", "--num-classes", "10")
    assert result.exit_code == 0, result.output
    assert "Architectures for 1×28×28 images, 10 classes" in result.output
    for name in list_models():
        row_of(result.output, name)
    # simple_cnn: 320 + 18,496 + 3136·512+512 + 5,130 parameters; 5,449,216 MACs.
    assert row_of(result.output, "simple_cnn")[:4] == [
        "simple_cnn",
        "1,630,090",
        "1,630,090",
        "5.45M",
    ]
    assert "width=32 hidden_units=512" in row_of(result.output, "simple_cnn")[4]
    assert row_of(result.output, "mlp_128_64")[1] == "109,386"
    assert row_of(result.output, "mlp")[4] == "hidden_sizes=[256,128] dropout=0.0"
    assert "weights=none|imagenet|PATH" in result.output


def test_bench_models_pattern_filters_the_rows():
    result = bench("list", "resnet*")
    assert result.exit_code == 0, result.output
    assert row_of(result.output, "resnet18")[1] == "11,181,642"
    assert "simple_cnn" not in result.output

    shortcut = bench("resnet*")
    assert shortcut.exit_code == 0 and shortcut.output == result.output


def test_an_architecture_that_cannot_take_the_shape_says_why_in_its_row():
    result = bench("--dataset-shape", "1x2x2", "deeper_cnn")
    assert result.exit_code == 0, result.output
    assert "too small for 3 2×2 poolings" in result.output


def test_bench_models_show_prints_every_layer_and_the_parameter_totals():
    result = bench("show", "simple_cnn", "--dataset-shape", "3x32x32")
    assert result.exit_code == 0, result.output
    assert row_of(result.output, "features.0.0") == [
        "features.0.0",
        "Conv2d",
        "(32, 32, 32)",
        "896",
    ]
    assert row_of(result.output, "features.1.2") == ["features.1.2", "MaxPool2d", "(64, 8, 8)", "0"]
    assert row_of(result.output, "head.1") == ["head.1", "Linear", "(512)", "2,097,664"]
    assert "Total params: 2,122,186" in result.output
    assert "Trainable params: 2,122,186" in result.output
    assert "Non-trainable params: 0" in result.output
    assert "MACs per image: 7,705,600" in result.output


def test_bench_models_show_applies_set_overrides():
    result = bench("show", "resnet18", "--dataset-shape", "1x28x28", "--set", "freeze=backbone")
    assert result.exit_code == 0, result.output
    assert row_of(result.output, "adapter.channels")[1:] == ["Conv2d", "(3, 28, 28)", "6"]
    assert "Trainable params: 5,136" in result.output  # adapter 6 + head 512·10+10
    assert "Non-trainable params: 11,176,512" in result.output

    linear = bench("show", "simple_cnn", "--set", "hidden_units=0", "--num-classes", "6")
    assert row_of(linear.output, "head.1") == ["head.1", "Linear", "(6)", "24,582"]  # 4096·6+6


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["show", "simpel_cnn"],
            "Error: unknown architecture 'simpel_cnn'; did you mean: simple_cnn",
        ),
        (["show", "mlp", "--set", "widht=3"], "Error: mlp: unknown hyperparameter 'widht'"),
        (["show", "mlp", "--set", "dropout=2"], "Error: mlp: hyperparameter 'dropout' must be"),
        (["--dataset-shape", "3x32"], "Error: dataset shape '3x32' is not CxHxW"),
        (["show", "mlp", "--dataset-shape", "3xAx32"], "Error: dataset shape '3xAx32' is not"),
    ],
)
def test_user_mistakes_exit_2_with_a_one_line_message(args, message):
    result = bench(*args)
    assert result.exit_code == 2
    assert result.output.startswith(message)
    assert result.output.count("\n") == 1


@pytest.mark.parametrize("args", [["--help"], ["-h"], ["show", "--help"], ["list", "--help"]])
def test_help_describes_the_commands_and_their_options(args):
    result = bench(*args)
    assert result.exit_code == 0, result.output
    assert "Usage: bench models" in result.output
    expected = (
        "--set" if args[0] == "show" else ("--dataset-shape" if args[0] == "list" else "show")
    )
    assert expected in result.output
