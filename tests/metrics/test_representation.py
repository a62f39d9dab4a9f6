"""Numerical rank and NC1 of a layer's features: hand cases, the direct formulas, edge cases."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tunnellab.metrics import nc1, numerical_rank, tap_diagnostics

RNG = np.random.default_rng(0)


def _direct_nc1(x: np.ndarray, y: np.ndarray) -> float:
    classes = np.unique(y)
    means = np.stack([x[y == c].mean(axis=0) for c in classes])
    within = sum((x[y == c] - m).T @ (x[y == c] - m) for c, m in zip(classes, means, strict=True))
    centred = means - means.mean(axis=0)
    between = centred.T @ centred / len(classes)
    return float(np.trace(within / len(x) @ np.linalg.pinv(between)) / len(classes))


def test_rank_counts_the_used_directions():
    latent = RNG.normal(size=(500, 3))
    assert numerical_rank(latent @ RNG.normal(size=(3, 12))) == 3
    assert numerical_rank(RNG.normal(size=(500, 12))) == 12
    assert numerical_rank(RNG.normal(size=(8, 12))) == 7  # at most samples − 1 directions
    assert numerical_rank(np.ones((50, 4))) == 0


def test_rank_threshold_is_relative_to_the_largest_eigenvalue():
    x = RNG.normal(size=(2000, 4))
    x[:, 3] *= 1e-2  # variance 1e-4 of the largest: below 1e-3, above 1e-5
    assert numerical_rank(x) == 3
    assert numerical_rank(x, rel_tol=1e-5) == 4
    assert numerical_rank(x * 1e3) == 3  # scale-free
    with pytest.raises(ValueError, match="rel_tol"):
        numerical_rank(x, rel_tol=0)


def test_rank_subsample_is_seeded_and_accepts_fp16_tensors():
    x = RNG.normal(size=(3000, 6)) @ np.diag([1, 1, 1, 1, 1, 1e-3])
    assert numerical_rank(x, max_samples=500, seed=1) == numerical_rank(x, max_samples=500, seed=1)
    assert numerical_rank(x, max_samples=500) == 5
    assert numerical_rank(torch.from_numpy(x[:, :5]).half()) == 5
    with pytest.raises(ValueError, match="2-D"):
        numerical_rank(np.zeros(5))


def test_nc1_by_hand():
    # Classes at −1 and +1 with within-class spread ±0.5: Σ_W = 0.25, Σ_B = 1, C = 2.
    x = np.array([[-1.5], [-0.5], [0.5], [1.5]])
    assert nc1(x, [0, 0, 1, 1]) == pytest.approx(0.125)
    collapsed = np.array([[-1.0], [-1.0], [1.0], [1.0]])
    assert nc1(collapsed, np.array([0, 0, 1, 1])) == pytest.approx(0.0)


def test_nc1_matches_the_direct_formula():
    y = RNG.integers(0, 6, size=400)
    x = RNG.normal(size=(400, 10)) + 2.0 * np.eye(6, 10)[y]
    assert nc1(x, y) == pytest.approx(_direct_nc1(x, y), rel=1e-9)
    assert nc1(3.0 * x + 5.0, y) == pytest.approx(nc1(x, y), rel=1e-9)  # affine-invariant
    wide = RNG.normal(size=(60, 80)) + 4.0 * np.eye(3, 80)[y[:60] % 3]  # D > N, C − 1 = 2
    assert nc1(wide, y[:60] % 3) == pytest.approx(_direct_nc1(wide, y[:60] % 3), rel=1e-7)
    assert nc1(torch.from_numpy(x), torch.from_numpy(y)) == pytest.approx(nc1(x, y))


def test_nc1_needs_two_classes_and_matching_labels():
    with pytest.raises(ValueError, match="2 classes"):
        nc1(RNG.normal(size=(10, 3)), np.zeros(10))
    with pytest.raises(ValueError, match="labels"):
        nc1(RNG.normal(size=(10, 3)), np.zeros(9))


def test_tap_diagnostics_one_row_per_tap():
    y = RNG.integers(0, 4, size=300)
    early = RNG.normal(size=(300, 16))
    late = np.eye(4, 8)[y] + 0.01 * RNG.normal(size=(300, 8))  # collapsed onto 4 class means
    table = tap_diagnostics([early, torch.from_numpy(late).half()], y, ["conv1", "conv2"])
    assert list(table.columns) == ["tap_index", "tap_name", "dim", "rank", "rank_fraction", "nc1"]
    assert table["tap_name"].tolist() == ["conv1", "conv2"]
    assert table["dim"].tolist() == [16, 8]
    assert table.loc[0, "rank"] == 16 and table.loc[1, "rank"] == 3  # 4 means span 3 directions
    assert table.loc[1, "nc1"] < 0.01 < table.loc[0, "nc1"]
    with pytest.raises(ValueError, match="tap names"):
        tap_diagnostics([early], y, ["a", "b"])
