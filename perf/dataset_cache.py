"""The machine's dataset cache against decoding in every process: load time and memory.

Every process that trains loads its dataset: each lane, each Ray Train job of its own, each
inline trial, each DDP worker. What a competent user writes is torchvision's ``CIFAR10``
in each of them, which unpickles the five training files and the test file every time
(here without its MD5 check of each file, which these stand-in files would fail and
which would only add to its time).
The platform decodes a dataset once per machine into its cache (``benchmark.data.cache``)
and every later process maps that file. Measured on CIFAR-10's own file format (random
pixels), each load in a new process, the sides taking turns, best of three: the time from
the call to the images in hand, the first load (which writes the cache) apart. Then
several processes are told to load at the same moment, on an empty cache (one decodes
while the others wait for it, then map what it wrote), and once each has read every byte
of the training images their memory is summed as proportional set size (PSS: a page
shared by four counts a quarter in each), the honest total of memory that several
processes share, less the same sum taken once each had imported what it needs.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import pickle
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import harness
from loop_vs_pytorch import Workload, write_cifar10

WORKLOADS = {
    # Tiny still holds 12 MB of training images: with 1 MB (320 images) a process's own
    # churn between the two memory readings (a megabyte or so, either way) outweighed
    # them, and the memory a side's images add came out negative.
    "tiny": Workload(train_images=4_000, test_images=128, epochs=1),
    "full": Workload(train_images=50_000, test_images=10_000, epochs=1),
}
PROCESSES = {"tiny": 2, "full": 4}
REPEATS = {"tiny": 1, "full": 3}
SIDES = ("torchvision", "platform")


def _load(side: str, data_dir: Path):
    """The training images (uint8) as this side gets them, and the seconds that took.

    The clock starts after the imports (torch's, torchvision's, the platform's): what is
    compared is getting the images, which every process pays again.
    """
    if side == "torchvision":
        from torchvision.datasets import CIFAR10

        class Unchecked(CIFAR10):
            """torchvision's reader less its MD5 checks: these files hold random pixels."""

            def _check_integrity(self) -> bool:
                return True

            def _load_meta(self) -> None:  # torchvision's own, less its MD5 check
                path = os.path.join(self.root, self.base_folder, self.meta["filename"])
                with open(path, "rb") as file:
                    self.classes = pickle.load(file, encoding="latin1")[self.meta["key"]]
                self.class_to_idx = {name: index for index, name in enumerate(self.classes)}

        started = time.perf_counter()
        train = Unchecked(str(data_dir), train=True).data
        Unchecked(str(data_dir), train=False)
    else:
        from benchmark.data import get_dataset

        started = time.perf_counter()
        train = get_dataset("cifar10", data_dir, offline=True).train.images.numpy()
    return train, time.perf_counter() - started


def _side(side: str, data_dir: Path, result: Path, hold: bool) -> None:
    """Load once and say how long it took. With ``hold``: say when imported, wait for the
    parent's signal, load and read every byte, say so, and wait to be ended."""
    if not hold:
        harness.write_json(result, {"load_s": _load(side, data_dir)[1]})
        return
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGUSR1})  # kept until waited for
    importlib.import_module("torchvision.datasets" if side == "torchvision" else "benchmark.data")
    _say(result, "imported")
    signal.sigwait({signal.SIGUSR1})  # the parent has measured every process as imported
    train, _ = _load(side, data_dir)
    _say(result, str(int(train.sum(dtype="uint64"))))  # every page of the images read
    signal.pause()  # until the parent has measured again and ends this process


