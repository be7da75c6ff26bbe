"""Cells: the architecture × dataset pairs of a sweep, and the trial configs they produce.

A cell holds everything fixed for its trials (the sweep's ``fixed``, the dataset's and the
architecture's own, the dataset options, targets and data directory) and the search space
that applies to it (the shared ``space`` with the architecture's own entries on top). A
trial's config is the cell's base config with the sampled values and the trial's seed set.
Building every cell's config once with a representative sample checks the values of a
sweep file (``lr: -1``, ``epochs: 0``) before anything is started; model
hyperparameter *names* are checked by the loader, their values by the model builder when a
trial starts.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmark.spec import SweepFileError, SweepSpec
from benchmark.spec.loader import not_taken, plain_message
from benchmark.spec.schema import Choice, Distribution, IntRange, LogUniform, Uniform
from benchmark.spec.smoke import smoke_trial_caps
from benchmark.train.config import TrialConfig, TrialConfigError

DEFAULT_TRIALS_PER_CELL = 10


@dataclass(frozen=True)
class Cell:
    """One architecture × dataset pair; every cell of a sweep gets the same budget."""

    index: int
    architecture_label: str
    dataset_label: str
    base_config: dict[str, Any]
    space: dict[str, Distribution] = field(default_factory=dict)
    #: Set over the sampled values too (the smoke profile's cuts); empty otherwise.
    caps: dict[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> str:
        return f"{self.architecture_label}/{self.dataset_label}"

    @property
    def architecture(self) -> str:
        return self.base_config["architecture"]

    @property
    def dataset(self) -> str:
        return self.base_config["dataset"]


@dataclass(frozen=True)
class SweepPlan:
    """What a sweep will run: its cells, the budget of each, and the seeds it will use."""

    spec: SweepSpec
    cells: list[Cell]
    trials_per_cell: int

    @property
    def search_trials(self) -> int:
        return len(self.cells) * self.trials_per_cell

    @property
    def total_trials(self) -> int:
        return len(self.cells) * (self.trials_per_cell + self.spec.repeats)

    def cell(self, key: str) -> Cell:
        return next(cell for cell in self.cells if cell.key == key)

    def search_seed(self, trial_number: int) -> int:
        """Trial k of every cell uses the same seed, so cells differ only by what they are."""
        return self.spec.search.seed + trial_number

    def repeat_seed(self, repeat_number: int) -> int:
        """Repeats use seeds no search trial used."""
        return self.spec.search.seed + self.trials_per_cell + repeat_number


def plan_sweep(
    spec: SweepSpec, source: str | Path = "<sweep>", root: Path | None = None
) -> SweepPlan:
    """The cells of ``spec`` with validated configs; ``SweepFileError`` names a bad value.

    ``root`` anchors a relative ``data_dir`` (trials run in other processes and other
    directories, so they get an absolute path).
    """
    root = root or Path.cwd()
    data_dir = _anchored(spec.data_dir, root, source, "data_dir", expand_user=False)
    cells = []
    for arch in spec.architectures:
        for dataset in spec.datasets:
            base: dict[str, Any] = {}
            try:
                for fixed in (spec.fixed, dataset.fixed, arch.fixed):
                    base = merge_values(base, fixed)
            except NotASectionError as error:
                where = where_set(spec, arch.name, dataset.name, error.key)
                raise SweepFileError(source, where, str(error)) from None
            base.update(
                architecture=arch.architecture,
                dataset=dataset.dataset,
                data_dir=str(data_dir),
                offline=spec.offline or bool(base.get("offline", False)),
            )
            options = base.get("dataset_options", {})
            if not isinstance(options, dict):
                where = where_set(spec, arch.name, dataset.name, "dataset_options")
                raise SweepFileError(
                    source, where, f"must be a mapping of dataset options (got {options!r})"
                )
            if dataset.options:
                base["dataset_options"] = {**options, **dataset.options}
            _anchor_path_option(base, root, source, arch.name, dataset.name, spec)
            _anchor_weights_file(base, root, source, arch.name, dataset.name, spec)
            if spec.targets:
                base["targets"] = list(spec.targets)
            if spec.resources.memory_per_worker_gb is not None:
                base["memory_limit_mb"] = spec.resources.memory_per_worker_gb * 1024
            space = {**spec.space, **arch.space}
            caps = _smoke_caps(base) if spec.smoke else {}
            cells.append(Cell(len(cells), arch.name, dataset.name, base, space, caps))
    grid_size = _grid_size(cells) if spec.search.algorithm == "grid" else None
    trials_per_cell = spec.search.trials_per_cell or grid_size or DEFAULT_TRIALS_PER_CELL
    if grid_size is not None and trials_per_cell > grid_size:
        raise SweepFileError(
            source,
            "search.trials_per_cell",
            f"the grid has {grid_size} points; use at most that many trials per cell",
        )
    plan = SweepPlan(spec, cells, trials_per_cell)
    for cell in cells:
        _check_cell_config(plan, cell, source)
    return plan


def trial_config(cell: Cell, params: dict[str, Any], seed: int) -> dict[str, Any]:
    """The config of one trial of ``cell``: its base, the sampled ``params``, its caps, its
    ``seed``."""
    return {**merge_values(merge_values(cell.base_config, params), cell.caps), "seed": seed}


class NotASectionError(ValueError):
    """A dotted key (``model.width``) below a key whose value is not a mapping."""

    def __init__(self, key: str, section: str, value: Any) -> None:
        self.key = key
        super().__init__(f"sets a value inside {section}, which is {value!r}, not a mapping")


def merge_values(base: dict[str, Any], updates: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``base`` with ``updates`` set; ``"model.width"`` keys set nested values.

    Raises ``NotASectionError`` when a dotted key goes below a value that is not a mapping.
    """
    result = copy.deepcopy(base)
    for key, value in updates.items():
        *parents, leaf = key.split(".")
        node = result
        for depth, part in enumerate(parents):
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise NotASectionError(key, ".".join(parents[: depth + 1]), node)
        if isinstance(value, dict) and isinstance(node.get(leaf), dict):
            node[leaf] = merge_values(node[leaf], value)
        else:
            node[leaf] = copy.deepcopy(value)
    return result


