"""Writers of tiny datasets in the real on-disk formats, in torchvision's layout.

Each writer puts a few images where the real dataset's files would be and returns what it
wrote, so a test can load them through the real loader and compare pixel for pixel. Later
suites use them to write stand-in datasets (``from formats import write_cifar10`` from
``tests/data``; ``tests/`` is on ``sys.path`` too, so ``from data.formats import ...``
works from any suite).
"""

from __future__ import annotations

import gzip
import pickle
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

CIFAR10_LABEL_NAMES = [
    "airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck",
]  # fmt: skip


@dataclass(frozen=True)
class WrittenArrays:
    """Images (N, C, H, W) uint8 and labels (N,) exactly as written."""

    images: np.ndarray
    labels: np.ndarray


@dataclass(frozen=True)
class WrittenSplits:
    train: WrittenArrays
    test: WrittenArrays


def random_images(count: int, shape: tuple[int, ...], seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (count, *shape), dtype=np.uint8)


def cycling_labels(count: int, num_classes: int = 10, offset: int = 0) -> np.ndarray:
    """Labels 0, 1, ..., num_classes - 1, 0, 1, ...: every class present when count allows."""
    return (np.arange(count) + offset) % num_classes


# --- CIFAR-10: python pickles -----------------------------------------------------------


def write_cifar_pickle(path: Path, entry: dict) -> None:
    """Pickle as the CIFAR authors did (protocol 2, loadable with encoding='latin1')."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as handle:
        pickle.dump(entry, handle, protocol=2)


def write_cifar10(root: Path, per_batch: int = 4, test_count: int = 10) -> WrittenSplits:
    """``root/cifar-10-batches-py/``: data_batch_1..5, test_batch, batches.meta."""
    directory = root / "cifar-10-batches-py"
    train_images, train_labels = [], []
    for number in range(1, 6):
        images = random_images(per_batch, (3, 32, 32), seed=number)
        labels = cycling_labels(per_batch, offset=number)
        write_cifar_pickle(directory / f"data_batch_{number}", {
            "batch_label": f"training batch {number} of 5",
            "labels": labels.tolist(),
            "data": images.reshape(per_batch, 3072),
            "filenames": [f"image_{number}_{i}.png" for i in range(per_batch)],
        })  # fmt: skip
        train_images.append(images)
        train_labels.append(labels)
    test_images = random_images(test_count, (3, 32, 32), seed=99)
    test_labels = cycling_labels(test_count)
    write_cifar_pickle(directory / "test_batch", {
        "batch_label": "testing batch 1 of 1",
        "labels": test_labels.tolist(),
        "data": test_images.reshape(test_count, 3072),
        "filenames": [f"test_{i}.png" for i in range(test_count)],
    })  # fmt: skip
    write_cifar_pickle(directory / "batches.meta", {
        "label_names": CIFAR10_LABEL_NAMES, "num_cases_per_batch": per_batch, "num_vis": 3072,
    })  # fmt: skip
    return WrittenSplits(
        WrittenArrays(np.concatenate(train_images), np.concatenate(train_labels)),
        WrittenArrays(test_images, test_labels),
    )


# --- MNIST family: idx-ubyte files, gzipped as served ----------------------------------


def idx_bytes(array: np.ndarray) -> bytes:
    """The idx format: magic (0, 0, type 0x08 = uint8, number of dims), big-endian sizes."""
    header = bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + np.ascontiguousarray(array, dtype=np.uint8).tobytes()


def write_idx(path: Path, array: np.ndarray, compressed: bool = True) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    data = idx_bytes(array)
    if compressed:
        path = path.with_name(path.name + ".gz")
        path.write_bytes(gzip.compress(data))
    else:
        path.write_bytes(data)
    return path


def write_mnist_format(
    root: Path,
    folder: str = "MNIST",
    train_count: int = 30,
    test_count: int = 10,
    compressed: bool = True,
) -> WrittenSplits:
    """``root/<folder>/raw/{train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz]``."""
    raw = root / folder / "raw"
    written = []
    for prefix, count, seed in (("train", train_count, 1), ("t10k", test_count, 2)):
        images = random_images(count, (28, 28), seed=seed)
        labels = cycling_labels(count)
        write_idx(raw / f"{prefix}-images-idx3-ubyte", images, compressed)
        write_idx(raw / f"{prefix}-labels-idx1-ubyte", labels.astype(np.uint8), compressed)
        written.append(WrittenArrays(images[:, None], labels))
    return WrittenSplits(*written)


# --- Image files: Caltech101 and ImageFolder trees ---------------------------------------


def write_image(path: Path, size: tuple[int, int], mode: str = "RGB", seed: int = 0) -> Path:
    """A real image file (format from the suffix) of ``size`` = (width, height)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    channels = {"RGB": 3, "L": 1}[mode]
    pixels = random_images(1, (size[1], size[0], channels), seed)[0]
    image = Image.fromarray(pixels[..., 0] if channels == 1 else pixels, mode=mode)
    if path.suffix.lower() in {".jpg", ".jpeg"}:
        image.save(path, quality=90)
    else:
        image.save(path)
    return path


def write_class_folders(
    directory: Path,
    counts: dict[str, int],
    suffixes: tuple[str, ...] = (".jpg", ".png"),
    name_pattern: str = "image_{number:04d}",
    greyscale_first: bool = False,
) -> list[Path]:
    """``directory/<class>/<image>`` with images of varying sizes, formats from ``suffixes``.

    With ``greyscale_first``, the first image of the first class is single-channel.
    """
    paths = []
    for class_index, (class_name, count) in enumerate(counts.items()):
        for number in range(1, count + 1):
            suffix = suffixes[(number - 1) % len(suffixes)]
            size = (20 + 7 * number + class_index, 16 + 5 * ((number + class_index) % 4))
            mode = "L" if greyscale_first and class_index == 0 and number == 1 else "RGB"
            name = name_pattern.format(number=number) + suffix
            seed = 1000 * class_index + number
            paths.append(write_image(directory / class_name / name, size, mode, seed))
    return paths


def write_caltech101(
    root: Path, counts: dict[str, int], background: int = 2
) -> tuple[Path, list[Path]]:
    """``root/caltech101/101_ObjectCategories/<class>/image_0001.jpg`` JPEGs, one greyscale.

    Also writes ``BACKGROUND_Google`` images (not a class) when ``background`` > 0.
    """
    directory = root / "caltech101" / "101_ObjectCategories"
    paths = write_class_folders(directory, counts, suffixes=(".jpg",), greyscale_first=True)
    if background:
        write_class_folders(directory, {"BACKGROUND_Google": background}, suffixes=(".jpg",))
    return directory, paths


def truncate(path: Path, keep_fraction: float = 0.5) -> Path:
    """Cut a file short, as an interrupted copy or download leaves it."""
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep_fraction)])
    return path
