"""Nuisance transforms of a practitioner's setting, applied to uint8 image batches.

Each nuisance maps ``(N, 3, H, W)`` uint8 to the same shape and dtype; the advisor re-evaluates the
trained probes on the transformed test images to see which taps are robust to it.
"""

from __future__ import annotations

import io
from collections.abc import Callable

import numpy as np
import torch
import torchvision.transforms.v2.functional as TF
from PIL import Image

Nuisance = Callable[[torch.Tensor], torch.Tensor]


def blur(images: torch.Tensor, sigma_fraction: float = 0.02) -> torch.Tensor:
    """Gaussian blur with sigma = ``sigma_fraction`` × image side (at least 0.5 px)."""
    sigma = max(0.5, sigma_fraction * images.shape[-1])
    kernel = 2 * int(3 * sigma) + 1
    return TF.gaussian_blur(images, kernel_size=[kernel, kernel], sigma=[sigma, sigma])


def down_up(images: torch.Tensor, factor: int = 4) -> torch.Tensor:
    """Downscale by ``factor`` then upscale back (a low-resolution camera)."""
    side = images.shape[-1]
    small = TF.resize(images, [max(1, side // factor)] * 2, antialias=True)
    return TF.resize(small, [side, side], antialias=True)


def brightness_contrast(
    images: torch.Tensor, brightness: float = 1.4, contrast: float = 0.6
) -> torch.Tensor:
    """Brighter and flatter (over-exposed, hazy)."""
    return TF.adjust_contrast(TF.adjust_brightness(images, brightness), contrast)


def jpeg(images: torch.Tensor, quality: int = 20) -> torch.Tensor:
    """Re-encode every image as JPEG at ``quality``."""
    out = torch.empty_like(images)
    for i, image in enumerate(images):
        buffer = io.BytesIO()
        Image.fromarray(image.permute(1, 2, 0).numpy()).save(buffer, format="JPEG", quality=quality)
        decoded = np.asarray(Image.open(io.BytesIO(buffer.getvalue())).convert("RGB"))
        out[i] = torch.from_numpy(decoded.copy()).permute(2, 0, 1)
    return out


def rotation(images: torch.Tensor, degrees: float = 20.0) -> torch.Tensor:
    """Rotate by ``degrees`` (corners filled with the image mean colour)."""
    fill = images.float().mean(dim=(0, 2, 3)).round().tolist()
    return TF.rotate(images, degrees, interpolation=TF.InterpolationMode.BILINEAR, fill=fill)


NUISANCES: dict[str, Nuisance] = {
    "blur": blur,
    "downscale_x4": down_up,
    "brightness_contrast": brightness_contrast,
    "jpeg_q20": jpeg,
    "rotate_20": rotation,
}
