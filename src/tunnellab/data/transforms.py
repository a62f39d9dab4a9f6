"""Batch transforms on uint8 image tensors: normalisation and the paper's train augmentation.

They run on whole batches (on the GPU when there is one), so a data loader only indexes tensors.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
# Per-channel (mean, std) a backbone is trained and probed with (``data.norm``). CIFAR: the
# train-set statistics the released code normalised CIFAR-trained CNNs with
# (docs/protocol.md#pretraining-recipe).
NORM_STATS: dict[str, tuple[tuple[float, ...], tuple[float, ...]]] = {
    "imagenet": (IMAGENET_MEAN, IMAGENET_STD),
    "cifar10": ((0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2615)),
    "cifar100": ((0.5071, 0.4867, 0.4408), (0.2675, 0.2565, 0.2761)),
}


def normalize(images: torch.Tensor, norm: str = "imagenet") -> torch.Tensor:
    """uint8 ``(B, 3, H, W)`` in [0, 255] → float32 standardised with ``NORM_STATS[norm]``."""
    if norm not in NORM_STATS:
        raise ValueError(f"unknown normalisation '{norm}'; known: {', '.join(NORM_STATS)}")
    mean_values, std_values = NORM_STATS[norm]
    x = images.float().div_(255.0)
    mean = torch.tensor(mean_values, device=x.device).view(1, 3, 1, 1)
    std = torch.tensor(std_values, device=x.device).view(1, 3, 1, 1)
    return (x - mean) / std


def random_resized_crop_flip(
    x: torch.Tensor,
    scale: tuple[float, float] = (0.08, 1.0),
    ratio: tuple[float, float] = (3 / 4, 4 / 3),
    flip_p: float = 0.5,
    generator: torch.Generator | None = None,
    size: int | None = None,
) -> torch.Tensor:
    """RandomResizedCrop + horizontal flip, drawn per sample, in one resample.

    Each sample gets a crop of area fraction ``U(scale)`` and log-uniform aspect ``ratio``,
    placed uniformly inside the image, resized bilinearly (one ``grid_sample`` call) to
    ``size`` × ``size`` (default: the input size). A larger stored image (the decode-once
    cache's ``int(256/224 · r)`` view) cropped to ``size=r`` resamples from more pixels.
    """
    b = x.shape[0]

    def uniform(low: float, high: float) -> torch.Tensor:
        return torch.rand(b, generator=generator).mul_(high - low).add_(low).to(x.device)

    area = uniform(*scale)
    aspect = uniform(math.log(ratio[0]), math.log(ratio[1])).exp()
    width = (area * aspect).sqrt().clamp(max=1.0)
    height = (area / aspect).sqrt().clamp(max=1.0)
    cx = uniform(-1.0, 1.0) * (1 - width)
    cy = uniform(-1.0, 1.0) * (1 - height)
    flip = torch.where(uniform(0.0, 1.0) < flip_p, -1.0, 1.0)
    theta = torch.zeros(b, 2, 3, device=x.device, dtype=x.dtype)
    theta[:, 0, 0] = width * flip
    theta[:, 0, 2] = cx
    theta[:, 1, 1] = height
    theta[:, 1, 2] = cy
    out_shape = list(x.shape) if size is None else [b, x.shape[1], size, size]
    grid = F.affine_grid(theta, out_shape, align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="reflection", align_corners=False)
