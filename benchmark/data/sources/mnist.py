"""MNIST and Fashion-MNIST (study S5): 60,000 train and 10,000 test 28×28 greyscale images.

Layout: torchvision's, ``<root>/MNIST/raw/`` and ``<root>/FashionMNIST/raw/`` with the four
idx-ubyte files, uncompressed as torchvision leaves them after a download, or still
``.gz`` as the dataset sites serve them. A ``.gz`` alone is decompressed next to itself on
first use (what torchvision's download does), so later processes read it directly. The
files are parsed by torchvision's own idx readers; their failures (truncated file, wrong
magic number) become an error naming the file.
"""

from __future__ import annotations

import gzip
import os
import shutil
import tempfile
import zlib
from pathlib import Path
from typing import TYPE_CHECKING

from benchmark.data.bundle import SourceData, TensorSplit
from benchmark.data.registry import register_dataset
from benchmark.errors import DatasetError

if TYPE_CHECKING:
    import torch

IDX_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
MNIST_MEAN, MNIST_STD = (0.1307,), (0.3081,)
FASHION_MNIST_MEAN, FASHION_MNIST_STD = (0.2860,), (0.3530,)
_SIZES = (60_000, 10_000)


def raw_folder(root: Path, folder: str) -> Path:
    """Where torchvision's class ``folder`` (MNIST, FashionMNIST) keeps its idx files."""
    return root / folder / "raw"


def missing_idx_files(root: Path, folder: str) -> list[str]:
    raw = raw_folder(root, folder)
    names = [name for pair in IDX_FILES.values() for name in pair]
    return [
        f"{folder}/raw/{name}(.gz)"
        for name in names
        if not (raw / name).is_file() and not (raw / f"{name}.gz").is_file()
    ]


def download_idx_dataset(root: Path, class_name: str) -> None:
    import torchvision.datasets

    getattr(torchvision.datasets, class_name)(str(root), train=True, download=True)


def load_idx_dataset(
    root: Path, folder: str, mean: tuple[float, ...], std: tuple[float, ...]
) -> SourceData:
    """The train and test splits of one MNIST-format dataset, with torchvision's classes."""
    import torchvision.datasets

    raw = raw_folder(root, folder)
    train, test = (read_idx_pair(raw, *IDX_FILES[split]) for split in ("train", "test"))
    return SourceData(
        train=train,
        test=test,
        class_names=list(getattr(torchvision.datasets, folder).classes),
        mean=mean,
        std=std,
        # A mirrored 2, or a mirrored left shoe, is no longer the same kind of image.
        flip_ok=False,
    )


def read_idx_pair(raw: Path, images_name: str, labels_name: str) -> TensorSplit:
    """Images (N, 1, 28, 28) uint8 and int64 labels from an idx3 and an idx1 file."""
    import torch
    from torchvision.datasets.mnist import read_image_file, read_label_file

    images_path, labels_path = idx_file(raw, images_name), idx_file(raw, labels_name)
    images = _parse(read_image_file, images_path)
    labels = _parse(read_label_file, labels_path)
    if len(images) != len(labels):
        raise DatasetError(f"{images_path} holds {len(images)} images but {labels_path} holds "
                           f"{len(labels)} labels; one of them is truncated")  # fmt: skip
    return TensorSplit(images.unsqueeze(1).contiguous(), labels.to(torch.int64))


def idx_file(raw: Path, name: str) -> Path:
    """The uncompressed idx file ``name``, decompressing ``name.gz`` if that is all there is.

    Decompression writes a temporary file and renames it, so a concurrent reader (another
    DDP worker) never sees half a file.
    """
    path = raw / name
    if path.is_file():
        return path
    compressed = raw / f"{name}.gz"
    try:
        descriptor, temporary_name = tempfile.mkstemp(dir=raw, prefix=f".{name}.")
    except PermissionError:
        raise DatasetError(f"cannot decompress {compressed}: {raw} is not writable; "
                           f"gunzip it there once") from None  # fmt: skip
    temporary = Path(temporary_name)
    try:
        with os.fdopen(descriptor, "wb") as output, gzip.open(compressed, "rb") as source:
            shutil.copyfileobj(source, output)
        os.replace(temporary, path)
    except (OSError, EOFError, zlib.error) as error:
        temporary.unlink(missing_ok=True)
        raise DatasetError(f"corrupt file {compressed} ({type(error).__name__}: {error}); "
                           f"delete it and fetch the dataset again") from None  # fmt: skip
    return path


def _parse(reader, path: Path) -> torch.Tensor:
    try:
        return reader(str(path))
    except (AssertionError, RuntimeError, ValueError, TypeError, KeyError, IndexError) as error:
        reason = str(error).strip().splitlines()[0] if str(error).strip() else "bad header"
        raise DatasetError(f"corrupt idx file {path} ({type(error).__name__}: {reason}); "
                           f"delete it and fetch the dataset again") from None  # fmt: skip


@register_dataset(
    input_shape=(1, 28, 28),
    num_classes=10,
    sizes=_SIZES,
    missing_files=lambda root: missing_idx_files(root, "MNIST"),
    download=lambda root: download_idx_dataset(root, "MNIST"),
    decoded_from=lambda root, options: raw_folder(root, "MNIST"),
)
def mnist(root: Path) -> SourceData:
    """MNIST: 28×28 greyscale handwritten digits."""
    return load_idx_dataset(root, "MNIST", MNIST_MEAN, MNIST_STD)


@register_dataset(
    input_shape=(1, 28, 28),
    num_classes=10,
    sizes=_SIZES,
    missing_files=lambda root: missing_idx_files(root, "FashionMNIST"),
    download=lambda root: download_idx_dataset(root, "FashionMNIST"),
    decoded_from=lambda root, options: raw_folder(root, "FashionMNIST"),
)
def fashion_mnist(root: Path) -> SourceData:
    """Fashion-MNIST: 28×28 greyscale photos of 10 kinds of clothing (S5)."""
    return load_idx_dataset(root, "FashionMNIST", FASHION_MNIST_MEAN, FASHION_MNIST_STD)
