"""Reading a sweep file: YAML → ``--set`` overrides → schema → checks against the registries.

Everything a sweep file can get wrong is found here, before Ray starts, and reported as one
``SweepFileError`` line naming the file, the key path (``search.space.lr.low``) and what was
expected. Checks that need the cluster (does a trial fit on it?) live with the sweep runner.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from benchmark.errors import BenchError, close_matches
from benchmark.overrides import apply_overrides
from benchmark.spec.schema import (
    ArchitectureEntry,
    Choice,
    IntRange,
    KeyedValueError,
    LogUniform,
    SweepSpec,
    Uniform,
)
from benchmark.spec.smoke import smoke_spec
from benchmark.spec.variables import UnsetVariableError, expand_variables
from benchmark.yaml_values import load_yaml

# The distribution classes by the ``type`` that pydantic puts in an error's location.
_DISTRIBUTIONS: dict[str, type[BaseModel]] = {
    "uniform": Uniform,
    "loguniform": LogUniform,
    "int": IntRange,
    "choice": Choice,
}

# Trial options a sweep sets elsewhere: in ``fixed`` or ``space`` they would be overwritten.
_SET_ELSEWHERE = {
    "architecture": "the architectures list chooses it",
    "dataset": "the datasets list chooses it",
    "data_dir": "set the top-level data_dir instead",
    "seed": "each trial gets its seed from search.seed",
}

# What ``str.splitlines`` breaks at, each written as its escape (``\n``) instead.
_LINE_BREAKS = {ord(c): repr(c)[1:-1] for c in "\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029"}


class SweepFileError(BenchError):
    """A sweep file that cannot be run; the message names the file, the key and the fix."""

    def __init__(self, source: str | Path, key: str, problem: str) -> None:
        self.source = str(source)
        self.key = key
        self.problem = problem
        where = f"{source}: {key}: " if key else f"{source}: "
        # One line, whatever the file held: a key or name with a line break shows it escaped.
        super().__init__((where + problem).translate(_LINE_BREAKS))


def load_sweep(path: str | Path, overrides: tuple[str, ...] | list[str] = ()) -> SweepSpec:
    """Read, override, validate and check ``path``; raise ``SweepFileError`` on any mistake."""
    path = Path(path)
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise SweepFileError(path, "", "no such file; sweep files live in sweeps/") from None
    except OSError as error:
        raise SweepFileError(path, "", f"cannot be read ({error.strerror})") from None
    return parse_sweep(text, source=path, overrides=overrides)


def parse_sweep(
    text: str, source: str | Path = "<sweep>", overrides: tuple[str, ...] | list[str] = ()
) -> SweepSpec:
    """Like ``load_sweep`` for YAML text already in hand (``source`` names it in errors)."""
    try:
        raw = load_yaml(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        line = f"line {mark.line + 1}: " if mark is not None else ""
        problem = getattr(error, "problem", None) or "invalid YAML"
        raise SweepFileError(source, "", f"{line}not valid YAML ({problem})") from None
    if not isinstance(raw, dict):
        raise SweepFileError(source, "", "must be a mapping of keys (name, architectures, ...)")
    raw = apply_overrides(raw, overrides)
    try:
        raw = expand_variables(raw)
    except UnsetVariableError as error:
        raise SweepFileError(source, error.key, str(error)) from None
    try:
        spec = SweepSpec.model_validate(raw)
    except ValidationError as error:
        raise _first_error(source, error) from None
    if spec.smoke:
        spec = smoke_spec(spec)
    check_spec(spec, source)
    return spec


def _first_error(source: str | Path, error: ValidationError) -> SweepFileError:
    errors = error.errors()
    first = errors[0]
    if first["type"] == "missing":
        # A required key missing next to an unknown one is most likely a typo of it.
        parent = first["loc"][:-1]
        first = next(
            (e for e in errors if e["type"] == "extra_forbidden" and e["loc"][:-1] == parent),
            first,
        )
    loc = tuple(first["loc"])
    keyed = first.get("ctx", {}).get("error")
    if isinstance(keyed, KeyedValueError):
        loc += keyed.key
    return SweepFileError(source, _readable_location(loc), _problem(first, loc))


def _problem(first: Any, loc: tuple) -> str:
    """What is wrong at ``loc``, in the sweep file's terms rather than pydantic's."""
    kind = first["type"]
    if kind == "extra_forbidden":
        known = _known_keys(SweepSpec, loc[:-1])
        matches = close_matches(str(loc[-1]), known)
        message = "unknown key" + (f"; did you mean {', '.join(matches)}?" if matches else "")
        if known and not matches:
            message += f"; expected one of {', '.join(known)}"
        return message
    if kind == "missing":
        return "required key is missing"
    if kind == "union_tag_invalid":
        return "type must be one of uniform, loguniform, int, choice"
    if kind == "union_tag_not_found":
        return "needs a type: uniform, loguniform, int or choice"
    if kind == "too_short" and isinstance(first.get("input"), list):
        return "must not be empty"
    if kind == "string_pattern_mismatch":
        return (
            "must start with a letter or digit and hold only letters, digits, '_', '.' and '-'"
            f" (got {first['input']!r})"
        )
    if kind in {"model_type", "model_attributes_type", "dict_type"}:
        got = f" (got {first['input']!r})"
        if len(loc) == 2 and loc[0] in {"architectures", "datasets"}:
            entry = loc[0].removesuffix("s")
            return f"must be a name or a mapping like {{{entry}: NAME, label: ...}}{got}"
        if len(loc) >= 2 and loc[-2] == "space":
            return (
                "must be a distribution like {type: choice, values: [...]}; "
                f"a value held constant goes under fixed{got}"
            )
        return f"must be a mapping of keys{got}"
    message = plain_message(first["msg"])
    if first["msg"].startswith("Input should") and not isinstance(first["input"], (dict, list)):
        message += f" (got {first['input']!r})"
    return message


def plain_message(message: str) -> str:
    """Pydantic's wording as a sentence about a key: no ``Value error, ``, no ``Input``."""
    message = message.removeprefix("Value error, ")
    if message.startswith("Input should"):
        message = "must" + message.removeprefix("Input should")
    return message


