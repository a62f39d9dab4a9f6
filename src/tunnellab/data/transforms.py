"""Batch normalisation of uint8 image tensors, on the device the batch is on.

Training crops are cut per image in the loader (:mod:`tunnellab.data.crops`); this runs on the
whole batch afterwards (on the GPU when there is one).
"""

from __future__ import annotations

import torch

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def normalize(images: torch.Tensor) -> torch.Tensor:
    """uint8 ``(B, 3, H, W)`` in [0, 255] → float32 standardised with the ImageNet mean/std."""
    x = images.float().div_(255.0)
    mean = torch.tensor(IMAGENET_MEAN, device=x.device).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD, device=x.device).view(1, 3, 1, 1)
    return (x - mean) / std
