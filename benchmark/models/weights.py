"""Pretrained weights, resolved in one place: ``none``, ``imagenet`` or a state-dict file.

``imagenet`` means torchvision's ``IMAGENET1K_V1`` weights of the network (the original
ImageNet training, which the studies' Keras models also used), found through torchvision's
weights API and cached where torch.hub caches them (``$TORCH_HOME/hub/checkpoints``), so a
file put there by hand, or by any other PyTorch program, is used as is. Downloading is
bounded by a socket timeout and can be forbidden with ``BENCH_OFFLINE=1``; a file that
cannot be had is a ``WeightsError`` that names the file, the directory and the URL.

Every file is read with ``torch.load(..., weights_only=True)``: tensors only, never code.

Parsing the ``weights`` hyperparameter needs no torch: a sweep file is checked in the
sweep's driver, which never trains, so torch is imported by the functions that read or
fetch a file, not here.
"""

from __future__ import annotations

import hashlib
import logging
import os
import pickle
import re
import urllib.request
import zipfile
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal
from urllib.parse import urlparse

from benchmark.errors import WeightsError

if TYPE_CHECKING:
    import torch
    from torch import nn

log = logging.getLogger(__name__)

#: What the ``weights`` hyperparameter accepts, PATH standing for a state-dict file.
WEIGHTS_CHOICES = ("none", "imagenet", "PATH")
#: The torchvision weights enum member that ``weights: imagenet`` stands for.
IMAGENET_WEIGHTS = "IMAGENET1K_V1"
#: Set to 1 (or true/yes) to forbid downloads: a missing file is then an error at once.
OFFLINE_ENV = "BENCH_OFFLINE"
#: Seconds any one socket operation of a download may block: a dead network fails fast.
DOWNLOAD_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class WeightsChoice:
    """The ``weights`` hyperparameter, parsed: no weights, ImageNet, or a file."""

    kind: Literal["none", "imagenet", "file"]
    path: Path | None = None

    @classmethod
    def parse(cls, value: object) -> WeightsChoice:
        """``none`` (or None), ``imagenet``, or anything else as the path of a file."""
        if value is None or value == "none":
            return cls("none")
        if value == "imagenet":
            return cls("imagenet")
        if isinstance(value, str | os.PathLike) and str(value):
            return cls("file", Path(value).expanduser())
        raise WeightsError(f"weights must be none, imagenet or a file path; got {value!r}")


def offline() -> bool:
    return os.environ.get(OFFLINE_ENV, "").strip().lower() in ("1", "true", "yes")


def imagenet_file(arch: str, *, download: bool = True) -> Path:
    """The cached ImageNet checkpoint of torchvision's ``arch``, downloaded first if needed.

    With ``download=False`` (a sweep that says ``offline: true``), or ``BENCH_OFFLINE`` set,
    a file that is not cached is a ``WeightsError`` at once.
    """
    import torch
    import torchvision  # here, not at the top: importing it costs seconds (see backbones)

    weights = torchvision.models.get_model_weights(arch)[IMAGENET_WEIGHTS]
    file_name = Path(urlparse(weights.url).path).name
    directory = Path(torch.hub.get_dir()) / "checkpoints"
    path = directory / file_name
    if path.is_file():
        return path
    remedy = f"put {file_name} in {directory} (from {weights.url})"
    if offline() or not download:
        forbidden_by = OFFLINE_ENV if offline() else "offline mode"
        raise WeightsError(
            f"ImageNet weights for {arch} are not cached and {forbidden_by} forbids "
            f"downloading: {remedy}"
        )
    try:
        _download(weights.url, path)
    except (OSError, ValueError) as error:  # URLError and timeouts are OSErrors
        reason = str(getattr(error, "reason", error)).splitlines()[0]
        raise WeightsError(
            f"ImageNet weights for {arch} could not be downloaded ({reason}): {remedy}"
        ) from None
    return path


def _download(url: str, path: Path) -> None:
    """Fetch ``url`` to ``path`` atomically, checking the SHA-256 prefix in its name.

    torchvision names its files ``<name>-<first hex digits of the SHA-256>.pth``; a mismatch
    means a truncated or altered download. A fresh opener reads the proxy settings of the
    moment, and the timeout bounds every connect and read.
    """
    import torch

    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f"{path.name}.{os.getpid()}.partial")
    digest = hashlib.sha256()
    request = urllib.request.Request(url, headers={"User-Agent": "raybench"})
    log.info("downloading %s to %s", url, path)
    try:
        response = urllib.request.build_opener().open(request, timeout=DOWNLOAD_TIMEOUT_S)
        with response, partial.open("wb") as out:
            while chunk := response.read(1 << 20):
                digest.update(chunk)
                out.write(chunk)
        expected = re.search(torch.hub.HASH_REGEX, path.name)
        if expected and not digest.hexdigest().startswith(expected.group(1)):
            raise ValueError(f"SHA-256 of the download does not start with {expected.group(1)}")
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)


