"""Turning one image file into the uint8 (C, H, W) tensor every split stores.

The file-backed splits (Caltech101, image folders) decode here, once per image per epoch in
DataLoader workers or once in all with ``FileSplit.preload``; the in-memory splits never
come here. Everything is resized to one square size at decode time so that images of
different sizes stack into batches, and every colour mode (greyscale, palette, CMYK, RGBA)
is converted to the split's channel count: a Caltech101 folder mixes greyscale and RGB.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from PIL import Image, UnidentifiedImageError

from benchmark.errors import DatasetError

if TYPE_CHECKING:
    import torch

#: PIL's modes for 1 and 3 channels.
_MODES = {1: "L", 3: "RGB"}


def decode_image(path: str, shape: tuple[int, int, int]) -> torch.Tensor:
    """The image at ``path`` as uint8 ``shape`` = (C, H, W); C is 1 or 3.

    Resizing uses PIL's antialiased bilinear filter (torchvision's ``Resize`` default).
    Raises ``DatasetError`` naming the file when it is not an image or is cut short.
    """
    import torch  # not for ``probe_image``: a folder is scanned where nothing trains

    channels, height, width = shape
    try:
        with Image.open(path) as image:
            converted = image.convert(_MODES[channels])
            if converted.size != (width, height):
                converted = converted.resize((width, height), Image.Resampling.BILINEAR)
            pixels = np.asarray(converted, dtype=np.uint8)
    except (OSError, UnidentifiedImageError, ValueError, SyntaxError) as error:
        raise DatasetError(f"cannot decode image {path}: {_reason(error)}") from None
    if channels == 1:
        return torch.from_numpy(pixels.copy()).unsqueeze(0)
    return torch.from_numpy(pixels.transpose(2, 0, 1).copy())


def probe_image(path: str) -> str | None:
    """Why ``path`` is not a readable image, or None when its header says it is one.

    Reads only the header (a few kilobytes), so a scan of a whole folder stays cheap; a file
    cut short inside its pixel data passes here and fails later in ``decode_image``.
    """
    try:
        with Image.open(path) as image:
            width, height = image.size
    except (OSError, UnidentifiedImageError, ValueError, SyntaxError) as error:
        return _reason(error)
    if width < 1 or height < 1:
        return f"empty image ({width}×{height})"
    return None


def _reason(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0]}" if text else type(error).__name__