def _readable_location(location: tuple) -> str:
    """``('search', 'objectives', 0, 'metric')`` → ``search.objectives[0].metric``.

    Pydantic puts the discriminator's value in the path of a tagged union
    (``space.lr.loguniform.low``); that part says nothing to the user and is dropped.
    """
    text = ""
    for part in location:
        if isinstance(part, int):
            text += f"[{part}]"
        elif part in _DISTRIBUTIONS and text.count(".") >= 1:
            continue
        else:
            text += f".{part}" if text else str(part)
    return text or "(top level)"


def _known_keys(model: type[BaseModel], location: tuple) -> list[str]:
    """The keys a nested model accepts at ``location`` (for close-match suggestions)."""
    if location and location[-1] in _DISTRIBUTIONS:
        return list(_DISTRIBUTIONS[location[-1]].model_fields)
    for part in location:
        if isinstance(part, int) or part not in model.model_fields:
            continue
        annotation = model.model_fields[part].annotation
        nested = _nested_model(annotation)
        if nested is None:
            return []
        model = nested
    return list(model.model_fields)


def _nested_model(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for argument in getattr(annotation, "__args__", ()):
        found = _nested_model(argument)
        if found is not None:
            return found
    return None


def check_spec(spec: SweepSpec, source: str | Path) -> None:
    """Checks beyond the schema: registered names, trial keys, grid and scheduler rules."""
    from benchmark.data import list_datasets
    from benchmark.models import list_models

    registered = (
        ("architectures", "architecture", [e.architecture for e in spec.architectures],
         list_models(), "bench models"),
        ("datasets", "dataset", [e.dataset for e in spec.datasets],
         list_datasets(), "bench datasets"),
    )  # fmt: skip
    for section, kind, names, known, command in registered:
        for index, name in enumerate(names):
            if name not in known:
                raise SweepFileError(
                    source, f"{section}[{index}].{kind}", _unknown(name, known, kind, command)
                )
    _check_trial_keys(spec, source)
    _check_search(spec, source)
    scheduler = spec.scheduler
    if scheduler.type != "none" and scheduler.max_epochs is None and _searched(spec, "epochs"):
        raise SweepFileError(source, "scheduler.max_epochs", "required when epochs is searched")


def _unknown(name: str, known: list[str], kind: str, command: str) -> str:
    matches = close_matches(name, known)
    hint = f"did you mean {', '.join(matches)}?" if matches else f"`{command}` lists them"
    return f"unknown {kind} '{name}'; {hint}"


def _check_trial_keys(spec: SweepSpec, source: str | Path) -> None:
    """Every fixed or searched key must be a trial option (and model keys the model's)."""
    from benchmark.models import model_defaults
    from benchmark.train.config import TrialConfig

    trial_keys = list(TrialConfig.model_fields)
    sources: list[tuple[str, dict[str, Any], list[ArchitectureEntry]]] = [
        ("fixed", _dotted(spec.fixed), spec.architectures),
        ("space", dict.fromkeys(spec.space), spec.architectures),
    ]
    for index, entry in enumerate(spec.datasets):
        sources.append((f"datasets[{index}].fixed", _dotted(entry.fixed), spec.architectures))
    for index, entry in enumerate(spec.architectures):
        sources.append((f"architectures[{index}].fixed", _dotted(entry.fixed), [entry]))
        sources.append((f"architectures[{index}].space", dict.fromkeys(entry.space), [entry]))
    for prefix, keys, entries in sources:
        for key in keys:
            top, _, rest = key.partition(".")
            if top in _SET_ELSEWHERE:
                raise SweepFileError(
                    source, f"{prefix}.{key}", f"cannot be set here; {_SET_ELSEWHERE[top]}"
                )
            if top not in trial_keys:
                matches = close_matches(top, trial_keys)
                hint = f"; did you mean {', '.join(matches)}?" if matches else ""
                raise SweepFileError(source, f"{prefix}.{key}", f"unknown trial option{hint}")
            if top == "model" and rest:
                hparam = rest.split(".")[0]
                for entry in entries:
                    accepted = list(model_defaults(entry.architecture))
                    if hparam not in accepted:
                        problem = not_taken(entry.architecture, "hyperparameter", hparam, accepted)
                        raise SweepFileError(source, f"{prefix}.{key}", problem)
    for key in spec.space:
        if key in _dotted(spec.fixed):
            raise SweepFileError(
                source, f"space.{key}", "also set in fixed; a key is either fixed or searched"
            )


def not_taken(owner: str, kind: str, name: str, accepted: list[str]) -> str:
    """``<owner> has no <kind> '<name>'``, with close names or else what ``owner`` takes."""
    matches = close_matches(name, accepted)
    hint = (
        f"did you mean {', '.join(matches)}?"
        if matches
        else f"it takes {', '.join(accepted) or 'none'}"
    )
    return f"{owner} has no {kind} '{name}'; {hint}"


def _check_search(spec: SweepSpec, source: str | Path) -> None:
    if spec.search.algorithm != "grid":
        return
    for prefix, space in [("space", spec.space)] + [
        (f"architectures[{index}].space", entry.space)
        for index, entry in enumerate(spec.architectures)
    ]:
        for key, distribution in space.items():
            if not isinstance(distribution, Choice):
                raise SweepFileError(
                    source,
                    f"{prefix}.{key}.type",
                    "grid search needs type: choice (a list of values) for every key",
                )


def _searched(spec: SweepSpec, key: str) -> bool:
    return key in spec.space or any(key in entry.space for entry in spec.architectures)


def _dotted(values: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested ``{"model": {"width": 32}}`` → ``{"model.width": 32}`` (leaves only).

    Trial options whose value is itself a mapping (``dataset_options``, ``augment``,
    ``early_stopping``, ``divergence``) stay whole below their first level.
    """
    flat: dict[str, Any] = {}
    for key, value in values.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict) and value and not prefix and key == "model":
            flat.update(_dotted(value, prefix=f"{path}."))
        else:
            flat[path] = value
    return flat
