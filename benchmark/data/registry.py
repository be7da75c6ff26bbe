"""The dataset registry: one name, one builder; ``get_dataset`` is the one way in.

Shaped like the model registry (and timm's): a builder is a function
``builder(root, *, option=default, ...) -> SourceData`` behind ``@register_dataset``. Its
keyword-only arguments are the options a sweep may set (``classes``, ``image_size`` ...),
with defaults that reproduce the study the dataset comes from. The registration also
records what ``bench datasets`` lists without loading anything (shape, classes, sizes),
which files must be under the data directory, how torchvision downloads them, and which
folder a dataset decoded into memory is decoded from.

``get_dataset`` does what every dataset shares: option checking, making the files present
(or the one-line error), and carving the validation split with a recorded seed. Inside
``keep_datasets`` it also hands back a dataset it loaded before instead of decoding it again;
across processes, a dataset decoded once on a machine is memory-mapped from its cache
(``benchmark.data.cache``).
"""

from __future__ import annotations

import contextlib
import fnmatch
import inspect
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmark.data.bundle import DatasetBundle, SourceData
from benchmark.data.cache import cache_entry, decoding_turn
from benchmark.data.download import ensure_files
from benchmark.data.splits import split_off
from benchmark.errors import DatasetError, UnknownDatasetError, close_matches

DatasetBuilder = Callable[..., SourceData]


@dataclass(frozen=True)
class DatasetEntry:
    """One registered dataset: its builder and the facts listed without loading it."""

    name: str
    builder: DatasetBuilder
    description: str
    #: (C, H, W) with the default options.
    input_shape: tuple[int, int, int]
    #: None where the user's data decides (image folders).
    num_classes: int | None
    #: Images in the dataset's train and test parts (before validation is carved).
    train_size: int | None
    test_size: int | None
    #: True when the dataset has no test set of its own and one is carved (seeded).
    test_carved: bool
    #: Descriptions of the files absent under a data directory; None: needs none there.
    missing_files: Callable[[Path], list[str]] | None
    #: Downloads the files into a data directory (through torchvision).
    download: Callable[[Path], None] | None
    #: The PyPI package whose wheel ships the data, for datasets that need no download.
    packaged_in: str | None
    #: The folder the builder decodes with the given options, when it decodes the images
    #: into memory: the decoded splits are then kept on this machine (``data.cache``).
    decoded_from: Callable[[Path, dict[str, Any]], Path | None] | None = None

    def defaults(self) -> dict[str, Any]:
        """The options of this dataset with their defaults."""
        return {
            parameter.name: parameter.default
            for parameter in inspect.signature(self.builder).parameters.values()
            if parameter.kind is inspect.Parameter.KEYWORD_ONLY
        }

    def availability(self, root: str | Path) -> str:
        """``yes`` / ``no`` for files under ``root``; ``packaged`` or ``own folder`` otherwise."""
        if self.packaged_in is not None:
            return "packaged"
        if self.missing_files is None:
            return "own folder"
        return "no" if self.missing_files(Path(root)) else "yes"


_REGISTRY: dict[str, DatasetEntry] = {}

# The datasets ``keep_datasets`` keeps (None outside it), the most recently used last.
_kept: OrderedDict[tuple, DatasetBundle] | None = None
_kept_limit = 0


def register_dataset(
    name: str | None = None,
    *,
    input_shape: tuple[int, int, int],
    num_classes: int | None,
    sizes: tuple[int | None, int | None],
    test_carved: bool = False,
    missing_files: Callable[[Path], list[str]] | None = None,
    download: Callable[[Path], None] | None = None,
    packaged_in: str | None = None,
    decoded_from: Callable[[Path, dict[str, Any]], Path | None] | None = None,
    description: str | None = None,
) -> Callable[[DatasetBuilder], DatasetBuilder]:
    """Register the decorated builder under ``name`` (default: the function's name).

    The builder takes the data directory first and its options as keyword-only arguments
    with defaults; it returns the builder unchanged. The description defaults to the first
    line of the builder's docstring.
    """

    def register(builder: DatasetBuilder) -> DatasetBuilder:
        entry_name = name or builder.__name__
        if entry_name in _REGISTRY:
            raise ValueError(f"dataset {entry_name!r} is registered twice")
        _check_builder(builder)
        summary = description or (inspect.getdoc(builder) or entry_name).splitlines()[0]
        _REGISTRY[entry_name] = DatasetEntry(
            name=entry_name,
            builder=builder,
            description=summary,
            input_shape=input_shape,
            num_classes=num_classes,
            train_size=sizes[0],
            test_size=sizes[1],
            test_carved=test_carved,
            missing_files=missing_files,
            download=download,
            packaged_in=packaged_in,
            decoded_from=decoded_from,
        )
        return builder

    return register


