"""Training-free layer scores: known orderings on synthetic classes, slow direct formulas
(plain NumPy loops), scikit-learn as the oracle for the shrinkage and the kNN vote, and the
streaming statistics equal to the in-memory ones."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from sklearn.covariance import ledoit_wolf_shrinkage
from sklearn.neighbors import KNeighborsClassifier

from tunnellab.metrics.representation import nc1
from tunnellab.metrics.transferability import (
    ClassStats,
    gbc,
    hscore_regularised,
    logme,
    loo_knn_accuracy,
    transrate,
)


def _classes(
    separation: float,
    spread: float,
    n: int = 240,
    c: int = 4,
    d: int = 8,
    seed: int = 0,
    skew: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """n samples of c Gaussian classes in d dims: means ``separation`` × one-hot directions,
    isotropic noise of standard deviation ``spread``; the last class ``skew`` + 1 times as big."""
    rng = np.random.default_rng(seed)
    y = np.minimum(np.arange(n) % (c + skew), c - 1)
    means = separation * np.eye(c, d) + 0.5  # a common offset, so nothing is centred already
    return means[y] + spread * rng.normal(size=(n, d)), y


SEPARABLE = _classes(6.0, 1.0)
OVERLAPPING = _classes(0.3, 1.0)
COLLAPSED = _classes(1.0, 0.05)
UNBALANCED = _classes(1.5, 1.0, skew=3)  # class frequencies 1/7, 1/7, 1/7, 4/7
SPREAD = _classes(1.0, 1.0)


def _hscore(x, y):
    return hscore_regularised(ClassStats.from_features(x, y))


def _gbc(x, y):
    return gbc(ClassStats.from_features(x, y))


SCORES = {
    "logme": logme,
    "hscore": _hscore,
    "gbc": _gbc,
    "transrate": transrate,
    "knn": lambda x, y: loo_knn_accuracy(x, y, k=5),
}


# ---- orderings ----------------------------------------------------------------------------------
@pytest.mark.parametrize("name", SCORES)
def test_separable_classes_score_higher_than_overlapping(name):
    score = SCORES[name]
    assert score(*SEPARABLE) > score(*OVERLAPPING)


@pytest.mark.parametrize("name", SCORES)
def test_collapsed_classes_score_higher_than_spread(name):
    score = SCORES[name]
    assert score(*COLLAPSED) > score(*SPREAD)


def test_score_limits_on_extreme_cases():
    assert loo_knn_accuracy(*COLLAPSED, k=5) == 1.0
    assert _gbc(*_classes(50.0, 0.1)) == pytest.approx(0.0, abs=1e-12)
    x, y = _classes(0.0, 1.0, n=400)
    identical = np.concatenate([x[y == 0]] * 4)  # every class the same samples
    assert _gbc(identical, np.repeat(np.arange(4), 100)) == pytest.approx(-12.0)  # −C(C − 1)


# ---- streaming statistics -----------------------------------------------------------------------
def test_streaming_statistics_equal_the_in_memory_ones():
    x, y = _classes(2.0, 1.0, n=300, c=5, d=6, seed=3)
    x = x + 1e4  # a large common offset must not cost digits
    whole = ClassStats.from_features(x, y)
    streamed = ClassStats(5, 6)
    order = np.argsort(y, kind="stable")  # chunks that each miss some classes
    for chunk in np.array_split(order, [7, 50, 51, 180]):
        streamed.update(torch.from_numpy(x[chunk]), torch.from_numpy(y[chunk]))
    for method in ("mean", "covariance", "class_means", "class_variances", "between_covariance"):
        np.testing.assert_allclose(
            getattr(streamed, method)(), getattr(whole, method)(), rtol=1e-9, atol=1e-8
        )
    assert streamed.ledoit_wolf_shrinkage() == pytest.approx(whole.ledoit_wolf_shrinkage(), 1e-9)
    assert hscore_regularised(streamed) == pytest.approx(hscore_regularised(whole), 1e-9)
    assert gbc(streamed) == pytest.approx(gbc(whole), 1e-9)


def test_statistics_match_numpy():
    x, y = _classes(2.0, 1.0, n=300, c=5, d=6, seed=4)
    x = x + 1e4
    stats = ClassStats.from_features(x, y)
    np.testing.assert_allclose(stats.covariance(), np.cov(x.T, bias=True), atol=1e-8)
    means = np.stack([x[y == c].mean(axis=0) for c in range(5)])
    np.testing.assert_allclose(stats.class_means(), means, rtol=1e-12)
    np.testing.assert_allclose(
        stats.class_variances(), np.stack([x[y == c].var(axis=0) for c in range(5)]), atol=1e-8
    )
    within = sum((x[y == c] - means[c]).T @ (x[y == c] - means[c]) for c in range(5)) / len(x)
    np.testing.assert_allclose(stats.within_covariance(), within, atol=1e-8)
    assert stats.ledoit_wolf_shrinkage() == pytest.approx(ledoit_wolf_shrinkage(x), rel=1e-8)


def test_shrinkage_matches_scikit_learn_when_it_matters():
    rng = np.random.default_rng(5)
    x = rng.normal(size=(20, 30)) @ np.diag(np.linspace(0.5, 3, 30))  # d > n: strong shrinkage
    alpha = ClassStats.from_features(x, np.zeros(20, dtype=int)).ledoit_wolf_shrinkage()
    assert alpha == pytest.approx(ledoit_wolf_shrinkage(x), rel=1e-8)
    assert 0.1 < alpha < 1.0


def test_the_same_pass_gives_nc1():
    x, y = _classes(2.0, 1.0, n=300, c=5, d=6, seed=6)
    stats = ClassStats.from_features(x, y)
    # NC1 = tr(Σ_W Σ_B⁺) / C with Σ_B over the C class means (balanced classes here).
    centred = stats.class_means() - stats.class_means().mean(dim=0)
    between = centred.T @ centred / 5
    value = torch.trace(stats.within_covariance() @ torch.linalg.pinv(between)) / 5
    assert float(value) == pytest.approx(nc1(x, y), rel=1e-8)


def test_statistics_reject_bad_input():
    stats = ClassStats(3, 4)
    with pytest.raises(ValueError, match="no samples"):
        stats.mean()
    with pytest.raises(ValueError, match=r"class indices in \[0, 3\)"):
        stats.update(np.zeros((2, 4)), [0, 3])
    with pytest.raises(ValueError, match="dim 4"):
        stats.update(np.zeros((2, 5)), [0, 1])
    with pytest.raises(ValueError, match="non-finite"):
        stats.update(np.full((2, 4), np.nan), [0, 1])
    with pytest.raises(ValueError, match="integers"):
        stats.update(np.zeros((2, 4)), [0.0, 1.0])
    with pytest.raises(ValueError, match="at least 2 classes"):
        hscore_regularised(ClassStats.from_features(np.ones((3, 2)), [1, 1, 1]))


# ---- slow direct formulas -----------------------------------------------------------------------
def _direct_hscore(x: np.ndarray, y: np.ndarray) -> float:
    alpha = ledoit_wolf_shrinkage(x)
    cov = np.cov(x.T, bias=True)
    shrunk = (1 - alpha) * cov + alpha * np.trace(cov) / x.shape[1] * np.eye(x.shape[1])
    g = np.zeros_like(x)
    for c in np.unique(y):
        g[y == c] = x[y == c].mean(axis=0)
    return float(np.trace(np.linalg.pinv(shrunk) @ ((1 - alpha) * np.cov(g.T, bias=True))))


def _direct_gbc(x: np.ndarray, y: np.ndarray) -> float:
    classes = np.unique(y)
    total = 0.0
    for i in classes:
        for j in classes:
            if i == j:
                continue
            distance = 0.0
            for k in range(x.shape[1]):
                mi, mj = x[y == i, k].mean(), x[y == j, k].mean()
                vi, vj = x[y == i, k].var(), x[y == j, k].var()
                v = (vi + vj) / 2
                distance += (mi - mj) ** 2 / (8 * v) + 0.5 * math.log(v / math.sqrt(vi * vj))
            total += math.exp(-distance)
    return -total


def _rate(z: np.ndarray, eps: float) -> float:
    n, d = z.shape
    return 0.5 * np.linalg.slogdet(np.eye(d) + d / (n * eps**2) * z.T @ z)[1]


def _direct_transrate(x: np.ndarray, y: np.ndarray, eps: float) -> float:
    z = x - x.mean(axis=0)
    conditional = sum((y == c).mean() * _rate(z[y == c], eps) for c in np.unique(y))
    return _rate(z, eps) - conditional


def _direct_knn(x: np.ndarray, y: np.ndarray, k: int, metric: str) -> float:
    correct = 0
    for i in range(len(x)):
        if metric == "cosine":
            unit = x / np.linalg.norm(x, axis=1, keepdims=True)
            distance = 1 - unit @ unit[i]
        else:
            distance = np.linalg.norm(x - x[i], axis=1)
        distance[i] = np.inf
        votes = np.bincount(y[np.argsort(distance)[:k]], minlength=y.max() + 1)
        correct += int(np.argmax(votes) == y[i])
    return correct / len(x)


def _direct_logme(f: np.ndarray, y: np.ndarray) -> float:
    n, d = f.shape
    scores = []
    for c in np.unique(y):
        t = (y == c).astype(float)
        alpha, beta = 1.0, 1.0
        for _ in range(200):
            a = alpha * np.eye(d) + beta * f.T @ f
            m = beta * np.linalg.solve(a, f.T @ t)
            gamma = np.trace(beta * f.T @ f @ np.linalg.inv(a))
            residual = np.sum((f @ m - t) ** 2)
            alpha, beta = gamma / (m @ m), (n - gamma) / residual
        a = alpha * np.eye(d) + beta * f.T @ f
        m = beta * np.linalg.solve(a, f.T @ t)
        evidence = (
            d / 2 * np.log(alpha)
            + n / 2 * np.log(beta)
            - n / 2 * np.log(2 * np.pi)
            - beta / 2 * np.sum((f @ m - t) ** 2)
            - alpha / 2 * m @ m
            - np.linalg.slogdet(a)[1] / 2
        )
        scores.append(evidence / n)
    return float(np.mean(scores))


@pytest.mark.parametrize("data", [SEPARABLE, OVERLAPPING, COLLAPSED, UNBALANCED])
def test_hscore_and_gbc_match_the_direct_formulas(data):
    assert _hscore(*data) == pytest.approx(_direct_hscore(*data), rel=1e-8)
    assert _gbc(*data) == pytest.approx(_direct_gbc(*data), rel=1e-8, abs=1e-12)


@pytest.mark.parametrize("eps", [1e-2, 0.5])
def test_transrate_matches_the_direct_formula(eps):
    for data in (SEPARABLE, OVERLAPPING, UNBALANCED):
        assert transrate(*data, eps=eps) == pytest.approx(_direct_transrate(*data, eps), rel=1e-9)
    x, y = _classes(2.0, 1.0, n=12, c=3, d=20)  # d > n: the small Gram matrix
    assert transrate(x, y, eps=eps) == pytest.approx(_direct_transrate(x, y, eps), rel=1e-9)


@pytest.mark.parametrize("shape", [(240, 8), (30, 40)])  # d ≤ n and d > n
def test_logme_matches_the_direct_fixed_point(shape):
    n, d = shape
    x, y = _classes(1.5, 1.0, n=n, c=3, d=d, seed=7, skew=1)
    assert logme(x, y, tol=1e-12, max_iter=500) == pytest.approx(_direct_logme(x, y), rel=1e-6)


@pytest.mark.parametrize("metric", ["cosine", "euclidean"])
def test_knn_matches_the_direct_loop_and_scikit_learn(metric):
    x, y = _classes(1.0, 1.0, n=60, c=3, d=5, seed=8)
    ours = loo_knn_accuracy(x, y, k=5, metric=metric, chunk_size=7)
    assert ours == pytest.approx(_direct_knn(x, y, 5, metric))
    correct = 0
    for i in range(len(x)):
        rest = np.arange(len(x)) != i
        knn = KNeighborsClassifier(n_neighbors=5, metric=metric, algorithm="brute")
        correct += int(knn.fit(x[rest], y[rest]).predict(x[i : i + 1])[0] == y[i])
    assert ours == pytest.approx(correct / len(x))
    assert 0.3 < ours < 1.0  # a case where some samples are misclassified


def test_scores_accept_fp16_tensors_and_any_label_values():
    x, y = SEPARABLE
    half = torch.from_numpy(x).half()
    shifted = torch.from_numpy(y * 10 + 3)
    assert loo_knn_accuracy(half, shifted, k=5) == loo_knn_accuracy(half.double(), y, k=5)
    assert logme(half, shifted) == pytest.approx(logme(half.double(), y), rel=1e-12)
    assert transrate(half, shifted) == pytest.approx(transrate(half.double(), y), rel=1e-12)


def test_scores_reject_bad_arguments():
    x, y = SEPARABLE
    with pytest.raises(ValueError, match="metric"):
        loo_knn_accuracy(x, y, metric="manhattan")
    with pytest.raises(ValueError, match=r"k must be in \[1, n − 1\]"):
        loo_knn_accuracy(x, y, k=len(x))
    with pytest.raises(ValueError, match="eps"):
        transrate(x, y, eps=0.0)
    with pytest.raises(ValueError, match="at least 2 classes"):
        logme(x, np.zeros(len(x), dtype=int))
    with pytest.raises(ValueError, match="var_floor"):
        gbc(ClassStats.from_features(x, y), var_floor=0.0)


def test_scores_are_deterministic():
    x, y = OVERLAPPING
    for score in SCORES.values():
        assert score(x, y) == score(x, y)


def test_logme_stays_finite_where_the_features_fit_the_labels_exactly():
    # features that are the one-hot labels: every one-vs-all target is fitted with no residual,
    # so the noise precision β would grow without bound (it overflowed before it was capped)
    labels = torch.arange(12) % 3
    exact = torch.nn.functional.one_hot(labels, 3).to(torch.float64)
    score = logme(exact, labels)
    assert math.isfinite(score)
    noise = torch.randn(12, 3, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    assert score > logme(noise, labels)  # an exact fit is the most evidence a target can get
