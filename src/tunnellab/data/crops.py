"""RandomResizedCrop + horizontal flip, drawn and applied the way torchvision does it.

The box is drawn by :func:`sample_box`, torchvision's ``RandomResizedCrop.get_params`` algorithm
(area fraction ``U(scale)``, log-uniform aspect ratio, 10 tries, then the centre fallback) with
the same random draws, in the coordinates of the original image. :func:`resized_crop` cuts that
box out of a stored copy of the image (possibly smaller than the original: the box is scaled to
it, to sub-pixel precision) and resizes it to ``size`` × ``size`` with PIL's antialiased
bilinear filter, the filter torchvision applies to PIL images; then the optional mirror. With the
original pixels stored, the result is torchvision's ``RandomResizedCrop(size)`` +
``RandomHorizontalFlip`` on a PIL image, pixel for pixel.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch
from PIL import Image

#: ``(top, left, height, width)`` in pixels of the original image, as ``get_params`` returns it.
Box = tuple[int, int, int, int]
TRIES = 10


@dataclass(frozen=True)
class CropSpec:
    """What one training crop is: output ``size``, ``scale`` and ``ratio`` ranges, flip chance."""

    size: int
    scale: tuple[float, float] = (0.08, 1.0)
    ratio: tuple[float, float] = (3 / 4, 4 / 3)
    flip_p: float = 0.5
    #: torchvision's float32 ``log(ratio)``, the bounds its aspect draw uses
    log_ratio: tuple[float, float] = field(init=False)

    def __post_init__(self) -> None:
        low, high = torch.log(torch.tensor(self.ratio)).tolist()
        object.__setattr__(self, "log_ratio", (low, high))


def _uniform(low: float, high: float, generator: torch.Generator) -> float:
    return torch.empty(1).uniform_(low, high, generator=generator).item()


def sample_box(height: int, width: int, spec: CropSpec, generator: torch.Generator) -> Box:
    """torchvision's ``RandomResizedCrop.get_params`` for an image of ``height`` × ``width``.

    Draws the same numbers in the same order from ``generator`` as torchvision does from the
    global generator, so a generator in the same state gives the same box.
    """
    area = height * width
    for _ in range(TRIES):
        target_area = area * _uniform(*spec.scale, generator)
        aspect = torch.exp(torch.empty(1).uniform_(*spec.log_ratio, generator=generator)).item()
        w = round(math.sqrt(target_area * aspect))
        h = round(math.sqrt(target_area / aspect))
        if 0 < w <= width and 0 < h <= height:
            top = int(torch.randint(0, height - h + 1, size=(1,), generator=generator).item())
            left = int(torch.randint(0, width - w + 1, size=(1,), generator=generator).item())
            return top, left, h, w
    in_ratio = width / height  # no try fitted: the centre crop of the nearest allowed aspect
    if in_ratio < min(spec.ratio):
        w, h = width, round(width / min(spec.ratio))
    elif in_ratio > max(spec.ratio):
        w, h = round(height * max(spec.ratio)), height
    else:
        w, h = width, height
    return (height - h) // 2, (width - w) // 2, h, w


def sample_flip(spec: CropSpec, generator: torch.Generator) -> bool:
    """``RandomHorizontalFlip(flip_p)``'s draw: one ``rand(1) < p``."""
    return torch.rand(1, generator=generator).item() < spec.flip_p


def resized_crop(
    image: np.ndarray, box: Box, original_hw: tuple[int, int], size: int, flip: bool = False
) -> np.ndarray:
    """``box`` (original pixels) of ``image`` (uint8 ``(h, w, 3)``, the original resized to
    ``(h, w)``) resized to uint8 ``(size, size, 3)``, antialiased bilinear; mirrored if ``flip``.

    The box is scaled to the stored image per axis; PIL resamples from its fractional corners, so
    a smaller stored copy loses detail but never shifts the crop.
    """
    top, left, h, w = box
    sy, sx = image.shape[0] / original_hw[0], image.shape[1] / original_hw[1]
    y0, y1, x0, x1 = top * sy, (top + h) * sy, left * sx, (left + w) * sx
    iy0, ix0 = math.floor(y0), math.floor(x0)
    iy1, ix1 = min(math.ceil(y1), image.shape[0]), min(math.ceil(x1), image.shape[1])
    patch = Image.fromarray(np.ascontiguousarray(image[iy0:iy1, ix0:ix1]))
    inner = (x0 - ix0, y0 - iy0, min(x1, ix1) - ix0, min(y1, iy1) - iy0)
    out = patch.resize((size, size), Image.Resampling.BILINEAR, box=inner)
    if flip:
        out = out.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    return np.asarray(out)


def random_resized_crop(
    image: np.ndarray, original_hw: tuple[int, int], spec: CropSpec, generator: torch.Generator
) -> np.ndarray:
    """One training crop: a box from :func:`sample_box`, the flip draw, :func:`resized_crop`."""
    box = sample_box(*original_hw, spec, generator)
    return resized_crop(image, box, original_hw, spec.size, sample_flip(spec, generator))


_MASK64 = (1 << 64) - 1


def _splitmix64(x: int) -> int:
    """One step of the SplitMix64 mixer: a bijection of 64-bit integers that scatters bits."""
    x = (x + 0x9E37_79B9_7F4A_7C15) & _MASK64
    x = ((x ^ (x >> 30)) * 0xBF58_476D_1CE4_E5B9) & _MASK64
    x = ((x ^ (x >> 27)) * 0x94D0_49BB_1331_11EB) & _MASK64
    return x ^ (x >> 31)


def draw_seed(seed: int, epoch: int, index: int) -> int:
    """The seed of image ``index``'s draws in ``epoch``: a 32-bit hash of the three numbers.

    32 bits because a CPU ``torch.Generator`` (Mersenne Twister) uses only the low 32 bits of
    its seed: seeds that differ above them give the same numbers.
    """
    return _splitmix64(_splitmix64(_splitmix64(seed) ^ epoch) ^ index) >> 32
