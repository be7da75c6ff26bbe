"""Benchmark 3, sweep vs plain Optuna: the same trials through `bench submit` and through a
single-process Optuna loop, on one device.

The trials are S3's simple CNN (2.1 M parameters) for 2 epochs on CIFAR-shaped images
(CIFAR-10's own file format, random pixels), the learning rate searched at random with the
same seed on every side. The baseline is what a competent user writes without the
platform: ``optuna.create_study`` and an objective that calls a training function in the
same process; to compare orchestration and nothing else, that function is the platform's
own loop (``run_locally``), so both sides train identically. The platform runs the same
trials one at a time on the whole device (all CPUs, or the GPU): on a warm Train lane
(``execution: pooled``, the default), as Ray Train jobs of their own (``execution:
train``) and inline (``execution: inline``). On a CPU the one-job-per-trial side runs 8 of
the 24 trials (each costs some 20 s of start-up there), against an Optuna run of 8.
``--size tiny`` runs the inline side only. ``--packing 1,4`` runs the platform's sides once
per number of trials at once on the device (on a GPU each gets that share of it): a sweep
may pack small trials where a single-process loop cannot. ``--devices 2`` (with ``--device
cuda``) spreads the platform's trials over two GPUs, as many at once on each, while the
Optuna loop keeps its one process on one GPU: the target there is to be faster than the
loop (a ratio of 1 at most). ``perf/slots_busy.py`` runs the same sides and measures how
busy the slots are.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import harness
import sweep_timeline
from loop_vs_pytorch import Workload, write_cifar10

ARCHITECTURE = "simple_cnn"
TARGET_RATIO = 1.3
#: With two devices or more the platform must beat the single-process loop outright.
TARGET_RATIO_SEVERAL_DEVICES = 1.0


@dataclass(frozen=True)
class Trials:
    """``count`` trials of ``epochs`` each on ``images``; the Ray Train side runs
    ``train_count`` of them (fewer on a CPU, where each costs some 20 s of start-up), and is
    compared with an Optuna run of as many."""

    count: int
    epochs: int
    images: Workload
    train_count: int

    def counts(self, execution: str) -> int:
        return self.train_count if execution == "train" else self.count


SIZES = {
    ("tiny", "cpu"): Trials(2, 1, Workload(train_images=320, test_images=128, epochs=1), 2),
    ("tiny", "cuda"): Trials(2, 1, Workload(train_images=320, test_images=128, epochs=1), 2),
    ("full", "cpu"): Trials(24, 2, Workload(train_images=2_000, test_images=500, epochs=2), 8),
    ("full", "cuda"): Trials(
        24, 2, Workload(train_images=50_000, test_images=10_000, epochs=2), 24
    ),
}


def trial_values(data_dir: Path, epochs: int) -> dict[str, Any]:
    """What every trial of every side fixes (the learning rate is searched)."""
    return {
        "architecture": ARCHITECTURE, "dataset": "cifar10", "data_dir": str(data_dir),
        "offline": True, "epochs": epochs, "batch_size": 128, "optimizer": "adam",
        "measure_inference": False,
    }  # fmt: skip


def sweep_yaml(
    data_dir: Path,
    trials: Trials,
    count: int,
    execution: str,
    device: str,
    slots: int,
    devices: int = 1,
) -> str:
    """The platform's sweep file: ``slots`` trials at once on each of ``devices`` devices
    (on a GPU each trial gets 1/``slots`` of one)."""
    fixed = trial_values(data_dir, trials.epochs)
    if device == "cuda":
        share = f"cpus_per_worker: 1, gpus_per_worker: {1 / slots:g}"
    else:
        share = f"cpus_per_worker: {os.cpu_count() / slots:g}, gpus_per_worker: 0"
    return f"""
name: vs-optuna-{execution}
architectures: [{ARCHITECTURE}]
datasets: [{{dataset: cifar10}}]
data_dir: {data_dir}
offline: true
search: {{algorithm: random, trials_per_cell: {count}, max_concurrent: {slots * devices}, seed: 0}}
space:
  lr: {{type: loguniform, low: 1.0e-4, high: 1.0e-2}}
