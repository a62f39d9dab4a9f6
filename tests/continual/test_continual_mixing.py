"""Mixup + CutMix through timm's Mixup: mapping, seeding, and a hand-derived mixup batch."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from timm.data import Mixup

from tunnellab.continual.mixing import MixingRecipe, SeededMixup, soft_cross_entropy
from tunnellab.errors import ConfigError


def _batch(n: int = 8, k: int = 5):
    g = torch.Generator().manual_seed(1)
    return torch.randn(n, 3, 16, 16, generator=g), torch.arange(n) % k


def test_recipe_maps_to_timm_arguments():
    kwargs = MixingRecipe().timm_kwargs(100)
    assert kwargs["prob"] == pytest.approx(1.0) and kwargs["switch_prob"] == pytest.approx(0.4)
    assert (kwargs["mixup_alpha"], kwargs["cutmix_alpha"]) == (0.1, 1.0)
    assert kwargs["label_smoothing"] == 0.1 and kwargs["mode"] == "batch"
    half = MixingRecipe(mixup_p=0.3, cutmix_p=0.2).timm_kwargs(10)
    assert half["prob"] == pytest.approx(0.5) and half["switch_prob"] == pytest.approx(0.4)
    with pytest.raises(ConfigError, match=r"mixup_p=0\.8"):
        MixingRecipe(mixup_p=0.8, cutmix_p=0.4).timm_kwargs(10)


def test_matches_timm_reference_on_a_fixed_seed_and_leaves_global_rng_alone():
    recipe = MixingRecipe()
    ours = SeededMixup(recipe, 5, seed=7)
    reference = Mixup(mixup_alpha=0.1, cutmix_alpha=1.0, prob=1.0, switch_prob=0.4,
                      mode="batch", label_smoothing=0.1, num_classes=5)  # fmt: skip
    np.random.seed(123)
    outside = np.random.get_state()[1].copy()
    ref_state = np.random.RandomState(7).get_state()
    for _ in range(20):
        x, y = _batch()
        mixed, targets = ours(x.clone(), y)
        kept = np.random.get_state()
        np.random.set_state(ref_state)
        want_x, want_t = reference(x.clone(), y)
        ref_state = np.random.get_state()
        np.random.set_state(kept)
        assert torch.equal(mixed, want_x) and torch.equal(targets, want_t)
    assert np.array_equal(np.random.get_state()[1], outside)  # global NumPy RNG untouched


def test_mixup_only_batch_is_the_hand_derived_mix():
    ours = SeededMixup(MixingRecipe(mixup_p=1.0, cutmix_p=0.0, label_smoothing=0.1), 5, seed=3)
    x, y = _batch()
    mixed, targets = ours(x.clone(), y)
    rng = np.random.RandomState(3)
    rng.rand()  # timm draws "apply a mix?" first (always yes at prob 1), then lambda
    lam = float(rng.beta(0.1, 0.1))
    onehot = torch.full((8, 5), 0.1 / 5)
    onehot[torch.arange(8), y] = 1 - 0.1 + 0.1 / 5
    assert torch.allclose(mixed, lam * x + (1 - lam) * x.flip(0), atol=1e-6)
    assert torch.allclose(targets, lam * onehot + (1 - lam) * onehot.flip(0), atol=1e-6)


def test_cutmix_share_follows_the_recipe():
    # mixup alpha 1 (lambda rarely at 0 or 1) so that a mixup batch changes every pixel; the
    # probabilities, and so the mapping, are the recipe's
    ours = SeededMixup(MixingRecipe(mixup_alpha=1.0), 5, seed=0)
    x, y = _batch()
    cut = 0
    for _ in range(400):
        mixed, _t = ours(x.clone(), y)
        # a cutmix batch holds pixels of the image itself and of its partner, unchanged
        cut += int(bool((mixed == x).any() or (mixed == x.flip(0)).any()))
    assert 0.33 < cut / 400 < 0.47


def test_soft_cross_entropy_equals_torch_label_smoothing():
    logits, y = torch.randn(6, 4), torch.tensor([0, 1, 2, 3, 0, 1])
    targets = torch.full((6, 4), 0.1 / 4)
    targets[torch.arange(6), y] = 0.9 + 0.1 / 4
    want = torch.nn.functional.cross_entropy(logits, y, label_smoothing=0.1)
    assert torch.allclose(soft_cross_entropy(logits, targets), want, atol=1e-6)
