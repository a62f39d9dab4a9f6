"""Mixup + CutMix through timm's ``Mixup``, seeded on its own RNG, with label smoothing.

The recipe states the two as probabilities of one batch-level choice (mixup with probability
``mixup_p``, cutmix with ``cutmix_p``, nothing otherwise). timm's ``Mixup`` applies a mix with
probability ``prob`` and, when both alphas are set, picks cutmix with probability
``switch_prob``; so ``prob = mixup_p + cutmix_p`` and ``switch_prob = cutmix_p / prob``
(p 0.6 / 0.4 → prob 1.0, switch_prob 0.4). Label smoothing ``s`` is timm's: the targets are
``1 - s + s/K`` on the class and ``s/K`` elsewhere, as ``F.cross_entropy(label_smoothing=s)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from timm.data import Mixup

from tunnellab.errors import ConfigError


@dataclass(frozen=True)
class MixingRecipe:
    """Probabilities and Beta parameters of mixup / cutmix, and the label smoothing."""

    mixup_p: float = 0.6
    mixup_alpha: float = 0.1
    cutmix_p: float = 0.4
    cutmix_alpha: float = 1.0
    label_smoothing: float = 0.1

    def timm_kwargs(self, n_classes: int) -> dict[str, float | int | str]:
        """The arguments of ``timm.data.Mixup`` that implement this recipe."""
        prob = self.mixup_p + self.cutmix_p
        if not 0.0 < prob <= 1.0 + 1e-9 or self.mixup_p < 0 or self.cutmix_p < 0:
            raise ConfigError(
                f"'continual.mixing' has mixup_p={self.mixup_p} and cutmix_p={self.cutmix_p}: "
                "both must be >= 0 and their sum in (0, 1] (one choice per batch)."
            )
        return {
            "mixup_alpha": self.mixup_alpha if self.mixup_p > 0 else 0.0,
            "cutmix_alpha": self.cutmix_alpha if self.cutmix_p > 0 else 0.0,
            "prob": min(1.0, prob),
            "switch_prob": self.cutmix_p / prob,
            "mode": "batch",
            "label_smoothing": self.label_smoothing,
            "num_classes": n_classes,
        }


class SeededMixup:
    """timm's ``Mixup`` drawing from its own NumPy RNG (seeded), never the global one.

    timm draws from ``np.random``; each call swaps this object's state in and the global state
    back, so the global RNG is untouched and the draws depend only on ``seed`` and call count.
    """

    def __init__(self, recipe: MixingRecipe, n_classes: int, seed: int) -> None:
        self.mixup = Mixup(**recipe.timm_kwargs(n_classes))
        self._state = np.random.RandomState(seed).get_state()

    def __call__(self, images: torch.Tensor, labels: torch.Tensor):
        """``(mixed images, soft targets)``; an odd batch drops its last sample."""
        if len(images) % 2:
            images, labels = images[:-1], labels[:-1]
        outside = np.random.get_state()
        np.random.set_state(self._state)
        try:
            mixed, targets = self.mixup(images, labels)
        finally:
            self._state = np.random.get_state()
            np.random.set_state(outside)
        return mixed, targets

    def state(self) -> tuple:
        """The RNG state (saved with a resumable checkpoint)."""
        return self._state

    def load_state(self, state: tuple) -> None:
        self._state = state


def soft_cross_entropy(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Mean over the batch of ``-sum(targets * log_softmax(logits))``."""
    return torch.sum(-targets * torch.log_softmax(logits, dim=-1), dim=-1).mean()
