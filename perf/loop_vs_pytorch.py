"""Benchmark 1, training loop vs hand-written PyTorch: the S3 simple CNN on CIFAR-shaped data.

Both sides train ``simple_cnn`` (study S3: conv 32, conv 64, dense 512, dense 10) with Adam
(lr 1e-3), cross-entropy and batches of 128 for the same epochs on the same images: a
CIFAR-10 folder in the real on-disk format (the python pickles), holding random images and
labels, written once into a temporary folder. Each side loads it itself, keeps 10 % of the
training images for validation, evaluates them after every epoch and the test images at
the end, each in a process of its own.

* platform: ``benchmark.train.loop.run_locally``, the per-worker loop of every trial, with
  the trial config's defaults (checkpoint states kept in memory as a trial writes them,
  inference latency measured at the end). Its batches are slices of the images held on the
  device.
* baseline: what a competent user writes: the pickles read with numpy, a ``Dataset`` that
  turns one image into a normalised float tensor (torchvision's ``ToTensor`` +
  ``Normalize``, without the PIL round trip), a ``DataLoader`` with worker processes
  (pinned memory on a GPU), the same model from ``benchmark.models.create_model`` and a
  plain loop that keeps its sums on the device.

Training throughput is timed alike on both sides: training steps of every epoch, data
included, GPU-synchronised, evaluation excluded (the platform's ``epoch_time_s``).
"""

from __future__ import annotations

import argparse
import os
import pickle
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import harness
import numpy as np

ARCHITECTURE = "simple_cnn"
BATCH_SIZE = 128
EVAL_BATCH_SIZE = 256  # the platform's inference_batch_size default
LR = 1e-3
VAL_FRACTION = 0.1
CIFAR10_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR10_STD = (0.2470, 0.2435, 0.2616)
TARGETS = {"cpu": 1.0, "cuda": 1.4}  # samples/s ratio; the platform keeps batches on the GPU
PEAK_RSS_RATIO = 1.2


@dataclass(frozen=True)
class Workload:
    """Images in the five training files together and in the test file; epochs trained."""

    train_images: int
    test_images: int
    epochs: int


# 50,000 training images is CIFAR-10 itself: minutes on a GPU. On a 2-core CPU a step of
# 128 images takes about 0.06 s, so the CPU's full size is a tenth of it, run three times.
WORKLOADS = {
    ("tiny", "cpu"): Workload(train_images=320, test_images=128, epochs=1),
    ("tiny", "cuda"): Workload(train_images=320, test_images=128, epochs=1),
    ("full", "cpu"): Workload(train_images=5_000, test_images=1_000, epochs=2),
    ("full", "cuda"): Workload(train_images=50_000, test_images=10_000, epochs=5),
}


