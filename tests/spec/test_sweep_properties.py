"""Property-based tests of the two parsers that read user text: ``--set`` and the sweep file.

Hypothesis generates key paths, YAML values and whole sweep files; the properties are the
contracts the command line relies on: an override sets exactly what it says, a valid sweep
plans one cell per architecture × dataset, and any mistake, however odd, surfaces as the
parser's own one-line error (``OverrideError``, ``SweepFileError``), never as another
exception type and never by running something written in the file.
"""

from __future__ import annotations

import math
import string
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from benchmark.data.registry import list_datasets
from benchmark.models import list_models
from benchmark.overrides import OverrideError, apply_overrides, parse_override
from benchmark.spec import SweepFileError, SweepSpec, parse_sweep
from benchmark.sweep.cells import plan_sweep
from benchmark.train.config import TrialConfig
from benchmark.yaml_values import dump_yaml, load_yaml

SOURCE = "study.yaml"
PROPERTIES = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# --- values and key paths -----------------------------------------------------------------

key_parts = st.text(string.ascii_letters + string.digits + "_-", min_size=1, max_size=8)
key_paths = st.lists(key_parts, min_size=1, max_size=4)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**12), max_value=10**12),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=20),
)
# Text that trips up messages and paths: line breaks, NUL, ``~user``, ``${VAR}``.
awkward_text = st.text(
    st.one_of(st.characters(), st.sampled_from("\n\r\x00\u2028~/${}")),
    max_size=12,
)
# What a YAML value in a sweep file can be: scalars, lists and mappings of them.
yaml_values = st.recursive(
    st.one_of(scalars, awkward_text),
    lambda children: st.one_of(
        st.lists(children, max_size=3), st.dictionaries(key_parts, children, max_size=3)
    ),
    max_leaves=6,
)


def _nested(path: list[str], value: Any) -> dict[str, Any]:
    for part in reversed(path):
        value = {part: value}
    return value


# --- the --set override parser ------------------------------------------------------------


@PROPERTIES
@given(path=key_paths, value=scalars)
def test_an_override_sets_exactly_its_nested_value_and_nothing_else(path, value):
    override = f"{'.'.join(path)}={dump_yaml(value)}"

    result = apply_overrides({}, [override])

    assert result == _nested(path, value)


@PROPERTIES
@given(path=key_paths, value=yaml_values, existing=st.dictionaries(key_parts, scalars))
def test_an_override_leaves_the_input_and_its_other_keys_untouched(path, value, existing):
    values = {"kept": dict(existing)}
    original = yaml.safe_load(yaml.safe_dump(values))

    result = apply_overrides(values, [f"{'.'.join(path)}={dump_yaml(value)}"])

    assert values == original  # the caller's dict is not modified
    if path[0] != "kept":
        assert result["kept"] == existing


@PROPERTIES
@given(text=st.text(max_size=60))
def test_arbitrary_override_text_gives_a_value_or_an_override_error(text):
    try:
        path, _value = parse_override(text)
        apply_overrides({}, [text])
    except OverrideError as error:
        assert "\n" not in str(error)
        assert str(error).startswith("--set ")
    else:
        assert path and all(path)


@pytest.mark.parametrize(
    "value",
    [
        '!!python/object/apply:os.system ["echo pwned"]',
        "!!python/object:benchmark.overrides.OverrideError {}",
        "!!python/name:os.system",
        "!!python/module:os",
    ],
)
def test_an_override_never_builds_a_python_object(value):
    with pytest.raises(OverrideError, match="not valid YAML"):
        apply_overrides({}, [f"lr={value}"])


# --- the sweep schema ---------------------------------------------------------------------

ARCHITECTURES = list_models()
# ImageFolder needs a folder (a path option) and is not a name a generated sweep can use.
DATASETS = [name for name in list_datasets() if name != "imagefolder"]


def _ordered_pair(low_bound: float, high_bound: float):
    """Two finite floats low < high inside [low_bound, high_bound]."""
    return (
        st.tuples(
            st.floats(low_bound, high_bound, allow_nan=False),
            st.floats(low_bound, high_bound, allow_nan=False),
        )
        .map(sorted)
        .filter(lambda pair: pair[0] < pair[1])
    )


