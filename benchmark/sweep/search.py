"""One Optuna study per cell behind Tune's single searcher, and the repeats of each best.

Tune runs one experiment so that every cell shares the cluster at once; fairness needs each
cell to have its own study and the same budget. ``CellSearcher`` hands out trials round
robin over the cells that still have budget, asks that cell's ``OptunaSearch`` for the
values, and routes each result back to the study that proposed it, so no study ever sees
another cell's trials. Once a cell's search trials are all finished, its best configuration
(by the first objective) is re-run with ``repeats`` new seeds.

Tune saves the searcher with its experiment every few seconds, while each trial's record is
written the moment it ends; a driver killed in between leaves records of trials the saved
searcher never handed out. On resume (``resume_with``) those are taken back in: their
numbers are not handed out again and their results join their cell's study, so every trial
number runs once.

A trial's config is ``{"cell", "phase", "trial_number", "seed", "params"}``; ``params``
holds the sampled values under their sweep-file keys (``lr``, ``model.width``).
"""

from __future__ import annotations

import itertools
import json
import math
import pickle
from typing import Any

from ray.tune.search import Searcher
from ray.tune.search.optuna import OptunaSearch

from benchmark.spec.schema import Choice, Distribution, IntRange, LogUniform, Uniform
from benchmark.sweep.cells import Cell, SweepPlan, grid_points

PHASE_SEARCH = "search"
PHASE_REPEAT = "repeat"
STATUS_FAILED = "failed"
STATUS_COMPLETED = "completed"
FINAL_WITH_METRICS = (STATUS_COMPLETED, "diverged")