fixed: {{epochs: {fixed["epochs"]}, batch_size: {fixed["batch_size"]}, optimizer: adam,
        measure_inference: false}}
resources: {{execution: {execution}, {share}}}
"""


def bench_side(
    execution: str, data_dir: Path, trials: Trials, count: int, device: str, slots: int,
    devices: int,
):  # fmt: skip
    with harness.sweep_folder(f"sweep-{execution}-{slots}-slots") as folder:
        return sweep_timeline.run_sweep(
            sweep_yaml(data_dir, trials, count, execution, device, slots, devices), folder
        )


def optuna_side(data_dir: Path, trials: Trials, count: int, device: str) -> dict[str, Any]:
    """One process: an Optuna study whose objective trains in that process, on the
    images decoded once (as the platform's lanes keep them)."""
    started_at = sweep_timeline.timestamp()
    started = time.perf_counter()
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    records = []

    def objective(trial: optuna.Trial) -> float:
        values = {**trial_values(data_dir, trials.epochs), "checkpoint_every": 0}
        values["lr"] = trial.suggest_float("lr", 1e-4, 1e-2, log=True)
        records.append(sweep_timeline.run_plain_trial(values, device))
        return records[-1]["best_val_accuracy"]

    from benchmark.data import keep_datasets

    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.RandomSampler(0))
    with keep_datasets():  # a competent user decodes the data once, not once per trial
        study.optimize(objective, n_trials=count)
    return {"wall_s": time.perf_counter() - started, "started_at": started_at, "records": records}


def run_levels(
    arguments, levels: list[int], sides: list[tuple[str, int]]
) -> dict[int, dict[tuple[str, int], dict[str, Any]]]:
    """Each packing level's figures; the Optuna sides, which have no level, run once (with
    the first)."""
    figures: dict[int, dict[tuple[str, int], dict[str, Any]]] = {}
    for level in levels:
        wanted = sides if not figures else [side for side in sides if side[0] != "optuna"]
        figures[level] = run_sides(arguments, slots=level, sides=wanted)
    return figures


def run_sides(
    arguments, slots: int, sides: list[tuple[str, int]]
) -> dict[tuple[str, int], dict[str, Any]]:
    """Write the images once, then run each (side, trials) in its own process; their figures."""
    trials = SIZES[(arguments.size, arguments.device)]
    script = str(Path(__file__).resolve())
    figures = {}
    with tempfile.TemporaryDirectory(prefix="perf-cifar-") as folder:
        write_cifar10(Path(folder), trials.images, seed=0)
        common = ["--device", arguments.device, "--size", arguments.size,
                  "--data-dir", folder, "--slots", str(slots),
                  "--devices", str(arguments.devices)]  # fmt: skip
        for side, count in dict.fromkeys(sides):
            figures[side, count], _ = harness.run_side(
                script, side, [*common, "--trials", str(count)]
            )
    return figures


def sides_for(trials: Trials, executions: list[str]) -> list[tuple[str, int]]:
    """Each execution's run and the Optuna run of as many trials."""
    sides = []
    for execution in executions:
        count = trials.counts(execution)
        sides += [("optuna", count), (execution, count)]
    return sides


def side_main(arguments) -> None:
    trials = SIZES[(arguments.size, arguments.device)]
    if arguments.side == "optuna":
        figures = optuna_side(arguments.data_dir, trials, arguments.trials, arguments.device)
    else:
        figures = bench_side(
            arguments.side, arguments.data_dir, trials, arguments.trials, arguments.device,
            arguments.slots, arguments.devices,
        )  # fmt: skip
    harness.write_json(arguments.result, figures)


