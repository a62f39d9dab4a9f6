"""Warm-up then cosine schedule."""

import pytest
import torch

from tunnellab.pretrain.recipe import build_optimizer, build_scheduler, warmup_cosine_factor


def test_factor_warms_up_linearly_then_decays_to_zero():
    assert warmup_cosine_factor(0, 10, 100, 0.01) == pytest.approx(0.01)
    assert warmup_cosine_factor(5, 10, 100, 0.01) == pytest.approx(0.505)
    assert warmup_cosine_factor(10, 10, 100, 0.01) == pytest.approx(1.0)
    assert warmup_cosine_factor(55, 10, 100, 0.01) == pytest.approx(0.5)
    assert warmup_cosine_factor(100, 10, 100, 0.01) == pytest.approx(0.0)


def test_scheduler_steps_per_batch():
    param = torch.nn.Parameter(torch.zeros(1))
    opt = build_optimizer([param], lr=0.1, weight_decay=0.05)
    sched = build_scheduler(opt, steps_per_epoch=10, epochs=5, warmup_epochs=1, start_factor=0.01)
    lrs = []
    for _ in range(50):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert lrs[0] == pytest.approx(0.001)
    assert max(lrs) == pytest.approx(0.1)
    assert lrs.index(max(lrs)) == 10
    assert lrs[-1] < 0.001