def main() -> None:
    parser = harness.make_parser(__doc__.splitlines()[0])
    # How the parent tells a side what to train on; not for users.
    parser.add_argument("--data-dir", type=Path, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--epochs", type=int, default=1, help=argparse.SUPPRESS)
    parser.add_argument(
        "--repeats",
        type=int,
        default=None,
        help="runs of each side, taking turns; each side's fastest counts (default: 1 at "
        "size tiny, 3 at full)",
    )
    args = parser.parse_args()
    if args.side == "platform":
        harness.write_json(args.result, train_platform(args.data_dir, args.epochs, args.device))
    elif args.side == "pytorch":
        harness.write_json(args.result, train_by_hand(args.data_dir, args.epochs, args.device))
    else:
        compare(args)


def compare(args: Any) -> None:
    workload = WORKLOADS[(args.size, args.device)]
    repeats = args.repeats or (1 if args.size == "tiny" else 3)
    script = str(Path(__file__).resolve())
    with tempfile.TemporaryDirectory(prefix="perf-cifar-") as folder:
        write_cifar10(Path(folder), workload, seed=0)
        side_args = ["--data-dir", folder, "--epochs", str(workload.epochs),
                     "--device", args.device]  # fmt: skip
        best = harness.best_of_alternating(
            script, ["platform", "pytorch"], side_args, repeats,
            score=lambda figures, _: figures["train_samples"] / figures["train_time_s"],
        )  # fmt: skip
    (platform, platform_run), (baseline, baseline_run) = best["platform"], best["pytorch"]
    rows = [
        harness.Row(
            "training samples/s", "samples/s",
            platform["train_samples"] / platform["train_time_s"],
            baseline["train_samples"] / baseline["train_time_s"],
            harness.Target(TARGETS[args.device], at_least=True),
        ),
        harness.Row("run, data loading to test", "s", platform["run_s"], baseline["run_s"]),
        harness.Row("process, imports included", "s", platform_run.wall_s, baseline_run.wall_s),
        harness.Row("peak RSS", "MB", platform_run.peak_rss_mb, baseline_run.peak_rss_mb,
                    harness.Target(PEAK_RSS_RATIO, at_least=False)),
    ]  # fmt: skip
    notes = [
        f"both: {ARCHITECTURE}, Adam lr {LR}, batch {BATCH_SIZE}, {workload.epochs} epochs over "
        f"{platform['train_samples'] // workload.epochs:,} training images "
        f"({VAL_FRACTION:.0%} of {workload.train_images:,} kept for validation), "
        f"{workload.test_images:,} test images",
        f"each side ran {repeats} time(s), taking turns; figures of each side's fastest run",
        f"baseline DataLoader: {baseline['num_workers']} worker process(es); its peak RSS is "
        "the larger of the main process's and a worker's",
        "samples/s per epoch, platform: "
        + ", ".join(f"{value:,.0f}" for value in platform["epoch_samples_per_s"])
        + "; baseline: "
        + ", ".join(f"{value:,.0f}" for value in baseline["epoch_samples_per_s"]),
        "run: the platform's also profiles the model, keeps its checkpoint states in memory "
        "(its final one, and an epoch's every checkpoint_interval_s) and measures inference "
        "latency; process: imports and start-up as well",
    ]
    harness.report(
        "Training loop vs hand-written PyTorch", rows, device=args.device, size=args.size,
        workload={**asdict(workload), "model": ARCHITECTURE, "batch_size": BATCH_SIZE},
        notes=notes, json_path=args.json,
    )  # fmt: skip


def write_cifar10(root: Path, workload: Workload, seed: int) -> None:
    """``root/cifar-10-batches-py/`` as the CIFAR authors wrote it, random images inside."""
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    per_file = workload.train_images // 5
    parts = [(f"data_batch_{number}", per_file) for number in range(1, 6)]
    for name, count in [*parts, ("test_batch", workload.test_images)]:
        entry = {
            "batch_label": name,
            "labels": rng.integers(0, 10, count).tolist(),
            "data": rng.integers(0, 256, (count, 3 * 32 * 32), dtype=np.uint8),
            "filenames": [f"{name}_{index}.png" for index in range(count)],
        }
        (folder / name).write_bytes(pickle.dumps(entry, protocol=2))
    names = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship",
             "truck"]  # fmt: skip
    (folder / "batches.meta").write_bytes(pickle.dumps({"label_names": names}, protocol=2))


# --- the platform -----------------------------------------------------------------------


def train_platform(data_dir: Path, epochs: int, device: str) -> dict[str, Any]:
    from benchmark.train.loop import run_locally

    config = {
        "architecture": ARCHITECTURE,
        "dataset": "cifar10",
        "data_dir": str(data_dir),
        "offline": True,
        "val_fraction": VAL_FRACTION,
        "optimizer": "adam",
        "lr": LR,
        "batch_size": BATCH_SIZE,
        "inference_batch_size": EVAL_BATCH_SIZE,
        "epochs": epochs,
    }
    start = time.perf_counter()
    runtime = run_locally(config, device)
    run_s = time.perf_counter() - start
    history = [report for report in runtime.reports if not report["is_final"]]
    return {
        "train_samples": sum(epoch["train_samples"] for epoch in history),
        "train_time_s": sum(epoch["epoch_time_s"] for epoch in history),
        "epoch_samples_per_s": [epoch["samples_per_s"] for epoch in history],
        "run_s": run_s,
        "test_accuracy": runtime.reports[-1]["test_accuracy"],
    }


# --- the baseline -----------------------------------------------------------------------