class CellSearcher(Searcher):
    """Tune's searcher for a whole sweep: a router over one Optuna study per cell."""

    def __init__(self, plan: SweepPlan) -> None:
        super().__init__(metric=None, mode=None)
        self._plan = plan
        self._studies = {cell.key: _cell_study(plan, cell) for cell in plan.cells}
        # The trial numbers handed out (or recorded before a resume), per cell and phase.
        self._search_numbers: dict[str, set[int]] = {cell.key: set() for cell in plan.cells}
        self._repeat_numbers: dict[str, set[int]] = {cell.key: set() for cell in plan.cells}
        self._finished = {cell.key: 0 for cell in plan.cells}
        self._best: dict[str, tuple[float, dict[str, Any]]] = {}
        self._trials: dict[str, tuple[str, str, dict[str, Any]]] = {}
        self._next_cell = 0
        self._recorded_at_resume: list[dict[str, Any]] = []

    # Tune hands its TuneConfig metric/mode to every searcher; each study has its own.
    def set_search_properties(self, metric, mode, config, **spec) -> bool:
        return True

    def suggest(self, trial_id: str) -> dict[str, Any] | str | None:
        cells = self._plan.cells
        for offset in range(len(cells)):
            cell = cells[(self._next_cell + offset) % len(cells)]
            if len(self._search_numbers[cell.key]) < self._plan.trials_per_cell:
                self._next_cell = (cells.index(cell) + 1) % len(cells)
                return self._suggest_search(cell, trial_id)
        for cell in cells:
            if self._repeat_is_due(cell):
                return self._suggest_repeat(cell, trial_id)
        if any(self._repeats_pending(cell) for cell in cells):
            return None  # a cell's search is still running; its repeats come after it
        return Searcher.FINISHED

    def _suggest_search(self, cell: Cell, trial_id: str) -> dict[str, Any]:
        number = _lowest_free(self._search_numbers[cell.key])
        self._search_numbers[cell.key].add(number)
        study = self._studies[cell.key]
        if self._is_grid():
            params = grid_points(cell.space)[number]  # told to the study when it finishes
        else:
            sampled = study.suggest(trial_id) if study is not None else {}
            params = decode_params(cell.space, _flatten(sampled or {}))
        self._trials[trial_id] = (cell.key, PHASE_SEARCH, params)
        return {
            "cell": cell.key,
            "phase": PHASE_SEARCH,
            "trial_number": number,
            "seed": self._plan.search_seed(number),
            "params": params,
        }

    def _suggest_repeat(self, cell: Cell, trial_id: str) -> dict[str, Any]:
        number = _lowest_free(self._repeat_numbers[cell.key])
        self._repeat_numbers[cell.key].add(number)
        params = dict(self._best[cell.key][1])
        self._trials[trial_id] = (cell.key, PHASE_REPEAT, params)
        return {
            "cell": cell.key,
            "phase": PHASE_REPEAT,
            "trial_number": self._plan.trials_per_cell + number,
            "seed": self._plan.repeat_seed(number),
            "params": params,
        }

    def _repeat_is_due(self, cell: Cell) -> bool:
        search_done = self._finished[cell.key] >= self._plan.trials_per_cell
        return (
            search_done
            and cell.key in self._best
            and len(self._repeat_numbers[cell.key]) < self._plan.spec.repeats
        )

    def _repeats_pending(self, cell: Cell) -> bool:
        """Repeats still to come: the cell's search is running (no best is known yet)."""
        search_done = self._finished[cell.key] >= self._plan.trials_per_cell
        return self._plan.spec.repeats > 0 and not search_done

    def on_trial_complete(
        self, trial_id: str, result: dict[str, Any] | None = None, error: bool = False
    ) -> None:
        if trial_id not in self._trials:
            return
        cell_key, phase, params = self._trials.pop(trial_id)
        if phase != PHASE_SEARCH:
            return
        self._finished[cell_key] += 1
        final = result if result and result.get("is_final") else None
        failed = error or (final is not None and final.get("status") == STATUS_FAILED)
        if final is not None and final.get("status") not in FINAL_WITH_METRICS:
            final = None  # stopped early (its record says so): no final metrics
        study = self._studies[cell_key]
        if study is not None and self._is_grid():
            _add_finished_trial(study, self._plan.cell(cell_key), params, final, failed)
        elif study is not None:
            # A trial stopped early has no final metrics: Optuna records it as pruned.
            study.on_trial_complete(trial_id, None if failed else final, error=failed)
        if final is not None and final.get("status") == STATUS_COMPLETED:
            self._remember_best(cell_key, final, params)

    def _is_grid(self) -> bool:
        return self._plan.spec.search.algorithm == "grid"

    def _remember_best(self, cell_key: str, final: dict[str, Any], params: dict) -> None:
        objective = self._plan.spec.objectives[0]
        value = final.get(objective.metric)
        if value is None or not math.isfinite(float(value)):
            return
        score = float(value) if objective.direction == "max" else -float(value)
        if cell_key not in self._best or score > self._best[cell_key][0]:
            self._best[cell_key] = (score, dict(params))

    def save(self, checkpoint_path: str) -> None:
        with open(checkpoint_path, "wb") as file:
            pickle.dump(self.__dict__, file)

    def resume_with(self, records: list[dict[str, Any]]) -> None:
        """Give the sweep's records to this searcher before Tune restores its saved state."""
        self._recorded_at_resume = list(records)

    def restore(self, checkpoint_path: str) -> None:
        """Tune's restore of the saved state; then the records given by ``resume_with`` of
        trials that state never handed out are taken in (see the module's docstring)."""
        recorded, self._recorded_at_resume = self._recorded_at_resume, []
        with open(checkpoint_path, "rb") as file:
            self.__dict__.update(_numbered(pickle.load(file)))
        taken_in = [r for r in recorded if not self._knows(r)]
        for record in sorted(taken_in, key=lambda r: r["trial_number"]):
            self._take_in(record)
        for cell_key in {record["cell"] for record in taken_in}:
            self._reseed(self._plan.cell(cell_key))

    def _reseed(self, cell: Cell) -> None:
        """Give ``cell``'s sampler a new random stream after trials were taken in.

        Restored, the sampler would go on from its saved state and draw again the values
        of the trials just taken in, for the next trial numbers. The new stream is seeded
        from the cell's seed and the number of trials its study now holds, so a resume
        samples the same values each time it is made.
        """
        study = self._studies[cell.key]
        if study is None or self._is_grid():
            return
        import numpy as np

        held = len(study._ot_study.trials)
        seed = int(
            np.random.SeedSequence([_cell_seed(self._plan, cell), held]).generate_state(1)[0]
        )
        study._ot_study.sampler = _sampler(self._plan.spec.search.algorithm, seed)

    def _knows(self, record: dict[str, Any]) -> bool:
        """Whether ``record``'s trial was handed out before this searcher's state was saved."""
        cell_key, number = record["cell"], record["trial_number"]
        if cell_key not in self._search_numbers:
            return True  # not a cell of this sweep: nothing to take in
        if record["phase"] == PHASE_REPEAT:
            return number - self._plan.trials_per_cell in self._repeat_numbers[cell_key]
        return number in self._search_numbers[cell_key]

    def _take_in(self, record: dict[str, Any]) -> None:
        """Count a trial that ran and was recorded after the saved state, as if it were seen."""
        cell_key, number, params = record["cell"], record["trial_number"], record["params"]
        if record["phase"] == PHASE_REPEAT:
            self._repeat_numbers[cell_key].add(number - self._plan.trials_per_cell)
            return
        self._search_numbers[cell_key].add(number)
        self._finished[cell_key] += 1
        status = record["status"]
        final = record["metrics"] if status in FINAL_WITH_METRICS else None
        study = self._studies[cell_key]
        if study is not None:
            cell = self._plan.cell(cell_key)
            _add_finished_trial(study, cell, params, final, status == STATUS_FAILED)
        if status == STATUS_COMPLETED:
            self._remember_best(cell_key, record["metrics"], params)


def _lowest_free(taken: set[int]) -> int:
    return next(number for number in itertools.count() if number not in taken)


