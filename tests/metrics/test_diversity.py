"""Vendi score, effective rank and PRDC: known answers, closed forms, direct loops, invariances."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch

from tunnellab.metrics.diversity import (
    Prdc,
    effective_rank,
    precision_recall_density_coverage,
    seeded_sample,
    vendi_score,
)

RNG = np.random.default_rng(0)
ORDERS = (0.0, 0.5, 1.0, 2.0, math.inf)


def _direct_vendi(x: np.ndarray, q: float) -> float:
    """The definition with plain loops: cosine similarities, K/n, eigenvalues, Rényi entropy."""
    n = len(x)
    k = np.empty((n, n))
    for i in range(n):
        for j in range(n):
            k[i, j] = x[i] @ x[j] / math.sqrt((x[i] @ x[i]) * (x[j] @ x[j]))
    lam = [v for v in np.linalg.eigvalsh(k / n) if v > 1e-12]
    if q == 1.0:
        return math.exp(-sum(v * math.log(v) for v in lam))
    return math.exp(math.log(sum(v**q for v in lam)) / (1.0 - q))


@pytest.mark.parametrize("q", ORDERS)
@pytest.mark.parametrize("kernel", ["cosine", "linear"])
def test_vendi_known_answers(q, kernel):
    v = RNG.normal(size=7)
    assert vendi_score(np.tile(v, (12, 1)), kernel=kernel, q=q) == pytest.approx(1.0)
    assert vendi_score(np.eye(6), kernel=kernel, q=q) == pytest.approx(6.0)
    assert vendi_score(np.eye(6, 20), kernel=kernel, q=q) == pytest.approx(6.0)  # n < d
    # Orthogonal directions of unequal length: cosine sees 4 equal samples.
    basis = np.linalg.qr(RNG.normal(size=(9, 4)))[0].T  # 4 orthonormal rows in R^9
    if kernel == "cosine":
        assert vendi_score(basis * [[1.0], [3.0], [0.2], [7.0]], q=q) == pytest.approx(4.0)
    # 3 equal-size clusters of identical points on orthogonal directions: 3 distinct samples.
    clusters = np.repeat(basis[:3], 5, axis=0)
    assert vendi_score(clusters, kernel=kernel, q=q) == pytest.approx(3.0)


def test_vendi_two_points_by_hand():
    # cos θ = c: K/n has eigenvalues (1 ± c) / 2.
    c = 0.6
    x = np.array([[1.0, 0.0], [c, math.sqrt(1 - c * c)]])
    p = np.array([(1 + c) / 2, (1 - c) / 2])
    assert vendi_score(x) == pytest.approx(math.exp(-(p * np.log(p)).sum()))
    assert vendi_score(x, q=2) == pytest.approx(1 / (p**2).sum())
    assert vendi_score(x, q=math.inf) == pytest.approx(1 / p.max())


def test_vendi_order_two_is_the_frobenius_closed_form():
    # Σλ² = ‖K/n‖²_F, so the q = 2 score is n² / Σ K_ij² with no eigendecomposition.
    x = RNG.normal(size=(40, 6)) + 1.0
    z = x / np.linalg.norm(x, axis=1, keepdims=True)
    assert vendi_score(x, q=2) == pytest.approx(len(x) ** 2 / ((z @ z.T) ** 2).sum())
    gram = x @ x.T
    assert vendi_score(x, kernel="linear", q=2) == pytest.approx(
        np.trace(gram) ** 2 / (gram**2).sum()
    )


@pytest.mark.parametrize("q", [0.5, 1.0, 2.0])
def test_vendi_matches_the_direct_loops(q):
    x = RNG.normal(size=(15, 4)) + np.array([2.0, 0.0, 0.0, 0.0])
    assert vendi_score(x, q=q) == pytest.approx(_direct_vendi(x, q), rel=1e-9)


@pytest.mark.parametrize("shape", [(30, 10), (10, 30), (25, 25)])
@pytest.mark.parametrize("kernel", ["cosine", "linear"])
def test_vendi_feature_gram_equals_sample_gram(shape, kernel):
    x = RNG.normal(size=shape) + 0.5
    for q in ORDERS:
        by_samples = vendi_score(x, kernel=kernel, q=q, gram="samples")
        by_features = vendi_score(x, kernel=kernel, q=q, gram="features")
        assert by_samples == pytest.approx(by_features, rel=1e-9)
        assert vendi_score(x, kernel=kernel, q=q) == pytest.approx(by_samples, rel=1e-9)


def test_vendi_invariances_and_order():
    x = RNG.normal(size=(50, 8)) + 0.3
    base = vendi_score(x)
    assert 1.0 < base < 8.0
    assert vendi_score(x[RNG.permutation(50)]) == pytest.approx(base, rel=1e-12)
    assert vendi_score(x * RNG.uniform(0.1, 10.0, size=(50, 1))) == pytest.approx(base, rel=1e-9)
    assert vendi_score(x * 1e3, kernel="linear") == pytest.approx(
        vendi_score(x, kernel="linear"), rel=1e-9
    )
    scores = [vendi_score(x, q=q) for q in ORDERS]
    assert all(a >= b - 1e-12 for a, b in itertools.pairwise(scores))  # Rényi order
    assert vendi_score(torch.from_numpy(x).half()) == pytest.approx(base, rel=1e-2)


def test_vendi_errors_name_the_value():
    with pytest.raises(ValueError, match=r"kernel.*'rbf'"):
        vendi_score(np.eye(3), kernel="rbf")
    with pytest.raises(ValueError, match="q must be"):
        vendi_score(np.eye(3), q=-1)
    with pytest.raises(ValueError, match="gram"):
        vendi_score(np.eye(3), gram="both")
    with pytest.raises(ValueError, match="1 all-zero row"):
        vendi_score(np.array([[1.0, 0.0], [0.0, 0.0]]))
    with pytest.raises(ValueError, match="all zeros"):
        vendi_score(np.zeros((3, 2)), kernel="linear")
    with pytest.raises(ValueError, match="2-D"):
        vendi_score(np.ones(4))
    with pytest.raises(ValueError, match="non-finite"):
        vendi_score(np.array([[1.0, np.nan]]))


def test_effective_rank_known_answers():
    assert effective_rank(RNG.normal(size=(20000, 8))) == pytest.approx(8.0, rel=2e-3)
    rank_one = RNG.normal(size=(100, 1)) @ RNG.normal(size=(1, 6)) + RNG.normal(size=6)
    assert effective_rank(rank_one) == pytest.approx(1.0)
    assert effective_rank(np.ones((10, 3))) == 0.0
    # Centred columns, orthogonal, of norms 3 and 1: singular values (3, 1).
    s = 1 / math.sqrt(2)
    x = np.array([[3 * s, 0.0], [-3 * s, 0.0], [0.0, s], [0.0, -s]])
    p = np.array([0.75, 0.25])
    assert effective_rank(x) == pytest.approx(math.exp(-(p * np.log(p)).sum()))


def test_effective_rank_invariances():
    x = RNG.normal(size=(300, 5)) @ np.diag([1.0, 2.0, 3.0, 0.5, 0.1])
    base = effective_rank(x)
    assert 1.0 < base < 5.0
    assert effective_rank(x * 7 + 100.0) == pytest.approx(base, rel=1e-9)
    assert effective_rank(x[RNG.permutation(300)]) == pytest.approx(base, rel=1e-12)
    rotation = np.linalg.qr(RNG.normal(size=(5, 5)))[0]
    assert effective_rank(x @ rotation) == pytest.approx(base, rel=1e-9)
    sigma = np.linalg.svd(x - x.mean(axis=0), compute_uv=False)
    p = sigma / sigma.sum()
    assert base == pytest.approx(math.exp(-(p * np.log(p)).sum()), rel=1e-12)


def test_seeded_sample():
    rows = seeded_sample(1000, 50, seed=3)
    assert rows.tolist() == seeded_sample(1000, 50, seed=3).tolist()
    assert rows.tolist() != seeded_sample(1000, 50, seed=4).tolist()
    assert len(set(rows.tolist())) == 50 and np.all(np.diff(rows) > 0)
    assert rows.min() >= 0 and rows.max() < 1000
    assert seeded_sample(10, 50).tolist() == list(range(10))
    with pytest.raises(ValueError, match="n must be a positive integer, got 0"):
        seeded_sample(10, 0)


def _direct_prdc(real: np.ndarray, fake: np.ndarray, k: int) -> tuple[float, ...]:
    """Both papers' definitions with plain loops."""

    def dist(a, b):
        return math.sqrt(sum((u - v) ** 2 for u, v in zip(a, b, strict=True)))

    def radius(points, i):
        return sorted(dist(points[i], p) for j, p in enumerate(points) if j != i)[k - 1]

    r_rad = [radius(real, i) for i in range(len(real))]
    f_rad = [radius(fake, j) for j in range(len(fake))]
    n, m = len(real), len(fake)
    inside = [[dist(real[i], fake[j]) <= r_rad[i] for j in range(m)] for i in range(n)]
    precision = sum(any(inside[i][j] for i in range(n)) for j in range(m)) / m
    recall = sum(any(dist(real[i], fake[j]) <= f_rad[j] for j in range(m)) for i in range(n)) / n
    density = sum(inside[i][j] for i in range(n) for j in range(m)) / (k * m)
    coverage = sum(any(row) for row in inside) / n
    return precision, recall, density, coverage


