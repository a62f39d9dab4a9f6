"""Batch normalisation of uint8 image tensors, on the device the batch is on.

Training crops are cut per image in the loader (:mod:`tunnellab.data.crops`); this runs on the
whole batch afterwards (on the GPU when there is one).
"""

from __future__ import annotations

import torch

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
