"""The all-taps engine trains the same probes as independent per-tap training, reuses its cache,
is deterministic, runs the lr grid side by side, and extracts under bf16 + channels-last."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.linear_model import LogisticRegression
from torch import nn

from tunnellab.data.arrays import DatasetSplits, ImageArrays
from tunnellab.models import create_model
from tunnellab.models.taps import Tap
from tunnellab.probe.cache import FeatureCache
from tunnellab.probe.extract import extract_features, to_fp16
from tunnellab.probe.heads import ProbeCurves, ProbeRecipe, train_linear_probes
from tunnellab.probe.stage import DatasetProbe, ProbeReport, ProbeStage
from tunnellab.result_tables import probe_rows
from tunnellab.tools.reference_probes import per_layer_probes


def _blobs(n: int, seed: int, width: int, spread: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Four overlapping Gaussian classes (fp16, like extracted features)."""
    means = torch.randn(4, width, generator=torch.Generator().manual_seed(123 + width)) * spread
    labels = torch.arange(n) % 4
    noise = torch.randn(n, width, generator=torch.Generator().manual_seed(seed))
    return (means[labels] + noise).half(), labels


def _taps(n: int, seed: int) -> tuple[list[torch.Tensor], torch.Tensor]:
    a, labels = _blobs(n, seed, 8, 0.6)
    b, _ = _blobs(n, seed + 1, 8, 0.35)
    c, _ = _blobs(n, seed + 2, 16, 0.4)
    return [a, b, c], labels


@pytest.fixture(scope="module")
def blobs():
    train, y_train = _taps(1500, 0)
    test, y_test = _taps(3000, 1)
    return train, y_train, test, y_test


RECIPE = ProbeRecipe(epochs=8, lr=1e-2, batch_size=64)


@pytest.fixture(scope="module")
def engine_curves(blobs) -> ProbeCurves:
    return train_linear_probes(*blobs, n_classes=4, recipe=RECIPE)


def _late(history: np.ndarray) -> np.ndarray:
    """Mean test accuracy over the last three epochs (less sensitive to one minibatch)."""
    return history[-3:].mean(axis=0)


def test_heads_agree_with_independent_per_tap_torch_probes(blobs, engine_curves):
    reference = per_layer_probes(*blobs, n_classes=4, recipe=RECIPE)
    assert reference.shape == engine_curves.test_history.shape
    assert np.abs(_late(engine_curves.test_history) - _late(reference)).max() < 0.01


def test_heads_equal_per_tap_torch_probes_with_the_same_init_and_minibatches(blobs, engine_curves):
    """Same init and minibatch order: the batched engine is per-tap training, up to rounding."""
    reference = per_layer_probes(*blobs, n_classes=4, recipe=RECIPE, matched=True)
    n_test = len(blobs[3])
    assert np.abs(engine_curves.test_history - reference).max() <= 2 / n_test  # ≤ 2 samples


def test_heads_agree_with_scikit_learn_logistic_regression(blobs, engine_curves):
    train, y_train, test, y_test = blobs
    sklearn_acc = [
        LogisticRegression(max_iter=1000)
        .fit(x.float().numpy(), y_train.numpy())
        .score(xt.float().numpy(), y_test.numpy())
        for x, xt in zip(train, test, strict=True)
    ]
    assert np.abs(_late(engine_curves.test_history) - np.array(sklearn_acc)).max() < 0.01


def test_lr_grid_picks_a_learning_rate_per_tap_and_equals_separate_runs():
    n = 400
    labels = torch.arange(n) % 4
    onehot = torch.nn.functional.one_hot(labels, 4).float()
    gen = torch.Generator().manual_seed(0)
    noise = torch.randn(n, 4, generator=gen)
    easy = (10 * onehot + noise).half()  # every lr separates it: the first (smallest) is kept
    # A weak signal among 60 noisy dims: 30 steps of lr 1e-3 stay near chance, 1e-1 learns it.
    buried = torch.cat([3 * onehot + 0.5 * noise, 3 * torch.randn(n, 60, generator=gen)], 1)
    features = [easy, buried.half()]
    holdout = np.arange(0, n, 5)
    grid = (1e-3, 1e-1)
    recipe = ProbeRecipe(epochs=3, batch_size=32, lr_grid=grid)
    curves = train_linear_probes(
        features, labels, features, labels, 4, recipe, holdout_index=holdout
    )
    assert curves.lr.tolist() == [1e-3, 1e-1]
    for t, lr in enumerate(curves.lr):
        alone = train_linear_probes(
            features[t : t + 1],
            labels,
            features[t : t + 1],
            labels,
            4,
            ProbeRecipe(epochs=3, batch_size=32, lr=float(lr)),
            holdout_index=holdout,
        )
        # Equal up to the rounding of a wider matmul (a sample or two near the boundary).
        np.testing.assert_allclose(curves.test_history[:, t], alone.test_history[:, 0], atol=0.01)
        assert alone.lr.tolist() == [lr]
    report = ProbeReport(
        taps=[Tap("easy", "a", "output"), Tap("faint", "b", "output")],
        id_probe=DatasetProbe("toy", "id", 4, n, n, curves),
        ood_probes=[],
        backbone_id_accuracy=1.0,
    )
    assert probe_rows(report, {"run_id": "x"})["lr"].tolist() == [1e-3, 1e-1]


