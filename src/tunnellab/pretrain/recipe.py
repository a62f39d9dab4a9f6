"""The paper's pretraining recipe: AdamW, then linear warm-up and cosine decay to 0 (per step)."""

from __future__ import annotations

import math

import torch
from torch.optim.lr_scheduler import LambdaLR


def build_optimizer(parameters, lr: float, weight_decay: float) -> torch.optim.Optimizer:
    """AdamW over all parameters (the paper decays every weight)."""
    return torch.optim.AdamW(parameters, lr=lr, weight_decay=weight_decay)


def warmup_cosine_factor(
    step: int, warmup_steps: int, total_steps: int, start_factor: float
) -> float:
    """Learning-rate multiplier: ``start_factor`` → 1 linearly, then cosine from 1 to 0."""
    if step < warmup_steps:
        return start_factor + (1.0 - start_factor) * step / warmup_steps
    decay_steps = max(1, total_steps - warmup_steps)
    progress = min(1.0, (step - warmup_steps) / decay_steps)
    return 0.5 * (1.0 + math.cos(math.pi * progress))


def build_scheduler(
    optimizer: torch.optim.Optimizer,
    steps_per_epoch: int,
    epochs: int,
    warmup_epochs: float,
    start_factor: float,
) -> LambdaLR:
    """Per-step schedule so short runs (a few epochs) warm up and decay smoothly too."""
    total = max(1, steps_per_epoch * epochs)
    warmup = min(total - 1, round(steps_per_epoch * warmup_epochs))

    def factor(step: int) -> float:
        return warmup_cosine_factor(step, warmup, total, start_factor)

    return LambdaLR(optimizer, factor)