def _numbered(state: dict[str, Any]) -> dict[str, Any]:
    """A saved state as this version keeps it: sets of trial numbers, not counts of them."""
    state = dict(state)
    if "_handed_out" in state:
        counts = state.pop("_handed_out")
        state["_search_numbers"] = {key: set(range(n)) for key, n in counts.items()}
    if "_repeats_handed_out" in state:
        counts = state.pop("_repeats_handed_out")
        state["_repeat_numbers"] = {key: set(range(n)) for key, n in counts.items()}
    return state


def _add_finished_trial(
    study: OptunaSearch,
    cell: Cell,
    params: dict[str, Any],
    final: dict[str, Any] | None,
    failed: bool,
) -> None:
    """File a finished trial in ``study`` with its values, as ``OptunaSearch`` would.

    For trials the study did not propose itself: grid points, and trials taken in on resume.
    Failed, or a value that is not finite: failed; no final metrics: pruned.
    """
    import optuna
    from optuna.trial import TrialState

    metric = study.metric if isinstance(study.metric, list) else [study.metric]
    values = None if failed or final is None else [final.get(m) for m in metric]
    if failed or (
        values is not None and any(v is not None and not math.isfinite(v) for v in values)
    ):
        state, values = TrialState.FAIL, None
    elif values is None or None in values:
        state, values = TrialState.PRUNED, None
    else:
        state = TrialState.COMPLETE
    trial = optuna.trial.create_trial(
        state=state,
        params=encode_params(cell.space, params),
        distributions=optuna_space(cell.space),
        values=values,
    )
    study._ot_study.add_trial(trial)  # OptunaSearch keeps its study there


def _cell_study(plan: SweepPlan, cell: Cell) -> OptunaSearch | None:
    """The Optuna study of one cell (``None`` when nothing is searched)."""
    if not cell.space:
        return None
    objectives = plan.spec.objectives
    metric: str | list[str] = [o.metric for o in objectives]
    mode: str | list[str] = [o.direction for o in objectives]
    if len(objectives) == 1:
        metric, mode = metric[0], mode[0]
    # A grid's points are handed out by trial number (``grid_points``), not sampled.
    return OptunaSearch(
        space=optuna_space(cell.space),
        metric=metric,
        mode=mode,
        sampler=_sampler(plan.spec.search.algorithm, _cell_seed(plan, cell)),
    )


def _cell_seed(plan: SweepPlan, cell: Cell) -> int:
    return plan.spec.search.seed * 1000 + cell.index


def _sampler(algorithm: str, seed: int):
    import optuna

    if algorithm == "optuna-tpe":
        return optuna.samplers.TPESampler(seed=seed)
    if algorithm == "optuna-nsga2":
        return optuna.samplers.NSGAIISampler(seed=seed)
    # "random", and "grid" (whose study only files the points' results).
    return optuna.samplers.RandomSampler(seed=seed)


def optuna_space(space: dict[str, Distribution]) -> dict[str, Any]:
    """Sweep-file distributions as Optuna distributions (choices encoded, see below)."""
    from optuna.distributions import (
        CategoricalDistribution,
        FloatDistribution,
        IntDistribution,
    )

    converted: dict[str, Any] = {}
    for key, distribution in space.items():
        if isinstance(distribution, Choice):
            converted[key] = CategoricalDistribution([_encode(v) for v in distribution.values])
        elif isinstance(distribution, LogUniform):
            converted[key] = FloatDistribution(distribution.low, distribution.high, log=True)
        elif isinstance(distribution, Uniform):
            converted[key] = FloatDistribution(distribution.low, distribution.high)
        elif isinstance(distribution, IntRange):
            converted[key] = IntDistribution(
                distribution.low, distribution.high, step=distribution.step, log=distribution.log
            )
    return converted


# Optuna's categorical choices must be None, bool, int, float or str; a choice of lists
# (``model.hidden_sizes: [[256, 128], [512, 256]]``) travels as JSON text and is decoded.
def _encode(value: Any) -> Any:
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return json.dumps(value)


def encode_params(space: dict[str, Distribution], params: dict[str, Any]) -> dict[str, Any]:
    return {
        key: _encode(value) if isinstance(space.get(key), Choice) else value
        for key, value in params.items()
    }


def decode_params(space: dict[str, Distribution], params: dict[str, Any]) -> dict[str, Any]:
    decoded = {}
    for key, value in params.items():
        distribution = space.get(key)
        if isinstance(distribution, Choice):
            value = next(v for v in distribution.values if _encode(v) == value)
        decoded[key] = value
    return decoded


def _flatten(values: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Undo Tune's un-flattening of ``a/b`` keys (sweep-file keys never contain ``/``)."""
    flat: dict[str, Any] = {}
    for key, value in values.items():
        if isinstance(value, dict):
            flat.update(_flatten(value, prefix=f"{prefix}{key}/"))
        else:
            flat[f"{prefix}{key}"] = value
    return flat
