"""``CellSearcher`` driven directly, as Tune drives it: ``suggest`` for each new trial and
``on_trial_complete`` with the trial's last result (no Ray cluster, no training)."""

from __future__ import annotations

import math
import pickle

import pytest
from optuna.study import StudyDirection
from optuna.trial import TrialState
from ray.tune.search import Searcher

from benchmark.models import model_defaults
from benchmark.spec import parse_sweep
from benchmark.sweep.cells import grid_points, plan_sweep, trial_config
from benchmark.sweep.search import CellSearcher
from benchmark.train.config import TrialConfig

MLP, CNN = "mlp/digits", "simple_cnn/digits"
HIDDEN_SIZES = [[64], [128, 64]]

SWEEP = """
name: searcher
architectures:
  - architecture: mlp
    space:
      model.hidden_sizes: {type: choice, values: [[64], [128, 64]]}
  - simple_cnn
datasets: [digits]
search: {algorithm: optuna-tpe, trials_per_cell: 3, seed: 7}
space:
  lr: {type: loguniform, low: 1.0e-4, high: 1.0e-1}
  batch_size: {type: int, low: 16, high: 128, step: 16}
  optimizer: {type: choice, values: [adam, sgd]}
fixed: {epochs: 2}
"""

GRID_SWEEP = """
name: grid
architectures:
  - architecture: mlp
    space:
      model.hidden_sizes: {type: choice, values: [[64], [128, 64]]}
  - simple_cnn
datasets: [digits]
search: {algorithm: grid, seed: 3}
space:
  lr: {type: choice, values: [0.001, 0.01]}
  optimizer: {type: choice, values: [adam, sgd]}
fixed: {epochs: 2}
"""


def make_plan(*overrides: str, text: str = SWEEP):
    return plan_sweep(parse_sweep(text, overrides=list(overrides)), source="searcher.yaml")


def hand_out(searcher: CellSearcher, count: int, start: int = 0) -> dict[str, dict]:
    """``count`` suggestions for new trial ids, in the order they were handed out."""
    configs = {}
    for index in range(start, start + count):
        config = searcher.suggest(f"trial-{index}")
        assert isinstance(config, dict), (index, config)
        configs[f"trial-{index}"] = config
    return configs


def final(accuracy: float, status: str = "completed", train_time_s: float = 1.2) -> dict:
    return {
        "is_final": True,
        "status": status,
        "epoch": 2,
        "best_val_accuracy": accuracy,
        "final_val_accuracy": accuracy,
        "train_time_s": train_time_s,
    }


def of_cell(configs: dict[str, dict], cell: str) -> dict[str, dict]:
    return {trial_id: config for trial_id, config in configs.items() if config["cell"] == cell}


def test_search_trials_alternate_between_cells_until_each_has_its_budget():
    plan = make_plan()
    searcher = CellSearcher(plan)
    configs = list(hand_out(searcher, 6).values())

    assert [c["cell"] for c in configs] == [MLP, CNN] * 3
    assert all(c["phase"] == "search" for c in configs)
    for cell in (MLP, CNN):
        numbers = [c["trial_number"] for c in configs if c["cell"] == cell]
        assert numbers == [0, 1, 2]
        # Trial k of every cell has the same seed: search.seed + k.
        assert [c["seed"] for c in configs if c["cell"] == cell] == [7, 8, 9]
    assert searcher.suggest("trial-6") == Searcher.FINISHED


def test_sampled_params_lie_inside_the_declared_space_and_make_valid_trial_configs():
    assert "hidden_sizes" in model_defaults("mlp")  # the key the sweep searches for mlp
    plan = make_plan("search.trials_per_cell=12")
    configs = list(hand_out(CellSearcher(plan), 24).values())

    for config in configs:
        params = config["params"]
        assert 1e-4 <= params["lr"] <= 1e-1
        assert isinstance(params["batch_size"], int)
        assert 16 <= params["batch_size"] <= 128 and params["batch_size"] % 16 == 0
        assert params["optimizer"] in ("adam", "sgd")
        if config["cell"] == MLP:
            assert params["model.hidden_sizes"] in HIDDEN_SIZES
        else:
            assert "model.hidden_sizes" not in params  # mlp's own entry, not simple_cnn's
        values = trial_config(plan.cell(config["cell"]), params, config["seed"])
        TrialConfig.from_dict(values, source="")
    # A choice of lists comes back as the lists themselves, both of them over 12 trials.
    chosen = [c["params"]["model.hidden_sizes"] for c in configs if c["cell"] == MLP]
    assert all(isinstance(value, list) for value in chosen)
    assert {tuple(value) for value in chosen} == {(64,), (128, 64)}


