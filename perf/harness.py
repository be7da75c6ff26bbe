"""What every benchmark script under ``perf/`` shares: options, machine, measured runs, output.

A script compares the platform with what a competent user would write instead, in one run
on the same data, and prints both figures, their ratio and the target the ratio (or the
platform's own figure) must meet. Each side runs in a process of its own (``run_process``),
so that a peak memory figure is that side's alone. The scripts import this module as a
sibling (``python perf/<script>.py`` puts ``perf/`` on ``sys.path``); it imports neither
torch nor the platform, so that a measured process carries only what it imports itself.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from importlib import metadata
from pathlib import Path
from typing import Any


def make_parser(description: str) -> argparse.ArgumentParser:
    """The options every script takes: ``--device``, ``--size`` and ``--json``."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument(
        "--size",
        choices=("tiny", "full"),
        default="full",
        help="tiny: seconds, a smoke test of the script; full: the figures worth quoting",
    )
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    parser.add_argument(
        "--executions",
        type=_executions,
        default=None,
        help="the platform's execution modes to run, comma-separated, of "
        f"{','.join(EXECUTIONS)} (default: all at size full, inline at size tiny); "
        "scripts that run no sweep ignore it",
    )
    parser.add_argument(
        "--keep-results",
        type=Path,
        default=None,
        action=_KeepResults,
        metavar="DIR",
        help="run each sweep side's sweep under DIR and keep it there (records, Parquet, "
        "Tune's and Train's state and logs), even when the side is killed; by default "
        "they go to a temporary folder",
    )
    parser.add_argument(
        "--address",
        default=None,
        action=_RayAddress,
        metavar="HOST:PORT",
        help="run each sweep side's sweep on the running Ray cluster at this address (as "
        "`bench submit --address` does) instead of a Ray instance of its own: Ray's start is "
        "then not in the sweep's wall time, and its trials use the cluster's machine caches; "
        "scripts that run no sweep ignore it",
    )
    # How the parent runs one side in a child process (``run_side``); not for users.
    parser.add_argument("--side", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--result", type=Path, default=None, help=argparse.SUPPRESS)
    return parser


EXECUTIONS = ("pooled", "train", "inline")
# Where ``--keep-results`` puts the sweeps; an environment variable, so that the side
# processes (``run_side``) inherit it.
KEEP_RESULTS_ENV = "PERF_KEEP_RESULTS"


# The cluster ``--address`` names, for the same reason.
RAY_ADDRESS_ENV = "PERF_RAY_ADDRESS"


class _KeepResults(argparse.Action):
    def __call__(self, parser, namespace, values, option_string=None) -> None:
        os.environ[KEEP_RESULTS_ENV] = str(Path(values).resolve())
        setattr(namespace, self.dest, values)


class _RayAddress(argparse.Action):
    """Checked as ``bench submit --address`` checks it, before any side runs."""

    def __call__(self, parser, namespace, values, option_string=None) -> None:
        # Imported here: a side's process must not import the platform before its clock starts.
        from benchmark.cluster import ClusterError, prepare_ray

        try:
            prepare_ray(values)
        except ClusterError as error:
            parser.error(f"--address: {error}")
        os.environ[RAY_ADDRESS_ENV] = values
        setattr(namespace, self.dest, values)


def ray_address() -> str | None:
    """The Ray cluster the sweep sides join (``--address``); ``None``: each starts its own."""
    return os.environ.get(RAY_ADDRESS_ENV)


def sweep_start_note() -> str:
    """What a sweep side's wall time includes before its first trial, said in the notes."""
    address = ray_address()
    if address is None:
        return "bench's walls include its imports and Ray's start in the side's process"
    return f"bench's walls include its imports and joining the running Ray cluster at {address}"


def sweep_folder(name: str) -> contextlib.AbstractContextManager[Path]:
    """Where a side runs its sweep: a new folder under ``--keep-results``'s, or a temporary
    one removed afterwards."""
    kept = os.environ.get(KEEP_RESULTS_ENV)
    if kept is None:
        return _temporary_folder(name)
    Path(kept).mkdir(parents=True, exist_ok=True)
    return contextlib.nullcontext(Path(tempfile.mkdtemp(prefix=f"{name}-", dir=kept)))


@contextlib.contextmanager
def _temporary_folder(name: str) -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix=f"perf-{name}-") as folder:
        yield Path(folder)


def executions(arguments: argparse.Namespace) -> list[str]:
    """The execution modes a sweep script runs: ``--executions``, else its size's default.

    At size tiny only ``inline`` runs by default: a smoke test must take seconds, and a
    Ray Train side alone takes tens of them here to start.
    """
    if arguments.executions is not None:
        return arguments.executions
    return ["inline"] if arguments.size == "tiny" else list(EXECUTIONS)