def train_by_hand(data_dir: Path, epochs: int, device_name: str) -> dict[str, Any]:
    """A competent hand-written loop; the sums stay on the device, read once per pass."""
    import torch
    from torch.utils.data import DataLoader

    from benchmark.models import create_model

    start = time.perf_counter()
    torch.manual_seed(0)
    device = torch.device(device_name)
    folder = data_dir / "cifar-10-batches-py"
    train_images, train_labels = _read_batches([folder / f"data_batch_{n}" for n in range(1, 6)])
    test_images, test_labels = _read_batches([folder / "test_batch"])
    order = np.random.default_rng(0).permutation(len(train_labels))
    val_count = round(VAL_FRACTION * len(order))
    val_part, train_part = order[:val_count], order[val_count:]

    workers = max(1, min(8, len(os.sched_getaffinity(0)) - 1))
    pin = device.type == "cuda"

    def loader(images, labels, batch_size, shuffle):
        return DataLoader(
            CifarImages(images, labels), batch_size=batch_size, shuffle=shuffle,
            num_workers=workers, pin_memory=pin, persistent_workers=True,
        )  # fmt: skip

    train_loader = loader(train_images[train_part], train_labels[train_part], BATCH_SIZE, True)
    val_loader = loader(train_images[val_part], train_labels[val_part], EVAL_BATCH_SIZE, False)
    test_loader = loader(test_images, test_labels, EVAL_BATCH_SIZE, False)

    model = create_model(ARCHITECTURE, num_classes=10, in_channels=3, image_size=(32, 32))
    model = model.to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=LR)
    loss_fn = torch.nn.CrossEntropyLoss()

    train_samples, train_time_s, epoch_samples_per_s = 0, 0.0, []
    for _ in range(epochs):
        model.train()
        _synchronize(device)
        epoch_start = time.perf_counter()
        correct, count = torch.zeros((), dtype=torch.long, device=device), 0
        for images, labels in train_loader:
            images = images.to(device, non_blocking=True)
            labels = labels.to(device, non_blocking=True)
            logits = model(images)
            loss = loss_fn(logits, labels)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            correct += (logits.detach().argmax(dim=1) == labels).sum()
            count += labels.numel()
        _synchronize(device)
        epoch_s = time.perf_counter() - epoch_start
        train_samples, train_time_s = train_samples + count, train_time_s + epoch_s
        epoch_samples_per_s.append(count / epoch_s)
        _accuracy(model, val_loader, device)
    test_accuracy = _accuracy(model, test_loader, device)
    return {
        "train_samples": train_samples,
        "train_time_s": train_time_s,
        "epoch_samples_per_s": epoch_samples_per_s,
        "run_s": time.perf_counter() - start,
        "test_accuracy": test_accuracy,
        "num_workers": workers,
    }


class CifarImages:
    """uint8 (N, 3, 32, 32) images as normalised float tensors, one per ``__getitem__``."""

    def __init__(self, images: np.ndarray, labels: np.ndarray) -> None:
        import torch

        self.images, self.labels = images, labels
        self.mean = torch.tensor(CIFAR10_MEAN).view(3, 1, 1)
        self.std = torch.tensor(CIFAR10_STD).view(3, 1, 1)

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int):
        import torch

        image = torch.from_numpy(self.images[index]).float().div_(255.0)
        return image.sub_(self.mean).div_(self.std), int(self.labels[index])


def _read_batches(paths: list[Path]) -> tuple[np.ndarray, np.ndarray]:
    entries = []
    for path in paths:
        with open(path, "rb") as handle:
            entries.append(pickle.load(handle, encoding="latin1"))
    images = np.concatenate([entry["data"] for entry in entries]).reshape(-1, 3, 32, 32)
    labels = np.concatenate([np.asarray(entry["labels"], dtype=np.int64) for entry in entries])
    return images, labels


def _accuracy(model, loader, device) -> float:
    import torch

    model.eval()
    correct, count = torch.zeros((), dtype=torch.long, device=device), 0
    with torch.no_grad():
        for images, labels in loader:
            images = images.to(device, non_blocking=True)
            labels = labels.to(device, non_blocking=True)
            correct += (model(images).argmax(dim=1) == labels).sum()
            count += labels.numel()
    return int(correct) / max(1, count)


def _synchronize(device) -> None:
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize(device)


if __name__ == "__main__":
    sys.exit(main())
