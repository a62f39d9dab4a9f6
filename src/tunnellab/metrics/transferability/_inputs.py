"""Shared input checks: features as a finite float64 torch matrix, labels as class indices."""

from __future__ import annotations

import numpy as np
import torch

DTYPE = torch.float64


def as_features(values: object, name: str = "features") -> torch.Tensor:
    """``values`` (NumPy array or tensor, any float dtype) as a finite float64 CPU matrix."""
    tensor = torch.as_tensor(np.asarray(values)) if not torch.is_tensor(values) else values
    tensor = tensor.detach().to(device="cpu", dtype=DTYPE)
    if tensor.ndim != 2:
        raise ValueError(
            f"{name} must be a 2-D (samples × features) matrix, got shape {tuple(tensor.shape)}"
        )
    if tensor.shape[0] < 1 or tensor.shape[1] < 1:
        raise ValueError(
            f"{name} needs at least 1 sample and 1 feature, got shape {tuple(tensor.shape)}"
        )
    if not bool(torch.isfinite(tensor).all()):
        raise ValueError(f"{name} contains non-finite values")
    return tensor


def as_labels(values: object, n: int) -> torch.Tensor:
    """``values`` as a 1-D int64 vector of ``n`` entries (any integer labels)."""
    tensor = torch.as_tensor(np.asarray(values)) if not torch.is_tensor(values) else values
    tensor = tensor.detach().cpu().reshape(-1)
    if tensor.numel() != n:
        raise ValueError(f"labels has {tensor.numel()} entries but features has {n} samples")
    if tensor.is_floating_point() or tensor.is_complex() or tensor.dtype == torch.bool:
        raise ValueError(f"labels must be integers, got dtype {tensor.dtype}")
    return tensor.to(torch.int64)


def class_index(labels: torch.Tensor, min_classes: int = 2) -> tuple[torch.Tensor, int]:
    """Labels mapped to 0..C-1 in sorted order of the label values, and C (≥ ``min_classes``)."""
    classes, index = torch.unique(labels, sorted=True, return_inverse=True)
    if classes.numel() < min_classes:
        raise ValueError(f"needs at least {min_classes} classes, got {classes.numel()}")
    return index, int(classes.numel())