def _check_builder(builder: DatasetBuilder) -> None:
    """Catch, at import time, a builder that breaks the conventions get_dataset relies on."""
    keyword_only = inspect.Parameter.KEYWORD_ONLY
    parameters = list(inspect.signature(builder).parameters.values())
    if not parameters or parameters[0].kind is keyword_only:
        raise TypeError(f"{builder.__name__} must take the data directory first")
    for parameter in parameters[1:]:
        if parameter.kind is not keyword_only or parameter.default is parameter.empty:
            raise TypeError(
                f"{builder.__name__}: option {parameter.name} must be keyword-only with a default"
            )


def dataset_entry(name: str) -> DatasetEntry:
    """The entry of ``name``; ``UnknownDatasetError`` suggests close names if none."""
    try:
        return _REGISTRY[name]
    except KeyError:
        raise UnknownDatasetError(name, list_datasets()) from None


def list_datasets(pattern: str = "*") -> list[str]:
    """Registered names matching the shell-style ``pattern`` (case-insensitive), sorted."""
    return sorted(name for name in _REGISTRY if fnmatch.fnmatchcase(name, pattern.lower()))


def get_dataset(
    name: str,
    root: str | Path = "data",
    *,
    offline: bool = False,
    val_fraction: float = 0.1,
    split_seed: int = 0,
    **options: Any,
) -> DatasetBundle:
    """Load dataset ``name`` from ``root`` (downloading it unless offline) as three splits.

    The validation split is ``val_fraction`` of the dataset's training images, stratified
    by class and drawn with ``split_seed``; the test split is the dataset's own (or one it
    carves with its ``test_seed``, independent of ``split_seed`` so that every trial of a
    sweep is scored on the same images). ``options`` are the dataset's own
    (``bench datasets`` and ``dataset_defaults`` list them). Raises ``UnknownDatasetError``
    for an unknown name and ``DatasetError`` for an unknown option, a bad value, missing
    or corrupt files.
    """
    entry = dataset_entry(name)
    resolved = _resolve_options(entry, options)
    if not 0.0 < val_fraction < 1.0:
        raise DatasetError(f"{name}: val_fraction must be between 0 and 1; got {val_fraction}")
    root = Path(root)
    key = (name, str(root.resolve()), repr(sorted(resolved.items())), val_fraction, split_seed)
    if _kept is not None and key in _kept:
        _kept.move_to_end(key)
        return _kept[key]
    bundle = _load(entry, root, resolved, offline, val_fraction, split_seed)
    if _kept is not None:
        _kept[key] = bundle
        while len(_kept) > _kept_limit:
            _kept.popitem(last=False)
    return bundle


@contextlib.contextmanager
def keep_datasets(limit: int = 2) -> Iterator[None]:
    """Within this block, ``get_dataset`` decodes each dataset once and then reuses it.

    For a process that runs trial after trial (a sweep's warm lane): decoding CIFAR-10's
    pickles alone takes one to three seconds, as long as a small model's whole trial on a
    GPU. A bundle is never changed by the trials that read it (the loaders copy what they
    batch), and the files under a sweep's data directory do not change while it runs. The
    ``limit`` datasets used last are kept, so that a sweep over two datasets (one cell
    each) keeps both; a third pushes out the one used longest ago.
    """
    global _kept, _kept_limit
    outer = _kept, _kept_limit
    _kept, _kept_limit = OrderedDict(), limit
    try:
        yield
    finally:
        _kept, _kept_limit = outer