def _distribution(key: str):
    """A distribution for trial option ``key`` whose every value is valid for it."""
    if key == "lr":
        return _ordered_pair(1e-6, 1.0).map(
            lambda p: {"type": "loguniform", "low": p[0], "high": p[1]}
        )
    if key in {"weight_decay", "momentum", "label_smoothing"}:
        return _ordered_pair(0.0, 0.9).map(lambda p: {"type": "uniform", "low": p[0], "high": p[1]})
    if key in {"batch_size", "epochs"}:
        return (
            st.tuples(st.integers(1, 64), st.integers(1, 64), st.booleans())
            .filter(lambda t: t[0] != t[1])
            .map(lambda t: {"type": "int", "low": min(t[:2]), "high": max(t[:2]), "log": t[2]})
        )
    values = {"optimizer": ["adam", "adamw", "sgd"], "amp": ["none", "bf16", "fp16"]}[key]
    return st.lists(st.sampled_from(values), min_size=1, max_size=3, unique=True).map(
        lambda chosen: {"type": "choice", "values": chosen}
    )


SPACE_KEYS = ["lr", "weight_decay", "momentum", "label_smoothing", "batch_size", "epochs",
              "optimizer", "amp"]  # fmt: skip


@st.composite
def valid_sweeps(draw) -> dict[str, Any]:
    keys = draw(st.lists(st.sampled_from(SPACE_KEYS), max_size=4, unique=True))
    sweep: dict[str, Any] = {
        "name": draw(st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,15}", fullmatch=True)),
        "architectures": draw(
            st.lists(st.sampled_from(ARCHITECTURES), min_size=1, max_size=3, unique=True)
        ),
        "datasets": draw(st.lists(st.sampled_from(DATASETS), min_size=1, max_size=2, unique=True)),
        "search": {
            "algorithm": draw(st.sampled_from(["optuna-tpe", "random"])),
            "trials_per_cell": draw(st.integers(1, 20)),
            "seed": draw(st.integers(0, 1000)),
        },
        "space": {key: draw(_distribution(key)) for key in keys},
    }
    if "epochs" not in keys:
        sweep["fixed"] = {"epochs": draw(st.integers(1, 5))}
    return sweep


@PROPERTIES
@given(sweep=valid_sweeps())
def test_a_valid_sweep_parses_and_plans_one_cell_per_architecture_and_dataset(sweep):
    spec = parse_sweep(dump_yaml(sweep), source=SOURCE)
    plan = plan_sweep(spec, source=SOURCE)

    assert len(plan.cells) == len(sweep["architectures"]) * len(sweep["datasets"])
    assert {(c.architecture, c.dataset) for c in plan.cells} == {
        (a, d) for a in sweep["architectures"] for d in sweep["datasets"]
    }
    assert plan.trials_per_cell == sweep["search"]["trials_per_cell"]
    for key, distribution in sweep["space"].items():
        assert spec.space[key].type == distribution["type"]


@PROPERTIES
@given(sweep=valid_sweeps())
def test_a_resolved_sweep_written_back_to_yaml_reads_as_the_same_sweep(sweep):
    """What a run stores (``sweep.yaml`` in its directory) is what resume reads back."""
    spec = parse_sweep(dump_yaml(sweep), source=SOURCE)
    stored = dump_yaml(spec.model_dump(mode="json", exclude_none=True))

    assert parse_sweep(stored, source=SOURCE) == spec


def _paths(value: Any, prefix: tuple = ()) -> list[tuple]:
    """Every key path of a nested mapping (lists count as leaves)."""
    found = [prefix] if prefix else []
    if isinstance(value, dict):
        for key, child in value.items():
            found += _paths(child, (*prefix, key))
    return found


def _get(sweep: dict[str, Any], path: tuple) -> Any:
    for part in path:
        sweep = sweep[part]
    return sweep


# Keys a mutation may add: anything, the sweep's own keys, trial options and dotted ones.
TRIAL_OPTIONS = list(TrialConfig.model_fields)
added_keys = st.one_of(
    st.text(max_size=12),
    st.sampled_from(list(SweepSpec.model_fields)),
    st.sampled_from(TRIAL_OPTIONS),
    st.tuples(st.sampled_from(TRIAL_OPTIONS), key_parts).map(".".join),
)


