"""Sweep files: every mistake is one line naming the file, the key path and the fix.

Each invalid file is written to disk as real YAML and read the way ``bench submit`` reads it
(``load_sweep`` then ``plan_sweep``), without starting Ray.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from benchmark.overrides import OverrideError
from benchmark.spec import SweepFileError, load_sweep
from benchmark.spec.schema import OBJECTIVE_METRICS, Choice, LogUniform
from benchmark.sweep.cells import plan_sweep

SWEEPS_DIR = Path(__file__).resolve().parents[2] / "sweeps"

MINIMAL = """\
name: study
architectures: [simple_cnn]
datasets: [digits]
"""


def _write(tmp_path: Path, text: str, name: str = "sweep.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def _load_and_plan(path: Path, overrides: list[str] | tuple[str, ...] = ()):
    spec = load_sweep(path, overrides)
    return plan_sweep(spec, source=path, root=path.parent)


# (sweep file, --set overrides, key path the error names, what the error says)
INVALID_SWEEPS = [
    pytest.param(
        MINIMAL + "serach: {algorithm: random}\n",
        [],
        "serach",
        "unknown key; did you mean search?",
        id="unknown-top-level-key-suggests-close-match",
    ),
    pytest.param(
        MINIMAL + "search: {trails_per_cell: 4}\n",
        [],
        "search.trails_per_cell",
        "unknown key; did you mean trials_per_cell?",
        id="unknown-nested-key-suggests-close-match",
    ),
    pytest.param(
        MINIMAL + "search: {trials_per_cell: many}\n",
        [],
        "search.trials_per_cell",
        "must be a valid integer, unable to parse string as an integer (got 'many')",
        id="wrong-type",
    ),
    pytest.param(
        MINIMAL + "space:\n  lr: {type: loguniform, low: 0.1, high: 0.001}\n",
        [],
        "space.lr",
        "low (0.1) must be below high (0.001)",
        id="loguniform-low-not-below-high",
    ),
    pytest.param(
        MINIMAL + "space:\n  lr: {type: loguniform, low: 0, high: 0.1}\n",
        [],
        "space.lr.low",
        "must be greater than 0 (got 0)",
        id="loguniform-low-not-positive",
    ),
    pytest.param(
        MINIMAL + "space:\n  batch_size: {type: int, low: 0, high: 256, log: true}\n",
        [],
        "space.batch_size",
        "log=true needs low >= 1",
        id="log-int-range-from-zero",
    ),
    pytest.param(
        MINIMAL + "space:\n  lr: {type: normal, low: 0.001, high: 0.1}\n",
        [],
        "space.lr",
        "type must be one of uniform, loguniform, int, choice",
        id="unknown-distribution-type",
    ),
    pytest.param(
        MINIMAL + "space:\n  lr: {low: 0.001, high: 0.1}\n",
        [],
        "space.lr",
        "needs a type: uniform, loguniform, int or choice",
        id="distribution-without-type",
    ),
    pytest.param(
        MINIMAL + "space:\n  lr: 0.01\n",
        [],
        "space.lr",
        "must be a distribution like {type: choice, values: [...]}; "
        "a value held constant goes under fixed (got 0.01)",
        id="plain-value-in-space-points-to-fixed",
    ),
    pytest.param(
        MINIMAL + "space:\n  lr: {type: choice, valuse: [0.1, 0.01]}\n",
        [],
        "space.lr.valuse",
        "unknown key; did you mean values?",
        id="misspelt-distribution-key-beats-missing-key",
    ),
    pytest.param(
        MINIMAL + "space:\n  epochs: {type: int, low: 1, high: 9, stpe: 2}\n",
        [],
        "space.epochs.stpe",
        "unknown key; did you mean type, step?",
        id="unknown-key-suggests-keys-of-that-distribution",
    ),
    pytest.param(
        MINIMAL + "space:\n  lr: {type: choice, values: []}\n",
        [],
        "space.lr.values",
        "must not be empty",
        id="choice-without-values",
    ),
    pytest.param(
        "architectures: [simple_cnn]\ndatasets: [digits]\n",
        [],
        "name",
        "required key is missing",
        id="missing-name",
    ),
    pytest.param(
        "name: my study\narchitectures: [simple_cnn]\ndatasets: [digits]\n",
        [],
        "name",
        "must start with a letter or digit and hold only letters, digits, '_', '.' and '-' "
        "(got 'my study')",
        id="name-with-space",
    ),
    pytest.param(
        "name: study\narchitectures: []\ndatasets: [digits]\n",
        [],
        "architectures",
        "must not be empty",
        id="empty-architectures",
    ),
    pytest.param(
        "name: study\narchitectures: [3]\ndatasets: [digits]\n",
        [],
        "architectures[0]",
        "must be a name or a mapping like {architecture: NAME, label: ...} (got 3)",
        id="architecture-entry-neither-name-nor-mapping",
    ),
    pytest.param(
        "name: study\narchitectures: [{architecture: simple_cnn, lable: small}]\n"
        "datasets: [digits]\n",
        [],
        "architectures[0].lable",
        "unknown key; did you mean label?",
        id="unknown-key-in-architecture-entry",
    ),
    pytest.param(
        "name: study\narchitectures: [simple_cnnn]\ndatasets: [digits]\n",
        [],
        "architectures[0].architecture",
        "unknown architecture 'simple_cnnn'; did you mean simple_cnn, simple_cnn_linear, "
        "improved_cnn?",
        id="unknown-architecture-suggests-close-match",
    ),
    pytest.param(
        "name: study\narchitectures: [simple_cnn]\ndatasets: [mnist, digitz]\n",
        [],
        "datasets[1].dataset",
        "unknown dataset 'digitz'; did you mean digits?",
        id="unknown-dataset",
    ),
    pytest.param(
        MINIMAL + "fixed: {lrr: 0.01}\n",
        [],
        "fixed.lrr",
        "unknown trial option; did you mean lr?",
        id="unknown-trial-option-in-fixed",
    ),
    pytest.param(
        MINIMAL + "fixed: {architecture: mlp}\n",
        [],
        "fixed.architecture",
        "cannot be set here; the architectures list chooses it",
        id="architecture-in-fixed",
    ),
    pytest.param(
        MINIMAL + "fixed: {seed: 7}\n",
        [],
        "fixed.seed",
        "cannot be set here; each trial gets its seed from search.seed",
        id="seed-in-fixed-would-be-ignored",
    ),
    pytest.param(
        "name: study\narchitectures: [standard_cnn]\ndatasets: [digits]\n"
        "space:\n  model.widht: {type: choice, values: [16, 32]}\n",
        [],
        "space.model.widht",
        "standard_cnn has no hyperparameter 'widht'; did you mean width, weights?",
        id="model-hyperparameter-the-architecture-lacks-in-space",
    ),
    pytest.param(
        "name: study\narchitectures: [standard_cnn, resnet18]\ndatasets: [digits]\n"
        "fixed: {model: {width: 16}}\n",
        [],
        "fixed.model.width",
        "resnet18 has no hyperparameter 'width'; it takes weights, freeze",
        id="fixed-model-hyperparameter-must-suit-every-architecture",
    ),
    pytest.param(
        MINIMAL + "fixed: {lr: -1}\n",
        [],
        "fixed.lr",
        "must be greater than 0 (got -1, cell simple_cnn/digits)",
        id="bad-value-in-fixed",
    ),
    pytest.param(
        "name: study\narchitectures: [simple_cnn]\n"
        "datasets: [digits, {dataset: mnist, fixed: {val_fraction: 2}}]\n",
        [],
        "datasets[1].fixed.val_fraction",
        "must be less than 1 (got 2, cell simple_cnn/mnist)",
        id="bad-value-in-dataset-fixed-names-entry-and-cell",
    ),
    pytest.param(
        MINIMAL + "space:\n  lr: {type: uniform, low: -0.5, high: 0.5}\n",
        [],
        "space.lr",
        "must be greater than 0 (got -0.5, cell simple_cnn/digits)",
        id="searched-range-reaching-an-invalid-value",
    ),
    pytest.param(
        MINIMAL + "fixed: {early_stopping: {patience: 0}}\n",
        [],
        "fixed.early_stopping.patience",
        "must be greater than or equal to 1 (got 0, cell simple_cnn/digits)",
        id="bad-nested-trial-option-names-the-leaf",
    ),
    pytest.param(
        MINIMAL + "fixed: {epochs: 3, warmup_epochs: 5}\n",
        [],
        "fixed.warmup_epochs",
        "warmup_epochs (5.0) must be below epochs (3) (cell simple_cnn/digits)",
        id="check-across-trial-options-names-the-key",
    ),
    pytest.param(
        MINIMAL + "search: {algorithm: grid}\n"
        "space:\n  lr: {type: loguniform, low: 0.0001, high: 0.1}\n",
        [],
        "space.lr.type",
        "grid search needs type: choice (a list of values) for every key",
        id="grid-with-non-choice-distribution",
    ),
    pytest.param(
        MINIMAL + "search: {algorithm: grid, trials_per_cell: 5}\n"
        "space:\n  lr: {type: choice, values: [0.1, 0.01]}\n",
        [],
        "search.trials_per_cell",
        "the grid has 2 points; use at most that many trials per cell",
        id="grid-smaller-than-budget",
    ),
    pytest.param(
        MINIMAL + "search:\n  algorithm: optuna-tpe\n"
        "  objectives: [{metric: best_val_accuracy}, {metric: train_time_s}]\n",
        [],
        "search.objectives",
        "optuna-tpe optimises one objective; use algorithm: optuna-nsga2 for several",
        id="tpe-with-two-objectives",
    ),
    pytest.param(
        MINIMAL + "search:\n  algorithm: optuna-nsga2\n"
        "  objectives: [{metric: test_loss}, {metric: test_loss}]\n",
        [],
        "search.objectives[1]",
        "'test_loss' is already an objective; list it once",
        id="repeated-objective",
    ),
    pytest.param(
        MINIMAL + "search: {objectives: [{metric: val_acc}]}\n",
        [],
        "search.objectives[0].metric",
        f"unknown objective metric 'val_acc'; one of {', '.join(OBJECTIVE_METRICS)}",
        id="unknown-objective-metric",
    ),
    pytest.param(
        MINIMAL + "scheduler: {type: asha, metric: test_accuracy}\n",
        [],
        "scheduler.metric",
        "unknown per-epoch metric 'test_accuracy'; did you mean train_accuracy, val_accuracy?",
        id="scheduler-metric-not-per-epoch",
    ),
    pytest.param(
        MINIMAL + "scheduler: {type: asha}\nspace:\n  epochs: {type: int, low: 2, high: 20}\n",
        [],
        "scheduler.max_epochs",
        "required when epochs is searched",
        id="scheduler-without-max-epochs-when-epochs-searched",
    ),
    pytest.param(
        "name: study\narchitectures: [simple_cnn, resnet18, simple_cnn]\ndatasets: [digits]\n",
        [],
        "architectures[2]",
        "'simple_cnn' repeats architectures[0]; give one of them a distinct label",
        id="duplicated-architecture-without-label",
    ),
    pytest.param(
        MINIMAL + "fixed: {lr: 0.01}\nspace:\n  lr: {type: loguniform, low: 0.0001, high: 0.1}\n",
        [],
        "space.lr",
        "also set in fixed; a key is either fixed or searched",
        id="key-both-fixed-and-searched",
    ),
    pytest.param(
        MINIMAL + "targets: [90]\n",
        [],
        "targets",
        "90.0 is not an accuracy in (0, 1]",
        id="target-as-percentage",
    ),
    pytest.param(
        MINIMAL + "resources: {gpus_per_worker: 1.5}\n",
        [],
        "resources.gpus_per_worker",
        "more than one GPU per worker must be a whole number",
        id="fractional-gpus-above-one",
    ),
    pytest.param(
        MINIMAL + "resources: {execution: warm}\n",
        [],
        "resources.execution",
        "must be 'pooled', 'train' or 'inline' (got 'warm')",
        id="unknown-execution",
    ),
    pytest.param(
        MINIMAL + "resources: {execution: inline, workers: 2}\n",
        [],
        "resources.workers",
        "inline execution runs one worker; set workers: 1 or execution: pooled",
        id="inline-with-several-workers",
    ),
    pytest.param(
        MINIMAL,
        ["search.trials_per_cell=zero"],
        "search.trials_per_cell",
        "must be a valid integer, unable to parse string as an integer (got 'zero')",
        id="bad-override-value",
    ),
    pytest.param(
        MINIMAL,
        ["fixed.lr=-0.1"],
        "fixed.lr",
        "must be greater than 0 (got -0.1, cell simple_cnn/digits)",
        id="bad-override-value-checked-per-cell",
    ),
]


@pytest.mark.parametrize(("text", "overrides", "key", "problem"), INVALID_SWEEPS)
def test_invalid_sweep_file_is_one_line_naming_file_key_and_problem(
    tmp_path, text, overrides, key, problem
):
    path = _write(tmp_path, text)
    with pytest.raises(SweepFileError) as caught:
        _load_and_plan(path, overrides)
    error = caught.value
    assert error.key == key
    assert str(error) == f"{path}: {key}: {problem}"
    assert "\n" not in str(error)
    for leak in ("Value error", "Input should", "pydantic", "(root)", "(top level)"):
        assert leak not in str(error)


@pytest.mark.parametrize(
    ("text", "line", "problem"),
    [
        pytest.param(
            MINIMAL + "fixed:\n  lr: [0.1\n  epochs: 3\n",
            6,
            "expected ',' or ']', but got ':'",
            id="unclosed-list",
        ),
        pytest.param(
            MINIMAL + "fixed:\n\tlr: 0.1\n",
            5,
            "found character '\\t' that cannot start any token",
            id="tab-indent",
        ),
    ],
)
def test_invalid_yaml_names_the_line(tmp_path, text, line, problem):
    path = _write(tmp_path, text)
    with pytest.raises(SweepFileError) as caught:
        load_sweep(path)
    assert str(caught.value) == f"{path}: line {line}: not valid YAML ({problem})"


@pytest.mark.parametrize("text", ["", "- simple_cnn\n- digits\n", "just a sentence\n"])
def test_sweep_file_that_is_not_a_mapping_is_rejected(tmp_path, text):
    path = _write(tmp_path, text)
    with pytest.raises(SweepFileError) as caught:
        load_sweep(path)
    assert str(caught.value) == f"{path}: must be a mapping of keys (name, architectures, ...)"


def test_missing_sweep_file_says_where_sweep_files_live(tmp_path):
    path = tmp_path / "nope.yaml"
    with pytest.raises(SweepFileError) as caught:
        load_sweep(path)
    assert str(caught.value) == f"{path}: no such file; sweep files live in sweeps/"


def test_override_sets_a_nested_key(tmp_path):
    path = _write(tmp_path, MINIMAL + "search: {trials_per_cell: 8}\n")
    assert _load_and_plan(path).trials_per_cell == 8
    plan = _load_and_plan(path, ["search.trials_per_cell=3", "fixed.lr=0.05"])
    assert plan.trials_per_cell == 3
    assert plan.spec.search.trials_per_cell == 3
    assert plan.cells[0].base_config["lr"] == 0.05


def test_override_without_value_is_rejected(tmp_path):
    path = _write(tmp_path, MINIMAL)
    with pytest.raises(OverrideError, match=r"--set 'search\.trials_per_cell': expected"):
        load_sweep(path, ["search.trials_per_cell"])


def test_override_into_a_value_is_rejected(tmp_path):
    path = _write(tmp_path, MINIMAL)
    with pytest.raises(OverrideError, match="name is a value, not a section"):
        load_sweep(path, ["name.first=x"])


VALID = """\
name: compare-small
description: shorthand and full entries side by side
architectures:
  - simple_cnn
  - architecture: resnet50
    label: resnet50_finetune
    fixed:
      lr: 0.0001
      batch_size: 16
      model: {weights: none, freeze: none}
    space:
      model.freeze: {type: choice, values: [none, backbone]}
