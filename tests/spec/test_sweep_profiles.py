"""The smoke profile, ``${NAME}`` variables and relative dataset paths of sweep files."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from benchmark.spec import SweepFileError, load_sweep, parse_sweep
from benchmark.spec.smoke import IMAGE_SIZE, SAMPLE_LIMIT
from benchmark.spec.variables import expand_variables
from benchmark.sweep.cells import plan_sweep, trial_config
from benchmark.train.config import TrialConfig

STUDY = """\
name: study
architectures:
  - simple_cnn
  - {architecture: resnet18, fixed: {epochs: 30}}
datasets:
  - digits
  - {dataset: imagefolder, options: {path: pets}}
search: {algorithm: grid, trials_per_cell: 2}
space:
  epochs: {type: choice, values: [12, 20]}
fixed:
  early_stopping: {patience: 3}
scheduler: {type: asha, grace_period: 4, max_epochs: 30}
repeats: 3
"""


def _plan(text: str, overrides=(), root: Path = Path("/work")):
    return plan_sweep(parse_sweep(text, overrides=overrides), root=root)


def test_smoke_keeps_the_cells_and_cuts_the_budget():
    full, smoke = _plan(STUDY), _plan(STUDY, ["smoke=true"])
    assert [cell.key for cell in smoke.cells] == [cell.key for cell in full.cells]
    assert smoke.spec.name == "study-smoke"
    assert (smoke.trials_per_cell, smoke.spec.repeats, smoke.total_trials) == (1, 0, 4)
    assert smoke.spec.scheduler.type == "none"
    assert smoke.spec.space == full.spec.space  # still searched, just once


def test_smoke_caps_win_over_sampled_and_per_architecture_values():
    plan = _plan(STUDY, ["smoke=true"])
    for cell in plan.cells:
        config = trial_config(cell, {"epochs": 20}, seed=0)
        assert config["epochs"] == 1
        assert config["sample_limit"] == SAMPLE_LIMIT
        assert config["early_stopping"] is None
        TrialConfig.from_dict(config)  # still a valid trial
    images = trial_config(plan.cell("resnet18/imagefolder"), {}, seed=0)
    assert images["dataset_options"] == {"path": "/work/pets", "image_size": IMAGE_SIZE}
    digits = trial_config(plan.cell("resnet18/digits"), {}, seed=0)
    assert "dataset_options" not in digits  # digits has no image size to cap


def test_without_smoke_nothing_is_capped():
    plan = _plan(STUDY)
    config = trial_config(plan.cell("resnet18/digits"), {"epochs": 20}, seed=0)
    assert config["epochs"] == 20 and "sample_limit" not in config


def test_a_resolved_smoke_sweep_reloads_unchanged():
    """A resumed or remote smoke sweep reads its stored sweep.yaml: no second suffix."""
    smoke = parse_sweep(STUDY, overrides=["smoke=true"])
    import yaml

    again = parse_sweep(yaml.safe_dump(smoke.model_dump(mode="json", exclude_none=True)))
    assert again == smoke


def test_variables_are_expanded_with_defaults_and_only_in_braces():
    environ = {"IMAGES": "/data/pets"}
    values = {"a": "${IMAGES}/train", "b": ["${MISSING:-fallback}", 3], "c": "cost $5"}
    assert expand_variables(values, environ) == {
        "a": "/data/pets/train",
        "b": ["fallback", 3],
        "c": "cost $5",
    }


def test_an_unset_variable_names_the_key_and_the_fix(tmp_path, monkeypatch):
    monkeypatch.delenv("BENCH_IMAGES", raising=False)
    path = tmp_path / "custom.yaml"
    path.write_text(
        textwrap.dedent("""\
        name: custom
        architectures: [simple_cnn]
        datasets: [{dataset: imagefolder, options: {path: "${BENCH_IMAGES}"}}]
        """)
    )
    with pytest.raises(SweepFileError) as caught:
        load_sweep(path)
    assert str(caught.value) == (
        f"{path}: datasets[0].options.path: ${{BENCH_IMAGES}} is not set; "
        "export BENCH_IMAGES=... or replace it with --set"
    )
    monkeypatch.setenv("BENCH_IMAGES", str(tmp_path / "pets"))
    plan = plan_sweep(load_sweep(path), root=tmp_path)
    assert plan.cells[0].base_config["dataset_options"]["path"] == str(tmp_path / "pets")


def test_a_relative_dataset_path_is_anchored_where_the_sweep_was_submitted(tmp_path):
    plan = _plan(STUDY, root=tmp_path)
    options = plan.cell("simple_cnn/imagefolder").base_config["dataset_options"]
    assert options["path"] == str(tmp_path / "pets")
