"""Weights: state-dict files load exactly and safely; ImageNet weights come from the torch.hub
cache, and a missing file is a one-line error that says which file to put where."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import torch
import torchvision

from benchmark.errors import WeightsError
from benchmark.models import count_parameters, create_model
from benchmark.models.weights import DOWNLOAD_TIMEOUT_S

RESNET18_FILE = "resnet18-f37072fd.pth"
RESNET18_URL = "https://download.pytorch.org/models/resnet18-f37072fd.pth"


def eval_outputs(model: torch.nn.Module, images: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return model.eval()(images)


@pytest.mark.parametrize(
    ("name", "shape"), [("improved_cnn", (3, 32, 32)), ("resnet18", (1, 8, 8))]
)
def test_a_saved_state_dict_loaded_by_path_gives_identical_outputs(tmp_path, name, shape):
    torch.manual_seed(0)
    trained = create_model(name, 10, shape[0], shape[1:])
    trained.train()(torch.randn(4, *shape))  # move batch-norm statistics off their initial values
    path = tmp_path / "model.pt"
    torch.save(trained.state_dict(), path)

    torch.manual_seed(1)
    loaded = create_model(name, 10, shape[0], shape[1:], weights=str(path))
    images = torch.randn(3, *shape)
    assert torch.equal(eval_outputs(loaded, images), eval_outputs(trained, images))


class _RunsCodeWhenUnpickled:
    """A pickle payload: unpickling it calls Path.touch, which must never happen."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def test_a_pickle_that_would_run_code_is_refused_and_the_code_never_runs(tmp_path):
    marker = tmp_path / "code-ran"
    path = tmp_path / "evil.pt"
    torch.save({"conv.weight": torch.zeros(1), "payload": _RunsCodeWhenUnpickled(marker)}, path)
    with pytest.raises(WeightsError, match=r"evil\.pt holds objects other than tensors"):
        create_model("simple_cnn", 10, 3, 32, weights=str(path))
    assert not marker.exists()


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ([1, 2, 3], r"holds a list, not a state dict"),
        ({"epoch": 3, "model": {"w": torch.zeros(1)}}, r"holds a dict, not a state dict"),
        ("text", r"is not a PyTorch file"),
    ],
)
def test_a_file_that_is_not_a_state_dict_is_a_weights_error_naming_it(tmp_path, content, expected):
    path = tmp_path / "checkpoint.pt"
    if content == "text":
        path.write_text("not a checkpoint")
    else:
        torch.save(content, path)
    with pytest.raises(
        WeightsError, match=rf"simple_cnn: weights file .*checkpoint\.pt {expected}"
    ):
        create_model("simple_cnn", 10, 3, 32, weights=str(path))


def test_a_missing_weights_file_is_a_weights_error(tmp_path):
    with pytest.raises(WeightsError, match=r"nowhere\.pt does not exist"):
        create_model("simple_cnn", 10, 3, 32, weights=str(tmp_path / "nowhere.pt"))


def test_a_state_dict_of_another_architecture_lists_what_does_not_fit(tmp_path):
    path = tmp_path / "narrow.pt"
    torch.save(create_model("simple_cnn", 10, 3, 32, width=16).state_dict(), path)
    with pytest.raises(WeightsError) as raised:
        create_model("simple_cnn", 10, 3, 32, weights=str(path))
    message = str(raised.value)
    assert "narrow.pt does not fit the model" in message
    assert "features.0.0.weight (16, 3, 3, 3) in the file, (32, 3, 3, 3) in the model" in message
    assert "\n" not in message

    torch.save(create_model("mlp", 10, 3, 32).state_dict(), path)
    with pytest.raises(WeightsError, match=r"missing: features\.0\.0\.weight.*unexpected: head"):
        create_model("simple_cnn", 10, 3, 32, weights=str(path))


