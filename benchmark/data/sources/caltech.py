"""Caltech101 (study S2): 8,677 photos of 101 object classes, of varying sizes.

Layout: torchvision's, ``<root>/caltech101/101_ObjectCategories/<class>/image_0001.jpg``;
``BACKGROUND_Google`` is not a class (torchvision leaves it out too). Downloads go through
``torchvision.datasets.Caltech101``, but reading does not: that class removes
``BACKGROUND_Google`` from the folder list unconditionally (a ValueError for a user who
copied only the classes they need, e.g. S2's six), and it rebuilds file names as
``image_0001 … image_<count>``, which points at the wrong files once one image is deleted.
Reading the tree as class folders needs neither assumption.

Caltech101 has no test set; one is carved per class with ``test_seed``. Images are resized
to ``image_size`` squared (S2 feeds 224×224 to an ImageNet ResNet18) and greyscale ones
converted to RGB.
"""

from __future__ import annotations

from pathlib import Path

from benchmark.data import options as check
from benchmark.data.bundle import SourceData
from benchmark.data.registry import register_dataset
from benchmark.data.sources.folders import (
    FolderOptions,
    class_folder_names,
    folder_source,
    require_classes,
    scan_class_folders,
)

CALTECH_DIR = Path("caltech101") / "101_ObjectCategories"
BACKGROUND_CLASS = "BACKGROUND_Google"
#: The six classes of study S2, in the study's order.
S2_CLASSES = ("camera", "brain", "Faces", "watch", "ketch", "dollar_bill")
_IMAGES = 8677
_TEST_IMAGES = round(0.2 * _IMAGES)


def missing_caltech101(root: Path) -> list[str]:
    return [] if (root / CALTECH_DIR).is_dir() else [f"{CALTECH_DIR}/<class>/image_0001.jpg …"]


def download_caltech101(root: Path) -> None:
    from torchvision.datasets import Caltech101

    Caltech101(str(root), download=True)


@register_dataset(
    input_shape=(3, 224, 224),
    num_classes=101,
    sizes=(_IMAGES - _TEST_IMAGES, _TEST_IMAGES),
    test_carved=True,
    missing_files=missing_caltech101,
    download=download_caltech101,
    # Read image by image from the files unless preloaded: only then is there a decoded copy.
    decoded_from=lambda root, options: root / CALTECH_DIR if options["preload"] is True else None,
)
def caltech101(
    root: Path,
    *,
    classes: list[str] | None = None,
    image_size: int = 224,
    test_fraction: float = 0.2,
    test_seed: int = 0,
    on_corrupt: str = "error",
    preload: bool = False,
) -> SourceData:
    """Caltech101 photos of 101 objects (S2 takes six), resized to image_size squared."""
    settings = FolderOptions.checked(
        "caltech101",
        image_size=image_size,
        test_fraction=test_fraction,
        test_seed=test_seed,
        on_corrupt=on_corrupt,
        preload=preload,
    )
    directory = root / CALTECH_DIR
    wanted = check.names("caltech101", "classes", classes) or class_folder_names(
        directory, exclude=(BACKGROUND_CLASS,)
    )
    folders = scan_class_folders("caltech101", directory, wanted, settings.on_corrupt)
    require_classes("caltech101", directory, folders)
    return folder_source(folders, settings, flip_ok=True)
