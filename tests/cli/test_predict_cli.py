"""`bench predict`: a trial's top-k classes for new image files, from its best checkpoint.

Checkpoints come from real trials on the offline ``digits`` dataset: one short run of the
per-worker loop in this process (its best epoch is not its last), its checkpoints laid out
the way a sweep stores them (tests/sweep/test_study_sweeps.py predicts from a real sweep's
checkpoints too). Images are written with PIL in several sizes, colour modes and formats.
"""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner
from PIL import Image

from benchmark.cli import cli
from benchmark.data import get_dataset, make_loader
from benchmark.models import create_model
from benchmark.predict import find_checkpoint, load_trained_model
from benchmark.train.checkpoints import save_state
from benchmark.train.loop import run_locally

SWEEP_ID = "20261123-101500-3f2a"
TRIAL_ID = "87384335"
STOPPED_TRIAL_ID = "4c1d2e9a"
BASE = {"architecture": "simple_cnn", "dataset": "digits", "batch_size": 64, "seed": 3,
        "lr": 3e-3, "measure_inference": False, "checkpoint_interval_s": 0}  # fmt: skip
TEST_IMAGES = 12


@pytest.fixture(scope="module")
def trial():
    """A 2-epoch digits trial whose best validation epoch is 1 (the improvement threshold
    lets no later epoch count as better) and whose final weights are epoch 2's: early
    stopping neither stops it nor restores the best weights."""
    early_stopping = {"patience": 5, "min_delta": 1.0, "restore_best": False}
    return run_locally({**BASE, "epochs": 2, "early_stopping": early_stopping})


@pytest.fixture(scope="module")
def trained(tmp_path_factory, trial):
    """The trial's final checkpoint folder, and the weights prediction must use (epoch 1's)."""
    folder = tmp_path_factory.mktemp("trial") / "checkpoint_2026-11-23_10-15-00.000000"
    folder.mkdir()
    save_state(folder, trial.states["final"])
    return folder, trial.states[1]["model"]


@pytest.fixture(scope="module")
def results(tmp_path_factory, trial):
    """A results folder laid out as a sweep writes it: two trials with Ray Train checkpoints,
    one finished (its last epoch checkpoint, then its final one) and one stopped by the
    scheduler after epoch 2 (two epoch checkpoints, no final one)."""
    root = tmp_path_factory.mktemp("results")
    sweep = root / "demo" / SWEEP_ID
    (sweep / "trials").mkdir(parents=True)
    (sweep / "sweep.yaml").write_text("name: demo\n")
    (sweep / "trials" / f"{TRIAL_ID}.json").write_text(json.dumps({"trial_id": TRIAL_ID}))
    states = trial.states
    checkpoints = {
        TRIAL_ID: [("10-15-02.000001", states[2]), ("10-15-03.000002", states["final"])],
        STOPPED_TRIAL_ID: [("10-15-01.000001", states[1]), ("10-15-02.000002", states[2])],
    }
    for trial_id, saved in checkpoints.items():
        for time, state in saved:
            folder = sweep / "train" / trial_id / f"checkpoint_2026-11-23_{time}"
            folder.mkdir(parents=True)
            save_state(folder, state)
    return root


@pytest.fixture(scope="module")
def digits_test_images(tmp_path_factory):
    """The first digits test images as 8×8 greyscale PNGs, exactly the stored pixels."""
    bundle = get_dataset("digits")
    folder = tmp_path_factory.mktemp("digits")
    paths = []
    for index in range(TEST_IMAGES):
        path = folder / f"test_{index:02d}.png"
        Image.fromarray(bundle.test.images[index, 0].numpy(), mode="L").save(path)
        paths.append(path)
    return bundle, paths


def invoke(*arguments: str):
    return CliRunner().invoke(cli, ["predict", *map(str, arguments)])


