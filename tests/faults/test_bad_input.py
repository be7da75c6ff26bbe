"""Bad input, through the `bench` command as a user types it: one line, exit code 2, fast.

Each case runs the real command line (Click's runner on ``benchmark.cli.cli``) and proves
the user's side of the contract: exactly one line on stderr, ``Error: `` first, naming the
sweep file and key (or the sweep id) and saying how to fix it; exit code 2; no traceback;
and the results directory, which holds an earlier sweep, byte for byte as it was, with no
half-created sweep beside it. ``bench submit`` must refuse before Ray starts: Ray's
connection is replaced by a tripwire, so a check that came too late fails the case.

The unit tests of each check (tests/spec, tests/data, tests/models, tests/cli) cover their
variants; here each kind of mistake is taken once through the whole path.
"""

from __future__ import annotations

import re
import socket
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner, Result
from data.formats import write_class_folders, write_image

from benchmark.cli import cli
from benchmark.errors import BenchError

SWEEP = """\
name: faults
architectures: [{architecture}]
datasets: [{dataset}]
search:
  algorithm: optuna-tpe
  trials_per_cell: 2
space:
  lr: {{type: loguniform, low: 1.0e-4, high: 1.0e-1}}
fixed:
  epochs: 1
  batch_size: 32
  {fixed}
resources: {{workers: 1, cpus_per_worker: 1, gpus_per_worker: 0}}
{top}
"""

UNKNOWN_ID = "20991231-000000-beef"


@dataclass(frozen=True)
class Case:
    """A sweep file, and what its error line must say after ``Error: <sweep file>``.

    The file is ``SWEEP`` with these parts filled in and then ``edit`` (old, new) made to
    its text; ``<name>`` stands for the path of input ``name`` of the ``places`` fixture.
    """

    expected: str
    architecture: str = "simple_cnn"
    dataset: str = "digits"
    fixed: str = ""  # one more `key: value` of the fixed section
    top: str = ""  # more top-level keys
    edit: tuple[str, str] = ("", "")

    def write(self, path: Path, places: dict[str, Path]) -> Path:
        text = SWEEP.format(
            architecture=self.architecture, dataset=self.dataset, fixed=self.fixed, top=self.top
        )
        old, new = self.edit
        assert old in text, old
        path.write_text(_filled(text.replace(old, new, 1), places))
        return path


# Mistakes in the sweep file itself: `bench validate` and `bench submit` both refuse them.
FILE_CASES = {
    "malformed YAML": Case(
        r": line \d+: not valid YAML \(", edit=("datasets: [digits]", "datasets: [digits")
    ),
    "unknown key": Case(
        r": search\.algoritm: unknown key; did you mean algorithm\?",
        edit=("  algorithm:", "  algoritm:"),
    ),
    "wrong type": Case(
        r": search\.trials_per_cell: must be a valid integer.* \(got 'many'\)",
        edit=("trials_per_cell: 2", "trials_per_cell: many"),
    ),
    "low above high": Case(
        r": space\.lr: low \(0\.1\) must be below high \(0\.0001\)",
        edit=("low: 1.0e-4, high: 1.0e-1", "low: 1.0e-1, high: 1.0e-4"),
    ),
    "log scale from zero": Case(
        r": space\.lr\.low: must be greater than 0 \(got 0\)", edit=("low: 1.0e-4", "low: 0")
    ),
    "negative checkpoint interval": Case(
        r": fixed\.checkpoint_interval_s: must be greater than or equal to 0 \(got -1, cell "
        r"simple_cnn/digits\)",
        fixed="checkpoint_interval_s: -1",
    ),
    "unknown architecture": Case(
        r": architectures\[0\]\.architecture: unknown architecture 'simple_cnnn'; did you mean "
        r"simple_cnn",
        architecture="simple_cnnn",
    ),
    "unknown dataset": Case(
        r": datasets\[0\]\.dataset: unknown dataset 'cifar100'; did you mean cifar10\?",
        dataset="cifar100",
    ),
    "unknown dataset option": Case(
        r": datasets\[0\]\.options\.on_corupt: imagefolder has no option 'on_corupt'; did you "
        r"mean on_corrupt\?",
        dataset="{dataset: imagefolder, options: {path: <two_classes>, on_corupt: skip}}",
    ),
}

