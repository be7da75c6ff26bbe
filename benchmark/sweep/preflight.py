"""Checking that a sweep's inputs can be had, in the driver, before any trial starts.

``plan_sweep`` checks what a sweep file says; ``check_inputs`` checks that what it names is
there, the way every trial would look for it: a dataset that must be downloaded is present
(fetched now, once, unless offline), a folder of the user's images holds readable images of
two or more classes, a weights file is a state dict that loads without running code, and the
ImageNet weights an architecture needs are cached (fetched now unless offline). A sweep
whose inputs are missing then fails in seconds with one line naming the sweep file and key,
instead of failing every trial. Nothing is written except what a download brings.

It looks on this machine: on a cluster, the data directory, the image folder and the
torch.hub cache must be storage every node sees (which the trials assume already).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from benchmark.data import dataset_entry, get_dataset, offline_requested
from benchmark.data.download import ensure_files
from benchmark.data.sources import folders
from benchmark.errors import BenchError, DatasetError, ModelConfigError, WeightsError
from benchmark.models import create_model
from benchmark.models.weights import (
    WeightsChoice,
    imagenet_file,
    imagenet_weights_wanted,
    read_state_dict,
)
from benchmark.spec import SweepFileError
from benchmark.spec.schema import Choice
from benchmark.sweep.cells import Cell, SweepPlan, representative_params, trial_config, where_set
from benchmark.train.config import TrialConfig

log = logging.getLogger(__name__)

#: Input shape the networks are built with to learn which ImageNet files they load; the
#: file depends on the architecture only, and the build happens on the meta device.
_PROBE_SHAPE = (3, 224, 224)


def check_inputs(
    plan: SweepPlan, source: str | Path, warn: Callable[[str], None] | None = None
) -> None:
    """Raise ``DatasetError`` or ``WeightsError`` for the first input of ``plan`` that a trial
    could not have; ``source`` (the sweep file) and the key that named it lead the message.

    ``warn`` receives what is fine but worth knowing (images skipped as unreadable under
    ``on_corrupt: skip``); default: this module's logger. Each distinct dataset and weights
    file is checked once, however many cells share it.
    """
    warn = warn or log.warning
    checked: set[str] = set()
    for cell in plan.cells:
        for config in _trial_configs(plan, cell):
            _check_dataset(plan, cell, config, source, warn, checked)
            _check_weights(plan, cell, config, source, checked)


def _trial_configs(plan: SweepPlan, cell: Cell) -> Iterator[TrialConfig]:
    """The configs the cell's trials may get, as far as inputs go: the edges of its space,
    and every searched choice of weights."""
    samples = representative_params(cell.space)
    weights = cell.space.get("model.weights")
    if isinstance(weights, Choice):
        samples += [{**samples[0], "model.weights": value} for value in weights.values]
    for params in samples:
        yield TrialConfig.from_dict(trial_config(cell, params, plan.search_seed(0)), source="")


def _check_dataset(
    plan: SweepPlan,
    cell: Cell,
    config: TrialConfig,
    source: str | Path,
    warn: Callable[[str], None],
    checked: set[str],
) -> None:
    offline = offline_requested(config.offline)
    if not _first_time(checked, config.dataset, config.data_dir, offline, config.val_fraction,
                       config.split_seed, config.dataset_options):  # fmt: skip
        return
    entry = dataset_entry(config.dataset)
    root = Path(config.data_dir)
    if entry.missing_files is not None and entry.download is not None:
        try:  # present, or fetched now: once here rather than by the first trial
            ensure_files(entry.name, root, entry.missing_files, entry.download, offline)
        except DatasetError as error:
            raise _located(error, source, "data_dir") from None
        return
    if entry.packaged_in is not None:
        return  # inside an installed package: nothing can be missing
    # The user's own folder: scanned (every file's header probed) as each trial scans it.
    options = dict(config.dataset_options)
    if "preload" in entry.defaults():
        options["preload"] = False  # decoding every image is the trial's job, not the check's
    key = where_set(plan.spec, cell.architecture_label, cell.dataset_label, "dataset_options")
    try:
        with _folder_warnings_silenced():  # reported below, once, through ``warn``
            bundle = get_dataset(config.dataset, root, offline=offline,
                                 val_fraction=config.val_fraction,
                                 split_seed=config.split_seed, **options)  # fmt: skip
    except DatasetError as error:
        raise _located(error, source, key) from None
    except OSError as error:  # a folder that cannot be listed or read
        problem = f"{config.dataset}: cannot read {error.filename} ({error.strerror})"
        raise _located(DatasetError(problem), source, key) from None
    if bundle.skipped_files:
        count = len(bundle.skipped_files)
        warn(
            f"{source}: {key}: {config.dataset} skips {count} unreadable image(s) "
            f"(on_corrupt: skip), e.g. {bundle.skipped_files[0]}"
        )


def _check_weights(
    plan: SweepPlan, cell: Cell, config: TrialConfig, source: str | Path, checked: set[str]
) -> None:
    key = where_set(plan.spec, cell.architecture_label, cell.dataset_label, "model.weights")
    try:
        weights = WeightsChoice.parse(config.model.get("weights"))
        offline = offline_requested(config.offline)
        if weights.path is not None and _first_time(checked, weights.path):
            read_state_dict(weights.path)  # exists, tensors only, names → tensors
        elif weights.kind == "imagenet" and _first_time(checked, config.architecture, offline):
            for network in _imagenet_networks(config.architecture):
                imagenet_file(network, download=not offline)  # cached, or fetched now
    except (WeightsError, ModelConfigError) as error:
        raise _located(error, source, key) from None


def _imagenet_networks(architecture: str) -> list[str]:
    """The torchvision networks whose ImageNet weights ``architecture`` loads.

    Built on the meta device, the network costs no memory and no time; ``ModelConfigError``
    if the architecture takes no ImageNet weights (it trains from scratch).
    """
    import torch  # only for ImageNet weights: the driver otherwise checks without it

    with torch.device("meta"), imagenet_weights_wanted() as wanted:
        create_model(architecture, 2, _PROBE_SHAPE[0], _PROBE_SHAPE[1:], weights="imagenet")
    return list(dict.fromkeys(wanted))


def _first_time(checked: set[str], *parts: Any) -> bool:
    """True the first time ``parts`` (a dataset or weights, as a trial would load it) come."""
    identity = json.dumps(parts, sort_keys=True, default=str)
    if identity in checked:
        return False
    checked.add(identity)
    return True


def _located(error: BenchError, source: str | Path, key: str) -> BenchError:
    """``error`` again (same type), its message led by the sweep file and the key."""
    return type(error)(str(SweepFileError(source, key, str(error))))


@contextmanager
def _folder_warnings_silenced() -> Iterator[None]:
    logger = logging.getLogger(folders.__name__)
    was_disabled, logger.disabled = logger.disabled, True
    try:
        yield
    finally:
        logger.disabled = was_disabled
