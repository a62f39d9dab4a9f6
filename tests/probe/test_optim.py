"""FlatAdamW, the probe heads' hand-written optimizer, against ``torch.optim.AdamW`` step by step:
same init, same loss, each tensor with its own lr (as the lr grid shares one flat buffer)."""

from __future__ import annotations

import pytest
import torch

from tunnellab.probe.optim import FlatAdamW

STEPS = 25
LRS = (1e-1, 3e-3, 1e-4)


def _problem(dtype: torch.dtype) -> tuple[list[torch.Tensor], torch.Tensor, torch.Tensor]:
    """Three linear heads (one per lr) on one regression batch, weights drawn once."""
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(32, 6, generator=gen, dtype=dtype)
    y = torch.randn(32, 4, generator=gen, dtype=dtype)
    heads = [torch.randn(6, 4, generator=gen, dtype=dtype) for _ in LRS]
    return heads, x, y


def _loss(weights: list[torch.Tensor], x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    # Non-quadratic (tanh) so the gradients change direction and size over the steps.
    return sum(((torch.tanh(x @ w) - y) ** 2).mean() for w in weights)  # type: ignore[return-value]


@pytest.mark.parametrize(
    ("dtype", "tol"), [(torch.float64, 1e-12), (torch.float32, 1e-5)], ids=["fp64", "fp32"]
)
@pytest.mark.parametrize("weight_decay", [0.0, 0.05, 0.5])
def test_matches_torch_adamw_step_by_step(dtype, tol, weight_decay):
    heads, x, y = _problem(dtype)
    betas, eps = (0.8, 0.95), 1e-6

    reference = [h.clone().requires_grad_() for h in heads]
    groups = [{"params": [p], "lr": lr} for p, lr in zip(reference, LRS, strict=True)]
    torch_opt = torch.optim.AdamW(
        groups, weight_decay=weight_decay, betas=betas, eps=eps, foreach=False
    )

    sizes = [h.numel() for h in heads]
    flat = torch.cat([h.flatten() for h in heads])
    grads = torch.zeros_like(flat)
    lr = torch.cat([torch.full((n,), lr, dtype=dtype) for n, lr in zip(sizes, LRS, strict=True)])
    flat_opt = FlatAdamW(flat, grads, lr, weight_decay=weight_decay, betas=betas, eps=eps)

    for step in range(STEPS):
        torch_opt.zero_grad()
        _loss(reference, x, y).backward()
        torch_opt.step()

        views = [
            v.view_as(h).requires_grad_() for v, h in zip(flat.split(sizes), heads, strict=True)
        ]
        grads.copy_(
            torch.cat([g.flatten() for g in torch.autograd.grad(_loss(views, x, y), views)])
        )
        flat_opt.step()

        for got, want in zip(flat.split(sizes), reference, strict=True):
            torch.testing.assert_close(
                got, want.detach().flatten(), rtol=tol, atol=tol, msg=f"step {step + 1}"
            )
    moved = [(r.detach() - h).abs().max().item() for r, h in zip(reference, heads, strict=True)]
    assert moved[0] > 0.1 and moved[2] > 1e-4  # every head really trained, at its own pace
    assert flat_opt.steps == STEPS


def test_a_scalar_lr_is_one_group():
    heads, x, y = _problem(torch.float64)
    weight = heads[0].clone().requires_grad_()
    torch_opt = torch.optim.AdamW([weight], lr=0.01, weight_decay=0.1)
    flat = heads[0].flatten().clone()
    grads = torch.zeros_like(flat)
    flat_opt = FlatAdamW(flat, grads, 0.01, weight_decay=0.1)
    for _ in range(STEPS):
        torch_opt.zero_grad()
        _loss([weight], x, y).backward()
        torch_opt.step()
        view = flat.view_as(weight).requires_grad_()
        grads.copy_(torch.autograd.grad(_loss([view], x, y), view)[0].flatten())
        flat_opt.step()
    torch.testing.assert_close(flat, weight.detach().flatten(), rtol=1e-12, atol=1e-12)


def test_shapes_are_checked():
    with pytest.raises(ValueError, match="1-D tensors of the same length"):
        FlatAdamW(torch.zeros(3), torch.zeros(4), 0.1)
    with pytest.raises(ValueError, match="1-D tensors of the same length"):
        FlatAdamW(torch.zeros(2, 2), torch.zeros(2, 2), 0.1)
