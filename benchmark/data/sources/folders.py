"""Class-folder trees (``<dir>/<class>/<image>``): the layout of Caltech101 and ImageFolder.

Listing uses torchvision's own ``make_dataset`` (same extensions, same sorted order as
``torchvision.datasets.ImageFolder``). Each file's header is then probed, so an unreadable
file is found before training starts rather than in epoch 3: ``on_corrupt="error"`` names
it, ``"skip"`` leaves it out and reports how many were skipped. A file whose header is fine
but whose pixel data is cut short is only found when decoded, and then always raises (a
batch cannot silently shrink).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from benchmark.data import options as check
from benchmark.data.bundle import FileSplit, SourceData
from benchmark.data.decode import probe_image
from benchmark.data.splits import split_off
from benchmark.errors import DatasetError, close_matches

log = logging.getLogger(__name__)

# Photos: the studies fine-tune ImageNet backbones on them, which expect ImageNet's statistics.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class FolderOptions:
    """The options every class-folder dataset takes, checked."""

    image_size: int
    test_fraction: float
    test_seed: int
    on_corrupt: str
    preload: bool

    @classmethod
    def checked(
        cls,
        dataset: str,
        *,
        image_size: object,
        test_fraction: object,
        test_seed: object,
        on_corrupt: object,
        preload: object,
    ) -> FolderOptions:
        return cls(
            image_size=check.positive_int(dataset, "image_size", image_size),
            test_fraction=check.fraction(dataset, "test_fraction", test_fraction),
            test_seed=check.integer(dataset, "test_seed", test_seed),
            on_corrupt=check.choice(dataset, "on_corrupt", on_corrupt, check.ON_CORRUPT_CHOICES),
            preload=check.boolean(dataset, "preload", preload),
        )

    @property
    def shape(self) -> tuple[int, int, int]:
        """Every image becomes RGB at image_size × image_size."""
        return (3, self.image_size, self.image_size)


@dataclass(frozen=True)
class ClassFolders:
    """The readable images of a class-folder tree, labelled by their class's position."""

    paths: tuple[str, ...]
    labels: tuple[int, ...]
    class_names: list[str]
    skipped: tuple[str, ...]

    def split(self, shape: tuple[int, int, int]) -> FileSplit:
        import torch

        return FileSplit(self.paths, torch.tensor(self.labels, dtype=torch.int64), shape)


def class_folder_names(directory: Path, exclude: Sequence[str] = ()) -> list[str]:
    """The class folders of ``directory``, sorted (hidden folders and ``exclude`` left out)."""
    return sorted(
        entry.name
        for entry in directory.iterdir()
        if entry.is_dir() and not entry.name.startswith(".") and entry.name not in exclude
    )


def scan_class_folders(
    dataset: str,
    directory: Path,
    class_names: Sequence[str],
    on_corrupt: str = "error",
    *,
    allow_missing: bool = False,
) -> ClassFolders:
    """The images of ``class_names``' folders under ``directory``, labelled in that order.

    Raises ``DatasetError`` for a class with no folder (suggesting close names) unless
    ``allow_missing`` (a test folder may lack a class), and for an unreadable file when
    ``on_corrupt`` is ``error``.
    """
    from torchvision.datasets.folder import IMG_EXTENSIONS, make_dataset

    if not class_names:
        raise _no_images(dataset, directory)
    available = class_folder_names(directory)
    for name in class_names:
        if name not in available and not allow_missing:
            suggestions = close_matches(name, available)
            hint = f"; did you mean {', '.join(suggestions)}?" if suggestions else ""
            raise DatasetError(f"{dataset}: no class folder '{name}' in {directory}{hint}")
    class_to_idx = {name: index for index, name in enumerate(class_names)}
    samples = make_dataset(str(directory), class_to_idx, IMG_EXTENSIONS, allow_empty=True)
    paths, labels, skipped = [], [], []
    for path, label in samples:
        problem = probe_image(path)
        if problem is None:
            paths.append(path)
            labels.append(label)
        elif on_corrupt == "skip":
            skipped.append(path)
        else:
            raise DatasetError(
                f"{dataset}: unreadable image {path} ({problem}); delete or replace it, "
                f"or set the option on_corrupt: skip"
            )
    if skipped:
        log.warning(
            "%s: skipped %d unreadable image(s), e.g. %s", dataset, len(skipped), skipped[0]
        )
    return ClassFolders(tuple(paths), tuple(labels), list(class_names), tuple(skipped))


def require_classes(dataset: str, directory: Path, folders: ClassFolders) -> None:
    """A classifier needs images of at least two classes; say so plainly when it has not."""
    if not folders.paths:
        raise _no_images(dataset, directory)
    present = sorted({folders.class_names[label] for label in folders.labels})
    if len(present) < 2:
        found = f"only class '{present[0]}'" if present else "no class"
        raise DatasetError(f"{dataset}: {directory} has images of {found}; a classifier needs "
                           f"at least two class folders")  # fmt: skip


def _no_images(dataset: str, directory: Path) -> DatasetError:
    return DatasetError(f"{dataset}: no images found in {directory} (expected one folder per "
                        f"class of .jpg/.png/... files)")  # fmt: skip


def folder_source(
    train: ClassFolders,
    options: FolderOptions,
    *,
    flip_ok: bool,
    test: ClassFolders | None = None,
) -> SourceData:
    """SourceData from class folders; without ``test`` folders, a test split is carved."""
    train_split = train.split(options.shape)
    if test is None:
        train_split, test_split = split_off(train_split, options.test_fraction, options.test_seed)
    else:
        test_split = test.split(options.shape)
    if options.preload:
        train_split, test_split = train_split.preload(), test_split.preload()
    return SourceData(
        train=train_split,
        test=test_split,
        class_names=train.class_names,
        mean=IMAGENET_MEAN,
        std=IMAGENET_STD,
        flip_ok=flip_ok,
        skipped_files=train.skipped + (test.skipped if test is not None else ()),
    )