def representative_params(space: dict[str, Distribution]) -> list[dict[str, Any]]:
    """Samples at the edges of every distribution: enough to catch an impossible value."""
    low = {key: _edge(distribution, 0) for key, distribution in space.items()}
    high = {key: _edge(distribution, -1) for key, distribution in space.items()}
    return [low, high] if low != high else [low]


def _edge(distribution: Distribution, end: int) -> Any:
    if isinstance(distribution, Choice):
        return distribution.values[end]
    if isinstance(distribution, (Uniform, LogUniform, IntRange)):
        return (distribution.low, distribution.high)[end]
    raise TypeError(f"unknown distribution {distribution!r}")


def grid_points(space: dict[str, Distribution]) -> list[dict[str, Any]]:
    """Every combination of the choices of ``space``, in file order (first key slowest)."""
    points: list[dict[str, Any]] = [{}]
    for key, distribution in space.items():
        assert isinstance(distribution, Choice), "grid spaces hold choices only"
        points = [{**point, key: value} for point in points for value in distribution.values]
    return points


def _anchor_path_option(
    base: dict[str, Any], root: Path, source: str | Path, arch: str, dataset: str, spec: SweepSpec
) -> None:
    """A relative dataset ``path`` option (ImageFolder's) means relative to ``root``."""
    options = base.get("dataset_options") or {}
    path = options.get("path")
    if isinstance(path, str) and path:
        where = where_set(spec, arch, dataset, "dataset_options.path")
        base["dataset_options"] = {**options, "path": _anchored(path, root, source, where)}


def _anchor_weights_file(
    base: dict[str, Any], root: Path, source: str | Path, arch: str, dataset: str, spec: SweepSpec
) -> None:
    """A relative ``model.weights`` file means relative to ``root``, like a dataset path."""
    from benchmark.models.weights import WeightsChoice

    model = base.get("model")
    weights = model.get("weights") if isinstance(model, dict) else None
    if isinstance(weights, str) and weights and WeightsChoice.parse(weights).kind == "file":
        where = where_set(spec, arch, dataset, "model.weights")
        base["model"] = {**model, "weights": _anchored(weights, root, source, where)}


def _anchored(path: str, root: Path, source: str | Path, key: str, expand_user: bool = True) -> str:
    """``path`` as is if absolute (``~/x`` counts), else resolved against ``root``."""
    try:
        given = Path(path).expanduser() if expand_user else Path(path)
        return str(Path(path)) if given.is_absolute() else str((root / path).resolve())
    except (ValueError, RuntimeError, OSError) as error:  # a NUL byte, an unknown ~user
        raise SweepFileError(source, key, f"not a usable path {path!r} ({error})") from None