def _say(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` whole: a reader sees the old text or the new."""
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(text)
    temporary.replace(path)


def _pss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        if line.startswith("Pss:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no Pss line for process {pid}")


def _side_command(side: str, data_dir: Path, result: Path, hold: bool) -> list[str]:
    command = [sys.executable, __file__, "--side", side, "--result", str(result)]
    return command + ["--data-dir", str(data_dir)] + (["--hold"] if hold else [])


def _timed_load(side: str, data_dir: Path, folder: Path) -> float:
    result = folder / f"{side}-load.json"
    harness.run_process(_side_command(side, data_dir, result, hold=False)).check(side)
    return json.loads(result.read_text())["load_s"]


def _loading_together(side: str, data_dir: Path, folder: Path, count: int) -> tuple[float, float]:
    """``count`` processes told to load at the same moment: the seconds until the last of
    them holds the images, and what that added to their memory (MB): the sum of their PSS
    once each has read the images, less that sum once each had imported what it needs
    (measured with all of them alive both times, so shared libraries count alike)."""
    signals = [folder / f"{side}-hold-{index}.txt" for index in range(count)]
    for path in signals:
        path.unlink(missing_ok=True)
    processes = [
        subprocess.Popen(_side_command(side, data_dir, path, hold=True)) for path in signals
    ]

    def wait_until(ready) -> list[str]:
        while not all(path.exists() and ready(path.read_text()) for path in signals):
            failed = [process for process in processes if process.poll() is not None]
            if failed:
                raise RuntimeError(f"a {side} process exited with {failed[0].returncode}")
            time.sleep(0.1)
        return [path.read_text() for path in signals]

    def total_pss_mb() -> float:
        return sum(_pss_mb(process.pid) for process in processes)

    try:
        wait_until(lambda text: text == "imported")
        imported = total_pss_mb()
        started = time.perf_counter()
        for process in processes:
            process.send_signal(signal.SIGUSR1)
        checksums = wait_until(lambda text: text != "imported")
        seconds = time.perf_counter() - started
        if len(set(checksums)) != 1:
            raise RuntimeError(f"the {side} processes read different images")
        return seconds, total_pss_mb() - imported
    finally:
        for process in processes:
            process.terminate()
            process.wait()


def main() -> None:
    parser = harness.make_parser(__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--hold", action="store_true", help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.side is not None:
        _side(arguments.side, arguments.data_dir, arguments.result, arguments.hold)
        return
    size, workload = arguments.size, WORKLOADS[arguments.size]
    with tempfile.TemporaryDirectory(prefix="perf-dataset-cache-") as folder:
        folder = Path(folder)
        data_dir = folder / "data"
        write_cifar10(data_dir, workload, seed=0)
        # A cache of this run's own: it starts empty, and nothing is left behind.
        os.environ["BENCH_CACHE_DIR"] = str(folder / "cache")
        first_load_s = _timed_load("platform", data_dir, folder)  # decodes, writes the cache
        loads: dict[str, list[float]] = {side: [] for side in SIDES}
        for _ in range(REPEATS[size]):
            for side in SIDES:
                loads[side].append(_timed_load(side, data_dir, folder))
        count = PROCESSES[size]
        shutil.rmtree(folder / "cache")  # the processes below start on an empty cache
        together = {side: _loading_together(side, data_dir, folder, count) for side in SIDES}
    best = {side: min(times) for side, times in loads.items()}
    rows = [
        harness.Row("load in a new process, cached vs torchvision", "s",
                    best["platform"], best["torchvision"]),
        harness.Row("first load (decodes, writes the cache) vs torchvision", "s",
                    first_load_s, best["torchvision"]),
        harness.Row(f"{count} processes loading at once, empty cache: until the last has "
                    "the images", "s", together["platform"][0], together["torchvision"][0]),
        harness.Row(f"memory {count} processes holding the training images add (PSS)", "MB",
                    together["platform"][1], together["torchvision"][1]),
    ]  # fmt: skip
    harness.report(
        "Dataset cache vs decoding in every process",
        rows,
        device=arguments.device,
        size=size,
        workload={
            "dataset": "CIFAR-10 format",
            "images": f"{workload.train_images:,} train + {workload.test_images:,} test",
            "loads per side": REPEATS[size],
            "processes at once": count,
        },
        notes=[
            "load: from the call to the uint8 training images in hand (the platform's also "
            "carves its validation split), in a fresh process, best of the runs",
            "memory: the sum of the processes' PSS once each has read every training image, "
            "less that sum once each had imported what it needs, all alive both times",
        ],
        json_path=arguments.json,
    )


if __name__ == "__main__":
    sys.exit(main())
