"""Every sweep file in sweeps/ runs end to end under ``bench submit --smoke``.

The studies' datasets cannot be downloaded here, so the test writes stand-ins in each
dataset's real on-disk format (CIFAR-10 pickles, Fashion-MNIST idx files, Caltech101 and
ImageFolder JPEG trees) and stand-in "ImageNet" checkpoints (randomly initialised
torchvision state dicts under the file names torchvision gives them) into the suite's
torch.hub cache. The sweep files are used as they are, except for what a CPU-only laptop
must change (no GPUs, one CPU per trial, the stand-in data folder) and for
``resources.execution: inline``: each trial's loop runs in its Tune trial instead of a
Ray Train job of its own, which would cost tens of seconds per trial here for 23 trials.
What these files are checked for is their content: every cell's architecture, weights,
dataset and recipe through the search, records, Parquet, MLflow and the report. The Ray
Train path is exercised by test_sweep_run, test_sweep_resume and test_sweep_remote.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlparse

import pytest
import torch
from click.testing import CliRunner
from data.formats import write_caltech101, write_cifar10, write_class_folders, write_mnist_format

from benchmark.cli import cli
from benchmark.models.weights import imagenet_file
from benchmark.results.parquet import read_table
from benchmark.results.tracking import local_store
from benchmark.spec import load_sweep
from benchmark.sweep.cells import plan_sweep

SWEEPS = sorted((Path(__file__).resolve().parents[2] / "sweeps").glob("*.yaml"))
CALTECH_CLASSES = ["camera", "brain", "Faces", "watch", "ketch", "dollar_bill"]
#: The torchvision networks whose ImageNet weights some sweep file asks for.
PRETRAINED = ("resnet18", "resnet50", "vgg16", "alexnet", "googlenet")


@pytest.fixture(scope="module")
def stand_ins(tmp_path_factory) -> dict[str, Path]:
    """A data folder with every study's dataset, an image folder, and cached weights."""
    import torchvision

    data = tmp_path_factory.mktemp("data")
    write_cifar10(data, per_batch=16, test_count=20)
    write_mnist_format(data, folder="FashionMNIST", train_count=80, test_count=20)
    write_caltech101(data, {name: 6 for name in CALTECH_CLASSES})
    images = tmp_path_factory.mktemp("images")
    write_class_folders(images, {"cat": 6, "dog": 6, "fish": 6})
    for arch in PRETRAINED:
        torch.manual_seed(0)
        network = torchvision.models.get_model(arch, weights=None)
        path = Path(torch.hub.get_dir()) / "checkpoints"
        path.mkdir(parents=True, exist_ok=True)
        torch.save(network.state_dict(), imagenet_file_name_in(path, arch))
        assert imagenet_file(arch).is_file()
    return {"data": data, "images": images}


def imagenet_file_name_in(directory: Path, arch: str) -> Path:
    """Where torchvision's weights API looks for ``arch``'s ImageNet checkpoint."""
    import torchvision

    weights = torchvision.models.get_model_weights(arch)["IMAGENET1K_V1"]
    return directory / Path(urlparse(weights.url).path).name


def test_every_sweep_file_is_covered():
    names = {path.stem for path in SWEEPS}
    assert {"quickstart", "normal_vs_separable", "caltech101_resnet18",
            "cifar10_scratch_vs_transfer", "custom_imagefolder",
            "fashion_mnist_models"} <= names  # fmt: skip


@pytest.mark.parametrize("sweep_file", SWEEPS, ids=[path.stem for path in SWEEPS])
def test_the_sweep_file_runs_end_to_end_in_smoke_mode(
    sweep_file, stand_ins, local_ray, tmp_path, monkeypatch
):
    monkeypatch.setenv("BENCH_IMAGES", str(stand_ins["images"]))
    overrides = [
        "resources.gpus_per_worker=0",
        "resources.cpus_per_worker=1",
        f"data_dir={stand_ins['data']}",
        "offline=true",
        "resources.execution=inline",
    ]
    arguments = ["submit", str(sweep_file), "--smoke", "--quiet", "--results-dir", str(tmp_path)]
    for override in overrides:
        arguments += ["--set", override]
    result = CliRunner().invoke(cli, arguments)
    assert result.exit_code == 0, result.output

    plan = plan_sweep(load_sweep(sweep_file, [*overrides, "smoke=true"]))
    (sweep_dir,) = (tmp_path / plan.spec.name).iterdir()
    trials = read_table(sweep_dir, "trials").to_pandas()
    assert sorted(trials["cell"]) == sorted(cell.key for cell in plan.cells)
    failures = trials.loc[trials["status"] != "completed", ["cell", "status", "error"]]
    assert failures.empty, failures.to_string()
    assert (trials["epochs_completed"] == 1).all()
    report = CliRunner().invoke(cli, ["report", str(sweep_dir), "--format", "markdown"])
    assert report.exit_code == 0, report.output
    for cell in plan.cells:
        assert cell.key in report.output
    if plan.spec.log_models:  # S2: its best checkpoint predicts classes of new images
        _assert_checkpoints_logged_to_mlflow(trials, tmp_path)
        # ... on a machine without the ImageNet file: the checkpoint holds every weight.
        monkeypatch.setenv("TORCH_HOME", str(tmp_path / "empty-torch-hub"))
        _predict_new_images(trials.iloc[0], tmp_path, stand_ins["images"])


def _assert_checkpoints_logged_to_mlflow(trials, results: Path) -> None:
    """Each trial's MLflow run holds its final checkpoint (``log_models: true``)."""
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=local_store(results)[0])
    for run_id in trials["mlflow_run_id"]:
        logged = [entry.path for entry in client.list_artifacts(run_id, "checkpoint")]
        assert logged == ["checkpoint/state.pt"]
        state = torch.load(client.download_artifacts(run_id, "checkpoint/state.pt"))
        assert state["final"] is True


def _predict_new_images(trial, results: Path, images: Path) -> None:
    import json

    target = f"{trial['sweep_id']}:{trial['trial_id']}"
    arguments = ["predict", target, str(images), "--top-k", "3", "--format", "json"]
    result = CliRunner().invoke(cli, [*arguments, "--results-dir", str(results)])
    assert result.exit_code == 0, result.output
    predictions = json.loads(result.stdout)["predictions"]
    assert len(predictions) == len(list(images.rglob("*.*")))
    names = set(CALTECH_CLASSES)
    for prediction in predictions:
        assert len(prediction["top"]) == 3
        assert {entry["class_name"] for entry in prediction["top"]} <= names
        probabilities = [entry["probability"] for entry in prediction["top"]]
        assert probabilities == sorted(probabilities, reverse=True) and sum(probabilities) <= 1