@pytest.fixture
def torch_home(tmp_path, monkeypatch) -> Path:
    """An empty torch.hub cache: TORCH_HOME points into tmp_path."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    return tmp_path / "torch" / "hub" / "checkpoints"


def test_missing_imagenet_weights_offline_name_the_file_the_directory_and_the_url(
    torch_home, monkeypatch
):
    monkeypatch.setenv("BENCH_OFFLINE", "1")
    with pytest.raises(WeightsError) as raised:
        create_model("resnet18", 10, 3, 32, weights="imagenet")
    message = str(raised.value)
    assert message.startswith("resnet18: ImageNet weights for resnet18 are not cached")
    assert f"put {RESNET18_FILE} in {torch_home} (from {RESNET18_URL})" in message
    assert "\n" not in message


@pytest.mark.timeout(60)
def test_a_failing_download_is_a_prompt_weights_error_and_leaves_no_partial_file(
    torch_home, monkeypatch
):
    """No BENCH_OFFLINE: the download is tried through a proxy that refuses connections (a
    network that fails the same way on every machine) and must fail fast, not hang."""
    monkeypatch.delenv("BENCH_OFFLINE", raising=False)
    for variable in ("no_proxy", "NO_PROXY"):
        monkeypatch.delenv(variable, raising=False)
    for variable in ("https_proxy", "HTTPS_PROXY"):
        monkeypatch.setenv(variable, "http://127.0.0.1:9")  # discard port: nothing listens
    start = time.monotonic()
    with pytest.raises(WeightsError, match=r"could not be downloaded .*resnet18-f37072fd\.pth"):
        create_model("resnet18", 10, 3, 32, weights="imagenet")
    assert time.monotonic() - start < DOWNLOAD_TIMEOUT_S
    assert not torch_home.exists() or list(torch_home.iterdir()) == []


def test_imagenet_weights_found_in_the_torch_hub_cache_load_offline_into_the_backbone(
    torch_home, monkeypatch
):
    monkeypatch.setenv("BENCH_OFFLINE", "1")
    torch.manual_seed(0)
    imagenet = torchvision.models.resnet18()
    torch_home.mkdir(parents=True)
    torch.save(imagenet.state_dict(), torch_home / RESNET18_FILE)

    model = create_model("resnet18", 6, 3, 32, weights="imagenet", freeze="all_but_last_stage")
    assert torch.equal(model.features.conv1.weight, imagenet.conv1.weight)
    assert torch.equal(model.features.layer4[1].bn2.running_var, imagenet.layer4[1].bn2.running_var)
    assert model.head.out_features == 6
    layer4 = sum(p.numel() for p in imagenet.layer4.parameters())
    assert count_parameters(model)[1] == layer4 + (512 * 6 + 6)


def test_googlenet_imagenet_weights_load_without_the_auxiliary_classifiers(torch_home, monkeypatch):
    monkeypatch.setenv("BENCH_OFFLINE", "1")
    imagenet = torchvision.models.GoogLeNet(aux_logits=True, init_weights=False)
    torch_home.mkdir(parents=True)
    torch.save(imagenet.state_dict(), torch_home / "googlenet-1378be20.pth")

    model = create_model("googlenet", 6, 3, 32, weights="imagenet")
    assert torch.equal(model.features.inception5b.branch1.conv.weight,
                       imagenet.inception5b.branch1.conv.weight)  # fmt: skip
    assert model.features.aux1 is None and model.features.transform_input
    assert isinstance(model.train()(torch.randn(2, 3, 32, 32)), torch.Tensor)


def test_vgg16_imagenet_weights_fill_the_feature_extractor_only(torch_home, monkeypatch):
    """The VGG16 checkpoint's classifier is not used: both VGG16 models have their own head."""
    monkeypatch.setenv("BENCH_OFFLINE", "1")
    features = torchvision.models.vgg.make_layers(torchvision.models.vgg.cfgs["D"])
    checkpoint = {f"features.{key}": value for key, value in features.state_dict().items()}
    checkpoint["classifier.6.weight"] = torch.zeros(1000, 4096)
    torch_home.mkdir(parents=True)
    torch.save(checkpoint, torch_home / "vgg16-397923af.pth")

    model = create_model("vgg16_96", 10, 1, 28, weights="imagenet", freeze="backbone")
    assert torch.equal(model.features[28].weight, features[28].weight)  # conv5_3
    assert not model.features[28].weight.requires_grad
    assert model.adapter.channels.weight.requires_grad and model.head[1].weight.requires_grad


def test_frozen_batch_norm_keeps_its_running_statistics_in_training_mode():
    model = create_model("resnet18", 10, 3, 32, freeze="all_but_last_stage")
    frozen_bn, trainable_bn = model.features.bn1, model.features.layer4[1].bn2
    frozen_before = frozen_bn.running_mean.clone()
    trainable_before = trainable_bn.running_mean.clone()
    model.train()(torch.randn(4, 3, 32, 32) * 3 + 1)
    assert not frozen_bn.training and trainable_bn.training
    assert torch.equal(frozen_bn.running_mean, frozen_before)
    assert not torch.equal(trainable_bn.running_mean, trainable_before)


def test_structure_only_builds_an_imagenet_network_without_its_file(torch_home, monkeypatch):
    """What `bench predict` does: the checkpoint brings the values, not the ImageNet file."""
    from benchmark.models.weights import structure_only

    monkeypatch.setenv("BENCH_OFFLINE", "1")
    with structure_only():
        shaped = create_model("googlenet", 6, 3, 64, weights="imagenet")
    plain = create_model("googlenet", 6, 3, 64)
    assert shaped.features.transform_input and not plain.features.transform_input
    with pytest.raises(WeightsError, match="not cached"):  # outside it, the file is needed
        create_model("googlenet", 6, 3, 64, weights="imagenet")
