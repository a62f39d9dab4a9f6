"""Taps: counts, module paths, pooling, and the hook-based TapRecorder."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from tunnellab.models import Tap, TapRecorder, create_model, pool_feature, tap_dim, tap_dims

PAPER_TAPS = {
    "vggm11": 10,
    "vggm17": 16,
    "vggm11_dagger": 10,
    "vggm17_dagger": 16,
    "resnet18": 17,
    "resnet34": 33,
}
BLOCK_TAPS = {**PAPER_TAPS, "resnet18": 9, "resnet34": 17}
NAMES = sorted(PAPER_TAPS)
SMALL = 0.125


def _no_hooks(model: nn.Module) -> bool:
    return all(not m._forward_hooks and not m._forward_pre_hooks for m in model.modules())


@pytest.mark.parametrize("name", NAMES)
def test_tap_counts_and_paths_resolve(name: str) -> None:
    model = create_model(name, 10, width=SMALL)
    paper, blocks = model.taps(), model.taps("blocks")
    assert model.taps("paper") == paper
    assert len(paper) == PAPER_TAPS[name]
    assert len(blocks) == BLOCK_TAPS[name]
    for tap in paper + blocks:
        model.get_submodule(tap.module)
    assert len({t.name for t in paper}) == len(paper)
    assert len({t.name for t in blocks}) == len(blocks)
    assert not {t.name for t in paper} & {t.name for t in blocks}


def test_unknown_taps_kind() -> None:
    for name in ("vggm11", "resnet18"):
        with pytest.raises(ValueError, match="allowed: paper, blocks"):
            create_model(name, 10, width=SMALL).taps("penultimate")


def test_paper_tap_specs() -> None:
    vgg = create_model("vggm11", 10, width=SMALL).taps()
    assert vgg[0] == Tap("conv1", "features.block1.conv", "output", "avg2x2")
    assert isinstance(create_model("vggm11", 10, SMALL).get_submodule(vgg[-1].module), nn.Conv2d)
    res = create_model("resnet18", 10, width=SMALL).taps()
    assert res[0] == Tap("conv1:in", "conv1", "input")
    assert res[1] == Tap("layer1.0.conv1:in", "layer1.0.conv1", "input")
    assert res[2] == Tap("layer1.0.conv2:in", "layer1.0.conv2", "input")
    assert res[-1] == Tap("layer4.1.conv2:in", "layer4.1.conv2", "input")
    blocks = create_model("resnet18", 10, width=SMALL).taps("blocks")
    assert blocks[0] == Tap("stem", "maxpool", "output")
    assert blocks[-1] == Tap("layer4.1", "layer4.1", "output")


def test_tap_validates_side_and_pool() -> None:
    with pytest.raises(ValueError, match="side"):
        Tap("x", "conv1", "middle")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="pool"):
        Tap("x", "conv1", "input", "max")  # type: ignore[arg-type]


def test_pool_feature_avg2x2_and_replication() -> None:
    x = torch.arange(2 * 3 * 4 * 4, dtype=torch.float32).reshape(2, 3, 4, 4)
    out = pool_feature(x, "avg2x2")
    assert out.shape == (2, 12)
    torch.testing.assert_close(out, F.avg_pool2d(x, 2).flatten(1))
    one = torch.randn(2, 5, 1, 1)
    rep = pool_feature(one, "avg2x2")
    assert rep.shape == (2, 20)
    torch.testing.assert_close(rep.view(2, 5, 4), one.view(2, 5, 1).expand(2, 5, 4))


def test_pool_feature_token_mean_and_errors() -> None:
    tokens = torch.randn(2, 16, 8)
    torch.testing.assert_close(pool_feature(tokens, "token_mean"), tokens.mean(1))
    with pytest.raises(ValueError):
        pool_feature(tokens, "avg2x2")
    with pytest.raises(ValueError):
        pool_feature(torch.randn(2, 3, 4, 4), "token_mean")
    with pytest.raises(ValueError, match="unknown pool"):
        pool_feature(tokens, "max")


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("kind", ["paper", "blocks"])
def test_recorder_dims_logits_and_hook_removal(name: str, kind: str) -> None:
    model = create_model(name, 10, width=SMALL).eval()
    taps = model.taps(kind)
    dims = tap_dims(model, taps, 32)
    assert _no_hooks(model)
    x = torch.randn(3, 3, 32, 32)
    with torch.no_grad():
        plain = model(x)
        with TapRecorder(model, taps) as rec:
            logits = model(x)
    assert _no_hooks(model)
    torch.testing.assert_close(logits, plain)
    assert [tuple(f.shape) for f in rec.features] == [(3, d) for d in dims]
    assert tap_dim(model, taps[-1], 32) == dims[-1]


def test_resnet_paper_dims_and_last_tap_is_replicated_at_32() -> None:
    model = create_model("resnet18", 10, width=SMALL).eval()
    dims = tap_dims(model, model.taps(), 32)
    # a stage's first conv1 reads the previous stage's output (the channels of that stage)
    assert dims == [12] + [32] * 5 + [64] * 4 + [128] * 4 + [256] * 3
    with torch.no_grad(), TapRecorder(model, model.taps()) as rec:
        model(torch.randn(2, 3, 32, 32))
    last = rec.features[-1].view(2, 64, 4)  # layer4 runs at 1x1 when the input is 32x32
    torch.testing.assert_close(last, last[..., :1].expand_as(last))


def test_recorded_values_are_what_the_taps_say() -> None:
    torch.manual_seed(0)
    x = torch.randn(2, 3, 32, 32)
    vgg = create_model("vggm11", 10, width=SMALL).eval()
    res = create_model("resnet18", 10, width=SMALL).eval()
    with torch.no_grad():
        with TapRecorder(vgg, vgg.taps()) as rec_v, TapRecorder(vgg, vgg.taps("blocks")) as rec_b:
            vgg(x)
        conv1 = vgg.features.block1.conv(x)
        torch.testing.assert_close(rec_v.features[0], pool_feature(conv1, "avg2x2"))
        post = F.relu(vgg.features.block1.bn(conv1))
        torch.testing.assert_close(rec_b.features[0], pool_feature(post, "avg2x2"))
        assert (rec_v.features[0] < 0).any() and (rec_b.features[0] >= 0).all()

        with TapRecorder(res, res.taps()) as rec_r:
            res(x)
        torch.testing.assert_close(rec_r.features[0], pool_feature(x, "avg2x2"))
        stem = res.maxpool(res.relu(res.bn1(res.conv1(x))))
        torch.testing.assert_close(rec_r.features[1], pool_feature(stem, "avg2x2"))
        block = res.layer1[0]
        mid = F.relu(block.bn1(block.conv1(stem)))
        torch.testing.assert_close(rec_r.features[2], pool_feature(mid, "avg2x2"))
        torch.testing.assert_close(rec_r.features[3], pool_feature(block(stem), "avg2x2"))


def test_hooks_removed_after_an_exception() -> None:
    model = create_model("resnet18", 10, width=SMALL)
    with pytest.raises(RuntimeError, match="boom"), TapRecorder(model, model.taps()):
        model(torch.randn(2, 3, 32, 32))
        raise RuntimeError("boom")
    assert _no_hooks(model)
    with pytest.raises(RuntimeError), TapRecorder(model, model.taps()):
        model(torch.randn(2, 4, 32, 32))  # wrong channel count fails inside the forward
    assert _no_hooks(model)


def test_bad_tap_path_raises_and_leaves_no_hooks() -> None:
    model = create_model("vggm11", 10, width=SMALL)
    taps = [*model.taps(), Tap("ghost", "features.block99.conv", "output")]
    with pytest.raises(ValueError, match="ghost"), TapRecorder(model, taps):
        pass
    assert _no_hooks(model)


def test_features_come_from_the_last_forward_and_callback_fires() -> None:
    model = create_model("vggm11", 10, width=SMALL).eval()
    seen: list[int] = []
    with (
        torch.no_grad(),
        TapRecorder(model, model.taps(), on_features=lambda f: seen.append(f[0].shape[0])) as rec,
    ):
        model(torch.randn(2, 3, 32, 32))
        model(torch.randn(5, 3, 32, 32))
    assert seen == [2, 5]
    assert all(f.shape[0] == 5 for f in rec.features)
    assert all(not f.requires_grad for f in rec.features)


def test_module_called_twice_is_rejected() -> None:
    model = create_model("resnet18", 10, width=SMALL)  # BasicBlock reuses its ReLU
    with (
        pytest.raises(RuntimeError, match="twice"),
        TapRecorder(model, [Tap("relu", "layer1.0.relu", "output")]),
    ):
        model(torch.randn(2, 3, 32, 32))
    assert _no_hooks(model)


def test_tap_dims_restores_training_mode() -> None:
    model = create_model("resnet18", 10, width=SMALL).train()
    tap_dims(model, model.taps(), 32)
    assert model.training


class _TinyTokens(nn.Module):
    """A token model with a final norm, to exercise ``token_mean`` and ``transform``."""

    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Linear(4, 8)
        self.blocks = nn.Sequential(nn.Linear(8, 8), nn.Linear(8, 8))
        self.norm = nn.LayerNorm(8)
        self.head = nn.Linear(8, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.norm(self.blocks(self.embed(x))).mean(1))


def test_token_taps_with_transform() -> None:
    model = _TinyTokens().eval()
    taps = [Tap(f"block{i}", f"blocks.{i}", "output", "token_mean", "norm") for i in range(2)]
    x = torch.randn(2, 5, 4)
    with torch.no_grad(), TapRecorder(model, taps) as rec:
        model(x)
        first = model.blocks[0](model.embed(x))
        torch.testing.assert_close(rec.features[0], model.norm(first).mean(1))
        torch.testing.assert_close(rec.features[1], model.norm(model.blocks[1](first)).mean(1))
    assert _no_hooks(model)