@pytest.mark.parametrize("k", [1, 3])
def test_prdc_matches_the_direct_loops(k):
    real = RNG.normal(size=(14, 3))
    fake = RNG.normal(size=(11, 3)) * 1.5 + 0.5
    got = precision_recall_density_coverage(real, fake, k=k)
    expected = _direct_prdc(real, fake, k)
    assert (got.precision, got.recall, got.density, got.coverage) == pytest.approx(expected)
    assert precision_recall_density_coverage(real, fake, k=k, block=4) == got


def test_prdc_same_and_disjoint_distributions():
    real, fake = RNG.normal(size=(600, 8)), RNG.normal(size=(600, 8))
    same = precision_recall_density_coverage(real, fake)
    assert min(same.precision, same.recall, same.coverage) > 0.8
    assert 0.8 < same.density < 1.2
    far = precision_recall_density_coverage(real, fake + 20.0)
    assert max(far.precision, far.recall, far.density, far.coverage) < 0.1
    # A fake set collapsed onto a few real points: faithful but not diverse.
    collapsed = np.repeat(real[:3], 200, axis=0) + 1e-6 * RNG.normal(size=(600, 8))
    mode = precision_recall_density_coverage(real, collapsed)
    assert mode.precision == 1.0 and mode.recall < 0.1 and mode.coverage < 0.1


def test_prdc_errors():
    x = RNG.normal(size=(10, 4))
    with pytest.raises(ValueError, match="same number of features, got 4 and 3"):
        precision_recall_density_coverage(x, x[:, :3])
    with pytest.raises(ValueError, match="fake needs at least 6"):
        precision_recall_density_coverage(x, x[:5])
    with pytest.raises(ValueError, match="k must be a positive integer"):
        precision_recall_density_coverage(x, x, k=0)
    assert isinstance(precision_recall_density_coverage(x, x), Prdc)
