"""CIFAR-10 (study S3): 50,000 train and 10,000 test 32×32 colour images of 10 classes.

Layout: torchvision's, ``<root>/cifar-10-batches-py/`` with the python pickles
``data_batch_1`` … ``data_batch_5``, ``test_batch`` and ``batches.meta``. Downloads go
through ``torchvision.datasets.CIFAR10``, which checks the archive's md5 once. Reading
does not use that class: it re-hashes all six files at every construction (0.7 s of md5
per process here, paid by every worker of every trial), reports any problem as "not found
or corrupted" without saying which file, and returns HWC arrays this module would have to
transpose back. The pickle format is a dict with ``data`` (N × 3072 uint8, channel-major)
and ``labels``; reading it here lets every error name its file.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np

from benchmark.data.bundle import SourceData, TensorSplit
from benchmark.data.registry import register_dataset
from benchmark.errors import DatasetError

CIFAR10_DIR = "cifar-10-batches-py"
TRAIN_FILES = tuple(f"data_batch_{number}" for number in range(1, 6))
TEST_FILE = "test_batch"
META_FILE = "batches.meta"
# Per-channel statistics of the 50,000 training images, as commonly published.
CIFAR10_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR10_STD = (0.2470, 0.2435, 0.2616)
_IMAGE_SHAPE = (3, 32, 32)


def missing_cifar10(root: Path) -> list[str]:
    names = (*TRAIN_FILES, TEST_FILE, META_FILE)
    return [f"{CIFAR10_DIR}/{name}" for name in names if not (root / CIFAR10_DIR / name).is_file()]


def download_cifar10(root: Path) -> None:
    from torchvision.datasets import CIFAR10

    CIFAR10(str(root), train=True, download=True)


@register_dataset(
    input_shape=_IMAGE_SHAPE,
    num_classes=10,
    sizes=(50_000, 10_000),
    missing_files=missing_cifar10,
    download=download_cifar10,
    decoded_from=lambda root, options: root / CIFAR10_DIR,
)
def cifar10(root: Path) -> SourceData:
    """CIFAR-10: 32×32 colour photos of 10 objects and animals (S3)."""
    directory = root / CIFAR10_DIR
    train = _concatenate([read_cifar_batch(directory / name) for name in TRAIN_FILES])
    test = read_cifar_batch(directory / TEST_FILE)
    return SourceData(
        train=train,
        test=test,
        class_names=read_label_names(directory / META_FILE),
        mean=CIFAR10_MEAN,
        std=CIFAR10_STD,
        flip_ok=True,
    )


def read_cifar_batch(path: Path) -> TensorSplit:
    """One CIFAR-10 pickle batch as uint8 (N, 3, 32, 32) images and int64 labels."""
    import torch

    entry = _unpickle(path)
    try:
        data = np.asarray(entry["data"], dtype=np.uint8)
        labels = np.asarray(entry["labels"], dtype=np.int64)
        images = data.reshape(-1, *_IMAGE_SHAPE)
    except (KeyError, ValueError, TypeError) as error:
        raise DatasetError(f"corrupt CIFAR-10 file {path}: {type(error).__name__}: {error}; "
                           f"delete it and fetch the dataset again") from None  # fmt: skip
    if len(images) != len(labels):
        raise DatasetError(f"corrupt CIFAR-10 file {path}: {len(images)} images but "
                           f"{len(labels)} labels")  # fmt: skip
    return TensorSplit(torch.from_numpy(images.copy()), torch.from_numpy(labels))


def read_label_names(path: Path) -> list[str]:
    entry = _unpickle(path)
    names = entry.get("label_names")
    if not isinstance(names, list) or len(names) != 10:
        raise DatasetError(f"corrupt CIFAR-10 file {path}: no list of 10 label_names")
    return [str(name) for name in names]


# All a CIFAR pickle refers to: numpy's array reconstruction (``numpy.core`` in the
# authors' files, ``numpy._core`` when numpy 2 wrote it) and the byte-string codec.
_CIFAR_GLOBALS = {
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("_codecs", "encode"),
}


class _CifarUnpickler(pickle.Unpickler):
    """An unpickler that builds dicts, lists, strings and numpy arrays, and nothing else.

    A pickle can name any callable to run while loading; a file in the data directory is
    not trusted that far, so every other global is refused before it is imported.
    """

    def find_class(self, module: str, name: str):
        if module.startswith("numpy.core."):
            module = "numpy._core." + module.removeprefix("numpy.core.")
        if (module, name) not in _CIFAR_GLOBALS:
            raise pickle.UnpicklingError(f"refuses to load {module}.{name}; only arrays allowed")
        return super().find_class(module, name)


def _unpickle(path: Path) -> dict:
    """The dict in a CIFAR pickle (written by Python 2: byte strings decode as latin-1).

    Loaded with ``_CifarUnpickler``: a file that names any code to run is corrupt.
    """
    try:
        with open(path, "rb") as handle:
            entry = _CifarUnpickler(handle, encoding="latin1").load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError,
            ImportError, IndexError, KeyError, MemoryError) as error:  # fmt: skip
        raise DatasetError(f"corrupt CIFAR-10 file {path} ({type(error).__name__}: {error}); "
                           f"delete it and fetch the dataset again") from None  # fmt: skip
    if not isinstance(entry, dict):
        raise DatasetError(f"corrupt CIFAR-10 file {path}: expected a pickled dict")
    return entry


def _concatenate(splits: list[TensorSplit]) -> TensorSplit:
    import torch

    images = torch.cat([split.images for split in splits])
    labels = torch.cat([split.labels for split in splits])
    return TensorSplit(images, labels)