@st.composite
def mutated_sweeps(draw) -> str:
    """A valid sweep with something wrong (or, by chance, still right), as YAML text."""
    sweep = draw(valid_sweeps())
    for _ in range(draw(st.integers(1, 3))):
        mutations = ["replace", "add-key", "shadow", "low-not-below-high", "text"]
        mutation = draw(st.sampled_from(mutations))
        if mutation == "replace":
            path = draw(st.sampled_from(_paths(sweep)))
            _get(sweep, path[:-1])[path[-1]] = draw(yaml_values)
        elif mutation == "add-key":
            sweep.setdefault("fixed", {})
            sections = [()] + [p for p in _paths(sweep) if isinstance(_get(sweep, p), dict)]
            _get(sweep, draw(st.sampled_from(sections)))[draw(added_keys)] = draw(yaml_values)
        elif mutation == "shadow":
            # ``option: value`` in one section and ``option.key: ...`` below it in another.
            option = draw(st.sampled_from(TRIAL_OPTIONS))
            dotted = f"{option}.{draw(key_parts)}"
            sweep["fixed"] = {option: draw(scalars)}
            if draw(st.booleans()):
                sweep["architectures"] = [{"architecture": "mlp", "fixed": {dotted: 1}}]
            else:
                sweep["space"] = {dotted: {"type": "choice", "values": [1]}}
        elif mutation == "low-not-below-high":
            low = draw(st.floats(allow_nan=False))
            high = draw(st.floats(max_value=low, allow_nan=False))
            key = draw(st.sampled_from(["lr", "momentum", "batch_size"]))
            kind = draw(st.sampled_from(["uniform", "loguniform", "int"]))
            if kind == "int":
                low, high = _to_int(low), _to_int(high)
            if not isinstance(sweep.get("space"), dict):
                sweep["space"] = {}
            sweep["space"][key] = {"type": kind, "low": low, "high": high}
        else:
            return draw(st.text(max_size=200))
    return yaml.safe_dump(sweep)


def _to_int(value: float) -> int:
    return int(max(min(value, 1e9), -1e9)) if math.isfinite(value) else 0


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=mutated_sweeps())
def test_any_sweep_file_parses_or_gives_a_one_line_sweep_file_error(text):
    try:
        plan_sweep(parse_sweep(text, source=SOURCE), source=SOURCE)
    except SweepFileError as error:
        message = str(error)
        assert message.startswith(f"{SOURCE}: ")
        assert len(message.splitlines()) == 1, message


@PROPERTIES
@given(sweep=valid_sweeps(), data=st.data())
def test_a_range_whose_low_is_not_below_its_high_is_refused(sweep, data):
    kind = data.draw(st.sampled_from(["uniform", "loguniform", "int"]))
    low = data.draw(st.integers(1, 100))
    high = data.draw(st.integers(1, low))
    sweep["space"]["lr"] = {"type": kind, "low": low, "high": high}

    with pytest.raises(SweepFileError, match=rf"^{SOURCE}: space\.lr: low \({low}"):
        parse_sweep(dump_yaml(sweep), source=SOURCE)


def test_a_sweep_file_never_builds_a_python_object():
    text = 'name: !!python/object/apply:os.system ["echo pwned"]\narchitectures: [mlp]\n'
    with pytest.raises(SweepFileError, match=rf"^{SOURCE}: line 1: not valid YAML"):
        parse_sweep(text, source=SOURCE)
    assert load_yaml("lr: 1e-3") == {"lr": 1e-3}


def test_a_name_that_reads_as_a_number_is_written_quoted_and_read_back_as_written():
    """``0E0`` is a float to the sweep loader (YAML 1.2's rule); PyYAML's own dumper writes
    it plain, the platform's quotes it."""
    sweep = {"name": "0E0", "architectures": ["mlp"], "datasets": ["digits"]}
    assert parse_sweep(dump_yaml(sweep), source=SOURCE).name == "0E0"
    with pytest.raises(SweepFileError, match=r"name: must be a valid string \(got 0\.0\)"):
        parse_sweep(yaml.safe_dump(sweep), source=SOURCE)
