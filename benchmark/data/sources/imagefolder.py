"""A user's own labelled images in ImageFolder layout (study S4).

Option ``path`` is either

* a folder with ``train/`` and ``test/`` folders, each of class folders: the test split is
  ``test/`` (its classes must be among ``train/``'s); or
* one folder of class folders: a test split of ``test_fraction`` is carved per class with
  ``test_seed``.

Class folders are sorted by name, as ``torchvision.datasets.ImageFolder`` sorts them, so a
model trained here keeps its class indices when evaluated with torchvision. Images are
decoded to RGB at ``image_size`` squared. ``flip_ok: false`` keeps the augmentation presets
from mirroring images whose class a mirror changes (text, digits, left/right).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

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
from benchmark.errors import DatasetError


def _preloaded_folder(root: Path, options: dict[str, Any]) -> Path | None:
    """The folder a preloaded image folder is decoded from (only then is there a copy)."""
    if options["preload"] is not True or not isinstance(options["path"], str):
        return None
    return Path(options["path"]).expanduser()


@register_dataset(
    input_shape=(3, 224, 224),
    num_classes=None,
    sizes=(None, None),
    decoded_from=_preloaded_folder,
)
def imagefolder(
    root: Path,
    *,
    path: str | None = None,
    image_size: int = 224,
    test_fraction: float = 0.2,
    test_seed: int = 0,
    on_corrupt: str = "error",
    preload: bool = False,
    flip_ok: bool = True,
) -> SourceData:
    """Your own images, one folder per class (S4); option path, resized to image_size."""
    settings = FolderOptions.checked(
        "imagefolder",
        image_size=image_size,
        test_fraction=test_fraction,
        test_seed=test_seed,
        on_corrupt=on_corrupt,
        preload=preload,
    )
    flip_ok = check.boolean("imagefolder", "flip_ok", flip_ok)
    if path is None:
        raise DatasetError("imagefolder: set the option path to a folder of class folders "
                           "(e.g. --set dataset_options.path=/data/pets)")  # fmt: skip
    folder = Path(path).expanduser()
    if not folder.is_dir():
        raise DatasetError(f"imagefolder: option path {folder} is not a folder")
    train_dir, test_dir = folder / "train", folder / "test"
    if not (train_dir.is_dir() and test_dir.is_dir()):
        classes = class_folder_names(folder)
        images = scan_class_folders("imagefolder", folder, classes, settings.on_corrupt)
        require_classes("imagefolder", folder, images)
        return folder_source(images, settings, flip_ok=flip_ok)

    classes = class_folder_names(train_dir)
    unknown = sorted(set(class_folder_names(test_dir)) - set(classes))
    if unknown:
        raise DatasetError(f"imagefolder: {test_dir} has class folders that {train_dir} lacks: "
                           f"{', '.join(unknown)}")  # fmt: skip
    train = scan_class_folders("imagefolder", train_dir, classes, settings.on_corrupt)
    require_classes("imagefolder", train_dir, train)
    test = scan_class_folders(
        "imagefolder", test_dir, classes, settings.on_corrupt, allow_missing=True
    )
    if not test.paths:
        raise DatasetError(f"imagefolder: no images found in {test_dir}")
    return folder_source(train, settings, flip_ok=flip_ok, test=test)