def test_each_cells_study_holds_only_that_cells_trials():
    searcher = CellSearcher(make_plan())
    configs = hand_out(searcher, 6)
    for index, trial_id in enumerate(configs):
        searcher.on_trial_complete(trial_id, final(0.5 + index / 100))

    for cell in (MLP, CNN):
        trials = searcher._studies[cell]._ot_study.trials
        expected = of_cell(configs, cell)
        assert len(trials) == 3
        assert all(trial.state == TrialState.COMPLETE for trial in trials)
        assert sorted(t.params["lr"] for t in trials) == sorted(
            c["params"]["lr"] for c in expected.values()
        )
        expected_values = sorted(0.5 + list(configs).index(t) / 100 for t in expected)
        assert sorted(t.value for t in trials) == pytest.approx(expected_values)


def test_repeats_rerun_each_cells_best_configuration_with_new_seeds():
    plan = make_plan("repeats=2")
    searcher = CellSearcher(plan)
    configs = hand_out(searcher, 6)
    # Every search trial is out and none has finished: wait, the repeats are still to come.
    assert searcher.suggest("trial-6") is None

    mlp_trials = list(of_cell(configs, MLP))
    for trial_id, accuracy in zip(mlp_trials, (0.5, 0.9, 0.7), strict=True):
        searcher.on_trial_complete(trial_id, final(accuracy))
    best = configs[mlp_trials[1]]["params"]

    repeats = [searcher.suggest("trial-6"), searcher.suggest("trial-7")]
    assert [r["cell"] for r in repeats] == [MLP, MLP]
    assert [r["phase"] for r in repeats] == ["repeat", "repeat"]
    assert [r["params"] for r in repeats] == [best, best]
    assert [r["trial_number"] for r in repeats] == [3, 4]
    assert [r["seed"] for r in repeats] == [7 + 3 + 0, 7 + 3 + 1]
    # simple_cnn's search is still running: wait for it rather than finish.
    assert searcher.suggest("trial-8") is None

    for trial_id in of_cell(configs, CNN):
        searcher.on_trial_complete(trial_id, final(0.8))
    cnn_repeats = [searcher.suggest("trial-8"), searcher.suggest("trial-9")]
    assert [r["cell"] for r in cnn_repeats] == [CNN, CNN]
    assert [r["seed"] for r in cnn_repeats] == [10, 11]
    assert searcher.suggest("trial-10") == Searcher.FINISHED

    # Repeats finishing tell no study anything: each still holds its 3 search trials.
    for trial_id in ("trial-6", "trial-7", "trial-8", "trial-9"):
        searcher.on_trial_complete(trial_id, final(0.99))
    assert [len(searcher._studies[c]._ot_study.trials) for c in (MLP, CNN)] == [3, 3]


def test_the_best_configuration_of_a_min_objective_is_the_lowest():
    plan = make_plan("repeats=1", "search.objectives=[{metric: train_time_s}]")
    searcher = CellSearcher(plan)
    configs = hand_out(searcher, 6)
    mlp_trials = list(of_cell(configs, MLP))
    for trial_id, seconds in zip(mlp_trials, (3.0, 5.0, 1.5), strict=True):
        searcher.on_trial_complete(trial_id, final(0.9, train_time_s=seconds))

    repeat = searcher.suggest("trial-6")
    assert repeat["phase"] == "repeat"
    assert repeat["params"] == configs[mlp_trials[2]]["params"]
    study = searcher._studies[MLP]._ot_study
    assert study.direction == StudyDirection.MINIMIZE
    assert study.best_trial.value == 1.5


def test_failed_trials_fail_in_optuna_and_early_stopped_ones_are_pruned_never_best():
    searcher = CellSearcher(make_plan("repeats=1", "search.trials_per_cell=4"))
    configs = hand_out(searcher, 8)
    failed, errored, stopped, completed = of_cell(configs, MLP)
    # A failed trial's final report, even one with a high accuracy in it, is not a result.
    searcher.on_trial_complete(failed, final(0.99, status="failed"))
    searcher.on_trial_complete(errored, None, error=True)
    # Stopped by its cell's scheduler: its last result is an epoch report, not a final one.
    searcher.on_trial_complete(stopped, {"epoch": 1, "val_accuracy": 0.97, "is_final": False})
    searcher.on_trial_complete(completed, final(0.6))

    states = [t.state for t in searcher._studies[MLP]._ot_study.trials]
    assert states == [TrialState.FAIL, TrialState.FAIL, TrialState.PRUNED, TrialState.COMPLETE]
    repeat = searcher.suggest("trial-8")
    assert repeat["cell"] == MLP and repeat["phase"] == "repeat"
    assert repeat["params"] == configs[completed]["params"]


