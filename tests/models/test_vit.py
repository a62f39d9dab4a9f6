"""ViT-T / ViT-T+: exact parameter counts, fixed positions, taps, shapes at every resolution."""

from __future__ import annotations

import pytest
import torch

from tunnellab.instantiate import instantiate_node
from tunnellab.models import (
    TapRecorder,
    VisionTransformer,
    count_parameters,
    create_model,
    tap_dims,
)
from tunnellab.models.vit import HALTING_GATE_PARAMS, embed_dim, sincos_2d
from tunnellab.tools.zoo import printed_millions

PARAMS_100 = {"vit_t": 5_395_108, "vit_t_plus": 8_064_292}
DEPTH = {"vit_t": 12, "vit_t_plus": 18}
PAPER_M = {"vit_t": 5.61, "vit_t_plus": 8.39}
TINY = 0.0625  # embed dim 12


def _no_hooks(model: torch.nn.Module) -> bool:
    return all(not m._forward_hooks and not m._forward_pre_hooks for m in model.modules())


@pytest.mark.parametrize("name", sorted(PARAMS_100))
def test_exact_parameter_count_at_every_resolution(name: str) -> None:
    for img_size in (32, 224):
        with torch.device("meta"):  # counts need no memory for the weights
            model = create_model(name, num_classes=100, img_size=img_size)
        assert count_parameters(model) == PARAMS_100[name]
    # The paper's printed figure counts one unused halting-gate MLP per block.
    assert HALTING_GATE_PARAMS == 18_625
    assert printed_millions(PARAMS_100[name] + DEPTH[name] * HALTING_GATE_PARAMS) == PAPER_M[name]
    assert model.meta == {
        "name": name,
        "family": "vit",
        "depth": DEPTH[name],
        "stem": 8,
        "spatial_reduction": 1.0,
        "width": 1.0,
        "paper_params_m": PAPER_M[name],
    }


def test_architecture_matches_the_paper() -> None:
    with torch.device("meta"):
        model = create_model("vit_t", num_classes=100)
    assert isinstance(model, VisionTransformer)
    assert model.patch_embed.proj.kernel_size == (8, 8) and model.patch_embed.proj.stride == (8, 8)
    block = model.blocks[0]
    assert block.attn.num_heads == 3 and block.attn.qkv.bias is not None
    assert block.mlp.fc1.out_features == 4 * 192
    assert all(m.eps == 1e-6 for m in model.modules() if isinstance(m, torch.nn.LayerNorm))
    assert model.norm.normalized_shape == (192,) and model.head.in_features == 192


def test_no_class_token_and_positions_are_a_fixed_buffer() -> None:
    model = create_model("vit_t", num_classes=10, width=TINY, img_size=32)
    names = [n for n, _ in model.named_parameters()]
    assert not any("pos" in n or "cls" in n or "token" in n for n in names)
    assert "pos_embed" in dict(model.named_buffers())
    assert "pos_embed" not in model.state_dict()  # recomputed, never saved or loaded
    assert not model.pos_embed.requires_grad
    assert model.pos_embed.shape == (1, 16, 12)
    model.eval()
    with torch.no_grad():
        model(torch.randn(1, 3, 224, 224))
    assert model.pos_embed.shape == (1, 784, 12)
    torch.testing.assert_close(model.pos_embed, sincos_2d(28, 28, 12))


def test_sincos_embedding() -> None:
    pos = sincos_2d(4, 4, 8)
    assert pos.shape == (1, 16, 8)
    assert torch.all(pos.abs() <= 1)
    assert len({tuple(row.tolist()) for row in pos[0]}) == 16  # every position distinct
    torch.testing.assert_close(pos[0, 0], torch.tensor([0.0, 0.0, 1.0, 1.0, 0.0, 0.0, 1.0, 1.0]))
    with pytest.raises(ValueError, match="divisible by 4"):
        sincos_2d(2, 2, 6)


@pytest.mark.parametrize("name", sorted(PARAMS_100))
def test_forward_shapes_at_every_resolution(name: str) -> None:
    model = create_model(name, num_classes=7, width=TINY).eval()
    with torch.no_grad():
        for resolution in (32, 64, 128, 224):
            out = model(torch.randn(2, 3, resolution, resolution))
            assert out.shape == (2, 7)
            assert model.pos_embed.shape[1] == (resolution // 8) ** 2


def test_width_scales_the_embedding_and_keeps_heads() -> None:
    assert embed_dim(1.0) == 192 and embed_dim(TINY) == 12 and embed_dim(0.5) == 96
    assert all(embed_dim(w) % 12 == 0 for w in (0.01, 0.3, 0.77, 2.0))
    counts = [count_parameters(create_model("vit_t", 10, width=w)) for w in (TINY, 0.25, 1.0)]
    assert counts[0] < counts[1] < counts[2]


@pytest.mark.parametrize("name", sorted(PARAMS_100))
def test_taps_every_block_through_the_final_norm(name: str) -> None:
    model = create_model(name, num_classes=10, width=TINY).eval()
    taps = model.taps("paper")
    assert taps == model.taps("blocks")
    assert [t.name for t in taps] == [f"block{i}" for i in range(1, DEPTH[name] + 1)]
    assert {(t.side, t.pool, t.transform) for t in taps} == {("output", "token_mean", "norm")}
    assert tap_dims(model, taps, 32) == [12] * DEPTH[name]
    assert tap_dims(model, taps, 224) == [12] * DEPTH[name]
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad(), TapRecorder(model, taps) as rec:
        logits = model(x)
    assert _no_hooks(model)
    with torch.no_grad():
        tokens = model.patch_embed(x) + model.pos_embed
        first = model.blocks[0](tokens)
        torch.testing.assert_close(rec.features[0], model.norm(first).mean(1))
        torch.testing.assert_close(logits, model.head(rec.features[-1]))  # last tap = pooled


def test_drop_path_rate_is_linear_over_depth() -> None:
    model = create_model("vit_t", num_classes=10, width=TINY, drop_path_rate=0.1)
    rates = [getattr(b.drop_path1, "drop_prob", 0.0) for b in model.blocks]
    assert rates[0] == 0.0 and rates[-1] == pytest.approx(0.1)
    assert rates == sorted(rates)
    model.train()
    x = torch.randn(4, 3, 32, 32)
    torch.manual_seed(0)
    a = model(x)
    torch.manual_seed(1)
    assert not torch.allclose(a, model(x))  # stochastic depth is active in training


def test_config_builds_the_paper_vit(compose) -> None:
    cfg = compose("model=vit_t_plus", "model.width=0.0625", "data.resolution=64")
    assert cfg.model.drop_path_rate == 0.1 and cfg.model.img_size == 64
    model = instantiate_node(cfg.model)
    assert isinstance(model, VisionTransformer) and len(model.taps()) == 18
    assert model.pos_embed.shape == (1, 64, 12)
    assert compose("optim=paper_vit").optim.batch_size == 384  # global: 4 GPUs x 96