# Inputs the sweep names that cannot be had: `bench submit` checks them before Ray starts.
INPUT_CASES = {
    "dataset to download, offline": Case(
        r": data_dir: cifar10 is not in .*/empty/ \(missing .*cifar-10-batches-py.*\); offline .*"
        r"run `bench data fetch cifar10 --data-dir .*/empty` where the network is reachable",
        dataset="cifar10",
        top="data_dir: <empty>\noffline: true",
    ),
    "ImageNet weights not cached, offline": Case(
        r": fixed\.model\.weights: ImageNet weights for resnet18 are not cached and .* forbids "
        r"downloading: put resnet18-\w+\.pth in .*/torch/hub/checkpoints \(from https://",
        architecture="resnet18",
        fixed="model: {weights: imagenet}",
    ),
    "weights file that is not a state dict": Case(
        r": fixed\.model\.weights: weights file .*/list\.pt holds a list, not a state dict",
        fixed="model: {weights: <list_weights>}",
    ),
    "weights file whose pickle runs code": Case(
        r": fixed\.model\.weights: weights file .*/code\.pt holds objects other than tensors, "
        r"which torch\.load\(weights_only=True\) refuses; save model\.state_dict\(\) instead",
        fixed="model: {weights: <code_weights>}",
    ),
    "image folder without images": Case(
        r": fixed\.dataset_options: imagefolder: no images found in .*/no_images \(expected one "
        r"folder per class",
        dataset="imagefolder",
        fixed="dataset_options: {path: <no_images>}",
    ),
    "image folder of one class": Case(
        r": fixed\.dataset_options: imagefolder: .*/one_class has images of only class 'cat'; "
        r"a classifier needs at least two class folders",
        dataset="imagefolder",
        fixed="dataset_options: {path: <one_class>}",
    ),
    "corrupt image, on_corrupt: error": Case(
        r": fixed\.dataset_options: imagefolder: unreadable image .*/corrupt/dog/broken\.jpg "
        r"\(.*\); delete or replace it, or set the option on_corrupt: skip",
        dataset="imagefolder",
        fixed="dataset_options: {path: <corrupt>, on_corrupt: error}",
    ),
}

# A sweep id that names no sweep, in every command that takes one.
ID_COMMANDS = {
    "resume": ("resume", UNKNOWN_ID),
    "submit --resume": ("submit", "<sweep>", "--resume", UNKNOWN_ID),
    "status": ("status", UNKNOWN_ID),
    "report": ("report", UNKNOWN_ID),
    "results": ("results", UNKNOWN_ID),
    "predict": ("predict", f"{UNKNOWN_ID}:trial", "<image>"),
}


class RayWouldStart(BenchError):
    """Raised where ``bench submit`` connects to Ray: every check must come before it."""


class _RunsCodeWhenUnpickled:
    """A pickle payload: unpickling it calls Path.touch, which must never happen."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


@pytest.fixture
def places(tmp_path, monkeypatch) -> dict[str, Path]:
    """The inputs the cases point at, each written in its real format."""
    monkeypatch.setenv("BENCH_OFFLINE", "1")
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))  # an empty torch.hub cache
    folders = ("empty", "no_images", "one_class", "two_classes", "corrupt")
    places = {name: tmp_path / name for name in folders}
    places["empty"].mkdir()
    for class_name in ("cat", "dog"):
        (places["no_images"] / class_name).mkdir(parents=True)
    write_class_folders(places["one_class"], {"cat": 3})
    write_class_folders(places["two_classes"], {"cat": 3, "dog": 3})
    write_class_folders(places["corrupt"], {"cat": 3, "dog": 3})
    noise = torch.randint(0, 256, (512,), generator=torch.Generator().manual_seed(0))
    (places["corrupt"] / "dog" / "broken.jpg").write_bytes(bytes(noise.tolist()))
    places["list_weights"] = tmp_path / "list.pt"
    torch.save([1, 2, 3], places["list_weights"])
    places["code_weights"] = tmp_path / "code.pt"
    places["code_ran"] = tmp_path / "code-ran"
    payload = {"conv.weight": torch.zeros(1), "payload": _RunsCodeWhenUnpickled(places["code_ran"])}
    torch.save(payload, places["code_weights"])
    places["image"] = write_image(tmp_path / "new.png", (8, 8))
    places["results"] = _earlier_results(tmp_path / "results")
    return places


def _earlier_results(results: Path) -> Path:
    """A results directory holding an earlier sweep's files (their content does not matter)."""
    sweep = results / "earlier" / "20260101-000000-abcd"
    (sweep / "trials").mkdir(parents=True)
    (sweep / "trials.parquet").mkdir()
    (sweep / "sweep.yaml").write_text("name: earlier\n")
    (sweep / "state.json").write_text('{"state": "finished"}')
    (sweep / "trials" / "t1.json").write_text('{"trial_id": "t1"}')
    (sweep / "trials.parquet" / "t1.parquet").write_bytes(bytes(range(256)))
    (results / "earlier" / "report").mkdir()
    (results / "earlier" / "report" / "report.md").write_text("# earlier\n")
    return results


def _snapshot(folder: Path) -> dict[str, bytes | None]:
    """Every path under ``folder``: a file's bytes, a folder's None."""
    return {
        str(path.relative_to(folder)): path.read_bytes() if path.is_file() else None
        for path in sorted(folder.rglob("*"))
    }


@pytest.fixture
def ray_tripwire(monkeypatch) -> None:
    import benchmark.sweep.run

    def trip(*args, **kwargs):
        raise RayWouldStart("Ray would start here")

    monkeypatch.setattr(benchmark.sweep.run, "connect_ray", trip)


def _filled(text: str, places: dict[str, Path]) -> str:
    return re.sub(r"<(\w+)>", lambda match: str(places[match.group(1)]), text)


def bench(*arguments: str) -> Result:
    return CliRunner().invoke(cli, list(arguments), prog_name="bench", env={"COLUMNS": "250"})