def test_a_cell_with_no_completed_trial_gets_no_repeats_and_the_sweep_still_finishes():
    searcher = CellSearcher(make_plan("repeats=2"))
    configs = hand_out(searcher, 6)
    for trial_id in configs:
        searcher.on_trial_complete(trial_id, final(0.5, status="failed"))
    assert searcher.suggest("trial-6") == Searcher.FINISHED


def test_a_nan_objective_is_not_chosen_as_best():
    searcher = CellSearcher(make_plan("repeats=1"))
    configs = hand_out(searcher, 6)
    diverged, nan, good = of_cell(configs, MLP)
    searcher.on_trial_complete(diverged, final(0.95, status="diverged"))
    searcher.on_trial_complete(nan, final(math.nan))
    searcher.on_trial_complete(good, final(0.4))
    assert searcher.suggest("trial-6")["params"] == configs[good]["params"]


def test_nsga2_with_two_objectives_gives_each_cell_a_multi_objective_study():
    plan = make_plan(
        "search.algorithm=optuna-nsga2",
        "search.objectives=[{metric: best_val_accuracy}, {metric: train_time_s}]",
    )
    searcher = CellSearcher(plan)
    configs = hand_out(searcher, 6)
    for index, trial_id in enumerate(configs):
        searcher.on_trial_complete(trial_id, final(0.5 + index / 10, train_time_s=10.0 - index))

    for cell in (MLP, CNN):
        study = searcher._studies[cell]._ot_study
        assert study.directions == [StudyDirection.MAXIMIZE, StudyDirection.MINIMIZE]
        assert [t.state for t in study.trials] == [TrialState.COMPLETE] * 3
        assert all(len(t.values) == 2 for t in study.trials)
        # Each later trial is both more accurate and faster: it alone is the Pareto front.
        (front,) = study.best_trials
        assert front.values == [
            max(t.values[0] for t in study.trials),
            min(t.values[1] for t in study.trials),
        ]
    assert searcher.suggest("trial-6") == Searcher.FINISHED


def test_grid_points_are_handed_out_in_file_order_first_key_slowest():
    plan = make_plan(text=GRID_SWEEP)
    assert plan.trials_per_cell == 4  # the smaller grid: simple_cnn's 2 × 2 points
    searcher = CellSearcher(plan)
    configs = hand_out(searcher, 8)

    assert [c["params"] for c in of_cell(configs, CNN).values()] == [
        {"lr": 0.001, "optimizer": "adam"},
        {"lr": 0.001, "optimizer": "sgd"},
        {"lr": 0.01, "optimizer": "adam"},
        {"lr": 0.01, "optimizer": "sgd"},
    ]
    # mlp's own key comes after the shared ones, so it varies fastest; its budget is 4.
    assert [c["params"] for c in of_cell(configs, MLP).values()] == [
        {"lr": 0.001, "optimizer": "adam", "model.hidden_sizes": [64]},
        {"lr": 0.001, "optimizer": "adam", "model.hidden_sizes": [128, 64]},
        {"lr": 0.001, "optimizer": "sgd", "model.hidden_sizes": [64]},
        {"lr": 0.001, "optimizer": "sgd", "model.hidden_sizes": [128, 64]},
    ]
    assert searcher.suggest("trial-8") == Searcher.FINISHED


#: What a searcher restored after handing out mlp 0, simple_cnn 0 and mlp 1 hands out next.
CONTINUED = [(CNN, 1), (MLP, 2), (CNN, 2)]


def restore_and_hand_out(plan, path, count: int) -> tuple[CellSearcher, dict[str, dict]]:
    """A new searcher (as Tune makes it on resume) restored from ``path``, saved after 3
    trials were handed out; its next ``count`` suggestions."""
    restored = CellSearcher(plan)
    restored.restore(str(path))
    return restored, hand_out(restored, count, start=3)