class CountingModel(nn.Module):
    """Wraps a backbone and counts its forward calls (the cache must spare them)."""

    def __init__(self, inner: nn.Module) -> None:
        super().__init__()
        self.inner = inner
        self.calls = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        return self.inner(x)


def _lab_like(n_train: int, n_test: int, classes: int = 3) -> DatasetSplits:
    def split(n: int, seed: int) -> ImageArrays:
        gen = torch.Generator().manual_seed(seed)
        labels = torch.arange(n) % classes
        images = torch.randint(0, 60, (n, 3, 32, 32), generator=gen, dtype=torch.uint8)
        for c in range(classes):  # a bright square whose corner depends on the class
            images[labels == c, c % 3, 8 * c : 8 * c + 12, 8 * c : 8 * c + 12] = 250
        return ImageArrays(images, labels, [f"c{i}" for i in range(classes)])

    return DatasetSplits("toy", train=split(n_train, 0), test=split(n_test, 1))


def _stage(model: nn.Module, taps: list[Tap], cache: FeatureCache, **kwargs) -> ProbeStage:
    recipe = ProbeRecipe(epochs=2, lr=1e-2, batch_size=32)
    return ProbeStage(
        model, taps, recipe, 0.1, seed=0, device=torch.device("cpu"), cache=cache, **kwargs
    )


@pytest.fixture(scope="module")
def small_vgg() -> tuple[nn.Module, list[Tap]]:
    torch.manual_seed(0)
    backbone = create_model("vggm11", 3, width=0.0625)
    taps = [Tap(t.name, f"inner.{t.module}", t.side) for t in backbone.taps("paper")]
    return CountingModel(backbone), taps


@pytest.mark.parametrize("ram_budget_gb", [8.0, 0.0])
def test_cache_is_reused_without_running_the_backbone(small_vgg, tmp_path, ram_budget_gb):
    model, taps = small_vgg
    data = _lab_like(64, 32)
    first = _stage(model, taps, FeatureCache(tmp_path), ram_budget_gb=ram_budget_gb)
    probe1, _ = first.probe(data, "id", "toy")
    assert first.cache.misses == 2 and model.calls > 0
    calls = model.calls
    second = _stage(model, taps, FeatureCache(tmp_path), ram_budget_gb=ram_budget_gb)
    probe2, _ = second.probe(data, "id", "toy")
    assert model.calls == calls, "a cached split ran the backbone again"
    assert second.cache.hits == 2 and second.cache.misses == 0
    np.testing.assert_array_equal(probe1.curves.test_history, probe2.curves.test_history)


def test_same_seed_same_numbers_at_the_stage_level(small_vgg):
    model, taps = small_vgg
    data = _lab_like(64, 32)
    runs = [_stage(model, taps, FeatureCache(None)).probe(data, "id", "toy")[0] for _ in range(2)]
    np.testing.assert_array_equal(runs[0].curves.test_history, runs[1].curves.test_history)
    np.testing.assert_array_equal(runs[0].curves.holdout_history, runs[1].curves.holdout_history)


def test_bf16_channels_last_extraction_path_matches_fp32():
    """The GPU recipe (bf16 autocast + channels-last; the image tap stays fp32) run on CPU."""
    torch.manual_seed(0)
    model = create_model("resnet18", 3, width=0.125)
    taps = model.taps("paper")
    assert taps[0].name == "conv1:in"  # the image itself
    arrays = _lab_like(16, 8).train
    fp32 = extract_features(model, taps, arrays, batch_size=8)
    bf16 = extract_features(model, taps, arrays, batch_size=8, precision="bf16", channels_last=True)
    assert all(f.dtype == torch.float16 for f in bf16.features)
    torch.testing.assert_close(bf16.features[0], fp32.features[0])  # image tap: fp32 → fp16
    for a, b in zip(fp32.features[1:], bf16.features[1:], strict=True):
        scale = a.float().abs().mean()
        assert (a.float() - b.float()).abs().mean() < 0.05 * scale


def test_large_readings_saturate_in_fp16_also_from_bf16():
    reading = torch.tensor([1e6, -1e6, 3.0])
    for dtype in (torch.float32, torch.bfloat16):
        stored = to_fp16(reading.to(dtype))
        assert torch.isfinite(stored).all() and stored[0] == torch.finfo(torch.float16).max