datasets:
  - digits
  - dataset: caltech101
    options: {classes: [camera, brain], image_size: 64}
    fixed: {batch_size: 32, epochs: 3}
search:
  algorithm: random
  trials_per_cell: 4
  seed: 11
space:
  weight_decay: {type: loguniform, low: 1.0e-6, high: 1.0e-3}
fixed:
  optimizer: adamw
  lr: 0.01
  epochs: 5
  batch_size: 64
repeats: 2
targets: [0.9]
data_dir: data
"""


def test_valid_sweep_with_shorthand_and_full_entries_plans_every_cell(tmp_path):
    path = _write(tmp_path, VALID)
    spec = load_sweep(path)
    assert [entry.name for entry in spec.architectures] == ["simple_cnn", "resnet50_finetune"]
    assert [entry.name for entry in spec.datasets] == ["digits", "caltech101"]

    plan = plan_sweep(spec, source=path, root=tmp_path)
    assert [cell.key for cell in plan.cells] == [
        "simple_cnn/digits",
        "simple_cnn/caltech101",
        "resnet50_finetune/digits",
        "resnet50_finetune/caltech101",
    ]
    assert [cell.index for cell in plan.cells] == [0, 1, 2, 3]
    assert plan.trials_per_cell == 4
    assert plan.search_trials == 16
    assert plan.total_trials == 4 * (4 + 2)
    assert plan.search_seed(0) == 11
    assert plan.repeat_seed(0) == 11 + 4

    data_dir = str((tmp_path / "data").resolve())
    assert Path(data_dir).is_absolute()
    # fixed < dataset fixed < architecture fixed.
    assert plan.cell("simple_cnn/digits").base_config == {
        "optimizer": "adamw",
        "lr": 0.01,
        "epochs": 5,
        "batch_size": 64,
        "architecture": "simple_cnn",
        "dataset": "digits",
        "data_dir": data_dir,
        "offline": False,
        "targets": [0.9],
    }
    assert plan.cell("simple_cnn/caltech101").base_config == {
        "optimizer": "adamw",
        "lr": 0.01,
        "epochs": 3,
        "batch_size": 32,
        "architecture": "simple_cnn",
        "dataset": "caltech101",
        "data_dir": data_dir,
        "offline": False,
        "dataset_options": {"classes": ["camera", "brain"], "image_size": 64},
        "targets": [0.9],
    }
    finetune = plan.cell("resnet50_finetune/caltech101")
    assert finetune.architecture == "resnet50"
    assert finetune.dataset == "caltech101"
    assert finetune.base_config == {
        "optimizer": "adamw",
        "lr": 0.0001,
        "epochs": 3,
        "batch_size": 16,
        "model": {"weights": "none", "freeze": "none"},
        "architecture": "resnet50",
        "dataset": "caltech101",
        "data_dir": data_dir,
        "offline": False,
        "dataset_options": {"classes": ["camera", "brain"], "image_size": 64},
        "targets": [0.9],
    }
    assert plan.cell("resnet50_finetune/digits").base_config["batch_size"] == 16

    # The shared space applies to every cell; an architecture's own space to its cells only.
    assert list(plan.cell("simple_cnn/digits").space) == ["weight_decay"]
    assert isinstance(plan.cell("simple_cnn/digits").space["weight_decay"], LogUniform)
    assert list(finetune.space) == ["weight_decay", "model.freeze"]
    assert isinstance(finetune.space["model.freeze"], Choice)


def test_minimal_sweep_gets_the_defaults(tmp_path):
    path = _write(tmp_path, MINIMAL)
    plan = _load_and_plan(path)
    assert [cell.key for cell in plan.cells] == ["simple_cnn/digits"]
    assert plan.trials_per_cell == 10
    assert plan.spec.search.algorithm == "optuna-tpe"
    assert [objective.metric for objective in plan.spec.objectives] == ["best_val_accuracy"]
    assert plan.spec.objectives[0].direction == "max"


def test_relative_file_paths_are_anchored_at_the_root_for_trials_elsewhere(tmp_path):
    path = _write(
        tmp_path,
        "name: study\narchitectures: [simple_cnn]\ndatasets: [imagefolder]\n"
        "fixed: {model: {weights: runs/best.pt}, dataset_options: {path: pets}}\n",
    )
    (config,) = [cell.base_config for cell in _load_and_plan(path).cells]
    assert config["model"] == {"weights": str((tmp_path / "runs" / "best.pt").resolve())}
    assert config["dataset_options"] == {"path": str((tmp_path / "pets").resolve())}


def test_grid_budget_defaults_to_the_grid_size(tmp_path):
    path = _write(
        tmp_path,
        MINIMAL
        + "search: {algorithm: grid}\n"
        + "space:\n"
        + "  lr: {type: choice, values: [0.1, 0.01, 0.001]}\n"
        + "  batch_size: {type: choice, values: [32, 64]}\n",
    )
    assert _load_and_plan(path).trials_per_cell == 6


SWEEP_FILES = sorted(SWEEPS_DIR.glob("*.yaml"))


@pytest.mark.parametrize("path", SWEEP_FILES, ids=[path.name for path in SWEEP_FILES])
def test_shipped_sweep_file_is_valid(path, monkeypatch):
    monkeypatch.setenv("BENCH_IMAGES", "/data/pets")  # the ImageFolder study's own folder
    plan = plan_sweep(load_sweep(path), source=path, root=SWEEPS_DIR.parent)
    assert plan.cells
    assert plan.trials_per_cell >= 1
