"""RandomResizedCrop + flip: torchvision's boxes and pixels, from sources of any stored size."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image
from torchvision import transforms as T

from tunnellab.data.crops import (
    CropSpec,
    draw_seed,
    random_resized_crop,
    resized_crop,
    sample_box,
    sample_flip,
)
from tunnellab.data.cropstore import shrink_to

SIZES = [(427, 640), (600, 512), (32, 32), (10, 1000), (1000, 3), (7, 9)]


@pytest.mark.parametrize(("height", "width"), SIZES)
@pytest.mark.parametrize("scale", [(0.08, 1.0), (0.9, 1.0), (0.5, 0.5)])
def test_boxes_are_torchvisions_for_the_same_draws(height, width, scale):
    spec = CropSpec(32, scale=scale)
    image = torch.zeros(3, height, width)
    for seed in range(30):
        torch.manual_seed(seed)
        expected = T.RandomResizedCrop.get_params(image, list(scale), list(spec.ratio))
        after = torch.rand(1).item()  # the next draw: both used exactly as many numbers
        generator = torch.Generator().manual_seed(seed)
        assert sample_box(height, width, spec, generator) == expected
        assert torch.rand(1, generator=generator).item() == after


def test_extreme_aspect_falls_back_to_torchvisions_centre_crop():
    spec = CropSpec(32, scale=(0.9, 1.0))
    generator = torch.Generator().manual_seed(0)
    assert sample_box(10, 1000, spec, generator) == (0, 493, 10, 13)  # 10 · 4/3 wide, centred
    assert sample_box(1000, 3, spec, generator) == (498, 0, 4, 3)  # 3 / (3/4) high, centred


@pytest.mark.parametrize("size", [32, 224])
def test_crops_of_the_original_are_torchvisions_pixels(size):
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, (300, 420, 3), dtype=np.uint8)
    pil = Image.fromarray(pixels)
    pipeline = T.Compose([T.RandomResizedCrop(size), T.RandomHorizontalFlip()])
    spec = CropSpec(size)
    for seed in range(20):
        torch.manual_seed(seed)
        expected = np.asarray(pipeline(pil))
        ours = random_resized_crop(pixels, (300, 420), spec, torch.Generator().manual_seed(seed))
        assert np.array_equal(ours, expected)


def _ramps(height: int, width: int) -> np.ndarray:
    """Red = column index, green = row index: f(p) = p − 0.5 at original position p."""
    image = np.zeros((height, width, 3), dtype=np.uint8)
    image[..., 0] = np.arange(width)[None, :]
    image[..., 1] = np.arange(height)[:, None]
    return image


@pytest.mark.parametrize("stored_width", [240, 120, 75])
def test_a_smaller_stored_copy_crops_the_same_place(stored_width):
    # A linear ramp stays linear through any symmetric resampling filter, so each output pixel
    # must read the ramps at its centre in ORIGINAL pixels, whatever the stored copy's scale.
    stored = shrink_to(Image.fromarray(_ramps(160, 240)), stored_width * 160 // 240)
    assert stored.shape[1] == stored_width
    for box, size in [((20, 30, 100, 150), 32), ((50, 100, 60, 40), 64), ((0, 10, 160, 200), 16)]:
        top, left, h, w = box
        out = resized_crop(stored, box, (160, 240), size).astype(float)
        along = (np.arange(size) + 0.5) / size
        inner = slice(2, size - 2)  # away from the box edges, where the filter is one-sided
        x_error = out[inner, inner, 0] - (left + along[inner] * w - 0.5)[None, :]
        y_error = out[inner, inner, 1] - (top + along[inner] * h - 0.5)[:, None]
        assert np.abs(x_error).max() <= 1.5 and np.abs(y_error).max() <= 1.5
        flipped = resized_crop(stored, box, (160, 240), size, flip=True)
        assert np.array_equal(flipped, out[:, ::-1].astype(np.uint8))


def test_crop_from_the_whole_image_without_flip_is_a_resize():
    pixels = np.random.default_rng(1).integers(0, 256, (64, 48, 3), dtype=np.uint8)
    out = resized_crop(pixels, (0, 0, 64, 48), (64, 48), 32)
    expected = np.asarray(Image.fromarray(pixels).resize((32, 32), Image.Resampling.BILINEAR))
    assert np.array_equal(out, expected)


def test_flip_draw_is_torchvisions():
    spec = CropSpec(32, flip_p=0.3)
    flips = [sample_flip(spec, torch.Generator().manual_seed(s)) for s in range(200)]
    expected = []
    for s in range(200):
        torch.manual_seed(s)
        expected.append(torch.rand(1).item() < 0.3)
    assert flips == expected and 30 < sum(flips) < 90


def test_draw_seeds_are_distinct_32_bit_seeds_with_distinct_streams():
    keys = [draw_seed(s, e, i) for s in range(3) for e in range(5) for i in (0, 1, 126_688, 2**31)]
    assert len(set(keys)) == len(keys) and all(0 <= k < 2**32 for k in keys)
    streams = {
        tuple(torch.rand(4, generator=torch.Generator().manual_seed(k)).tolist()) for k in keys
    }
    assert len(streams) == len(keys)  # a CPU generator reads only 32 bits of its seed
