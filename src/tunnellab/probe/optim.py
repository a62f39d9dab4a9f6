"""AdamW over one flat parameter vector, with a learning rate per element.

Every probe head lives in one flat buffer, so a step is a handful of vector ops however many
heads and width groups there are, and heads with different learning rates (the lr grid) can
share a tensor. The update is ``torch.optim.AdamW``'s (decoupled weight decay, bias-corrected
moments), written for an element-wise ``lr``.
"""

from __future__ import annotations

import math

import torch


class FlatAdamW:
    """AdamW on ``params`` (1-D) from the gradient the caller writes into ``grads`` (1-D)."""

    def __init__(
        self,
        params: torch.Tensor,
        grads: torch.Tensor,
        lr: torch.Tensor | float,
        weight_decay: float = 0.0,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
    ) -> None:
        if params.shape != grads.shape or params.dim() != 1:
            raise ValueError("params and grads must be 1-D tensors of the same length")
        self.params = params
        self.grads = grads
        self.lr = lr
        self.weight_decay = weight_decay
        self.beta1, self.beta2 = betas
        self.eps = eps
        self.decay = 1.0 - lr * weight_decay if weight_decay else None
        self.exp_avg = torch.zeros_like(params)
        self.exp_avg_sq = torch.zeros_like(params)
        self._denom = torch.empty_like(params)  # reused: no allocation (page faults) per step
        self.steps = 0

    @torch.no_grad()
    def step(self) -> None:
        """One AdamW update of ``params`` from the current ``grads``."""
        self.steps += 1
        bias1 = 1.0 - self.beta1**self.steps
        bias2 = 1.0 - self.beta2**self.steps
        if self.decay is not None:
            self.params.mul_(self.decay)
        self.exp_avg.lerp_(self.grads, 1.0 - self.beta1)
        self.exp_avg_sq.mul_(self.beta2).addcmul_(self.grads, self.grads, value=1.0 - self.beta2)
        denom = torch.sqrt(self.exp_avg_sq, out=self._denom)
        denom.div_(math.sqrt(bias2)).add_(self.eps).div_(self.lr)
        self.params.addcdiv_(self.exp_avg, denom, value=-1.0 / bias1)
