"""Channels-last against the default memory layout: the platform's loop, per architecture.

``channels_last: true`` is a trial option (off by default). This measures what it is worth
on the device at hand: each architecture trains on the same CIFAR-format images with the
platform's loop (``run_locally``), once in each layout, the layouts taking turns and each
run repeated; the best training samples/s of each layout is kept (the least disturbed run
on a shared machine). Both layouts run in one process, after one untimed warm-up trial:
what is compared is the steps, not the imports. No target: the figures say for which
networks the option pays on this device.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import harness
from loop_vs_pytorch import Workload, write_cifar10

ARCHITECTURES = {
    "tiny": ["simple_cnn"],
    "full": ["simple_cnn", "standard_cnn", "separable_cnn", "improved_cnn", "resnet18"],
}
WORKLOADS = {
    "tiny": Workload(train_images=320, test_images=64, epochs=1),
    "full": Workload(train_images=2_000, test_images=200, epochs=1),
}
REPEATS = {"tiny": 1, "full": 2}
LAYOUTS = {"channels-last": True, "default layout": False}


def _samples_per_s(
    architecture: str, channels_last: bool, data_dir: Path, epochs: int, device: str
) -> float:
    from benchmark.train.loop import run_locally

    config = {
        "architecture": architecture, "dataset": "cifar10", "data_dir": str(data_dir),
        "offline": True, "batch_size": 64, "epochs": epochs,
        "optimizer": "adam", "channels_last": channels_last, "measure_inference": False,
        "checkpoint_every": 0,
    }  # fmt: skip
    history = [r for r in run_locally(config, device).reports if not r["is_final"]]
    samples = sum(epoch["train_samples"] for epoch in history)
    return samples / sum(epoch["epoch_time_s"] for epoch in history)


def _side(device: str, size: str, result: Path) -> None:
    """Every architecture in both layouts, taking turns, in this one process."""
    with tempfile.TemporaryDirectory(prefix="perf-layout-") as folder:
        data_dir, epochs = Path(folder), WORKLOADS[size].epochs
        write_cifar10(data_dir, WORKLOADS[size], seed=0)
        _samples_per_s(ARCHITECTURES[size][0], False, data_dir, epochs, device)  # warm-up
        best: dict[str, dict[str, float]] = {}
        for architecture in ARCHITECTURES[size]:
            for _ in range(REPEATS[size]):
                for layout, channels_last in LAYOUTS.items():
                    speed = _samples_per_s(architecture, channels_last, data_dir, epochs, device)
                    figures = best.setdefault(architecture, {})
                    figures[layout] = max(figures.get(layout, 0.0), speed)
    harness.write_json(result, best)


def main() -> None:
    arguments = harness.make_parser(__doc__.splitlines()[0]).parse_args()
    best = harness.one_side(__file__, "layouts", arguments, _side)
    if best is None:  # this process was the side
        return
    rows = [
        harness.Row(f"{architecture}, training, channels-last vs default", "samples/s",
                    figures["channels-last"], figures["default layout"])
        for architecture, figures in best.items()
    ]  # fmt: skip
    workload = WORKLOADS[arguments.size]
    harness.report(
        "Channels-last vs the default memory layout",
        rows,
        device=arguments.device,
        size=arguments.size,
        workload={
            "images": f"{workload.train_images:,} CIFAR-shaped (10 % kept for validation)",
            "epochs": workload.epochs,
            "batch": 64,
            "runs per layout": REPEATS[arguments.size],
        },
        notes=[
            "best training samples/s of each layout over its runs, the layouts taking turns; "
            "a ratio above 1 means channels_last: true trains faster on this device",
        ],
        json_path=arguments.json,
    )


if __name__ == "__main__":
    sys.exit(main())