def assert_one_line_error(result: Result, expected: str) -> str:
    """Exit code 2, one non-empty stderr line ``Error: ...`` matching ``expected``; the line."""
    assert "Traceback" not in result.output, result.output
    assert result.exit_code == 2, (result.exit_code, result.output, result.exception)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("Error: "), lines[0]
    assert re.search(expected, lines[0]), lines[0]
    return lines[0]


@pytest.mark.parametrize("command", ["validate", "submit"])
@pytest.mark.parametrize("case", FILE_CASES.values(), ids=FILE_CASES.keys())
def test_a_mistake_in_the_sweep_file_is_one_line_naming_file_and_key(
    case, command, places, tmp_path, ray_tripwire
):
    sweep = case.write(tmp_path / "sweep.yaml", places)
    before = _snapshot(places["results"])
    extra = ("--results-dir", str(places["results"])) if command == "submit" else ()
    result = bench(command, str(sweep), *extra)
    assert_one_line_error(result, re.escape(f"Error: {sweep}") + case.expected)
    assert _snapshot(places["results"]) == before


@pytest.mark.parametrize("case", INPUT_CASES.values(), ids=INPUT_CASES.keys())
def test_an_input_that_cannot_be_had_stops_submit_before_ray_starts(
    case, places, tmp_path, ray_tripwire
):
    sweep = case.write(tmp_path / "sweep.yaml", places)
    before = _snapshot(places["results"])
    result = bench("submit", str(sweep), "--results-dir", str(places["results"]))
    assert_one_line_error(result, re.escape(f"Error: {sweep}") + case.expected)
    assert _snapshot(places["results"]) == before  # nothing lost, no sweep begun
    assert not places["code_ran"].exists()


def test_corrupt_images_skipped_on_request_are_counted_and_the_sweep_goes_ahead(
    places, tmp_path, ray_tripwire
):
    skipping = Case(
        "", dataset="imagefolder", fixed="dataset_options: {path: <corrupt>, on_corrupt: skip}"
    )
    sweep = skipping.write(tmp_path / "sweep.yaml", places)
    result = bench("submit", str(sweep), "--results-dir", str(places["results"]))
    *warning, error = [line for line in result.stderr.splitlines() if line.strip()]
    assert re.search(
        r"^warning: .*/sweep\.yaml: fixed\.dataset_options: imagefolder skips 1 unreadable "
        r"image\(s\) \(on_corrupt: skip\), e\.g\. .*/corrupt/dog/broken\.jpg$",
        " ".join(warning),  # however the terminal's width wrapped it
    ), result.stderr
    assert error == "Error: Ray would start here", result.stderr  # the checks passed


@pytest.mark.timeout(60)
def test_an_unreachable_cluster_address_fails_in_seconds_naming_it(places, tmp_path):
    with socket.socket() as probe:  # a port nothing listens on once the socket is closed
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    sweep = Case("").write(tmp_path / "sweep.yaml", places)
    before = _snapshot(places["results"])
    started = time.monotonic()
    result = bench("submit", str(sweep), "--results-dir", str(places["results"]),
                   "--address", f"127.0.0.1:{port}")  # fmt: skip
    elapsed_s = time.monotonic() - started
    assert_one_line_error(
        result,
        rf"^Error: no Ray cluster answers at 127\.0\.0\.1:{port} \(Connection refused\); pass "
        r"the address that `ray start --head` printed .* or no --address to run on this machine",
    )
    assert elapsed_s < 15, elapsed_s  # Ray's own retries would take about 14 minutes
    assert _snapshot(places["results"]) == before  # nothing lost, no sweep folder half-made


def test_a_tracking_server_that_does_not_answer_fails_with_one_line_and_no_sweep_folder(
    places, tmp_path, local_ray, closed_port
):
    """MLflow is opened in a thread while Ray starts: its failure still ends the command
    with its own line, before a sweep folder is made."""
    uri = f"http://127.0.0.1:{closed_port}"
    sweep = Case("").write(tmp_path / "sweep.yaml", places)
    before = _snapshot(places["results"])
    result = bench("submit", str(sweep), "--results-dir", str(places["results"]),
                   "--mlflow-uri", uri)  # fmt: skip
    assert_one_line_error(result, rf"^Error: .*{re.escape(uri)}.* --mlflow-uri ")
    assert _snapshot(places["results"]) == before


@pytest.mark.parametrize("arguments", ID_COMMANDS.values(), ids=ID_COMMANDS.keys())
def test_an_unknown_sweep_id_is_one_line_in_every_command_that_takes_one(
    arguments, places, tmp_path, ray_tripwire
):
    sweep = Case("").write(tmp_path / "sweep.yaml", places)
    before = _snapshot(places["results"])
    filled = [_filled(argument, {**places, "sweep": sweep}) for argument in arguments]
    result = bench(*filled, "--results-dir", str(places["results"]))
    assert_one_line_error(
        result,
        rf"^Error: no sweep '{UNKNOWN_ID}' under .*/results/ \(recent: 20260101-000000-abcd\); "
        r"pass --results-dir if it was written elsewhere$",
    )
    assert _snapshot(places["results"]) == before