def _smoke_caps(base: dict[str, Any]) -> dict[str, Any]:
    from benchmark.data.registry import dataset_defaults

    options = {**dataset_defaults(base["dataset"]), **base.get("dataset_options", {})}
    return smoke_trial_caps(base, options)


def _grid_size(cells: list[Cell]) -> int:
    return min(len(grid_points(cell.space)) for cell in cells)


def _check_cell_config(plan: SweepPlan, cell: Cell, source: str | Path) -> None:
    _check_dataset_option_names(plan, cell, source)
    for params in representative_params(cell.space):
        try:
            config = trial_config(cell, params, plan.search_seed(0))
        except NotASectionError as error:
            where = where_set(plan.spec, cell.architecture_label, cell.dataset_label, error.key)
            raise SweepFileError(source, where, f"{error} (cell {cell.key})") from None
        try:
            TrialConfig.from_dict(config, source="")
        except TrialConfigError as error:
            key, _, problem = str(error).removeprefix(": ").partition(": ")
            if key == "(root)":
                # A check across keys ("warmup_epochs (5) must be below epochs (3)"): its
                # message starts with the key it is about.
                key = problem.removeprefix("Value error, ").split(" ")[0].rstrip(":")
            got = ""
            if problem.startswith("Input should"):
                found, value = _lookup(config, key)
                got = f"got {value!r}, " if found and not isinstance(value, (dict, list)) else ""
            where = where_set(plan.spec, cell.architecture_label, cell.dataset_label, key)
            message = f"{plain_message(problem)} ({got}cell {cell.key})"
            raise SweepFileError(source, where, message) from None
    scheduler = plan.spec.scheduler
    epochs = cell.base_config.get("epochs", TrialConfig.model_fields["epochs"].default)
    if scheduler.type != "none" and scheduler.grace_period > (scheduler.max_epochs or epochs):
        raise SweepFileError(
            source,
            "scheduler.grace_period",
            f"{scheduler.grace_period} epochs is beyond the trials' {epochs} epochs",
        )


def _check_dataset_option_names(plan: SweepPlan, cell: Cell, source: str | Path) -> None:
    """Every dataset option the cell sets is one its dataset takes (values: when it loads)."""
    from benchmark.data import dataset_defaults

    accepted = list(dataset_defaults(cell.dataset))
    for name in map(str, cell.base_config.get("dataset_options") or {}):
        if name not in accepted:
            where = where_set(
                plan.spec, cell.architecture_label, cell.dataset_label, f"dataset_options.{name}"
            )
            raise SweepFileError(source, where, not_taken(cell.dataset, "option", name, accepted))


def where_set(spec: SweepSpec, architecture_label: str, dataset_label: str, key: str) -> str:
    """The sweep-file key path that set trial option ``key`` for the cell of those labels."""
    top = key.split(".")[0]
    arch_index = next(i for i, a in enumerate(spec.architectures) if a.name == architecture_label)
    data_index = next(i for i, d in enumerate(spec.datasets) if d.name == dataset_label)
    arch, dataset = spec.architectures[arch_index], spec.datasets[data_index]
    option = key.partition(".")[2]
    if top == "dataset_options" and option.split(".")[0] in dataset.options:
        # A dataset's own options win over dataset_options set in any fixed section.
        return f"datasets[{data_index}].options.{option}"
    candidates = [
        (f"architectures[{arch_index}].space", arch.space),
        ("space", spec.space),
        (f"architectures[{arch_index}].fixed", arch.fixed),
        (f"datasets[{data_index}].fixed", dataset.fixed),
        ("fixed", spec.fixed),
    ]
    for prefix, values in candidates:
        if key in values or top in values:
            # Nested values (``fixed: {early_stopping: {patience: 0}}``) name the leaf.
            return f"{prefix}.{key}"
    if top == "dataset_options" and dataset.options:
        return f"datasets[{data_index}].options"
    return key


def _lookup(config: dict[str, Any], key: str) -> tuple[bool, Any]:
    """The value at dotted ``key`` of ``config``, and whether there is one."""
    node: Any = config
    for part in key.split("."):
        if not isinstance(node, dict) or part not in node:
            return False, None
        node = node[part]
    return True, node
