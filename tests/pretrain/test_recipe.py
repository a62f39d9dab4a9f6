"""Warm-up then cosine schedule, AdamW parameter groups, global batch per device."""

import pytest
import torch

from tunnellab.errors import ConfigError
from tunnellab.pretrain.recipe import (
    build_optimizer,
    build_scheduler,
    decay_groups,
    warmup_cosine_factor,
)
from tunnellab.pretrain.train import per_device_batch


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


class _TokenNet(torch.nn.Module):
    """Weights, biases, a norm, a learned position embedding, a class token and one parameter the
    model lists in ``no_weight_decay()``."""

    def __init__(self) -> None:
        super().__init__()
        self.pos_embed = torch.nn.Parameter(torch.randn(1, 4, 6))
        self.cls_token = torch.nn.Parameter(torch.randn(1, 1, 6))
        self.gate = torch.nn.Parameter(torch.randn(3, 6))
        self.fc = torch.nn.Linear(6, 6)
        self.norm = torch.nn.LayerNorm(6)
        self.head = torch.nn.Linear(6, 3)

    def no_weight_decay(self) -> set[str]:
        return {"gate"}


def _names(model, params) -> set[str]:
    lookup = {id(p): n for n, p in model.named_parameters()}
    return {lookup[id(p)] for p in params}


def test_timm_decay_keeps_biases_norms_positions_and_tokens_out():
    model = _TokenNet()
    decayed, exempt = decay_groups(model, 0.05, "timm")
    assert decayed["weight_decay"] == 0.05 and exempt["weight_decay"] == 0.0
    assert _names(model, decayed["params"]) == {"fc.weight", "head.weight"}
    assert _names(model, exempt["params"]) == {
        "pos_embed", "cls_token", "gate", "fc.bias", "norm.weight", "norm.bias", "head.bias",
    }  # fmt: skip
    (every,) = decay_groups(model, 0.05, "all")
    assert _names(model, every["params"]) == {n for n, _ in model.named_parameters()}


def test_vit_t_decays_exactly_its_matrices():
    from tunnellab.models import create_model

    model = create_model("vit_t", num_classes=5, width=0.0625)
    decayed, exempt = decay_groups(model, 0.05, "timm")
    assert all(p.ndim >= 2 for p in decayed["params"]) and all(
        p.ndim <= 1 for p in exempt["params"]
    )
    assert len(decayed["params"]) + len(exempt["params"]) == len(list(model.parameters()))


def test_param_groups_step_like_torch_adamw_with_explicit_groups():
    torch.manual_seed(0)
    ours, oracle = _TokenNet(), _TokenNet()
    oracle.load_state_dict(ours.state_dict())
    opt = build_optimizer(decay_groups(ours, 0.05, "timm"), lr=0.1, weight_decay=0.05)
    p = dict(oracle.named_parameters())
    no_decay = [
        "pos_embed",
        "cls_token",
        "gate",
        "fc.bias",
        "norm.weight",
        "norm.bias",
        "head.bias",
    ]
    reference = torch.optim.AdamW(
        [
            {"params": [p["fc.weight"], p["head.weight"]], "weight_decay": 0.05},
            {"params": [p[n] for n in no_decay], "weight_decay": 0.0},
        ],
        lr=0.1,
    )
    x = torch.randn(8, 6)
    for _ in range(3):
        for model, optimizer in ((ours, opt), (oracle, reference)):
            optimizer.zero_grad()
            tokens = model.fc(x) + model.pos_embed.sum() + model.cls_token.sum() + model.gate.sum()
            model.head(model.norm(tokens)).square().mean().backward()
            optimizer.step()
    for name, value in oracle.state_dict().items():
        torch.testing.assert_close(ours.state_dict()[name], value, rtol=0, atol=0)


def test_global_batch_splits_over_devices_and_nodes():
    assert per_device_batch(384, 4) == 96 and per_device_batch(32, 2) == 16
    with pytest.raises(ConfigError, match=r"'optim.batch_size=384'.*5 training processes"):
        per_device_batch(384, 5)
