"""What a loaded dataset is: labelled splits of uint8 images plus what a model must know.

Every split stores images as uint8 (C, H, W) of one shape, either all in memory
(``TensorSplit``: the MNIST family, CIFAR-10, the packaged datasets) or as files decoded on
demand (``FileSplit``: Caltech101 and image folders, too big to hold decoded at 224×224).
Both turn into float tensors in the same place (``benchmark.data.transforms``), so the two
kinds of split give the same normalised images for the same indices.

The module imports torch only in the methods that handle tensors: the dataset registry, and
the sweep file's check with it, use these names without loading a dataset, in a driver
that never trains.
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from benchmark.data.decode import decode_image

if TYPE_CHECKING:
    import torch

SplitName = Literal["train", "val", "test"]
SPLIT_NAMES: tuple[SplitName, ...] = ("train", "val", "test")


class ImageSplit(ABC):
    """One split: ``len(split)`` images of ``image_shape`` with int64 ``labels`` (N,)."""

    labels: torch.Tensor
    #: True when the decoded images are held in memory (batched by slicing, no workers).
    in_memory: bool

    def __len__(self) -> int:
        return int(self.labels.numel())

    @property
    @abstractmethod
    def image_shape(self) -> tuple[int, int, int]:
        """(C, H, W) of every image of the split."""

    @abstractmethod
    def read(self, index: int) -> torch.Tensor:
        """Image ``index`` as uint8 (C, H, W)."""

    @abstractmethod
    def subset(self, indices: np.ndarray) -> ImageSplit:
        """The images at ``indices``, in that order, as a split of the same kind."""


@dataclass(frozen=True, eq=False)
class TensorSplit(ImageSplit):
    """A split decoded into one uint8 tensor (N, C, H, W)."""

    images: torch.Tensor
    labels: torch.Tensor
    in_memory: bool = field(default=True, init=False)

    def __post_init__(self) -> None:
        import torch

        if self.images.dtype != torch.uint8 or self.images.dim() != 4:
            raise ValueError(f"images must be uint8 (N, C, H, W); got {self.images.dtype} "
                             f"{tuple(self.images.shape)}")  # fmt: skip
        if self.labels.dtype != torch.int64 or self.labels.shape != self.images.shape[:1]:
            raise ValueError("labels must be int64 (N,) with one label per image")

    @property
    def image_shape(self) -> tuple[int, int, int]:
        channels, height, width = self.images.shape[1:]
        return int(channels), int(height), int(width)

    def read(self, index: int) -> torch.Tensor:
        return self.images[index]

    def subset(self, indices: np.ndarray) -> TensorSplit:
        import torch

        chosen = torch.as_tensor(indices, dtype=torch.int64)
        return TensorSplit(self.images[chosen].contiguous(), self.labels[chosen].contiguous())


@dataclass(frozen=True, eq=False)
class FileSplit(ImageSplit):
    """A split of image files, each decoded and resized to ``shape`` when read."""

    paths: tuple[str, ...]
    labels: torch.Tensor
    shape: tuple[int, int, int]
    in_memory: bool = field(default=False, init=False)

    def __post_init__(self) -> None:
        import torch

        if self.labels.dtype != torch.int64 or self.labels.numel() != len(self.paths):
            raise ValueError("labels must be int64 (N,) with one label per path")

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return self.shape

    def read(self, index: int) -> torch.Tensor:
        return decode_image(self.paths[index], self.shape)

    def subset(self, indices: np.ndarray) -> FileSplit:
        import torch

        chosen = [int(i) for i in indices]
        labels = self.labels[torch.as_tensor(chosen, dtype=torch.int64)].contiguous()
        return FileSplit(tuple(self.paths[i] for i in chosen), labels, self.shape)

    def preload(self, num_threads: int | None = None) -> TensorSplit:
        """Decode every image once into memory, so epochs slice tensors instead of decoding.

        Threads rather than processes: PIL releases the GIL while it decodes and resizes, and
        threads need no pickling or start-up. Worth it when the decoded split fits in memory
        (a six-class Caltech101 subset at 224×224 is about 150 MB) and several epochs run.
        """
        import torch

        if len(self) == 0:
            return TensorSplit(torch.zeros((0, *self.shape), dtype=torch.uint8), self.labels)
        threads = num_threads or min(8, os.cpu_count() or 1)
        with ThreadPoolExecutor(max_workers=threads) as pool:
            images = list(pool.map(self.read, range(len(self))))
        return TensorSplit(torch.stack(images), self.labels.clone())


@dataclass(frozen=True)
class SourceData:
    """What a dataset builder returns: the dataset's own train and test splits and facts.

    The registry carves the validation split out of ``train``; a dataset without a test set
    of its own carves ``test`` out of its images before returning (``splits.split_off``).
    """

    train: ImageSplit
    test: ImageSplit
    class_names: list[str]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    #: Whether a horizontal mirror keeps an image's class (not for digits or letters).
    flip_ok: bool
    #: Files left out because they could not be read (``on_corrupt: skip``).
    skipped_files: tuple[str, ...] = ()


@dataclass(frozen=True)
class DatasetBundle:
    """A dataset ready to train on: three splits, class names, input shape, normalisation.

    ``mean`` and ``std`` are per channel on the 0..1 scale; loaders normalise with them and
    checkpoints record them so predictions on new images use the same numbers.
    ``val_fraction`` and ``split_seed`` say how ``val`` was carved out of the training data.
    """

    name: str
    train: ImageSplit
    val: ImageSplit
    test: ImageSplit
    class_names: list[str]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    flip_ok: bool
    val_fraction: float
    split_seed: int
    #: Every option the builder ran with, defaults filled in, for the results' record.
    options: dict[str, Any] = field(default_factory=dict)
    skipped_files: tuple[str, ...] = ()

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def input_shape(self) -> tuple[int, int, int]:
        """(C, H, W) of the tensors a loader feeds to the model."""
        return self.train.image_shape

    def limited(self, count: int, seed: int = 0) -> DatasetBundle:
        """At most ``count`` images of each split, drawn with ``seed`` and kept in order.

        For smoke runs: every code path of a trial on a few hundred images. The class
        names and normalisation stay the full dataset's.
        """
        generator = np.random.default_rng(seed)

        def cut(split: ImageSplit) -> ImageSplit:
            if len(split) <= count:
                return split
            return split.subset(np.sort(generator.choice(len(split), count, replace=False)))

        return replace(self, train=cut(self.train), val=cut(self.val), test=cut(self.test))

    def split(self, name: SplitName) -> ImageSplit:
        if name not in SPLIT_NAMES:
            raise ValueError(f"split must be one of {', '.join(SPLIT_NAMES)}; got {name!r}")
        return getattr(self, name)