def _executions(text: str) -> list[str]:
    chosen = [name.strip() for name in text.split(",") if name.strip()]
    unknown = [name for name in chosen if name not in EXECUTIONS]
    if unknown or not chosen:
        raise argparse.ArgumentTypeError(
            f"{text!r}: name one or more of {', '.join(EXECUTIONS)}, comma-separated"
        )
    return list(dict.fromkeys(chosen))


def machine(device: str) -> dict[str, Any]:
    """What the figures were measured on: CPU model, cores, RAM, GPU, torch version.

    Asks the GPU's name only when it is the device (through torch, imported here and only
    then) or when ``nvidia-smi`` can say it, so that describing a CPU run stays cheap.
    """
    memory_kb = _meminfo_kb("MemTotal")
    return {
        "cpu": _cpu_model(),
        "cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "ram_gb": round(memory_kb / 2**20, 1) if memory_kb else None,
        "gpu": _gpu_name(device),
        "torch": _version("torch"),
        "python": platform.python_version(),
        # Without compiled bytecode every process compiles what it imports afresh, which
        # triples import times (torch, scikit-learn) and so every whole-process figure.
        "bytecode_compiled": _bytecode_compiled("torch"),
        "os": platform.platform(),
    }


@dataclass(frozen=True)
class ProcessRun:
    """One finished child process: exit status, wall time, peak resident memory, output."""

    returncode: int
    wall_s: float
    peak_rss_mb: float
    stdout: str
    stderr: str

    def check(self, what: str) -> ProcessRun:
        """This run, or a ``RuntimeError`` with the end of its stderr when it failed."""
        if self.returncode != 0:
            raise RuntimeError(f"{what} exited with {self.returncode}:\n{self.stderr[-4000:]}")
        return self


def run_process(command: list[str], env: dict[str, str] | None = None) -> ProcessRun:
    """Run ``command`` to its end; its peak RSS is what the kernel recorded for it.

    ``wait4`` returns the child's own high-water mark of resident memory (the ``VmHWM`` of
    ``/proc/<pid>/status``), or that of the largest process it waited for, such as a
    DataLoader worker, if that one was larger. It needs nothing inside the child, so the
    same figure serves a script of ours and ``bench report`` as a user runs it, and a fresh
    process needs no reset (``benchmark.train.hardware.reset_peak_memory`` exists for the
    trials that share one).
    """
    with tempfile.TemporaryFile() as stdout, tempfile.TemporaryFile() as stderr:
        start = time.perf_counter()
        process = subprocess.Popen(command, stdout=stdout, stderr=stderr, env=env)
        _, status, usage = os.wait4(process.pid, 0)
        wall_s = time.perf_counter() - start
        process.returncode = os.waitstatus_to_exitcode(status)
        stdout.seek(0)
        stderr.seek(0)
        return ProcessRun(
            returncode=process.returncode,
            wall_s=wall_s,
            peak_rss_mb=usage.ru_maxrss / 2**10,  # kilobytes on Linux
            stdout=stdout.read().decode(errors="replace"),
            stderr=stderr.read().decode(errors="replace"),
        )


def run_side(script: str, side: str, arguments: list[str]) -> tuple[dict[str, Any], ProcessRun]:
    """Run ``script --side side ARGUMENTS`` and return the figures it wrote, and the run.

    Each side starts with an empty machine cache of its own (``BENCH_CACHE_DIR``): a
    dataset it maps from there, it decoded itself, never another side before it, and the
    platform's side migrates its MLflow store as a machine's first sweep does.
    """
    with tempfile.TemporaryDirectory(prefix="perf-side-") as folder:
        result = Path(folder) / "result.json"
        command = [sys.executable, script, "--side", side, "--result", str(result), *arguments]
        env = {**os.environ, "BENCH_CACHE_DIR": str(Path(folder) / "machine-cache")}
        run = run_process(command, env).check(f"the {side} side")
        return json.loads(result.read_text()), run


def one_side(
    script: str,
    side: str,
    arguments: argparse.Namespace,
    measure: Callable[[str, str, Path], None],
) -> dict[str, Any] | None:
    """For a script whose measurements all run in one child process.

    In that child (``--side``), call ``measure(device, size, result)`` and return ``None``;
    in the parent, run the child and return the figures it wrote.
    """
    if arguments.side is not None:
        measure(arguments.device, arguments.size, arguments.result)
        return None
    common = ["--device", arguments.device, "--size", arguments.size]
    figures, _ = run_side(script, side, common)
    return figures