def _load(
    entry: DatasetEntry,
    root: Path,
    resolved: dict[str, Any],
    offline: bool,
    val_fraction: float,
    split_seed: int,
) -> DatasetBundle:
    name = entry.name
    if entry.missing_files is not None:
        if entry.download is None:
            raise TypeError(f"dataset {name!r} names files but has no way to download them")
        ensure_files(name, root, entry.missing_files, entry.download, offline)
    folder = entry.decoded_from(root, resolved) if entry.decoded_from is not None else None
    # One process of the machine decodes; the others wait for it, then map what it wrote.
    with decoding_turn(name, resolved, val_fraction, split_seed, folder):
        found = cache_entry(name, resolved, val_fraction, split_seed, folder)
        if found is not None and (bundle := found.load()) is not None:
            return bundle
        bundle = _decode(entry, root, resolved, val_fraction, split_seed)
        # Named once decoded: decoding may add files (MNIST's .gz unpacked beside it).
        decoded = cache_entry(name, resolved, val_fraction, split_seed, folder)
        return decoded.store(bundle) if decoded is not None else bundle


def _decode(
    entry: DatasetEntry,
    root: Path,
    resolved: dict[str, Any],
    val_fraction: float,
    split_seed: int,
) -> DatasetBundle:
    source = entry.builder(root, **resolved)
    train, val = split_off(source.train, val_fraction, split_seed)
    return DatasetBundle(
        name=entry.name,
        train=train,
        val=val,
        test=source.test,
        class_names=list(source.class_names),
        mean=tuple(source.mean),
        std=tuple(source.std),
        flip_ok=source.flip_ok,
        val_fraction=val_fraction,
        split_seed=split_seed,
        options=resolved,
        skipped_files=source.skipped_files,
    )


def dataset_defaults(name: str) -> dict[str, Any]:
    """Every option ``name`` accepts, with its default."""
    return dataset_entry(name).defaults()


def _resolve_options(entry: DatasetEntry, options: dict[str, Any]) -> dict[str, Any]:
    defaults = entry.defaults()
    for key in options:
        if key not in defaults:
            message = f"{entry.name}: unknown option '{key}'"
            suggestions = close_matches(key, defaults)
            if suggestions:
                message += f" (did you mean '{suggestions[0]}'?)"
            if defaults:
                message += f"; allowed: {', '.join(defaults)}"
            else:
                message += f"; {entry.name} takes no options"
            raise DatasetError(message)
    return {**defaults, **options}


@dataclass(frozen=True)
class FetchResult:
    """What ``fetch_dataset`` did: downloaded, or found the files already there."""

    name: str
    root: Path
    downloaded: bool


def fetch_dataset(name: str, root: str | Path = "data", *, offline: bool = False) -> FetchResult:
    """Download ``name`` into ``root`` ahead of time (for workers without internet).

    Raises ``DatasetError`` when offline with the files absent, when the download fails,
    and for datasets that have nothing to fetch (packaged, or the user's own folder).
    """
    entry = dataset_entry(name)
    root = Path(root)
    if entry.packaged_in is not None:
        raise DatasetError(f"{name} ships inside the {entry.packaged_in} package; "
                           f"there is nothing to fetch")  # fmt: skip
    if entry.missing_files is None or entry.download is None:
        raise DatasetError(f"{name} reads your own folder (option path); there is nothing to "
                           f"fetch")  # fmt: skip
    downloaded = ensure_files(name, root, entry.missing_files, entry.download, offline)
    return FetchResult(name, root, downloaded)


@dataclass(frozen=True)
class DatasetSummary:
    """One row of ``bench datasets``: a registered dataset, and where its data is."""

    entry: DatasetEntry
    #: ``yes``/``no`` (files under the data directory), ``packaged`` or ``own folder``.
    availability: str


def describe_datasets(root: str | Path = "data") -> list[DatasetSummary]:
    """Every registered dataset, with whether its files are under ``root``; loads nothing."""
    return [
        DatasetSummary(entry, entry.availability(root))
        for entry in (_REGISTRY[name] for name in list_datasets())
    ]