def test_a_restored_searcher_continues_where_the_saved_one_left_off(tmp_path):
    plan = make_plan("repeats=1")
    searcher = CellSearcher(plan)
    first = hand_out(searcher, 3)  # mlp 0, simple_cnn 0, mlp 1
    searcher.on_trial_complete("trial-0", final(0.7))
    path = tmp_path / "searcher.pkl"
    searcher.save(str(path))

    restored, rest = restore_and_hand_out(plan, path, 3)
    assert [(c["cell"], c["trial_number"]) for c in rest.values()] == CONTINUED
    handed_out = [(c["cell"], c["trial_number"]) for c in [*first.values(), *rest.values()]]
    assert len(set(handed_out)) == 6

    # Trials in flight when it was saved complete on the restored searcher's studies.
    for trial_id in ["trial-1", "trial-2", *rest]:
        restored.on_trial_complete(trial_id, final(0.8))
    assert [len(restored._studies[c]._ot_study.trials) for c in (MLP, CNN)] == [3, 3]
    repeats = [restored.suggest("trial-6"), restored.suggest("trial-7")]
    assert sorted((r["cell"], r["trial_number"], r["phase"]) for r in repeats) == [
        (MLP, 3, "repeat"),
        (CNN, 3, "repeat"),
    ]
    assert restored.suggest("trial-8") == Searcher.FINISHED


def recorded(config: dict, trial_id: str, accuracy: float, status: str = "completed") -> dict:
    """A trial's record on disk, as ``TrialRecorder`` writes it (the keys the searcher reads)."""
    metrics = {k: v for k, v in final(accuracy, status).items() if k not in ("is_final",)}
    return {"trial_id": trial_id, **config, "status": status, "metrics": metrics}


def test_trials_recorded_after_the_saved_state_are_taken_in_on_resume(tmp_path):
    """A driver killed between Tune's save of the searcher and its next one leaves records
    of trials the saved searcher never handed out: on resume their numbers are not handed
    out again (an unrecorded one is), and their results join their cell's study."""
    plan = make_plan("search.trials_per_cell=4")
    searcher = CellSearcher(plan)
    hand_out(searcher, 4)  # mlp 0, simple_cnn 0, mlp 1, simple_cnn 1
    path = tmp_path / "searcher.pkl"
    searcher.save(str(path))
    after = hand_out(searcher, 4, start=4)  # mlp 2, simple_cnn 2, mlp 3, simple_cnn 3
    # Killed: mlp 2 was in flight; mlp 3 and simple_cnn 2 had finished and been recorded.
    mlp_3, cnn_2 = after["trial-6"], after["trial-5"]
    assert (mlp_3["cell"], mlp_3["trial_number"]) == (MLP, 3)
    assert (cnn_2["cell"], cnn_2["trial_number"]) == (CNN, 2)
    records = [recorded(mlp_3, "trial-6", 0.93), recorded(cnn_2, "trial-5", 0.4, "failed")]

    restored = CellSearcher(plan)
    restored.resume_with(records)
    restored.restore(str(path))
    rest = hand_out(restored, 2, start=100)
    # The unrecorded mlp 2 is handed out again; the recorded numbers are not.
    assert [(c["cell"], c["trial_number"]) for c in rest.values()] == [(MLP, 2), (CNN, 3)]
    assert restored.suggest("trial-200") == Searcher.FINISHED

    mlp_study = restored._studies[MLP]._ot_study
    (taken_in,) = [t for t in mlp_study.trials if t.state == TrialState.COMPLETE]
    assert taken_in.value == 0.93
    assert taken_in.params["lr"] == mlp_3["params"]["lr"]
    assert taken_in.params["model.hidden_sizes"] in ("[64]", "[128, 64]")
    (failed,) = [t for t in restored._studies[CNN]._ot_study.trials if t.state == TrialState.FAIL]
    assert failed.params["lr"] == cnn_2["params"]["lr"]


