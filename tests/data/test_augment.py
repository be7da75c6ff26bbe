"""Batched augmentation: presets, switches, and what each operation may and may not change."""

from __future__ import annotations

import pytest
import torch

from benchmark.data import AugmentConfig, resolve_augment
from benchmark.data.augment import (
    augment_batch,
    random_color_jitter,
    random_hflip,
    random_rotation,
    random_shift,
)
from benchmark.errors import AugmentConfigError


def generator(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def batch(shape=(16, 3, 12, 10), seed: int = 0) -> torch.Tensor:
    return torch.rand(shape, generator=generator(seed))


def test_presets_flip_only_datasets_whose_class_survives_a_mirror():
    assert resolve_augment("standard", flip_ok=True).hflip
    assert not resolve_augment("standard", flip_ok=False).hflip
    assert not resolve_augment("strong", flip_ok=False).hflip
    assert resolve_augment("none", flip_ok=True).is_identity
    assert resolve_augment(None, flip_ok=True).is_identity


def test_strong_adds_rotation_and_colour_jitter_to_standard():
    standard, strong = (resolve_augment(name, flip_ok=True) for name in ("standard", "strong"))
    assert standard.translate_frac > 0 and standard.rotation_deg == 0
    assert strong.rotation_deg > 0 and strong.color_jitter > 0
    assert strong.translate_frac == standard.translate_frac and strong.hflip


def test_a_dict_starts_from_its_preset_and_overrides_single_switches():
    s3_improved = resolve_augment({"preset": "standard", "rotation_deg": 15}, flip_ok=True)
    assert (s3_improved.rotation_deg, s3_improved.hflip) == (15, True)
    assert s3_improved.translate_frac == 0.125 and s3_improved.color_jitter == 0
    padded = resolve_augment({"preset": "standard", "crop_padding": 4}, flip_ok=True)
    assert (padded.crop_padding, padded.translate_frac) == (4, 0.0)
    assert resolve_augment({"hflip": True}, flip_ok=False).hflip  # the user said so


@pytest.mark.parametrize(
    ("spec", "expected"),
    [("strnog", "unknown augmentation preset 'strnog'; did you mean strong"),
     ({"rotation": 10}, "unknown switch 'rotation' .*did you mean 'rotation_deg'"),
     ({"rotation_deg": -5}, "rotation_deg must be a number of degrees"),
     ({"hflip": "yes"}, "hflip must be true or false"),
     ({"crop_padding": 2, "translate_frac": 0.1}, "not both")],
)  # fmt: skip
def test_unknown_or_impossible_augmentation_is_a_one_line_error(spec, expected):
    with pytest.raises(AugmentConfigError, match=expected):
        resolve_augment(spec, flip_ok=True)


@pytest.mark.parametrize("name", ["standard", "strong"])
@pytest.mark.parametrize("shape", [(8, 1, 28, 28), (8, 3, 32, 32), (8, 3, 20, 30)])
def test_augmentation_keeps_shape_dtype_and_range_and_changes_pixels(name, shape):
    images = batch(shape)
    out = augment_batch(images, resolve_augment(name, flip_ok=True), generator())
    assert out.shape == images.shape and out.dtype == torch.float32
    assert float(out.min()) >= 0 and float(out.max()) <= 1
    assert not torch.equal(out, images)


def test_none_leaves_images_untouched():
    images = batch()
    assert torch.equal(augment_batch(images, AugmentConfig(), generator()), images)


def test_a_flip_is_an_exact_mirror_or_nothing():
    images = batch((64, 3, 5, 7))
    out = random_hflip(images, generator())
    mirrored = [torch.equal(o, i.flip(-1)) for o, i in zip(out, images, strict=True)]
    kept = [torch.equal(o, i) for o, i in zip(out, images, strict=True)]
    assert all(m or k for m, k in zip(mirrored, kept, strict=True))
    assert any(mirrored) and any(kept)


def shifted(image: torch.Tensor, dy: int, dx: int) -> torch.Tensor:
    """``image`` moved down by dy and right by dx, zeros where nothing moved in."""
    out = torch.zeros_like(image)
    height, width = image.shape[-2:]
    out[..., max(dy, 0) : height + min(dy, 0), max(dx, 0) : width + min(dx, 0)] = image[
        ..., max(-dy, 0) : height + min(-dy, 0), max(-dx, 0) : width + min(-dx, 0)
    ]
    return out


def test_a_crop_moves_content_by_at_most_the_padding_and_fills_with_zeros():
    images = batch((32, 2, 9, 11)) + 0.01  # no zero pixels, so fill is unambiguous
    out = random_shift(images, 3, generator())
    shifts = []
    for original, result in zip(images, out, strict=True):
        matches = [(dy, dx) for dy in range(-3, 4) for dx in range(-3, 4)
                   if torch.equal(result, shifted(original, dy, dx))]  # fmt: skip
        assert len(matches) == 1
        shifts.append(matches[0])
    assert len(set(shifts)) > 5  # the offsets are drawn per image


def test_rotation_turns_content_about_the_centre():
    image = torch.zeros(1, 1, 21, 21)
    image[0, 0, 10, 15] = 1.0  # a dot 5 pixels right of the centre
    rotated = random_rotation(image.expand(8, 1, 21, 21).contiguous(), 90, generator())
    for result in rotated:
        row, col = divmod(int(result.argmax()), 21)
        assert abs(((row - 10) ** 2 + (col - 10) ** 2) ** 0.5 - 5) <= 1.5  # same radius


def test_colour_jitter_of_greyscale_images_changes_only_brightness_and_contrast():
    images = 0.3 + 0.4 * batch((8, 1, 6, 6))  # mid-range: no clamping at 0 or 1
    out = random_color_jitter(images, 0.2, generator())
    for original, result in zip(images.flatten(1), out.flatten(1), strict=True):
        # brightness × contrast is an affine map of the pixel values: a·x + b fits exactly.
        design = torch.stack([original, torch.ones_like(original)], dim=1).double()
        solution = torch.linalg.lstsq(design, result.double()[:, None]).solution
        assert torch.allclose(design @ solution, result.double()[:, None], atol=1e-5)


def test_colour_jitter_of_colour_images_also_changes_saturation():
    images = 0.3 + 0.4 * batch((8, 3, 6, 6))
    out = random_color_jitter(images, 0.5, generator())
    original, result = images[0].flatten(1).T.double(), out[0].flatten(1).T.double()
    # Per-channel affine maps cannot explain a saturation change, which mixes the channels.
    residuals = []
    for channel in range(3):
        design = torch.stack([original[:, channel], torch.ones(36, dtype=torch.float64)], dim=1)
        fit = torch.linalg.lstsq(design, result[:, channel : channel + 1]).solution
        residuals.append(float((design @ fit - result[:, channel : channel + 1]).abs().max()))
    assert max(residuals) > 1e-3


def test_the_same_generator_seed_draws_the_same_augmentation():
    config = resolve_augment("strong", flip_ok=True)
    first = augment_batch(batch(), config, generator(5))
    assert torch.equal(first, augment_batch(batch(), config, generator(5)))
    assert not torch.equal(first, augment_batch(batch(), config, generator(6)))
