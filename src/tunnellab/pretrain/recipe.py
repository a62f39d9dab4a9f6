"""The paper's pretraining recipe: AdamW, then linear warm-up and cosine decay to 0 (per step)."""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn
from torch.optim.lr_scheduler import LambdaLR

DECAY_MODES = ("all", "timm")
# Position-embedding and class/register-token parameters (timm and torchvision names): no decay.
TOKEN_PARAMETERS = frozenset(
    {"pos_embed", "cls_token", "dist_token", "reg_token", "pos_embedding", "class_token"}
)


def decay_groups(model: nn.Module, weight_decay: float, decay: str) -> list[dict[str, Any]]:
    """AdamW parameter groups of ``model``'s trainable parameters.

    ``all``: every parameter decays (the released CNN code: ``AdamW(model.parameters())``).
    ``timm``: as timm's optimizer factory did for the released ViTs — biases, norm weights (any
    parameter with ``ndim <= 1``), position embeddings and class tokens (the model's
    ``no_weight_decay()`` names, plus :data:`TOKEN_PARAMETERS`) get weight decay 0.
    """
    if decay not in DECAY_MODES:
        raise ValueError(f"decay must be one of {DECAY_MODES}, got {decay!r}")
    named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    if decay == "all":
        return [{"params": [p for _, p in named], "weight_decay": weight_decay}]
    listed = getattr(model, "no_weight_decay", None)
    skip = TOKEN_PARAMETERS | set(listed() if callable(listed) else ())
    decayed, exempt = [], []
    for name, param in named:
        leaf = name.rsplit(".", 1)[-1]
        no_decay = param.ndim <= 1 or name.endswith(".bias") or name in skip or leaf in skip
        (exempt if no_decay else decayed).append(param)
    groups = [{"params": decayed, "weight_decay": weight_decay}]
    return groups + ([{"params": exempt, "weight_decay": 0.0}] if exempt else [])


def build_optimizer(parameters, lr: float, weight_decay: float) -> torch.optim.Optimizer:
    """AdamW over ``parameters`` (a parameter list, or groups from :func:`decay_groups`)."""
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
