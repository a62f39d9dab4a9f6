"""Real handwritten digits, offline: scikit-learn's bundled 8x8 digits (no download needed)."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.datasets import load_digits

from tunnellab.data.arrays import ImageArrays, stratified_split
from tunnellab.data.lab.clutter import check_resolution

DIGIT_CLASSES: list[str] = [str(d) for d in range(10)]
_MAX_VALUE = 16.0  # load_digits pixel values are counts in 0..16


def digits_images(resolution: int) -> ImageArrays:
    """All 1,797 digits, bilinearly resized to ``resolution``, grey replicated to RGB uint8."""
    resolution = check_resolution(resolution)
    bunch = load_digits()
    grey = torch.from_numpy(bunch.images.astype(np.float32))[:, None] * (255.0 / _MAX_VALUE)
    resized = F.interpolate(
        grey, size=(resolution, resolution), mode="bilinear", align_corners=False
    )
    rgb = resized.round().clamp(0, 255).to(torch.uint8).expand(-1, 3, -1, -1).contiguous()
    return ImageArrays(rgb, torch.from_numpy(bunch.target.astype(np.int64)), list(DIGIT_CLASSES))


def digits_splits(
    resolution: int, seed: int, test_fraction: float = 0.2
) -> tuple[ImageArrays, ImageArrays]:
    """Seeded stratified ``(train, test)`` split of the resized digits; classes ``'0'..'9'``."""
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction}")
    full = digits_images(resolution)
    train_idx, test_idx = stratified_split(full.labels.numpy(), test_fraction, seed)
    return full.subset(train_idx), full.subset(test_idx)