def parser(description: str, default_levels_help: str = "1"):
    parser = harness.make_parser(description)
    parser.add_argument("--data-dir", type=Path, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--slots", type=int, default=1, help=argparse.SUPPRESS)
    parser.add_argument("--trials", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument(
        "--packing",
        type=_packing_levels,
        default=None,
        metavar="N[,N…]",
        help="trials at once on the device, comma-separated: the platform's sides run once "
        "per level, each trial with 1/N of the GPU or of the cores "
        f"(default: {default_levels_help})",
    )
    parser.add_argument(
        "--devices",
        type=_devices,
        default=1,
        metavar="N",
        help="GPUs the platform's sides spread their trials over, each packing level's "
        "number at once on each (with --device cuda); the Optuna loop keeps one "
        "(default: 1)",
    )
    return parser


def _packing_levels(text: str) -> list[int]:
    # Imported here: a side's process must not import the platform before its clock starts.
    from benchmark.sweep.packing import parse_levels

    try:
        return parse_levels(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _devices(text: str) -> int:
    try:
        devices = int(text)
    except ValueError:
        devices = 0
    if devices < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: give a whole number of GPUs, 1 or more")
    return devices


def parse_arguments(description: str, default_levels_help: str = "1") -> argparse.Namespace:
    """The options, parsed: several devices are GPUs (a CPU is one device, however many
    cores it has), and this machine has them unless the sides join a cluster."""
    options = parser(description, default_levels_help)
    arguments = options.parse_args()
    if arguments.devices > 1 and arguments.device != "cuda":
        options.error(f"--devices: {arguments.devices} needs --device cuda (a CPU is one device)")
    if arguments.devices > 1 and arguments.side is None and harness.ray_address() is None:
        import torch  # here only: a side's process must not import it before its clock starts

        found = torch.cuda.device_count()
        if found < arguments.devices:
            options.error(
                f"--devices: {arguments.devices} GPUs asked for; this machine has {found}"
            )
    return arguments


def main() -> None:
    arguments = parse_arguments(__doc__.splitlines()[0])
    if arguments.side is not None:
        side_main(arguments)
        return
    trials = SIZES[(arguments.size, arguments.device)]
    executions = harness.executions(arguments)
    levels = arguments.packing or [1]
    figures = run_levels(arguments, levels, sides_for(trials, executions))
    rows, notes = [], []
    devices = arguments.devices
    target = TARGET_RATIO if devices == 1 else TARGET_RATIO_SEVERAL_DEVICES
    for execution in executions:
        count = trials.counts(execution)
        plain = figures[levels[0]]["optuna", count]
        plain_times = sweep_timeline.trial_times(plain["records"])
        for level in levels:
            platform = figures[level][execution, count]
            at_once = "" if level == 1 else f", {level} at once"
            if devices > 1:
                at_once = f", {level} at once on each of {devices} GPUs"
            rows.append(
                harness.Row(
                    f"wall time of {count} trials, bench ({execution}{at_once}) vs Optuna",
                    "s",
                    platform["wall_s"],
                    plain["wall_s"],
                    harness.Target(target, at_least=False),
                )
            )
            if level * devices == 1:  # one after another: the gaps between trials are their cost
                times = sweep_timeline.trial_times(platform["records"])
                notes.append(
                    f"{count} trials: fixed cost per trial after the first, bench "
                    f"({execution}) {sweep_timeline.steady_fixed_cost_s(times):.2f} s, Optuna "
                    f"{sweep_timeline.steady_fixed_cost_s(plain_times):.2f} s"
                )
                notes.append(f"bench ({execution}): {sweep_timeline.phases(platform)}")
                notes.append(f"Optuna ({count} trials): {sweep_timeline.phases(plain)}")
    notes.append(f"{harness.sweep_start_note()}; Optuna's include its imports")
    harness.report(
        "Benchmark 3: sweep vs plain Optuna, "
        + ("one device" if devices == 1 else f"{devices} devices against one"),
        rows,
        device=arguments.device,
        size=arguments.size,
        workload={
            "model": ARCHITECTURE,
            "images": f"{trials.images.train_images:,} CIFAR-shaped",
            "trials": trials.count,
            "trials_as_train_jobs": trials.train_count,
            "epochs": trials.epochs,
            "batch": 128,
            "devices": devices,
        },
        notes=notes,
        json_path=arguments.json,
    )


if __name__ == "__main__":
    sys.exit(main())