def test_a_grid_point_recorded_after_the_saved_state_is_not_run_again(tmp_path):
    plan = make_plan(text=GRID_SWEEP)
    searcher = CellSearcher(plan)
    hand_out(searcher, 2)  # mlp 0, simple_cnn 0
    path = tmp_path / "searcher.pkl"
    searcher.save(str(path))
    after = hand_out(searcher, 2, start=2)  # mlp 1, simple_cnn 1
    mlp_1 = after["trial-2"]
    assert mlp_1["trial_number"] == 1

    restored = CellSearcher(plan)
    restored.resume_with([recorded(mlp_1, "trial-2", 0.8)])
    restored.restore(str(path))
    rest = hand_out(restored, 2, start=100)
    points = {MLP: grid_points(plan.cell(MLP).space), CNN: grid_points(plan.cell(CNN).space)}
    assert [(c["cell"], c["params"]) for c in rest.values()] == [
        (MLP, points[MLP][2]),  # the next grid point: mlp 1's was recorded
        (CNN, points[CNN][1]),  # simple_cnn 1 was in flight: its point runs again
    ]
    # The grid's study files each point's result: the one taken in, then one finishing now.
    restored.on_trial_complete("trial-100", final(0.6))
    trials = restored._studies[MLP]._ot_study.trials
    assert [(t.state, t.value) for t in trials] == [
        (TrialState.COMPLETE, 0.8),
        (TrialState.COMPLETE, 0.6),
    ]
    assert [t.params["model.hidden_sizes"] for t in trials] == ["[128, 64]", "[64]"]


def test_a_repeat_recorded_after_the_saved_state_is_not_run_again(tmp_path):
    plan = make_plan("repeats=1")
    searcher = CellSearcher(plan)
    configs = hand_out(searcher, 6)
    for index, trial_id in enumerate(configs):
        searcher.on_trial_complete(trial_id, final(0.5 + index / 100))
    path = tmp_path / "searcher.pkl"
    searcher.save(str(path))
    mlp_repeat = searcher.suggest("trial-6")
    assert (mlp_repeat["cell"], mlp_repeat["phase"]) == (MLP, "repeat")

    restored = CellSearcher(plan)
    restored.resume_with([recorded(mlp_repeat, "trial-6", 0.9)])
    restored.restore(str(path))
    cnn_repeat = restored.suggest("trial-7")
    assert (cnn_repeat["cell"], cnn_repeat["phase"]) == (CNN, "repeat")
    assert restored.suggest("trial-8") == Searcher.FINISHED
    # A repeat tells no study anything, on resume as when it finishes.
    assert [len(restored._studies[c]._ot_study.trials) for c in (MLP, CNN)] == [3, 3]


def test_a_state_saved_with_counts_of_trials_handed_out_is_restored_as_numbers(tmp_path):
    """A sweep interrupted under a version that counted the trials it handed out."""
    plan = make_plan("repeats=1")
    searcher = CellSearcher(plan)
    hand_out(searcher, 3)  # mlp 0, simple_cnn 0, mlp 1
    state = dict(searcher.__dict__)
    state["_handed_out"] = {key: len(n) for key, n in state.pop("_search_numbers").items()}
    state["_repeats_handed_out"] = {key: 0 for key in state.pop("_repeat_numbers")}
    del state["_recorded_at_resume"]
    path = tmp_path / "searcher.pkl"
    path.write_bytes(pickle.dumps(state))

    _, rest = restore_and_hand_out(plan, path, 3)
    assert [(c["cell"], c["trial_number"]) for c in rest.values()] == CONTINUED


@pytest.mark.parametrize("algorithm", ["random", "optuna-tpe"])
def test_after_a_trial_is_taken_in_the_search_does_not_draw_its_values_again(tmp_path, algorithm):
    plan = make_plan(f"search.algorithm={algorithm}")
    searcher = CellSearcher(plan)
    hand_out(searcher, 2)  # mlp 0, simple_cnn 0
    path = tmp_path / "searcher.pkl"
    searcher.save(str(path))
    taken = searcher.suggest("trial-2")  # mlp 1: recorded, then the driver was killed
    assert (taken["cell"], taken["trial_number"]) == (MLP, 1)

    def resumed_mlp_params() -> dict:
        restored = CellSearcher(plan)
        restored.resume_with([recorded(taken, "trial-2", 0.9)])
        restored.restore(str(path))
        nexts = hand_out(restored, 2, start=100)  # simple_cnn 1, mlp 2
        (mlp_2,) = of_cell(nexts, MLP).values()
        assert mlp_2["trial_number"] == 2
        return mlp_2["params"]

    # Restored as saved, the sampler would draw mlp 1's values again for mlp 2.
    assert resumed_mlp_params()["lr"] != taken["params"]["lr"]
    # The new stream is the same on every resume of the same sweep.
    assert resumed_mlp_params() == resumed_mlp_params()