def predictions_json(*arguments: str) -> dict:
    result = invoke(*arguments, "--format", "json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def eval_path_probabilities(weights: dict, bundle) -> torch.Tensor:
    """Softmax outputs for the first test images, through the loader the trial evaluates with."""
    model = create_model("simple_cnn", num_classes=10, in_channels=1, image_size=(8, 8))
    model.load_state_dict(weights)
    loader = make_loader(bundle, "test", batch_size=TEST_IMAGES, augment=None, shuffle=False)
    images, _ = next(iter(loader))
    with torch.no_grad():
        return torch.softmax(model.eval()(images), dim=1)


def test_top_k_are_sorted_probabilities_and_top_1_is_what_the_eval_path_predicts(
    trained, digits_test_images
):
    folder, best = trained
    bundle, paths = digits_test_images
    output = predictions_json(folder, *paths, "--top-k", "3")
    assert output["architecture"] == "simple_cnn" and output["dataset"] == "digits"
    expected = eval_path_probabilities(best, bundle)
    assert [Path(p["image"]) for p in output["predictions"]] == paths
    for prediction, probabilities in zip(output["predictions"], expected, strict=True):
        top = prediction["top"]
        values = [entry["probability"] for entry in top]
        assert [entry["rank"] for entry in top] == [1, 2, 3]
        assert values == sorted(values, reverse=True)
        assert sum(values) <= 1.0 + 1e-6
        assert top[0]["class_index"] == int(probabilities.argmax())
        assert top[0]["class_name"] == bundle.class_names[top[0]["class_index"]]
        assert values[0] == pytest.approx(float(probabilities.max()), abs=1e-5)


def test_top_k_above_the_class_count_lists_every_class_once(trained, digits_test_images):
    folder, _ = trained
    _, paths = digits_test_images
    (prediction,) = predictions_json(folder, paths[0], "--top-k", "50")["predictions"]
    assert sorted(entry["class_index"] for entry in prediction["top"]) == list(range(10))
    assert sum(entry["probability"] for entry in prediction["top"]) == pytest.approx(1.0)


def test_images_of_any_size_and_mode_are_converted_like_the_test_images(
    trained, digits_test_images, tmp_path
):
    folder, _ = trained
    _, paths = digits_test_images
    grey = Image.open(paths[0]).convert("L")
    files = {
        "grey.png": grey,
        "rgb.png": grey.convert("RGB"),
        "rgba.png": grey.convert("RGBA"),
        "large.jpg": grey.resize((96, 72), Image.Resampling.NEAREST).convert("RGB"),
        "palette.gif": grey.convert("P"),
    }
    for name, image in files.items():
        image.save(tmp_path / name)
    output = predictions_json(folder, *(tmp_path / name for name in files))
    by_name = {Path(p["image"]).name: p["top"] for p in output["predictions"]}
    assert sorted(by_name) == sorted(files)
    # Greyscale stored as RGB, RGBA or a palette converts back to the same pixels.
    for name in ("rgb.png", "rgba.png", "palette.gif"):
        assert [e["class_index"] for e in by_name[name]] == [
            e["class_index"] for e in by_name["grey.png"]
        ]
        assert [e["probability"] for e in by_name[name]] == pytest.approx(
            [e["probability"] for e in by_name["grey.png"]], abs=1e-6
        )
    large = by_name["large.jpg"]
    assert len(large) == 3 and sum(entry["probability"] for entry in large) <= 1.0 + 1e-6


def test_a_folder_is_searched_for_images_in_path_order(trained, digits_test_images, tmp_path):
    folder, _ = trained
    _, paths = digits_test_images
    (tmp_path / "more").mkdir()
    for path, target in zip(paths[:3], ["b.png", "a.png", "more/c.PNG"], strict=True):
        Image.open(path).save(tmp_path / target, format="PNG")
    (tmp_path / "notes.txt").write_text("not an image")
    output = predictions_json(folder, tmp_path, "--top-k", "1")
    names = [Path(p["image"]).relative_to(tmp_path).as_posix() for p in output["predictions"]]
    assert names == ["a.png", "b.png", "more/c.PNG"]


def test_csv_has_one_row_per_image_and_rank(trained, digits_test_images):
    folder, _ = trained
    _, paths = digits_test_images
    result = invoke(folder, *paths[:4], "--top-k", "2", "--format", "csv")
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert [(Path(r["image"]), int(r["rank"])) for r in rows] == [
        (path, rank) for path in paths[:4] for rank in (1, 2)
    ]
    for first, second in zip(rows[::2], rows[1::2], strict=True):
        assert float(first["probability"]) >= float(second["probability"])


def test_the_default_table_names_images_and_classes(trained, digits_test_images):
    folder, _ = trained
    bundle, paths = digits_test_images
    result = invoke(folder / "state.pt", paths[0])
    assert result.exit_code == 0, result.output
    assert "simple_cnn on digits, weights of epoch 1" in result.stdout
    assert paths[0].name in result.stdout
    assert any(name in result.stdout for name in bundle.class_names)


def test_sweep_and_trial_id_choose_the_best_epochs_weights_not_the_last(
    results, trial, digits_test_images
):
    _, paths = digits_test_images
    output = predictions_json(f"{SWEEP_ID}:{TRIAL_ID}", *paths[:2], "--results-dir", results)
    assert output["epoch"] == 1
    assert Path(output["checkpoint"]).parent.name == "checkpoint_2026-11-23_10-15-03.000002"
    loaded = load_trained_model(find_checkpoint(f"{SWEEP_ID}:{TRIAL_ID}", results))
    best, last = trial.states[1]["model"], trial.states[2]["model"]
    weights = loaded.model.state_dict()
    assert all(torch.equal(weights[key], best[key]) for key in best)
    assert not all(torch.equal(weights[key], last[key]) for key in last)


def test_a_trial_stopped_before_its_end_uses_its_newest_checkpoints_best_weights(results, trial):
    loaded = load_trained_model(find_checkpoint(f"{SWEEP_ID}:{STOPPED_TRIAL_ID}", results))
    assert loaded.checkpoint.parent.name == "checkpoint_2026-11-23_10-15-02.000002"
    assert loaded.epoch == 1
    best = trial.states[1]["model"]
    assert all(torch.equal(loaded.model.state_dict()[key], best[key]) for key in best)


def _write_bad_inputs(root: Path, trained_folder: Path) -> dict[str, Path]:
    bad = {
        "corrupt": root / "corrupt.png",
        "empty_dir": root / "no_images",
        "old_checkpoint": root / "old_checkpoint",
        "not_torch": root / "not_torch",
    }
    bad["corrupt"].write_bytes(b"\x89PNG\r\n\x1a\n" + b"cut short")
    bad["empty_dir"].mkdir()
    (bad["empty_dir"] / "readme.txt").write_text("nothing to see")
    bad["old_checkpoint"].mkdir()
    state = torch.load(trained_folder / "state.pt", weights_only=True)
    save_state(bad["old_checkpoint"], {"epoch": 1, "model": state["model"]})
    bad["not_torch"].mkdir()
    (bad["not_torch"] / "state.pt").write_text("not a checkpoint")
    return bad


@pytest.mark.parametrize(
    ("checkpoint", "image", "message"),
    [
        ("{missing}", "{good}", r"no checkpoint at .*missing_checkpoint"),
        ("{old_checkpoint}", "{good}", r"old_checkpoint/state\.pt lacks architecture.*train"),
        ("{not_torch}", "{good}", r"cannot read checkpoint .*not_torch/state\.pt"),
        ("20991231-000000-beef:1", "{good}", r"no sweep '20991231-000000-beef' under .*--results"),
        (f"{SWEEP_ID}:nosuchtrial", "{good}", r"no trial 'nosuchtrial' \(its trials: 87384335\)"),
        ("{trained}", "{corrupt}", r"cannot decode image .*corrupt\.png.*PNG, JPEG"),
        ("{trained}", "{empty_dir}", r"no_images/ holds no images"),
        ("{trained}", "{missing}", r"no image file or folder at .*missing_checkpoint"),
    ],
)  # fmt: skip
def test_bad_input_is_one_line_with_exit_code_2(
    checkpoint, image, message, trained, results, digits_test_images, tmp_path
):
    places = {
        **_write_bad_inputs(tmp_path, trained[0]),
        "trained": trained[0],
        "good": digits_test_images[1][0],
        "missing": tmp_path / "missing_checkpoint",
    }
    arguments = [checkpoint.format(**places), image.format(**places)]
    result = invoke(*arguments, "--results-dir", results)
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("Error: ")
    assert re.search(message, line), line