def best_of_alternating(
    script: str,
    sides: list[str],
    arguments: list[str],
    repeats: int,
    score: Callable[[dict[str, Any], ProcessRun], float],
) -> dict[str, tuple[dict[str, Any], ProcessRun]]:
    """Run every side ``repeats`` times, taking turns, and keep each side's best run.

    On a shared machine another job may slow any one run down; taking turns spreads that
    over the sides, and the best run of each (highest ``score``) is its least disturbed.
    """
    runs: dict[str, list[tuple[dict[str, Any], ProcessRun]]] = {side: [] for side in sides}
    for _ in range(max(1, repeats)):
        for side in sides:
            runs[side].append(run_side(script, side, arguments))
    return {side: max(found, key=lambda run: score(*run)) for side, found in runs.items()}


@dataclass(frozen=True)
class Target:
    """A bound to meet: on the ratio platform / baseline, or on the platform's figure."""

    limit: float
    at_least: bool
    on_ratio: bool = True
    unit: str = ""

    def met(self, platform_value: float, ratio: float) -> bool:
        value = ratio if self.on_ratio else platform_value
        return value >= self.limit if self.at_least else value <= self.limit

    def __str__(self) -> str:
        sign = "≥" if self.at_least else "≤"
        subject = "ratio " if self.on_ratio else ""
        return f"{subject}{sign} {self.limit:g}{' ' + self.unit if self.unit else ''}"


@dataclass(frozen=True)
class Row:
    """One compared figure: the platform's, the baseline's, their ratio, and its target."""

    name: str
    unit: str
    platform: float
    baseline: float
    target: Target | None = None

    @property
    def ratio(self) -> float:
        return self.platform / self.baseline if self.baseline else float("nan")

    @property
    def met(self) -> bool | None:
        return None if self.target is None else self.target.met(self.platform, self.ratio)

    def as_dict(self) -> dict[str, Any]:
        values = asdict(self)
        values.update(target=str(self.target) if self.target else None, ratio=self.ratio)
        values["met"] = self.met
        return values


def report(
    title: str,
    rows: list[Row],
    *,
    device: str,
    size: str,
    workload: dict[str, Any],
    notes: list[str],
    json_path: Path | None,
) -> dict[str, Any]:
    """Print the machine, the workload, the table of rows and the notes; write the JSON."""
    from rich.console import Console
    from rich.table import Table

    described = machine(device)
    console = Console(width=None if sys.stdout.isatty() else 120)
    console.print(f"[bold]{title}[/] (size {size}, device {device})")
    console.print("machine: " + ", ".join(f"{k} {v}" for k, v in described.items()))
    console.print("workload: " + ", ".join(f"{k} {v}" for k, v in workload.items()))
    table = Table(show_lines=False)
    for header in ("figure", "platform", "baseline", "ratio", "target", "met"):
        table.add_column(header, justify="left" if header in ("figure", "target") else "right")
    for row in rows:
        met = {None: "—", True: "yes", False: "NO"}[row.met]
        table.add_row(
            f"{row.name} ({row.unit})",
            _figure(row.platform),
            _figure(row.baseline),
            f"{row.ratio:.2f}",
            str(row.target or "—"),
            met,
        )
    console.print(table)
    for note in notes:
        console.print(f"note: {note}", markup=False, highlight=False)
    figures = {
        "benchmark": title,
        "size": size,
        "device": device,
        "machine": described,
        "workload": workload,
        "rows": [row.as_dict() for row in rows],
        "notes": notes,
    }
    if json_path is not None:
        json_path.parent.mkdir(parents=True, exist_ok=True)
        json_path.write_text(json.dumps(figures, indent=2) + "\n")
    return figures


def write_json(path: Path, figures: dict[str, Any]) -> None:
    """How a side hands its figures to the parent (``run_side`` reads them back)."""
    path.write_text(json.dumps(figures))


def _figure(value: float) -> str:
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.3g}"


def _bytecode_compiled(package: str) -> bool:
    """Whether ``package`` was installed with compiled bytecode (``.pyc`` beside it)."""
    import importlib.util

    spec = importlib.util.find_spec(package)
    if spec is None or spec.origin is None:
        return False
    return Path(importlib.util.cache_from_source(spec.origin)).exists()


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _meminfo_kb(key: str) -> int | None:
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith(f"{key}:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def _gpu_name(device: str) -> str | None:
    if device == "cuda":
        import torch

        return torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    if shutil.which("nvidia-smi") is None:
        return None
    query = ["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"]
    found = subprocess.run(query, capture_output=True, text=True, check=False)
    return found.stdout.strip().splitlines()[0] if found.returncode == 0 and found.stdout else None


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None
