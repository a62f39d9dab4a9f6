"""Batch normalisation."""

import torch

from tunnellab.data.transforms import IMAGENET_MEAN, IMAGENET_STD, normalize


def test_normalize_maps_uint8_to_standardised_floats():
    images = torch.full((2, 3, 4, 4), 255, dtype=torch.uint8)
    x = normalize(images)
    assert x.dtype == torch.float32
    expected = (1.0 - torch.tensor(IMAGENET_MEAN)) / torch.tensor(IMAGENET_STD)
    assert torch.allclose(x[0, :, 0, 0], expected)