def read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """The tensors saved in ``path`` by ``torch.save(model.state_dict(), path)``.

    Refuses, with a ``WeightsError`` naming the file, anything else: a file that is missing
    or unreadable, a pickle that would run code, a checkpoint that is not a name → tensor map.
    """
    import torch

    if not path.is_file():
        raise WeightsError(f"weights file {path} does not exist")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        if zipfile.is_zipfile(path):  # what torch.save writes: readable, but holds more
            raise WeightsError(
                f"weights file {path} holds objects other than tensors, which "
                f"torch.load(weights_only=True) refuses; save model.state_dict() instead"
            ) from None
        raise WeightsError(f"weights file {path} is not a PyTorch file") from None
    except Exception as error:  # torch.load reports a foreign file as KeyError, RuntimeError ...
        raise WeightsError(
            f"weights file {path} is not a PyTorch file ({type(error).__name__})"
        ) from None
    if not isinstance(state, Mapping) or not all(
        isinstance(key, str) and isinstance(value, torch.Tensor) for key, value in state.items()
    ):
        raise WeightsError(
            f"weights file {path} holds a {type(state).__name__}, not a state dict (names to "
            f"tensors, as model.state_dict() returns)"
        )
    return dict(state)


def load_state_dict_checked(
    module: nn.Module, state: Mapping[str, torch.Tensor], source: Path
) -> None:
    """``module.load_state_dict(state)``, with a one-line ``WeightsError`` if they differ."""
    expected = module.state_dict()
    problems = []
    missing = [key for key in expected if key not in state]
    unexpected = [key for key in state if key not in expected]
    mismatched = [
        f"{key} {tuple(state[key].shape)} in the file, {tuple(tensor.shape)} in the model"
        for key, tensor in expected.items()
        if key in state and state[key].shape != tensor.shape
    ]
    for label, items in (("missing", missing), ("unexpected", unexpected), ("shape", mismatched)):
        if items:
            problems.append(f"{label}: {_first_few(items)}")
    if problems:
        raise WeightsError(f"weights file {source} does not fit the model ({'; '.join(problems)})")
    module.load_state_dict(state)


def _first_few(items: Iterable[str], limit: int = 3) -> str:
    items = list(items)
    more = f" (+{len(items) - limit} more)" if len(items) > limit else ""
    return ", ".join(items[:limit]) + more


def load_weights_file(model: nn.Module, path: Path) -> None:
    """Load a state dict saved from a model of the same architecture and hyperparameters."""
    load_state_dict_checked(model, read_state_dict(path), path)


_STRUCTURE_ONLY: ContextVar[bool] = ContextVar("structure_only", default=False)
_IMAGENET_WANTED: ContextVar[list[str] | None] = ContextVar("imagenet_wanted", default=None)


@contextmanager
def structure_only() -> Iterator[None]:
    """Build networks as ImageNet weights shape them, without reading the weights.

    For rebuilding a trained model whose checkpoint replaces every value anyway (``bench
    predict``): the ImageNet file need not be on the machine that predicts.
    """
    token = _STRUCTURE_ONLY.set(True)
    try:
        yield
    finally:
        _STRUCTURE_ONLY.reset(token)


@contextmanager
def imagenet_weights_wanted() -> Iterator[list[str]]:
    """Build networks as ``structure_only`` does, listing whose ImageNet weights they load.

    The list fills with the torchvision names (``vgg16`` for ``vgg16_flat``) that
    ``imagenet_file`` takes, so a sweep can check or fetch each file before any trial
    starts. Built on the meta device (``with torch.device("meta")``) it costs nothing.
    """
    wanted: list[str] = []
    token = _IMAGENET_WANTED.set(wanted)
    try:
        with structure_only():
            yield wanted
    finally:
        _IMAGENET_WANTED.reset(token)


def load_imagenet_weights(
    module: nn.Module, arch: str, *, prefix: str = "", ignore: tuple[str, ...] = ()
) -> None:
    """Load torchvision's ImageNet weights of ``arch`` into ``module``.

    ``prefix`` selects part of the checkpoint (``features.`` for a VGG feature extractor)
    and is stripped from the names; keys starting with an ``ignore`` prefix are dropped
    (GoogLeNet's auxiliary classifiers, which the zoo does not build). Inside
    ``structure_only()`` nothing is read.
    """
    wanted = _IMAGENET_WANTED.get()
    if wanted is not None:
        wanted.append(arch)
    if _STRUCTURE_ONLY.get():
        return
    path = imagenet_file(arch)
    state = {
        key.removeprefix(prefix): tensor
        for key, tensor in read_state_dict(path).items()
        if key.startswith(prefix) and not key.startswith(ignore)
    }
    load_state_dict_checked(module, state, path)
